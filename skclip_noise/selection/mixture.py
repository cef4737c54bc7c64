"""Loss-based selection rules: DivideMix's two-component mixture and the small-loss rule.

Plain functions on per-sample losses and given class codes, shared by
:class:`~skclip_noise.GMMLossDetector`, :class:`~skclip_noise.SmallLossDetector`,
TURN's per-epoch selection and AVL-Prompter's co-divide.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from ..data.labels import check_label_codes
from ._common import check_real

__all__ = [
    "LossMixture",
    "fit_loss_mixtures",
    "loss_mixture_posterior",
    "loss_mixture_clean_proba",
    "estimate_forget_rate",
    "small_loss_cutoffs",
    "small_loss_mask",
]


def _check_loss(loss, codes=None):
    loss = np.asarray(loss, dtype=np.float64)
    if loss.ndim != 1:
        raise ValueError(f"loss must be 1-D; got shape {loss.shape}.")
    if loss.size == 0:
        raise ValueError("loss is empty; pass at least one sample's loss.")
    if not np.isfinite(loss).all():
        raise ValueError("loss contains NaN or infinite values; the model that produced it diverged.")
    if codes is None:
        return loss, None
    if np.shape(codes) != loss.shape:
        raise ValueError(f"loss and codes must be 1-D of the same length; got {loss.shape} and {np.shape(codes)}.")
    codes = np.asarray(codes)
    return loss, check_label_codes(codes.astype(np.int64) if codes.dtype == bool else codes, name="codes")


def _mixture_seed(random_state):
    """An int seed folded into GaussianMixture's range; None or a RandomState as they are."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_)):
        return int(random_state) % (2**31)
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return random_state
    raise ValueError(f"random_state must be an int, a RandomState or None; got {random_state!r}.")


class LossMixture:
    """DivideMix's two-component Gaussian mixture on min-max normalised losses.

    The settings are DivideMix's ``eval_train``: ``max_iter=10``, ``tol=1e-2``,
    ``reg_covar=5e-4``. The clean probability of a loss is the posterior of the
    component with the lower mean. A group of one sample, or of equal losses, has
    nothing to separate: its posterior is 1. A loss outside the fitted losses' range
    (a new pair's) is judged as the nearest end of it: beyond a tight high-loss
    component the wider one's density would win again, and a pair worse than every
    noisy one would be called clean.

    As in DivideMix, the fit reads the losses in sample order (scikit-learn's k-means
    start draws its centres by position, and ten EM steps may stop before two starts
    meet): with a fixed ``random_state``, shuffling the samples can move a few verdicts
    near the boundary.

    Parameters
    ----------
    loss : ndarray of shape (n_samples,)
        The losses the mixture is fitted on (also fixes the normalisation).
    random_state : int, RandomState or None, default=0

    Examples
    --------
    >>> import numpy as np
    >>> loss = np.r_[np.full(8, 0.1), np.full(4, 3.0)] + np.linspace(0, 0.01, 12)
    >>> mixture = LossMixture(loss)
    >>> int((mixture.clean_posterior(loss) > 0.5).sum())
    8
    """

    def __init__(self, loss, random_state=0):
        loss, _ = _check_loss(loss)
        self.low, self.high = float(loss.min()), float(loss.max())
        self.degenerate = len(loss) < 2 or self.high - self.low < 1e-12
        if not self.degenerate:
            self.gmm = GaussianMixture(
                n_components=2, max_iter=10, tol=1e-2, reg_covar=5e-4, random_state=_mixture_seed(random_state)
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.gmm.fit(self._normalise(loss)[:, None])
            self.clean_component = int(np.argmin(self.gmm.means_[:, 0]))

    def _normalise(self, loss):
        return np.clip((loss - self.low) / max(self.high - self.low, 1e-12), 0.0, 1.0)

    def clean_posterior(self, loss):
        """Posterior of the low-loss component for each loss (normalised like the fit's)."""
        loss, _ = _check_loss(loss)
        if self.degenerate:
            return np.ones(len(loss))
        posterior = self.gmm.predict_proba(self._normalise(loss)[:, None])[:, self.clean_component]
        return np.clip(posterior, 0.0, 1.0)


def fit_loss_mixtures(loss, codes=None, *, per_class=False, random_state=0):
    """One :class:`LossMixture` for all samples, or one per given class.

    Parameters
    ----------
    <loss mixture parameters>

    Returns
    -------
    dict
        ``{None: mixture}``, or ``{class_code: mixture}`` with ``per_class=True``.

    Examples
    --------
    >>> import numpy as np
    >>> loss = np.array([0.1, 0.2, 3.0, 0.1, 0.3, 2.5])
    >>> sorted(fit_loss_mixtures(loss, np.array([0, 0, 0, 1, 1, 1]), per_class=True))
    [0, 1]
    """
    loss, codes = _check_loss(loss, codes)
    if not per_class:
        return {None: LossMixture(loss, random_state)}
    if codes is None:
        raise ValueError("per_class=True needs the given class codes.")
    return {int(code): LossMixture(loss[codes == code], random_state) for code in np.unique(codes)}


def loss_mixture_posterior(mixtures, loss, codes=None):
    """Clean probability of each loss from mixtures made by :func:`fit_loss_mixtures`.

    A pair whose class has no mixture (a class absent when they were fitted) gets 0.

    Parameters
    ----------
    mixtures : dict
        From :func:`fit_loss_mixtures`.
    loss : array-like of shape (n_samples,)
        The losses to judge.
    codes : array-like of int, shape (n_samples,), default=None
        Their given class codes; needed for per-class mixtures.

    Examples
    --------
    >>> import numpy as np
    >>> loss = np.r_[np.full(8, 0.1), np.full(4, 3.0)] + np.linspace(0, 0.01, 12)
    >>> mixtures = fit_loss_mixtures(loss)
    >>> loss_mixture_posterior(mixtures, np.array([0.1, 3.0])).round(2).tolist()
    [1.0, 0.0]
    """
    loss, codes = _check_loss(loss, codes)
    if None in mixtures:
        return mixtures[None].clean_posterior(loss)
    if codes is None:
        raise ValueError("per-class mixtures need the given class codes.")
    proba = np.zeros(len(loss))
    for code, mixture in mixtures.items():
        members = codes == code
        if members.any():
            proba[members] = mixture.clean_posterior(loss[members])
    return proba


def loss_mixture_clean_proba(loss, codes=None, *, per_class=False, random_state=0):
    """Fit the mixture(s) on ``loss`` and return each sample's clean probability.

    Parameters
    ----------
    <loss mixture parameters>

    Examples
    --------
    >>> import numpy as np
    >>> loss = np.r_[np.full(8, 0.1), np.full(4, 3.0)] + np.linspace(0, 0.01, 12)
    >>> int((loss_mixture_clean_proba(loss, np.zeros(12, int), per_class=True) > 0.5).sum())
    8
    """
    mixtures = fit_loss_mixtures(loss, codes, per_class=per_class, random_state=random_state)
    return loss_mixture_posterior(mixtures, loss, codes)


def estimate_forget_rate(loss, *, random_state=0):
    """The expected share of high-loss samples under a global loss mixture.

    Parameters
    ----------
    loss : array-like of shape (n_samples,)
        Per-sample losses.
    random_state : int, default=0
        Seeds the mixture's fit.

    Examples
    --------
    >>> import numpy as np
    >>> loss = np.r_[np.full(8, 0.1), np.full(2, 3.0)] + np.linspace(0, 0.01, 10)
    >>> round(estimate_forget_rate(loss), 2)
    0.2
    """
    return float(1.0 - LossMixture(loss, random_state).clean_posterior(loss).mean())


def _groups(codes, n, per_class):
    if not per_class:
        return {None: np.arange(n)}
    if codes is None:
        raise ValueError("per_class=True needs the given class codes.")
    return {int(code): np.flatnonzero(codes == code) for code in np.unique(codes)}


def _check_forget_rate(forget_rate):
    return check_real(forget_rate, "forget_rate", low=0, high=1, high_open=True, rule="a number in [0, 1)")


def small_loss_cutoffs(loss, forget_rate, codes=None, *, per_class=True):
    """Largest loss kept by the small-loss rule, per class code (or ``None`` for all).

    A group keeps ``round((1 - forget_rate) * size)`` samples; a group that keeps
    none has cutoff ``-inf``.

    Parameters
    ----------
    <small-loss parameters>

    Examples
    --------
    >>> import numpy as np
    >>> small_loss_cutoffs(np.array([0.1, 0.5, 0.9, 0.2]), 0.5, np.array([0, 0, 1, 1]))
    {0: 0.1, 1: 0.2}
    """
    loss, codes = _check_loss(loss, codes)
    forget_rate = _check_forget_rate(forget_rate)
    cutoffs = {}
    for group, members in _groups(codes, len(loss), per_class).items():
        n_keep = int(round((1.0 - forget_rate) * len(members)))
        cutoffs[group] = float(np.sort(loss[members])[n_keep - 1]) if n_keep else -np.inf
    return cutoffs


def small_loss_mask(loss, forget_rate, codes=None, *, per_class=True):
    """Co-teaching's rule: keep exactly the ``1 - forget_rate`` lowest-loss share of each
    class (or of all samples), ties broken by sample order.

    Parameters
    ----------
    <small-loss parameters>

    Examples
    --------
    >>> import numpy as np
    >>> small_loss_mask(np.array([0.1, 0.5, 0.9, 0.2]), 0.5, np.array([0, 0, 1, 1])).tolist()
    [True, False, False, True]
    """
    loss, codes = _check_loss(loss, codes)
    forget_rate = _check_forget_rate(forget_rate)
    mask = np.zeros(len(loss), dtype=bool)
    for members in _groups(codes, len(loss), per_class).values():
        n_keep = int(round((1.0 - forget_rate) * len(members)))
        mask[members[np.argsort(loss[members], kind="stable")[:n_keep]]] = True
    return mask


_SHARED_PARAMETERS = {
    "    <loss mixture parameters>\n": """    loss : array-like of shape (n_samples,)
        Per-sample losses.
    codes : array-like of int, shape (n_samples,), default=None
        Given class codes; needed with ``per_class=True``.
    per_class : bool, default=False
        One mixture per given class (each class's losses min-max normalised on their
        own) or one for all samples.
    random_state : int, default=0
        Seeds the mixtures' fit.
""",
    "    <small-loss parameters>\n": """    loss : array-like of shape (n_samples,)
        Per-sample losses.
    forget_rate : float in [0, 1)
        The share dropped from each group.
    codes : array-like of int, shape (n_samples,), default=None
        Given class codes; needed with ``per_class=True``.
    per_class : bool, default=True
        One group per given class, or one for all samples.
""",
}
for _function in (fit_loss_mixtures, loss_mixture_clean_proba, small_loss_cutoffs, small_loss_mask):
    for _marker, _text in _SHARED_PARAMETERS.items():
        if _function.__doc__:  # None under python -OO
            _function.__doc__ = _function.__doc__.replace(_marker, _text)
