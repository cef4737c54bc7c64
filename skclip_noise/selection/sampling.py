"""Drawing training subsets from clean verdicts."""

from __future__ import annotations

import numbers

import numpy as np

from ._common import check_bool_mask, check_int, check_label_codes

__all__ = ["balanced_clean_sample"]


def balanced_clean_sample(codes, clean_mask, n_classes, rng, clean_proba=None):
    """TURN's class-balanced subset: ``n`` clean samples drawn uniformly from each class.

    ``n`` is the smallest clean count over the ``n_classes`` classes; each class's
    ``n`` samples are drawn uniformly without replacement among its clean samples.
    When a class has no clean sample (``n`` would be 0 and nothing would train),
    ``n`` is 1 and such a class contributes its sample of highest ``clean_proba``
    (its first sample when ``clean_proba`` is None).

    Parameters
    ----------
    codes : ndarray of int, shape (n_samples,)
        Given class codes in ``0..n_classes-1``; every class must have samples.
    clean_mask : ndarray of bool, shape (n_samples,)
    n_classes : int
    rng : numpy.random.Generator, RandomState, int or None
        The draw's random stream (an int or None seeds a new Generator).
    clean_proba : ndarray of shape (n_samples,), default=None

    Returns
    -------
    indices : ndarray of int64
        Sorted positions of the selected samples; ``n * n_classes`` of them.

    Examples
    --------
    >>> import numpy as np
    >>> codes = np.array([0, 0, 0, 1, 1, 1, 1])
    >>> clean = np.array([True, True, False, True, True, True, False])
    >>> idx = balanced_clean_sample(codes, clean, 2, np.random.default_rng(0))
    >>> np.bincount(codes[idx]).tolist()
    [2, 2]
    """
    n_classes = check_int(n_classes, "n_classes", 1)
    codes = check_label_codes(codes, n_classes)
    clean_mask = check_bool_mask(clean_mask, "clean_mask", len(codes))
    rng = _checked_rng(rng)
    if clean_proba is not None:
        clean_proba = np.asarray(clean_proba, dtype=np.float64)
        if clean_proba.shape != codes.shape or not np.isfinite(clean_proba).all():
            raise ValueError(f"clean_proba must hold one finite number per sample ({len(codes)}); got shape "
                             f"{clean_proba.shape}{'' if np.isfinite(clean_proba).all() else ' with NaN'}.")
    members = [np.flatnonzero(codes == c) for c in range(n_classes)]
    if any(len(m) == 0 for m in members):
        raise ValueError("Every class needs at least one sample to draw a balanced subset.")
    clean = [m[clean_mask[m]] for m in members]
    n = min(len(c) for c in clean)
    chosen = []
    if n == 0:
        for m, c in zip(members, clean):
            if len(c):
                chosen.append(rng.choice(c, 1, replace=False))
            else:
                best = 0 if clean_proba is None else int(np.argmax(clean_proba[m]))
                chosen.append(m[best : best + 1])
    else:
        chosen = [rng.choice(c, n, replace=False) for c in clean]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _checked_rng(rng):
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, a RandomState, an int seed or None; got {rng!r}.")
