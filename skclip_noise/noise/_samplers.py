"""Samplers of :func:`~skclip_noise.noise.make_noisy_labels`, all on integer codes.

Each noise kind picks the samples to corrupt and their new class codes; the count
of corrupted samples is exact (``round(rate * n)``, or per class).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "_class_mapped",
    "_instance",
    "_n_flips",
    "_select_per_class",
    "_symmetric",
    "_weighted_sample_without_replacement",
]

# Standard deviation of the per-sample flip rates of Xia et al. (2020).
_INSTANCE_RATE_STD = 0.1


def _n_flips(rate, counts):
    """Number of labels to corrupt: ``round(rate * count)``, ties to even like :func:`round`."""
    return np.round(rate * np.asarray(counts, dtype=np.float64)).astype(np.intp)


def _select_per_class(codes, n_per_class, rng):
    """Indices of exactly ``n_per_class[c]`` uniformly chosen samples of each class ``c``."""
    n = codes.shape[0]
    order = np.lexsort((rng.random_sample(n), codes))
    sorted_codes = codes[order]
    rank_in_class = np.arange(n) - np.searchsorted(sorted_codes, sorted_codes, side="left")
    return np.sort(order[rank_in_class < n_per_class[sorted_codes]])


def _symmetric(codes, n_classes, rate, include_true_class, rng):
    n = codes.shape[0]
    chosen = np.sort(rng.permutation(n)[: _n_flips(rate, n)])
    if include_true_class:
        new = rng.randint(0, n_classes, size=chosen.shape[0])
    else:
        # An offset in 1..K-1 reaches every other class with equal probability.
        new = (codes[chosen] + rng.randint(1, n_classes, size=chosen.shape[0])) % n_classes
    return chosen, new


def _class_mapped(codes, target_of_class, rate, rng):
    """Flip ``round(rate * n_c)`` samples of every class ``c`` with a target (>= 0)."""
    counts = np.bincount(codes, minlength=target_of_class.shape[0])
    n_per_class = np.where(target_of_class >= 0, _n_flips(rate, counts), 0)
    chosen = _select_per_class(codes, n_per_class, rng)
    return chosen, target_of_class[codes[chosen]]


def _weighted_sample_without_replacement(weights, k, rng):
    """Efraimidis-Spirakis: the ``k`` largest ``log(u) / w`` form a weighted draw."""
    u = 1.0 - rng.random_sample(weights.shape[0])  # in (0, 1], so log(u) is finite
    with np.errstate(divide="ignore"):
        keys = np.log(u) / np.maximum(weights, np.finfo(np.float64).tiny)
    if k >= weights.shape[0]:
        return np.arange(weights.shape[0])
    return np.sort(np.argpartition(-keys, k - 1)[:k])


def _instance(codes, n_classes, rate, X, rng):
    n, n_features = X.shape
    std = _INSTANCE_RATE_STD
    from scipy.stats import truncnorm  # imported on use: scipy.stats costs ~0.5 s

    flip_rates = truncnorm.rvs(
        (0.0 - rate) / std, (1.0 - rate) / std, loc=rate, scale=std, size=n, random_state=rng
    )
    chosen = _weighted_sample_without_replacement(flip_rates, int(_n_flips(rate, n)), rng)
    if chosen.shape[0] == 0:
        return chosen, codes[chosen]
    true = codes[chosen]
    logits = np.empty((chosen.shape[0], n_classes))
    for c in range(n_classes):
        # One projection per true class, drawn even when the class is absent so
        # that the stream of random numbers depends only on (n, d, K).
        W_c = rng.standard_normal((n_features, n_classes))
        in_c = true == c
        logits[in_c] = X[chosen[in_c]] @ W_c
    if not np.all(np.isfinite(logits)):
        raise ValueError(
            "features are too large for the random projection (overflow); "
            "rescale them, e.g. divide by their maximum absolute value."
        )
    # Distribution over the other classes: softmax with the true class at -inf.
    # (Xia et al. then scale it by the flip rate and put 1 - rate on the true class;
    # conditioned on flipping, that is exactly this softmax.)
    logits[np.arange(true.shape[0]), true] = -np.inf
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    cum = np.cumsum(probs, axis=1)
    u = 1.0 - rng.random_sample(true.shape[0])  # in (0, 1]: never lands on a zero-mass class
    new = (cum < u[:, None] * cum[:, -1:]).sum(axis=1)
    return chosen, new
