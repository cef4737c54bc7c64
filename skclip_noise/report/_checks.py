"""Input checks shared by the plots and the HTML page of :mod:`skclip_noise.report`.

Every public function of the package takes either arrays or a fitted detector;
these helpers tell the two apart, read the detector and validate the arrays
with messages that say what to pass instead.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .._detector_inputs import check_fitted as _fitted
from .._detector_inputs import is_detector as _is_detector

__all__ = [
    "_check_label_issues",
    "_check_label_quality",
    "_check_page_path",
    "_check_sizes",
    "_check_switches",
    "_check_unique_samples",
    "_check_proba",
    "_check_suggestion_confidence",
    "_check_threshold",
    "_check_truth",
    "_fitted",
    "_is_detector",
    "_resolve_labels",
]


def _floats(values, name):
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; got {np.asarray(values, dtype=object).ravel()[:3].tolist()!r}...") from exc


def _check_proba(clean_proba, name="clean_proba"):
    proba = _floats(clean_proba, name)
    if proba.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one score per sample); got shape {proba.shape}.")
    if proba.shape[0] == 0:
        raise ValueError(f"{name} is empty; need at least one sample.")
    if not np.all(np.isfinite(proba)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    if proba.min() < 0 or proba.max() > 1:
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; got [{proba.min():.3g}, {proba.max():.3g}]."
        )
    return proba


def _check_truth(is_noisy, n_samples, name="is_noisy"):
    from ..selection._common import check_bool_mask

    mask = check_bool_mask(is_noisy, name)
    if mask.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {mask.shape[0]} entries but there are {n_samples} scores; pass one "
            "entry per sample."
        )
    return mask


def _check_threshold(threshold):
    if threshold is None:
        return None
    try:
        threshold = float(threshold)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"threshold must be a number in [0, 1] or None; got {threshold!r}.") from exc
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1] or None; got {threshold!r}.")
    return threshold


def _resolve_labels(y, classes, n_samples):
    """Labels as a 1-D array, the row order (classes) and the row names."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per sample); got shape {y.shape}.")
    missing = np.flatnonzero(pd.isna(y))
    if missing.size:
        raise ValueError(
            f"y holds {missing.size} missing label(s) (None or NaN), e.g. at position {missing[0]}; "
            "pass the given label of every sample."
        )
    if y.shape[0] != n_samples:
        raise ValueError(
            f"y has {y.shape[0]} labels but there are {n_samples} scores; pass one label per sample."
        )
    if classes is None:
        classes = np.unique(y)
    else:
        classes = np.asarray(classes)
        if classes.ndim != 1 or classes.shape[0] == 0:
            raise ValueError("classes must be a non-empty 1-D sequence of labels.")
        unknown = np.setdiff1d(np.unique(y), classes)
        if unknown.size:
            raise ValueError(
                f"y holds labels that are not in classes, e.g. {unknown[:5].tolist()!r}."
            )
    return y, classes


def _check_label_issues(label_issues, only_issues):
    if _is_detector(label_issues):
        label_issues = _fitted(label_issues, "label_issues_").label_issues_
    if not isinstance(label_issues, pd.DataFrame):
        raise TypeError(
            "label_issues must be a pandas DataFrame (a detector's label_issues_) or a fitted "
            f"detector; got {type(label_issues).__name__}."
        )
    required = ["label_quality"] + (["is_label_issue"] if only_issues else [])
    missing = [c for c in required if c not in label_issues.columns]
    if missing:
        raise ValueError(
            f"label_issues lacks the column(s) {missing}; it needs cleanlab's columns "
            "is_label_issue, label_quality, given_label and predicted_label."
        )
    return label_issues


def _check_suggestion_confidence(label_issues):
    """The ``suggested_label_confidence`` column as floats in [0, 1] (NaN: none), or None."""
    if "suggested_label_confidence" not in label_issues.columns:
        return None
    return _unit_column(label_issues, "suggested_label_confidence")


def _check_label_quality(label_issues):
    """The ``label_quality`` column as floats in [0, 1] (NaN: no score)."""
    return _unit_column(label_issues, "label_quality")


def _unit_column(label_issues, column):
    """A column of values in [0, 1] as floats (missing ones NaN); refused when it is not."""
    try:
        values = pd.to_numeric(label_issues[column]).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"label_issues[{column!r}] must be numeric, a value in [0, 1] per sample.") from exc
    known = values[~np.isnan(values)]
    if known.size and (known.min() < 0 or known.max() > 1):
        raise ValueError(
            f"label_issues[{column!r}] must hold values in [0, 1]; got [{known.min():.3g}, {known.max():.3g}]."
        )
    return values


def _whole_number(value, name, minimum, rule):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be {rule}; got {value!r}.")
    try:
        whole = int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be {rule}; got {value!r}.") from exc
    if whole != value or whole < minimum:
        raise ValueError(f"{name} must be {rule}; got {value!r}.")
    return whole


def _check_sizes(max_items, thumbnail_size):
    if max_items is not None:
        max_items = _whole_number(max_items, "max_items", 0, "a non-negative int or None")
    thumbnail_size = _whole_number(thumbnail_size, "thumbnail_size", 8, "an int from 8 to 4096")
    if thumbnail_size > 4096:  # an 8x8 image enlarged past it takes gigabytes
        raise ValueError(f"thumbnail_size must be an int from 8 to 4096; got {thumbnail_size!r}.")
    return max_items, thumbnail_size


def _check_switches(**switches):
    """Refuse a switch that is no bool: ``review="no"`` would be true."""
    for name, value in switches.items():
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {value!r}.")


def _check_unique_samples(label_issues):
    """The review names each card by its index label: two cards of one label would share a decision."""
    if not label_issues.index.is_unique:
        repeated = label_issues.index[label_issues.index.duplicated()][0]
        raise ValueError(
            f"label_issues' index repeats sample ids (e.g. {str(repeated)!r}), and the review keeps one "
            "decision per id; fit on data with a unique index (e.g. X.reset_index(drop=True)), or "
            "pass review=False for a page without review."
        )


def _check_page_path(path):
    """Refuse a page path whose folder does not exist, before any image is read."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"path: the folder {folder!r} does not exist; create it, or pass another path.")
