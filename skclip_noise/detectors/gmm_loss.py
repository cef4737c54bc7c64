"""GMMLossDetector: DivideMix's two-component mixture on per-sample losses."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from ._base import BaseNoiseDetector, Scores
from ._loss_model import LOSS_MODEL_PARAMS_DOC, LossModelMixin

__all__ = ["GMMLossDetector"]


def _normalise(loss, low, high):
    return (loss - low) / max(high - low, 1e-12)


def _fit_mixture(normalised, seed):
    """DivideMix's settings: few iterations, loose tolerance, regularised covariance."""
    gmm = GaussianMixture(n_components=2, max_iter=10, tol=1e-2, reg_covar=5e-4, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(normalised[:, None])
    return gmm


class _LossMixture:
    """A mixture fitted on min-max normalised losses; posterior of the low-loss component."""

    def __init__(self, loss, seed):
        self.low, self.high = float(loss.min()), float(loss.max())
        self.degenerate = len(loss) < 2 or self.high - self.low < 1e-12
        if not self.degenerate:
            self.gmm = _fit_mixture(_normalise(loss, self.low, self.high), seed)
            self.clean_component = int(np.argmin(self.gmm.means_[:, 0]))

    def clean_posterior(self, loss):
        if self.degenerate:  # one sample, or all losses equal: nothing to separate
            return np.ones(len(loss))
        posterior = self.gmm.predict_proba(_normalise(loss, self.low, self.high)[:, None])
        return posterior[:, self.clean_component]


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
    classes_ : ndarray
    clean_proba_, clean_mask_, noise_rate_, label_issues_
        See the detector contract (:class:`~skclip_noise.detectors.BaseNoiseDetector`).
    loss_ : ndarray of shape (n_samples,)
        Per-sample training loss (averaged, cross-fitted as configured).
    mixtures_ : dict
        The fitted mixtures, keyed by class code (or ``None`` for the global one).
    loss_models_ : list of dict
        State dicts of the fitted loss model(s).

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

    def __init__(
        self,
        *,
        threshold=0.5,
        per_class=False,
        model="linear",
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
        device="auto",
        mixed_precision="auto",
        cache_dir=None,
        random_state=None,
        verbose=0,
    ):
        self.threshold = threshold
        self.per_class = per_class
        self.model = model
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
        self.device = device
        self.mixed_precision = mixed_precision
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.verbose = verbose

    def _fit_scores(self, X_checked, codes, encoding):
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1]; got {self.threshold!r}.")
        outputs = self._training_outputs(X_checked, codes, len(encoding.classes))
        self.loss_ = outputs.loss
        seed = self._fit_seed % (2**31)
        groups = np.unique(codes) if self.per_class else [None]
        self.mixtures_ = {}
        for group in groups:
            members = slice(None) if group is None else codes == group
            self.mixtures_[None if group is None else int(group)] = _LossMixture(outputs.loss[members], seed)
        return self._decide(outputs, codes)

    def _decide(self, outputs, codes):
        proba = np.empty(len(codes))
        if self.per_class:
            for code, mixture in self.mixtures_.items():
                members = codes == code
                proba[members] = mixture.clean_posterior(outputs.loss[members])
            unseen = ~np.isin(codes, list(self.mixtures_))
            if unseen.any():  # a class absent from the training labels: no mixture to ask
                proba[unseen] = 0.0
        else:
            proba = self.mixtures_[None].clean_posterior(outputs.loss)
        return Scores(proba, proba > self.threshold, outputs.predicted)

    def _score_pairs(self, X_checked, codes):
        return self._decide(self._new_pair_outputs(X_checked, codes), codes)


GMMLossDetector.__doc__ = GMMLossDetector.__doc__ % {"loss_model_params": LOSS_MODEL_PARAMS_DOC.strip()}
