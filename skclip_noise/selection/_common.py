"""Input checks and ranking helpers shared by the selection rules."""

from __future__ import annotations

import numbers

import numpy as np

from ..data.labels import check_label_codes, check_pred_probs

__all__ = ["block_rows_for", "check_label_codes", "check_pred_probs", "check_inputs", "check_int", "lowest_per_group"]


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


def block_rows_for(n_features):
    """Rows of a block of about 8 MB of float32 features: the size in which large arrays
    are transformed piece by piece. Blocks this small are reused by the allocator instead
    of being mapped afresh (and page-faulted in) each time."""
    return max(256, 2**21 // max(int(n_features), 1))
