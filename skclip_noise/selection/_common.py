"""Input checks and ranking helpers shared by the selection rules."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["ROW_SUM_TOLERANCE", "check_label_codes", "check_pred_probs", "check_inputs", "check_int", "lowest_per_group"]

#: How far a row of probabilities may sum from 1 (float32 softmax outputs).
ROW_SUM_TOLERANCE = 1e-3


def check_label_codes(labels, n_classes=None, n_samples=None, name="labels"):
    """``labels`` as a 1-D int64 array of codes in ``[0, n_classes)``."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of integer class codes; got shape {arr.shape}.")
    integral = arr.dtype.kind in "iu" or (
        arr.dtype.kind == "f" and np.isfinite(arr).all() and np.array_equal(arr, np.round(arr))
    )
    if not integral:
        raise ValueError(
            f"{name} must hold integer class codes 0..K-1; got {arr.dtype} values. "
            "Encode class names first, e.g. codes = np.unique(y, return_inverse=True)[1]."
        )
    codes = arr.astype(np.int64)
    if n_samples is not None and codes.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {codes.shape[0]} entries but there are {n_samples} samples "
            "(rows of pred_probs or features); pass one label per sample."
        )
    upper = np.inf if n_classes is None else n_classes
    bad = (codes < 0) | (codes >= upper)
    if bad.any():
        top = "K-1" if n_classes is None else n_classes - 1
        raise ValueError(f"{name} contains codes {np.unique(codes[bad])[:5].tolist()} outside the range 0..{top}.")
    return codes


def check_pred_probs(pred_probs):
    probs = np.asarray(pred_probs)
    if probs.dtype.kind not in "iuf":
        raise ValueError(f"pred_probs must be a numeric array; got dtype {probs.dtype}.")
    if probs.dtype.kind != "f":
        probs = probs.astype(np.float64)
    if probs.ndim != 2:
        raise ValueError(f"pred_probs must be 2-D of shape (n_samples, n_classes); got shape {probs.shape}.")
    if probs.shape[1] < 2:
        raise ValueError(f"pred_probs needs at least 2 class columns; got shape {probs.shape}.")
    finite = np.isfinite(probs).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)[:5].tolist()
        raise ValueError(f"pred_probs contains NaN or infinite values (rows {rows}); the model diverged.")
    if probs.min() < -ROW_SUM_TOLERANCE or probs.max() > 1 + ROW_SUM_TOLERANCE:
        raise ValueError("pred_probs must be probabilities in [0, 1]; apply a softmax to logits first.")
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"pred_probs rows must sum to 1; {int(off.sum())} rows do not (row {row} sums to "
            f"{sums[row]:.4g}). Apply a softmax or divide each row by its sum."
        )
    return probs


def check_inputs(labels, pred_probs):
    probs = check_pred_probs(pred_probs)
    codes = check_label_codes(labels, probs.shape[1], probs.shape[0])
    return codes, probs


def lowest_per_group(candidates, groups, scores, n_per_group):
    """Mask of the ``n_per_group[g]`` candidates with the lowest scores in each group (ties: earlier sample)."""
    selected = np.zeros(groups.shape[0], dtype=bool)
    pool = np.flatnonzero(candidates & (n_per_group[groups] > 0))
    if pool.size == 0:
        return selected
    ordered = pool[np.lexsort((scores[pool], groups[pool]))]
    ordered_groups = groups[ordered]
    starts = np.r_[0, np.flatnonzero(ordered_groups[1:] != ordered_groups[:-1]) + 1]
    rank_in_group = np.arange(ordered.size) - np.repeat(starts, np.diff(np.r_[starts, ordered.size]))
    selected[ordered[rank_in_group < n_per_group[ordered_groups]]] = True
    return selected


def check_int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)
