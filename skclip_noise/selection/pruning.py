"""Confident learning's pruning rules: which given labels to flag, from the counts of
:mod:`skclip_noise.selection.confident`.

:func:`confident_learning_mask` returns a *clean* mask (True = the label is kept).
Besides the paper's rules it takes cleanlab's ways to steer them: a confident joint
computed elsewhere (``confident_joint``), the number of issues to flag in each class
(``num_to_remove_per_class``) and the two rules that cut a ranking at confident
learning's count (``"low_self_confidence"``, ``"low_normalized_margin"``).
"""

from __future__ import annotations

import numbers

import numpy as np

from .._warnings import warn_user
from ._common import check_inputs, lowest_per_group
from .confident import _calibrate, _class_counts, _confident_assignment, _confident_counts, _normalized_margin, _thresholds

__all__ = ["COUNT_FILTERS", "FILTER_METHODS", "RANK_METHODS", "confident_learning_mask"]

#: The rules that flag, in each cell of the confident joint, that cell's count of samples.
COUNT_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both")
#: The rules that flag the samples ranked lowest by a score, as many as confident learning counts.
LOW_SCORE_FILTERS = ("low_normalized_margin", "low_self_confidence")
#: Rules accepted by ``confident_learning_mask(filter_by=...)``.
FILTER_METHODS = COUNT_FILTERS + ("confident_learning", "predicted_neq_given") + LOW_SCORE_FILTERS
#: Scores accepted by ``confident_learning_mask(rank_by=...)``.
RANK_METHODS = ("self_confidence", "normalized_margin")


def _round_preserving_row_totals(matrix):
    """Round to ints keeping each row's total: round, then add 1 to the entries rounded down
    most (ties: later column) or take 1 from those rounded up most (ties: earlier column),
    cleanlab's rule, so the common equal calibrated counts split the same way."""
    totals = np.round(matrix.sum(axis=1)).astype(np.int64)
    rounded = np.round(matrix)
    residual = np.round(matrix - rounded, 9)  # equal counts tie despite float noise
    missing = totals - rounded.sum(axis=1).astype(np.int64)
    columns = np.arange(matrix.shape[1])[None, :].repeat(matrix.shape[0], axis=0)
    ascending = np.argsort(residual, axis=1, kind="stable")
    adjust = np.zeros(matrix.shape, dtype=np.int64)
    for sign, order in ((1, ascending[:, ::-1]), (-1, ascending)):
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, columns, axis=1)
        adjust += sign * ((sign * missing[:, None] > 0) & (ranks < np.abs(missing)[:, None]))
    return rounded.astype(np.int64) + adjust


def _with_diagonal_to_totals(off_diagonal, counts):
    """``off_diagonal`` (its diagonal ignored) with each row's diagonal set so the row sums to ``counts``."""
    matrix = np.array(off_diagonal, dtype=np.float64)
    np.fill_diagonal(matrix, 0.0)
    np.fill_diagonal(matrix, counts - matrix.sum(axis=1))
    return matrix


def _prune_counts(joint, counts, frac_noise, num_to_remove=None):
    """Integer ``[given, true]`` counts of samples to remove (off-diagonal), rows summing to
    the class counts: the ``joint``'s, scaled by ``frac_noise``, or, with ``num_to_remove``,
    ``num_to_remove[i]`` spread over class ``i``'s row in proportion to its off-diagonal
    counts (evenly where it has none)."""
    if num_to_remove is not None:
        off = np.array(joint, dtype=np.float64)
        np.fill_diagonal(off, 0.0)
        n_classes = off.shape[0]
        totals = off.sum(axis=1, keepdims=True)
        even = (1.0 - np.eye(n_classes)) / max(n_classes - 1, 1)
        shares = np.where(totals > 0, off / np.where(totals > 0, totals, 1.0), even)
        return _round_preserving_row_totals(_with_diagonal_to_totals(shares * num_to_remove[:, None], counts))
    rounded = _round_preserving_row_totals(joint)
    if frac_noise >= 1.0:
        return rounded
    # What frac_noise takes off the off-diagonals goes to the diagonal (cleanlab's
    # _reduce_prune_counts): the row keeps its total, the class's count for a calibrated joint.
    return _round_preserving_row_totals(_with_diagonal_to_totals(rounded * float(frac_noise), rounded.sum(axis=1)))


def check_num_to_remove_per_class(num_to_remove_per_class, counts):
    """``num_to_remove_per_class`` as int64, checked against the class ``counts``."""
    num = np.asarray(num_to_remove_per_class)
    if num.shape != counts.shape or (num.size and num.dtype.kind not in "iu" and not (
            num.dtype.kind == "f" and np.isfinite(num).all() and (num == np.round(num)).all())):
        raise ValueError(
            f"num_to_remove_per_class must hold one whole number per class ({counts.size}); "
            f"got {num_to_remove_per_class!r}."
        )
    num = num.astype(np.int64)
    too_many = np.flatnonzero((num < 0) | (num > counts))
    if too_many.size:
        k = int(too_many[0])
        raise ValueError(
            f"num_to_remove_per_class[{k}] is {int(num[k])}, but class {k} has {int(counts[k])} samples "
            "given it: each entry must be between 0 and its class's count."
        )
    return num


def check_confident_joint(confident_joint, counts):
    """A caller's confident joint (given label by row, true label by column, as cleanlab's
    ``compute_confident_joint`` returns it) as float64, checked against the class ``counts``."""
    joint = np.asarray(confident_joint)
    n_classes = counts.size
    if joint.shape != (n_classes, n_classes) or joint.dtype.kind not in "iuf" or not np.isfinite(joint).all() \
            or (joint < 0).any():
        raise ValueError(
            f"confident_joint must be a ({n_classes}, {n_classes}) array of counts >= 0 (rows: given label, "
            f"columns: true label); got shape {joint.shape} and dtype {joint.dtype}. Compute it with "
            "cleanlab.count.compute_confident_joint(labels, pred_probs) or skclip_noise.selection.confident_joint."
        )
    off_diagonal = joint.sum(axis=1) - np.diag(joint)
    over = np.flatnonzero(off_diagonal > counts + 1e-9)
    if over.size:
        k = int(over[0])
        raise ValueError(
            f"confident_joint counts {off_diagonal[k]:g} wrong labels among the samples given class {k}, "
            f"which has {int(counts[k])}: it was computed on other labels. Compute it on these labels."
        )
    return joint.astype(np.float64)


def _check_filter_options(filter_by, rank_by, frac_noise, min_per_class):
    if filter_by not in FILTER_METHODS:
        raise ValueError(f"filter_by must be one of {FILTER_METHODS}; got {filter_by!r}.")
    if rank_by not in RANK_METHODS:
        raise ValueError(f"rank_by must be one of {RANK_METHODS}; got {rank_by!r}.")
    if isinstance(frac_noise, bool) or not isinstance(frac_noise, numbers.Real) or not 0.0 < frac_noise <= 1.0:
        raise ValueError(f"frac_noise must be in (0, 1] (the share of estimated issues to flag); got {frac_noise!r}.")
    if isinstance(min_per_class, bool) or not isinstance(min_per_class, numbers.Integral) or min_per_class < 0:
        raise ValueError(f"min_per_class must be a non-negative integer; got {min_per_class!r}.")


def check_count_options(filter_by, frac_noise, num_to_remove_per_class, confident_joint):
    """Refuse ``num_to_remove_per_class`` with a rule that has no counts, and warn where an
    option has no effect (as cleanlab does): ``confident_joint`` outside the count rules,
    ``frac_noise`` beside ``num_to_remove_per_class`` (which sets the counts itself)."""
    if num_to_remove_per_class is not None and filter_by not in COUNT_FILTERS:
        raise ValueError(
            f"num_to_remove_per_class sets the counts of filter_by in {COUNT_FILTERS}; "
            f"filter_by={filter_by!r} has none. Pick one of those (as in cleanlab)."
        )
    if confident_joint is not None and filter_by not in COUNT_FILTERS:
        warn_user(f"confident_joint is ignored with filter_by={filter_by!r}: only the rules in {COUNT_FILTERS} "
                  "prune by its counts (cleanlab recomputes it here too).", UserWarning)
    if num_to_remove_per_class is not None and frac_noise != 1:
        warn_user("frac_noise is ignored when num_to_remove_per_class is given: that sets each class's "
                  "count itself (as in cleanlab).", UserWarning)


def confident_learning_mask(
    labels,
    pred_probs,
    *,
    filter_by="prune_by_noise_rate",
    rank_by="normalized_margin",
    frac_noise=1.0,
    num_to_remove_per_class=None,
    confident_joint=None,
    min_per_class=1,
    keep_predicted=True,
):
    """Clean mask from confident learning: True where the given label is kept.

    Parameters
    ----------
    labels, pred_probs : array-like of shape (n_samples,) and (n_samples, K)
        Given labels as codes ``0 .. K-1`` (every class present, except for
        ``"predicted_neq_given"``) and out-of-sample probabilities.
    filter_by : {"prune_by_noise_rate", "prune_by_class", "both", \
"confident_learning", "predicted_neq_given", "low_normalized_margin", \
"low_self_confidence"}, default="prune_by_noise_rate"
        The paper's rules, with ``C`` the calibrated
        :func:`~skclip_noise.selection.confident_joint` rounded to integers that keep
        each row's total:

        - ``"prune_by_noise_rate"`` (``C_prune_by_noise_rate``): for each
          off-diagonal cell ``C[i, j]``, flag the ``C[i, j]`` samples labelled ``i``
          with the largest margin ``p_j - p_i``.
        - ``"prune_by_class"`` (``C_prune_by_class``): in each class ``i``, flag the
          ``sum_{j != i} C[i, j]`` samples labelled ``i`` ranked lowest by ``rank_by``.
        - ``"both"``: flagged by both of the above.
        - ``"confident_learning"`` (``C_confusion`` off-diagonals): flag the samples
          counted in an off-diagonal cell of the uncalibrated confident joint.
        - ``"predicted_neq_given"``: flag samples whose argmax is not the given
          label (a tie with the given label keeps it).

        and cleanlab's two cuts of a ranking: ``"low_normalized_margin"`` and
        ``"low_self_confidence"`` flag, over all samples, those lowest by that score,
        as many as ``"confident_learning"`` flags (cleanlab's ``num_label_issues``).
    rank_by : {"normalized_margin", "self_confidence"}, default="normalized_margin"
        Order within a class used by ``"prune_by_class"`` (the paper and cleanlab
        use ``"self_confidence"`` there), by ``frac_noise`` for
        ``"confident_learning"`` and ``"predicted_neq_given"``, and to choose which
        flags ``min_per_class`` lifts.
    frac_noise : float in (0, 1], default=1.0
        Flag only this share of the estimated issues: the off-diagonal counts are
        multiplied by it and rounded keeping each given class's total (count rules;
        cleanlab rounds per true class, so small counts can differ), or each class
        keeps only the lowest-ranked ``round(frac_noise * flagged)`` flags
        (``"confident_learning"``, ``"predicted_neq_given"``). Not used by the two
        ``"low_*"`` rules, nor beside ``num_to_remove_per_class`` (a warning says so).
    num_to_remove_per_class : array-like of int of shape (K,), default=None
        The count rules only: flag ``num_to_remove_per_class[i]`` samples labelled
        ``i``, spread over the true classes in proportion to row ``i`` of ``C``
        (evenly where it has no off-diagonal count). ``"prune_by_class"`` flags
        exactly that many (``keep_predicted`` and ``min_per_class`` aside); the
        other two may flag fewer, where fewer samples prefer the true class.
    confident_joint : array-like of shape (K, K), default=None
        The count rules only: a confident joint computed elsewhere (rows: given
        label, columns: true label), e.g. cleanlab's
        ``compute_confident_joint(labels, pred_probs)``, used as cleanlab uses it
        instead of ``C``: ``"prune_by_noise_rate"`` removes its off-diagonal counts,
        ``"prune_by_class"`` the class's count less its diagonal.
        Other rules ignore it with a warning.
    min_per_class : int, default=1
        Never leave a class with fewer kept samples than this (or than it has):
        the highest-ranked flags of that class are lifted.
    keep_predicted : bool, default=True
        Never flag a sample whose given label is the argmax of its probabilities
        (ties included), as cleanlab does after every rule but the two ``"low_*"``.
        The count rules could otherwise flag such a sample when ``C[i, j]`` exceeds
        the samples that actually prefer ``j``.

    Returns
    -------
    clean : ndarray of bool, shape (n_samples,)
        True = label kept, False = flagged as a likely label issue.

    Examples
    --------
    >>> import numpy as np
    >>> labels = [0, 0, 0, 1, 1, 1]
    >>> pred_probs = np.array([[.9, .1], [.8, .2], [.1, .9], [.2, .8], [.3, .7], [.1, .9]])
    >>> confident_learning_mask(labels, pred_probs)
    array([ True,  True, False,  True,  True,  True])
    >>> confident_learning_mask(labels, pred_probs, filter_by="predicted_neq_given")
    array([ True,  True, False,  True,  True,  True])
    >>> confident_learning_mask(labels, pred_probs, filter_by="prune_by_class", num_to_remove_per_class=[0, 1],
    ...                         keep_predicted=False)
    array([ True,  True,  True,  True, False,  True])
    """
    _check_filter_options(filter_by, rank_by, frac_noise, min_per_class)
    check_count_options(filter_by, frac_noise, num_to_remove_per_class, confident_joint)
    if frac_noise != 1 and filter_by in LOW_SCORE_FILTERS:
        warn_user(f"frac_noise is ignored with filter_by={filter_by!r}: it flags as many samples as "
                  "confident learning counts (as in cleanlab).", UserWarning)
    codes, probs = check_inputs(labels, pred_probs)
    n_samples, n_classes = probs.shape
    rows = np.arange(n_samples)
    counts = _class_counts(codes, n_classes, require_all=filter_by != "predicted_neq_given")
    if num_to_remove_per_class is not None:
        num_to_remove_per_class = check_num_to_remove_per_class(num_to_remove_per_class, counts)
    if confident_joint is not None and filter_by in COUNT_FILTERS:
        joint = check_confident_joint(confident_joint, counts)  # read as cleanlab reads it, diagonal included
    elif filter_by in COUNT_FILTERS:
        joint = _calibrate(_confident_counts(codes, probs), counts)
    # The "low_*" rules rank by the score they are named after (and lift by it for min_per_class).
    score_name = filter_by[len("low_"):] if filter_by in LOW_SCORE_FILTERS else rank_by
    scores = probs[rows, codes].astype(np.float64) if score_name == "self_confidence" else \
        _normalized_margin(codes, probs)
    given_is_predicted = probs[rows, codes] >= probs.max(axis=1)

    if filter_by == "predicted_neq_given":
        flagged = ~given_is_predicted
    elif filter_by in ("confident_learning",) + LOW_SCORE_FILTERS:
        counted, guess = _confident_assignment(codes, probs, _thresholds(codes, probs))
        flagged = counted & (guess != codes)
    else:
        prune = _prune_counts(joint, counts, float(frac_noise), num_to_remove_per_class)
        flagged = np.ones(n_samples, dtype=bool)
        if filter_by in ("prune_by_class", "both"):
            flagged &= lowest_per_group(flagged, codes, scores, np.clip(counts - np.diag(prune), 0, counts))
        if filter_by in ("prune_by_noise_rate", "both"):
            by_noise_rate = np.zeros(n_samples, dtype=bool)
            for true_class in range(n_classes):  # flag the C[i, j] samples of each given i with largest p_j - p_i
                n_remove = prune[:, true_class].copy()
                n_remove[true_class] = 0
                if n_remove.any():
                    margin = probs[:, true_class] - probs[rows, codes]
                    by_noise_rate |= lowest_per_group(codes != true_class, codes, -margin, n_remove)
            flagged &= by_noise_rate

    if filter_by in ("confident_learning", "predicted_neq_given") and frac_noise < 1.0:
        n_flagged = np.bincount(codes[flagged], minlength=n_classes)
        flagged = lowest_per_group(flagged, codes, scores, np.round(frac_noise * n_flagged).astype(np.int64))
    if filter_by in LOW_SCORE_FILTERS:  # cleanlab's num_label_issues: the confident off-diagonals not predicted
        n_issues = int((flagged & ~given_is_predicted).sum())
        flagged = np.zeros(n_samples, dtype=bool)
        flagged[np.argsort(scores, kind="stable")[:n_issues]] = True
    elif keep_predicted:
        flagged &= ~given_is_predicted
    if min_per_class > 0:
        n_flagged = np.bincount(codes[flagged], minlength=n_classes)
        must_keep = np.minimum(min_per_class, counts)
        n_allowed = np.minimum(n_flagged, counts - must_keep)
        if (n_allowed < n_flagged).any():
            flagged = lowest_per_group(flagged, codes, scores, n_allowed)
    return ~flagged
