"""Confident learning: find wrong labels from out-of-sample predicted probabilities.

Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in Dataset
Labels", JAIR 70 (2021). Written from the paper; where a detail differs from
cleanlab 2.x it is said in the function's notes.

Inputs: ``labels``, integer codes ``0 .. K-1`` of the *given* (possibly wrong)
labels, shape ``(n_samples,)``; ``pred_probs``, out-of-sample predicted
probabilities (e.g. cross-validated softmax outputs), shape ``(n_samples, K)``.
Orientation of the matrices:

- :func:`confident_joint` is the paper's ``C[given, true]``: rows are the given
  label ``i``, columns the latent true label ``j``.
- :func:`estimate_joint` and :func:`estimate_noise_transition` follow the
  library's :func:`skclip_noise.noise.noise_transition_matrix`: rows are the true
  class, columns the given class, so ``T[i, j] = P(given = j | true = i)``.

The rules that prune by these counts (``confident_learning_mask``) are in
:mod:`skclip_noise.selection.pruning`.
"""

from __future__ import annotations

import numpy as np

from ._common import block_rows_for, check_inputs

__all__ = [
    "confident_joint",
    "estimate_joint",
    "estimate_noise_rate",
    "estimate_noise_transition",
    "normalized_margin",
    "per_class_thresholds",
    "self_confidence",
]

# A probability counts as reaching a class threshold when p >= t - tolerance, so a
# threshold that is the mean of equal probabilities is reached despite rounding.
_THRESHOLD_TOLERANCE = 1e-6


def _class_counts(codes, n_classes, *, require_all):
    counts = np.bincount(codes, minlength=n_classes)
    if require_all and (counts == 0).any():
        missing = np.flatnonzero(counts == 0).tolist()
        raise ValueError(
            f"class {missing[0] if len(missing) == 1 else missing} has no sample with that given "
            "label; confident learning needs at least one per class to set its threshold. "
            "Drop that column from pred_probs (and re-encode labels) or add labelled samples."
        )
    return counts


def _thresholds(codes, probs):
    counts = _class_counts(codes, probs.shape[1], require_all=True)
    given_probs = probs[np.arange(codes.shape[0]), codes]
    return np.bincount(codes, weights=given_probs, minlength=probs.shape[1]) / counts


def per_class_thresholds(labels, pred_probs):
    """Per-class confidence thresholds ``t_j``: the mean of ``p_j`` over samples labelled ``j``.

    Parameters
    ----------
    labels, pred_probs : array-like of shape (n_samples,) and (n_samples, K)
        Given labels as codes ``0 .. K-1`` (every class present) and out-of-sample probabilities.

    Returns
    -------
    thresholds : ndarray of shape (K,)

    Examples
    --------
    >>> import numpy as np
    >>> labels = [0, 0, 1, 1]
    >>> pred_probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.4, 0.6]])
    >>> per_class_thresholds(labels, pred_probs)
    array([0.7, 0.7])
    """
    codes, probs = check_inputs(labels, pred_probs)
    return _thresholds(codes, probs)


def _confident_assignment(codes, probs, thresholds):
    """Which samples are counted and the true class each is counted under (row block by
    row block: with many classes an (n, K) temporary is as large as ``probs``)."""
    lowered = thresholds - _THRESHOLD_TOLERANCE
    counted = np.empty(codes.shape[0], dtype=bool)
    guess = np.empty(codes.shape[0], dtype=np.intp)
    block_rows = block_rows_for(probs.shape[1])
    for start in range(0, codes.shape[0], block_rows):
        block = slice(start, start + block_rows)
        counted[block], guess[block] = _confident_block(codes[block], probs[block], lowered)
    return counted, guess


def _confident_block(codes, probs, lowered_thresholds):
    reached = probs >= lowered_thresholds
    candidate_probs = np.where(reached, probs, -np.inf)
    guess = candidate_probs.argmax(axis=1)
    rows = np.arange(codes.shape[0])
    # A tie between the given label and another confident class goes to the given label.
    given_wins = reached[rows, codes] & (probs[rows, codes] >= candidate_probs[rows, guess])
    guess[given_wins] = codes[given_wins]
    return reached.any(axis=1), guess


def _confident_counts(codes, probs):
    n_classes = probs.shape[1]
    counted, guess = _confident_assignment(codes, probs, _thresholds(codes, probs))
    flat = codes[counted] * n_classes + guess[counted]
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _calibrate(joint_counts, counts):
    # No row is empty: the sample of class i with the highest p_i reaches t_i (a mean).
    counts_f = joint_counts.astype(np.float64)
    return counts_f / counts_f.sum(axis=1, keepdims=True) * counts[:, None]


def confident_joint(labels, pred_probs, *, calibrate=True):
    """The confident joint ``C[i, j]``: samples *given* label ``i`` whose *true* label is confidently ``j``.

    Orientation is the paper's: **rows = given label, columns = true label** (the
    transpose of :func:`estimate_joint`). A sample is counted once, under the class
    ``j`` of highest probability among the classes whose probability reaches their
    threshold ``t_j`` (:func:`per_class_thresholds`); a tie between the given label
    and another class goes to the given label, other ties to the lowest index. A
    sample reaching no threshold is not counted.

    Parameters
    ----------
    labels, pred_probs : array-like of shape (n_samples,) and (n_samples, K)
        Given labels as codes ``0 .. K-1`` (every class present) and out-of-sample probabilities.
    calibrate : bool, default=True
        Rescale each row to the number of samples with that given label (the
        paper's Eq. 3), so rows sum to the given-label counts and the total is
        ``n_samples``.

    Returns
    -------
    joint : ndarray of shape (K, K)
        Float counts when calibrated (not rounded, unlike cleanlab), int counts otherwise.

    Notes
    -----
    cleanlab 2.x differs in three details: with two or more classes above their
    thresholds it takes the argmax over *all* classes (the paper: over those
    classes only), it raises every diagonal count to at least 1, and it rounds
    the calibrated joint to integers.

    Examples
    --------
    >>> import numpy as np
    >>> labels = [0, 0, 0, 1, 1, 1]
    >>> pred_probs = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.1, .9]])
    >>> confident_joint(labels, pred_probs, calibrate=False)
    array([[2, 1],
           [0, 2]])
    >>> confident_joint(labels, pred_probs)
    array([[2., 1.],
           [0., 3.]])
    """
    codes, probs = check_inputs(labels, pred_probs)
    joint_counts = _confident_counts(codes, probs)
    if not calibrate:
        return joint_counts
    return _calibrate(joint_counts, np.bincount(codes, minlength=probs.shape[1]))


def estimate_joint(labels, pred_probs):
    """Estimated joint distribution ``Q[i, j] = P(true = i, given = j)``.

    The calibrated :func:`confident_joint` divided by ``n_samples`` and
    **transposed** to the library's orientation (rows = true class, columns =
    given class); cleanlab's ``estimate_joint`` is the transpose of this.

    Parameters
    ----------
    labels, pred_probs : array-like of shape (n_samples,) and (n_samples, K)
        Given labels as codes ``0 .. K-1`` (every class present) and out-of-sample probabilities.

    Returns
    -------
    joint : ndarray of shape (K, K)
        Non-negative, sums to 1; column ``j`` sums to the share of samples labelled ``j``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = [0, 0, 0, 1, 1, 1]
    >>> pred_probs = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.1, .9]])
    >>> estimate_joint(labels, pred_probs).round(3)
    array([[0.333, 0.   ],
           [0.167, 0.5  ]])
    """
    codes, probs = check_inputs(labels, pred_probs)
    calibrated = _calibrate(_confident_counts(codes, probs), np.bincount(codes, minlength=probs.shape[1]))
    return calibrated.T / codes.shape[0]


def estimate_noise_transition(labels, pred_probs):
    """Estimated noise transition matrix ``T[i, j] = P(given = j | true = i)``.

    Rows of :func:`estimate_joint` normalised to sum to 1, the convention of
    :func:`skclip_noise.noise.noise_transition_matrix` (``normalize="true"``). A
    true class with no estimated mass gets an identity row. cleanlab's
    ``noise_matrix`` (columns indexed by the true label) is the transpose.

    Parameters
    ----------
    labels, pred_probs : array-like of shape (n_samples,) and (n_samples, K)
        Given labels as codes ``0 .. K-1`` (every class present) and out-of-sample probabilities.

    Returns
    -------
    transition : ndarray of shape (K, K)
        Row-stochastic.

    Examples
    --------
    >>> import numpy as np
    >>> labels = [0, 0, 0, 1, 1, 1]
    >>> pred_probs = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.1, .9]])
    >>> estimate_noise_transition(labels, pred_probs)
    array([[1.  , 0.  ],
           [0.25, 0.75]])
    """
    joint = estimate_joint(labels, pred_probs)
    totals = joint.sum(axis=1, keepdims=True)
    transition = np.divide(joint, totals, out=np.zeros_like(joint), where=totals > 0)
    empty = totals[:, 0] <= 0
    transition[empty, empty] = 1.0
    return transition


def estimate_noise_rate(labels, pred_probs, *, per_class=False):
    """Estimated share of wrong labels: ``1 - trace(joint)``.

    Parameters
    ----------
    labels, pred_probs : array-like of shape (n_samples,) and (n_samples, K)
        Given labels as codes ``0 .. K-1`` (every class present) and out-of-sample probabilities.
    per_class : bool, default=False
        Instead return, for each *given* class ``i``, the estimated share of the
        samples labelled ``i`` whose true class is another, ``P(true != i | given = i)``.

    Returns
    -------
    rate : float or ndarray of shape (K,)

    Examples
    --------
    >>> import numpy as np
    >>> labels = [0, 0, 0, 1, 1, 1]
    >>> pred_probs = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.1, .9]])
    >>> round(estimate_noise_rate(labels, pred_probs), 4)
    0.1667
    >>> estimate_noise_rate(labels, pred_probs, per_class=True).round(4)
    array([0.3333, 0.    ])
    """
    codes, probs = check_inputs(labels, pred_probs)
    counts = np.bincount(codes, minlength=probs.shape[1])
    calibrated = _calibrate(_confident_counts(codes, probs), counts)
    if per_class:
        return 1.0 - np.diag(calibrated) / counts
    return float(1.0 - np.trace(calibrated) / codes.shape[0])


def self_confidence(labels, pred_probs):
    """Probability of the given label, ``p_y``: low values rank first as likely wrong.

    Parameters
    ----------
    labels, pred_probs : array-like of shape (n_samples,) and (n_samples, K)
        Given labels as codes ``0 .. K-1`` and out-of-sample probabilities (rows sum to 1).

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        In ``[0, 1]``; higher = more likely clean.

    Examples
    --------
    >>> import numpy as np
    >>> self_confidence([0, 1], np.array([[0.7, 0.3], [0.6, 0.4]]))
    array([0.7, 0.4])
    """
    codes, probs = check_inputs(labels, pred_probs)
    return probs[np.arange(codes.shape[0]), codes].astype(np.float64)


def normalized_margin(labels, pred_probs):
    """Margin of the given label over the best other class, mapped to ``[0, 1]``.

    ``(p_y - max_{k != y} p_k + 1) / 2``: 1 when the given label has all the
    mass, 0.5 on a tie, 0 when another class has all of it.

    Parameters
    ----------
    labels, pred_probs : array-like of shape (n_samples,) and (n_samples, K)
        Given labels as codes ``0 .. K-1`` and out-of-sample probabilities (rows sum to 1).

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        In ``[0, 1]``; higher = more likely clean.

    Examples
    --------
    >>> import numpy as np
    >>> normalized_margin([0, 1], np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]]))
    array([0.75, 0.35])
    """
    codes, probs = check_inputs(labels, pred_probs)
    return _normalized_margin(codes, probs)


def _normalized_margin(codes, probs):
    given, rival = given_and_rival(codes, probs)
    return (given - rival + 1.0) / 2.0


def given_and_rival(codes, probs):
    """Each row's probability of its given label and of its strongest other class
    (float64), row block by row block: an (n, K) copy would be as large as ``probs``."""
    given, rival = np.empty(codes.shape[0]), np.empty(codes.shape[0])
    block_rows = block_rows_for(probs.shape[1])
    for start in range(0, codes.shape[0], block_rows):
        block = slice(start, start + block_rows)
        others = probs[block].astype(np.float64, copy=True)
        rows, block_codes = np.arange(others.shape[0]), codes[block]
        given[block] = others[rows, block_codes]
        others[rows, block_codes] = -np.inf
        rival[block] = others.max(axis=1)
    return given, rival
