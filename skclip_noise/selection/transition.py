"""Noise transition matrices from a detector's verdicts."""

from __future__ import annotations

import numpy as np

from ._common import block_rows_for, check_bool_mask, check_int, check_label_codes, check_proba_array, check_real
from .confident import estimate_noise_transition
from .pruning import confident_learning_mask

__all__ = ["bayes_clean_posterior", "pooled_noise_transition", "transition_from_verdicts"]


def transition_from_verdicts(labels, clean_mask, predicted, n_classes):
    """Estimate ``T[true, given] = P(given = j | true = i)`` from clean/noisy verdicts.

    A pair judged clean is taken to be of its given class, a pair judged noisy of the
    class the detector predicts; ``T`` counts (true, given) pairs and normalises each
    row. A class no pair is taken to be gets the identity row (no evidence of noise).

    Parameters
    ----------
    labels : array-like of int, shape (n_samples,)
        Given class codes ``0..n_classes-1``.
    clean_mask : array-like of bool, shape (n_samples,)
    predicted : array-like of int, shape (n_samples,)
        The detector's class for each sample.
    n_classes : int

    Returns
    -------
    ndarray of shape (n_classes, n_classes)
        Rows sum to 1.

    Examples
    --------
    >>> import numpy as np
    >>> T = transition_from_verdicts([0, 0, 1, 1], [True, False, True, True], [0, 1, 1, 1], 2)
    >>> T.tolist()
    [[1.0, 0.0], [0.3333333333333333, 0.6666666666666666]]
    """
    n_classes = check_int(n_classes, "n_classes", 1)
    codes = check_label_codes(labels, n_classes)
    predicted = check_label_codes(predicted, n_classes, len(codes), name="predicted")
    clean_mask = check_bool_mask(clean_mask, "clean_mask", len(codes))
    true = np.where(clean_mask, codes, predicted)
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (true, codes), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    empty = totals[:, 0] == 0
    counts[empty, :] = np.eye(n_classes)[empty]
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-300)


#: ``pooled_noise_transition``'s pseudo-count per cell: Jeffreys' prior (half a sample) ...
TRANSITION_PSEUDO_COUNT = 0.5
#: ... up to this many counts per row in all (reached at 10 classes).
TRANSITION_ROW_PRIOR = 5.0


def pooled_noise_transition(labels, pred_probs, clean_mask=None, *, pseudo_count="auto"):
    """``T[true, given]`` as the mean of two estimates that fail in different places.

    Confident learning's estimate (:func:`estimate_noise_transition`) counts a sample
    under the most probable of the classes whose probability reaches their threshold,
    the mean probability of the samples given that class. A rare class whose given
    labels are mostly wrong gets a low threshold, so samples of many other classes are
    counted as truly of it, and its diagonal comes out far too small (measured on
    digits, long tail with symmetric noise 30 %: as low as 0.11 for a true 0.70), so its
    clean members are flagged. The verdict counts of the first clean set (:func:`transition_from_verdicts`, with
    :func:`confident_learning_mask` pruning by noise rate and the most probable class
    of each pruned sample) have no such leak, but they miss the flips a threshold
    does catch. Their mean keeps both (``benchmarks/results/realistic_noise_design.md``).

    Each row is then smoothed as counts: ``(n_i T[i] + pseudo_count) / (n_i + K pseudo_count)``,
    with ``n_i`` the number of samples given class ``i``. A confusion that no sample
    showed is rare, not impossible: with a zero in ``T[:, y]``, Bayes' rule keeps a pair
    labelled ``y`` whatever its evidence says. At low noise rates most cells are
    zero (measured on digits, long tail with symmetric noise 5 %: 6 to 8 of the 9
    off-diagonal cells of every column, and 6 wrong labels whose given class had
    probability 0.00-0.15 were judged clean with probability above 0.97).

    Parameters
    ----------
    labels : array-like of int, shape (n_samples,)
        Given class codes ``0..n_classes-1``, every class present.
    pred_probs : array-like of shape (n_samples, n_classes)
        Out-of-sample class probabilities.
    clean_mask : array-like of bool, shape (n_samples,), default=None
        The first clean set, if already computed from the same ``labels`` and
        ``pred_probs``; None computes it.
    pseudo_count : float or "auto", default="auto"
        Added to each cell's count before normalising; 0 keeps the mean of the two
        estimates as it is. ``"auto"``: half a sample (Jeffreys' prior) up to 10
        classes, ``5 / K`` beyond, so that a row's prior stays at 5 counts. Half a count
        in each of 100 cells adds 50 counts to a row of 50 samples and halves its
        diagonal. Measured in ``ConsensusDetector`` (``benchmarks/results/many_classes.md``,
        Gaussian classes in 64 dimensions, 30 and 100 classes of 30-50 samples, symmetric
        and pair-flip noise): clean F1 -0.0023 to +0.0001 where the classes are well
        separated, up to +0.049 where they overlap; on 20 real classes (MNIST and
        Fashion-MNIST, MobileNetV2) -0.0001 to +0.0004.

    Returns
    -------
    ndarray of shape (n_classes, n_classes)
        Rows sum to 1.

    Examples
    --------
    >>> import numpy as np
    >>> labels = [0, 0, 0, 0, 1, 1]
    >>> pred_probs = np.array([[.9, .1], [.8, .2], [.45, .55], [.3, .7], [.2, .8], [.4, .6]])
    >>> pooled_noise_transition(labels, pred_probs).round(3).tolist()
    [[0.9, 0.1], [0.411, 0.589]]
    >>> pooled_noise_transition(labels, pred_probs, pseudo_count=0).round(3).tolist()
    [[1.0, 0.0], [0.367, 0.633]]
    """
    probs = np.asarray(check_proba_array(pred_probs), dtype=np.float64)
    if pseudo_count == "auto":
        pseudo_count = min(TRANSITION_PSEUDO_COUNT, TRANSITION_ROW_PRIOR / probs.shape[1])
    if isinstance(pseudo_count, str):
        raise ValueError(f"pseudo_count must be 'auto' or a finite number >= 0 (0: no smoothing); got {pseudo_count!r}.")
    pseudo_count = check_real(pseudo_count, "pseudo_count", low=0, rule="'auto' or a finite number >= 0 (0: no smoothing)")
    codes = check_label_codes(labels, probs.shape[1], probs.shape[0])
    if clean_mask is None:
        clean_mask = confident_learning_mask(codes, probs, filter_by="prune_by_noise_rate")
    verdicts = transition_from_verdicts(codes, clean_mask, probs.argmax(axis=1), probs.shape[1])
    pooled = (estimate_noise_transition(codes, probs) + verdicts) / 2
    counts = pooled * np.bincount(codes, minlength=probs.shape[1])[:, None] + pseudo_count
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-300)


def bayes_clean_posterior(labels, pred_probs, transition, *, smoothing=1e-6):
    """Probability that each given label is right, by Bayes' rule through a transition matrix.

    With ``p(i | x)`` the probability that sample ``x`` is truly of class ``i`` and
    ``T[i, j] = P(given = j | true = i)``, the given label ``y`` is right with
    probability ``T[y, y] p(y | x) / sum_i T[i, y] p(i | x)``. Thresholding it at 0.5
    is the error-minimising decision: no noise rate is needed, and the structure
    of the noise (which classes are confused with which) enters through ``T``.

    Parameters
    ----------
    labels : array-like of int, shape (n_samples,)
    pred_probs : array-like of shape (n_samples, n_classes)
        ``p(true class | x)``, e.g. from a model fitted on the samples judged clean.
    transition : array-like of shape (n_classes, n_classes)
        ``T[true, given]``; rows are normalised after adding ``smoothing``.
    smoothing : float >= 0, default=1e-6
        Added to every entry of ``T`` so that no confusion is ruled out entirely. With
        0, a row of ``T`` that sums to 0 (a class never seen) is refused.

    Returns
    -------
    ndarray of shape (n_samples,), in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> T = np.array([[0.6, 0.4], [0.0, 1.0]])  # 40 % of class 0 is labelled 1
    >>> bayes_clean_posterior([1, 1], [[0.5, 0.5], [0.2, 0.8]], T, smoothing=0).round(3).tolist()
    [0.714, 0.909]
    """
    probs = np.asarray(check_proba_array(pred_probs), dtype=np.float64)
    codes = check_label_codes(labels, probs.shape[1], probs.shape[0])
    T = smoothed_transition(checked_transition(transition, probs.shape[1]), smoothing)
    clean = probs[np.arange(len(codes)), codes] * T[codes, codes]
    return np.clip(clean / np.maximum(given_label_likelihood(codes, probs, T), 1e-300), 0.0, 1.0)


def checked_transition(transition, n_classes):
    """``transition`` as a float64 array, refused (ValueError naming the expected shape)
    unless it is a finite, non-negative ``(n_classes, n_classes)`` matrix."""
    T = np.asarray(transition, dtype=np.float64)
    wrong_shape = T.shape != (n_classes, n_classes)
    if wrong_shape or not np.isfinite(T).all() or (T < 0).any():
        found = f"shape {T.shape}" if wrong_shape else "negative or non-finite entries"
        raise ValueError(
            f"transition must be a finite, non-negative ({n_classes}, {n_classes}) matrix T[true, given] "
            f"({n_classes} x {n_classes}: a row and a column for each class of pred_probs); got {found}."
        )
    return T


def smoothed_transition(transition, smoothing=1e-6):
    """``transition`` with ``smoothing`` added to every entry, rows renormalised (see
    :func:`bayes_clean_posterior`)."""
    smoothing = check_real(smoothing, "smoothing", low=0, rule="a finite number >= 0")
    T = np.asarray(transition, dtype=np.float64) + smoothing
    sums = T.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        raise ValueError(
            f"transition rows {np.flatnonzero(sums.ravel() <= 0)[:5].tolist()} sum to 0 (a class never seen): "
            "pass smoothing > 0, or a row for every class."
        )
    return T / sums


def given_label_likelihood(codes, probs, transition):
    """``sum_i p(i | x) T[i, y]`` of each sample: how likely its given label ``y`` is
    under its class probabilities, a block of rows at a time (bounded temporaries)."""
    total = np.empty(len(codes))
    by_given = np.ascontiguousarray(np.asarray(transition).T)  # row y is T[:, y]: gathered by rows, not columns
    block_rows = block_rows_for(probs.shape[1])
    for start in range(0, len(codes), block_rows):
        block = slice(start, start + block_rows)
        total[block] = np.einsum("ij,ij->i", probs[block], by_given[codes[block]])
    return total
