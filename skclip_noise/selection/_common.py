"""Input checks and ranking helpers shared by the selection rules."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ..data.labels import check_label_codes, check_pred_probs, check_proba_array

__all__ = [
    "block_rows_for", "check_bool_mask", "check_label_codes", "check_pred_probs", "check_proba_array", "check_inputs",
    "check_int", "check_real", "check_row_positions", "lowest_per_group",
]


def check_inputs(labels, pred_probs):
    """(codes, pred_probs as float64): the margins and thresholds of confident learning
    in float32 would tie samples their float64 values tell apart."""
    probs = np.asarray(check_pred_probs(pred_probs), dtype=np.float64)
    codes = check_label_codes(labels, probs.shape[1], probs.shape[0])
    return codes, probs


def check_bool_mask(mask, name, n_samples=None):
    """``mask`` as a 1-D bool array of ``n_samples`` entries; bools or 0/1 numbers only
    (sample indices or scores are refused, not cast to bool).

    Examples
    --------
    >>> check_bool_mask([1, 0, 1], "clean_mask").tolist()
    [True, False, True]
    """
    arr = np.asarray(mask)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D boolean mask; got shape {arr.shape}. Pass a flat vector, e.g. {name}.ravel()."
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} entries for {n_samples} samples; pass one True/False per sample "
            "(a boolean mask, not sample indices)."
        )
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iufO":
        raise ValueError(f"{name} must be boolean (True/False or 0/1); got dtype {arr.dtype}.")
    if arr.dtype == object:  # a nullable pandas column: its missing values compare to neither 0 nor 1
        missing = np.flatnonzero(pd.isna(arr))
        if missing.size:
            raise ValueError(
                f"{name} has missing values (at positions {missing[:5].tolist()}); every sample needs "
                "True or False: drop those samples or fill them first."
            )
    is_zero = np.asarray(arr == 0, dtype=bool)
    is_one = np.asarray(arr == 1, dtype=bool)
    bad = ~(is_zero | is_one)
    if np.any(bad):
        examples = list(dict.fromkeys(arr[bad].tolist()))[:5]
        raise ValueError(
            f"{name} must be boolean (True/False or 0/1); found other values "
            f"{examples!r}. Threshold scores first, e.g. {name} = scores > 0.5."
        )
    return is_one


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


def check_row_positions(rows, n_rows, name="rows"):
    """``rows`` as int64 positions of ``n_rows`` rows: integers in ``0 .. n_rows - 1``, or a
    boolean mask of the rows (its positions).

    Examples
    --------
    >>> check_row_positions([True, False, True], 3).tolist()
    [0, 2]
    """
    rows = np.asarray(rows)
    if rows.dtype == bool:
        return np.flatnonzero(check_bool_mask(rows, name, n_rows))
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
        raise ValueError(
            f"{name} must be row positions (1-D integers) or a boolean mask of the rows; got shape {rows.shape}, "
            f"dtype {rows.dtype}."
        )
    rows = rows.astype(np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
        outside = rows[(rows < 0) | (rows >= n_rows)][:5].tolist()
        raise ValueError(f"{name} must be positions 0 .. {n_rows - 1}; got {outside}.")
    return rows


def check_int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


def check_real(value, name, *, low=None, high=None, low_open=False, high_open=False, rule=None):
    """``value`` as a finite float within the bounds; a ValueError naming ``name`` for text,
    None, bools, NaN or a number out of range (numpy's ``isfinite`` would raise a TypeError
    naming nothing).

    Examples
    --------
    >>> check_real("0.5", "temperature", low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: temperature must be a number > 0; got '0.5'.
    """
    bounds = [f"{'>' if low_open else '>='} {low:g}" if low is not None else "",
              f"{'<' if high_open else '<='} {high:g}" if high is not None else ""]
    rule = rule or ("a number " + " and ".join(bound for bound in bounds if bound) if any(bounds) else "a finite number")
    number = None
    if not isinstance(value, (bool, np.bool_, str, bytes)) and value is not None and np.ndim(value) == 0:
        try:  # numpy scalars and 0-d arrays, Fractions, Decimals
            number = float(value)
        except (TypeError, ValueError):
            number = None
    if number is None or not np.isfinite(number):
        raise ValueError(f"{name} must be {rule}; got {value!r}.")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        raise ValueError(f"{name} must be {rule}; got {value!r}.")
    return number


def block_rows_for(n_features):
    """Rows of a block of about 8 MB of float32 features: the size in which large arrays
    are transformed piece by piece. Blocks this small are reused by the allocator instead
    of being mapped afresh (and page-faulted in) each time."""
    return max(256, 2**21 // max(int(n_features), 1))
