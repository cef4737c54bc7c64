"""GMMLossDetector: DivideMix's two-component mixture on per-sample losses."""

from __future__ import annotations

from .._param_validation import constraints_for
from ..base import BaseNoiseDetector, Scores
from ..selection import fit_loss_mixtures, loss_mixture_posterior
from ._loss_model import LOSS_MODEL_CONSTRAINTS, LOSS_MODEL_PARAMS_DOC, LossModelMixin

__all__ = ["GMMLossDetector"]


class GMMLossDetector(LossModelMixin, BaseNoiseDetector):
    """Noisy-label detector from a two-component Gaussian mixture on per-sample losses.

    A classifier is trained on the given labels; each sample's cross-entropy is read
    in eval mode with the evaluation transform and min-max normalised; a
    two-component Gaussian mixture is fitted to the losses (DivideMix's settings:
    ``max_iter=10, tol=1e-2, reg_covar=5e-4``), and the clean probability of a sample
    is the posterior of the component with the lower mean. Samples are clean when it
    exceeds ``threshold``.

    Parameters
    ----------
    threshold : float, default=0.5
        Clean when the posterior exceeds it.
    per_class : bool, default=False
        One mixture (and normalisation) per given class instead of one for all.
    %(loss_model_params)s

    Attributes
    ----------
    classes_, class_names_, clean_proba_, clean_mask_, predicted_, noise_rate_, noise_transition_, label_issues_
        See the detector contract (:class:`~skclip_noise.detectors.BaseNoiseDetector`).
    device_ : str
        The device the fit ran on.
    n_features_in_ : int
        The width of X when ``fit`` got a feature array (absent after a fit on images).
    loss_ : ndarray of shape (n_samples,)
        Per-sample training loss (averaged, cross-fitted as configured).
    mixtures_ : dict of :class:`~skclip_noise.selection.LossMixture`
        The fitted mixtures, keyed by class code (or ``None`` for the global one).
    loss_models_ : list of dict
        State dicts of the fitted loss model(s).
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
    >>> from skclip_noise import GMMLossDetector, make_noisy_labels
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(-2, 1, (60, 5)), rng.normal(2, 1, (60, 5))]
    >>> y = np.r_[np.zeros(60, int), np.ones(60, int)]
    >>> y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    >>> detector = GMMLossDetector(lr=1e-2, device="cpu", random_state=0).fit(X, y_noisy)
    >>> bool((detector.clean_mask_ == ~is_noisy).mean() > 0.9)
    True
    """

    _parameter_constraints = {
        **LOSS_MODEL_CONSTRAINTS,
        **constraints_for("threshold", per_class=["boolean"]),
    }

    def __init__(
        self,
        *,
        threshold=0.5,
        per_class=False,
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
        self.threshold = threshold
        self.per_class = per_class
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

    def _fit_scores(self, X_checked, codes, encoding):
        outputs = self._training_outputs(X_checked, codes, len(encoding.classes))
        self.loss_ = outputs.loss
        self.mixtures_ = fit_loss_mixtures(
            outputs.loss, codes, per_class=self.per_class, random_state=self._fit_seed
        )
        return self._decide(outputs, codes)

    def _decide(self, outputs, codes):
        proba = loss_mixture_posterior(self.mixtures_, outputs.loss, codes)
        return Scores(
            proba, proba > self.threshold, outputs.predicted,
            label_quality=outputs.proba_given, suggested_proba=outputs.proba_predicted,
        )

    def _score_pairs(self, X_checked, codes):
        return self._decide(self._new_pair_outputs(X_checked, codes), codes)


GMMLossDetector.__doc__ = GMMLossDetector.__doc__ % {"loss_model_params": LOSS_MODEL_PARAMS_DOC.strip()}
