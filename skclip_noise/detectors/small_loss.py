"""SmallLossDetector: keep the lowest-loss share of each class (Co-teaching style)."""

from __future__ import annotations

import numpy as np

from .._param_validation import Interval, Real, StrOptions, constraints_for
from ..base import BaseNoiseDetector, Scores
from ..selection import estimate_forget_rate, small_loss_cutoffs, small_loss_mask
from ._loss_model import LOSS_MODEL_CONSTRAINTS, LOSS_MODEL_PARAMS_DOC, LossModelMixin

__all__ = ["SmallLossDetector"]

_COTEACHING_NUM_GRADUAL = 10  # Co-teaching's ramp, in epochs of its 200


class SmallLossDetector(LossModelMixin, BaseNoiseDetector):
    """Noisy-label detector that keeps the smallest-loss share of each class.

    A classifier is trained on the given labels and each sample's cross-entropy is
    read in eval mode; in each class (or over all samples with ``per_class=False``)
    the ``1 - forget_rate`` share with the lowest losses is judged clean.

    Without a known noise rate (``forget_rate=None``) the rate is estimated from the
    losses: a two-component Gaussian mixture (DivideMix's settings) is fitted to the
    min-max normalised losses of all samples, and the estimate is the mean posterior
    of the high-loss component, i.e. the expected share of samples that belong to
    it. The estimate is stored in ``forget_rate_``.

    Parameters
    ----------
    forget_rate : float in [0, 1), default=None
        Share of samples judged noisy in each class; None estimates it (see above).
    per_class : bool, default=True
        Rank losses within each given class (class-balanced) or over all samples.
    schedule : {"none", "coteaching"}, default="none"
        ``"coteaching"`` also trains the loss model the Co-teaching way: in every
        batch only the ``1 - r(e)`` smallest-loss samples contribute to the loss,
        with ``r(e)`` ramped linearly from 0 (the first epoch trains on every sample)
        to ``forget_rate`` in the last of ``warmup_epochs`` (Co-teaching's
        ``linspace(0, forget_rate, num_gradual)``), then held. It needs an explicit
        ``forget_rate``.
        The kept count is rounded (Co-teaching truncates it): at most one sample more
        per batch.
    warmup_epochs : int or None, default=None
        Length of that ramp (Co-teaching's ``num_gradual``); part of ``epochs``. 0: no
        ramp, every epoch drops ``forget_rate`` (Co-teaching with ``num_gradual=0``).
        None: Co-teaching's 10, or half of ``epochs`` (rounded up) in shorter runs: 5 at
        the default 10 epochs. Only ``schedule="coteaching"`` reads it.
    %(loss_model_params)s

    Attributes
    ----------
    classes_, class_names_, clean_mask_, predicted_, noise_rate_, noise_transition_, label_issues_
        See the detector contract (:class:`~skclip_noise.detectors.BaseNoiseDetector`).
    device_ : str
        The device the fit ran on.
    n_features_in_ : int
        The width of X when ``fit`` got a feature array (absent after a fit on images).
    loss_models_ : list of dict
        State dicts of the fitted loss model(s).
    forget_rate_ : float
        The forget rate used (given or estimated).
    loss_ : ndarray of shape (n_samples,)
    cutoffs_ : dict
        Largest kept loss per class code (or ``None`` for the global ranking); new
        pairs are clean when their loss is at most the cutoff.
    clean_proba_ : ndarray
        The model's softmax probability of the given label (a ranking does not
        define a posterior); ``clean_mask_`` comes from the ranking, not from it.
    embeddings_ : ndarray of shape (n_samples, n_features), float32
        With ``tuning="frozen"``: the training features (the backbone's embeddings, or
        X when it is a feature array), which :meth:`score` (label-free, for
        ``GridSearchCV``; only with ``tuning="frozen"``) trains its reference on.
    unreadable_ : pandas.DataFrame
        With ``skip_unreadable=True``: the image files of X that could not be read,
        indexed by their position in X (``"sample"``), with the columns ``path`` and
        ``reason``; empty when every file was read (or X is not a list of files).

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise import SmallLossDetector, make_noisy_labels
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(-2, 1, (60, 5)), rng.normal(2, 1, (60, 5))]
    >>> y = np.r_[np.zeros(60, int), np.ones(60, int)]
    >>> y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    >>> detector = SmallLossDetector(forget_rate=0.2, lr=1e-2, device="cpu", random_state=0).fit(X, y_noisy)
    >>> round(detector.noise_rate_, 2)
    0.2
    """

    _parameter_constraints = {
        **LOSS_MODEL_CONSTRAINTS,
        "forget_rate": [Interval(Real, 0, 1, closed="left"), None],
        "per_class": ["boolean"],
        "schedule": [StrOptions({"none", "coteaching"})],
        **constraints_for("warmup_epochs"),
    }

    def __init__(
        self,
        *,
        forget_rate=None,
        per_class=True,
        schedule="none",
        warmup_epochs=None,
        tuning="frozen",
        backbone="open_clip:ViT-B-32",
        pretrained="openai",
        epochs=10,
        lr=None,
        weight_decay=5e-4,
        batch_size=64,
        average_last=1,
        cv=None,
        image_size=None,
        num_workers=0,
        n_jobs=None,
        device="auto",
        mixed_precision="auto",
        cache_dir=None,
        skip_unreadable=False,
        checkpoint_path=None,
        random_state=None,
        verbose=0,
    ):
        self.forget_rate = forget_rate
        self.per_class = per_class
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs
        self.tuning = tuning
        self.backbone = backbone
        self.pretrained = pretrained
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.average_last = average_last
        self.cv = cv
        self.image_size = image_size
        self.num_workers = num_workers
        self.n_jobs = n_jobs
        self.device = device
        self.mixed_precision = mixed_precision
        self.cache_dir = cache_dir
        self.skip_unreadable = skip_unreadable
        self.checkpoint_path = checkpoint_path
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self, X_checked, encoding):
        super()._check_params(X_checked, encoding)
        if self.schedule == "coteaching" and self.forget_rate is None:
            raise ValueError(
                "schedule='coteaching' drops a forget_rate share of every batch while "
                "training, so it needs forget_rate; pass the (expected) noise rate."
            )
        if self.schedule == "coteaching" and self._ramp_epochs() > self.epochs:
            raise ValueError(
                f"warmup_epochs={self.warmup_epochs} exceeds epochs={self.epochs}: the ramp to forget_rate "
                "is part of the epochs and would never end. Lower warmup_epochs (None fits it to epochs) "
                "or raise epochs."
            )

    def _ramp_epochs(self):
        """``warmup_epochs``, with None resolved: Co-teaching's 10, at most half the epochs."""
        if self.warmup_epochs is None:
            return min(_COTEACHING_NUM_GRADUAL, -(-int(self.epochs) // 2))
        return int(self.warmup_epochs)

    def _batch_keep_ratio(self):
        if self.schedule != "coteaching":
            return None
        rate, ramp = float(self.forget_rate), self._ramp_epochs()
        if ramp == 0:  # Co-teaching with num_gradual=0: the full rate from the first epoch
            return lambda epoch: 1.0 - rate
        # Co-teaching's linspace(0, forget_rate, num_gradual): 0 in the first epoch, the
        # full rate in the ramp's last one (epochs count from 0).
        return lambda epoch: 1.0 - rate * min(epoch / max(ramp - 1, 1), 1.0)

    def _fit_scores(self, X_checked, codes, encoding):
        outputs = self._training_outputs(
            X_checked, codes, len(encoding.classes), batch_keep_ratio=self._batch_keep_ratio()
        )
        self.loss_ = outputs.loss
        if self.forget_rate is None:
            self.forget_rate_ = estimate_forget_rate(outputs.loss, random_state=self._fit_seed)
        else:
            self.forget_rate_ = float(self.forget_rate)
        self.cutoffs_ = small_loss_cutoffs(outputs.loss, self.forget_rate_, codes, per_class=self.per_class)
        mask = small_loss_mask(outputs.loss, self.forget_rate_, codes, per_class=self.per_class)
        return Scores(outputs.proba_given, mask, outputs.predicted, suggested_proba=outputs.proba_predicted)

    def _score_pairs(self, X_checked, codes):
        outputs = self._new_pair_outputs(X_checked, codes)
        if None not in self.cutoffs_:  # the fitted rule: set_params(per_class=...) after fit does not change it
            by_class = np.full(len(self.classes_), -np.inf)
            by_class[list(self.cutoffs_)] = list(self.cutoffs_.values())
            cutoff = by_class[codes]
        else:
            cutoff = np.full(len(codes), self.cutoffs_[None])
        return Scores(outputs.proba_given, outputs.loss <= cutoff, outputs.predicted,
                      suggested_proba=outputs.proba_predicted)


SmallLossDetector.__doc__ = SmallLossDetector.__doc__ % {"loss_model_params": LOSS_MODEL_PARAMS_DOC.strip()}
