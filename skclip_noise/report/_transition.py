"""The noise transition matrix of a report: its checks and its colour scale.

:func:`~skclip_noise.report.plot_noise_transition` and
:func:`~skclip_noise.report.label_issues_html` both draw the matrix; they share
the checks, the class names and the colours here, so the plot and the page agree.
"""

from __future__ import annotations

import numpy as np

from ._checks import _fitted, _is_detector

__all__ = [
    "_MAX_ANNOTATED_CLASSES",
    "_TRANSITION_HIGH",
    "_TRANSITION_LOW",
    "_cell_colour",
    "_cell_text",
    "_detector_class_names",
    "_resolve_transition",
    "_text_on_dark",
]

# Above this many classes the cells are too small for their numbers.
_MAX_ANNOTATED_CLASSES = 20
# The colour scale runs linearly from _TRANSITION_LOW (0) to _TRANSITION_HIGH (1).
_TRANSITION_LOW = (247, 251, 255)
_TRANSITION_HIGH = (8, 69, 148)
# Numbers on cells darker than this value are written in white, lighter ones in black: at
# 0.725 both reach WCAG's 4.5:1 (black 4.56, white 4.60).
_DARK_FROM = 0.725
# Rounding of an estimate may push an entry a hair above 1.
_ABOVE_ONE_TOLERANCE = 1e-9


def _detector_class_names(detector):
    """Display names of a fitted detector's classes, or None without ``classes_``."""
    classes = getattr(detector, "classes_", None)
    if classes is None:
        return None
    classes = np.asarray(classes).tolist()
    names = getattr(detector, "class_names_", None)
    if names is not None and len(names) == len(classes):
        return [str(name) for name in names]
    return [str(label) for label in classes]


def _check_noise_transition(matrix, n_classes=None, name="noise_transition"):
    """``matrix`` as a float (K, K) array of probabilities, K = ``n_classes`` if given."""
    try:
        matrix = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric (n_classes, n_classes) matrix.") from exc
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(
            f"{name} must be a square (n_classes, n_classes) matrix, rows the true class and "
            f"columns the given label; got shape {matrix.shape}."
        )
    if matrix.shape[0] == 0:
        raise ValueError(f"{name} is empty; it needs one row and one column per class.")
    if np.isnan(matrix).any():
        row, column = np.argwhere(np.isnan(matrix))[0].tolist()
        raise ValueError(f"{name} contains NaN, e.g. at row {row}, column {column}.")
    if np.isinf(matrix).any():
        raise ValueError(f"{name} contains infinite values.")
    if (matrix < 0).any():
        row, column = np.argwhere(matrix < 0)[0].tolist()
        raise ValueError(
            f"{name} has negative entries, e.g. {matrix[row, column]:.3g} at row {row}, column "
            f"{column}; its entries are probabilities in [0, 1]."
        )
    if (matrix > 1 + _ABOVE_ONE_TOLERANCE).any():
        raise ValueError(
            f"{name} has entries above 1 (max {matrix.max():.3g}); its entries are "
            "probabilities, rows summing to 1. Normalise counts with "
            "skclip_noise.noise.noise_transition_matrix(..., normalize='true')."
        )
    if n_classes is not None and matrix.shape[0] != n_classes:
        raise ValueError(
            f"{name} is {matrix.shape[0]} x {matrix.shape[0]} but there are {n_classes} classes; "
            "it needs one row and one column per class, in the order of classes."
        )
    return np.minimum(matrix, 1.0)


def _transition_from_detector(detector):
    if getattr(detector, "noise_transition_", None) is None:
        _fitted(detector)
        raise ValueError(
            f"This {type(detector).__name__} has no noise_transition_: it does not estimate a "
            "noise transition matrix. Pass the (n_classes, n_classes) matrix itself, e.g. "
            "skclip_noise.noise.noise_transition_matrix(y_true, y_given)."
        )
    return detector.noise_transition_, _detector_class_names(detector)


def _resolve_transition(matrix, classes):
    """The checked matrix and the K names of its rows and columns.

    ``matrix`` is an array or a fitted detector (its ``noise_transition_``);
    the names are ``classes``, else the detector's class names, else 0..K-1.
    """
    names = None
    if _is_detector(matrix):
        matrix, names = _transition_from_detector(matrix)
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim != 1:
            raise ValueError(
                f"classes must be a 1-D sequence of labels; got shape {classes.shape}."
            )
        names = [str(label) for label in classes.tolist()]
    matrix = _check_noise_transition(matrix, None if names is None else len(names))
    if names is None:
        names = [str(i) for i in range(matrix.shape[0])]
    return matrix, names


def _cell_text(value):
    return f"{value:.2f}"


def _text_on_dark(value):
    return value > _DARK_FROM


def _cell_colour(value):
    """CSS colour of a cell holding ``value`` in [0, 1], on the plot's colour scale."""
    red, green, blue = (
        round(low + (high - low) * value) for low, high in zip(_TRANSITION_LOW, _TRANSITION_HIGH)
    )
    return f"rgb({red}, {green}, {blue})"
