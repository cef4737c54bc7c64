"""Input checks of :mod:`skclip_noise.noise`: labels, classes, rate and features.

The label helpers also encode labels as integer codes in the sorted classes, with
errors that name the unknown labels. The checks of the realistic generators
(:mod:`~skclip_noise.noise.realistic`) cover class probabilities, the imbalance, the
temperature and the sample containers (image arrays or path lists) of the open set.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
import pandas as pd

from ..data.labels import check_pred_probs, labels_from_objects

__all__ = [
    "_check_classes",
    "_check_features",
    "_check_imbalance",
    "_check_kind_specific_args",
    "_check_label_vector",
    "_check_outside_like_X",
    "_check_pred_probs",
    "_check_rate",
    "_check_samples",
    "_check_temperature",
    "_encode",
    "_in_dtype_of",
    "_unique_labels",
]


def _check_label_vector(y, name="y"):
    """Return ``y`` as a non-empty 1-D ndarray of sortable labels (a view when possible)."""
    if isinstance(y, (list, tuple)):  # numpy would turn [0, "3"] into strings: the raw types are checked
        raw = np.array(y, dtype=object)
        if raw.ndim == 1 and not pd.isna(raw).any():  # a missing label is named below
            y = labels_from_objects(raw, name)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of labels; got shape {y.shape}. "
            f"Pass a flat vector, e.g. {name}.ravel()."
        )
    if y.shape[0] == 0:
        raise ValueError(f"{name} is empty; pass at least one label per sample.")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError(
            f"{name} contains NaN labels; drop or fill the unlabelled samples first."
        )
    if y.dtype.kind == "O" and pd.isna(y).any():  # None, NaN or pandas' NA among other labels
        raise ValueError(
            f"{name} contains missing labels (None, NaN or NA); drop or fill the unlabelled samples first."
        )
    return y


def _unique_labels(values, name):
    """``np.unique`` that turns incomparable labels into a clear ValueError."""
    try:
        return np.unique(values)
    except TypeError as exc:
        raise ValueError(
            f"{name} mixes label types that cannot be sorted together ({exc}); "
            "use labels of a single type (all ints or all strings)."
        ) from exc


def _in_dtype_of(values, dtype):
    """``values`` in the integer ``dtype`` when each of them is exactly such an integer
    (classes listed as Python ints beside uint64 labels, which numpy would otherwise
    compare, and combine, as floats); else unchanged."""
    values = np.asarray(values)
    if dtype.kind not in "iu" or values.dtype == dtype or values.dtype.kind not in "iuO":
        return values
    if values.dtype.kind == "O" and not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values.ravel()):
        return values
    try:
        cast = values.astype(dtype)
    except (TypeError, ValueError, OverflowError):
        return values
    return cast if np.array_equal(cast.astype(object), values.astype(object)) else values


def _encode(values, classes, name, fix="add them to classes or leave classes=None."):
    """Integer codes of ``values`` in the sorted ``classes``; error on unknown labels, with
    ``fix`` as the advice."""
    values = _in_dtype_of(values, classes.dtype)
    try:
        codes = np.searchsorted(classes, values)
    except TypeError as exc:
        raise ValueError(
            f"{name} labels cannot be compared with the classes {classes.tolist()!r}; "
            "use labels of the same type as the classes."
        ) from exc
    clipped = np.minimum(codes, classes.shape[0] - 1)
    unknown = classes[clipped] != values
    if np.any(unknown):
        missing = _unique_labels(np.asarray(values)[unknown], name)[:5].tolist()
        raise ValueError(
            f"{name} contains labels {missing!r} that are not in classes "
            f"{classes.tolist()!r}; {fix}"
        )
    return clipped


def _different_scales(high, other_high):
    """Whether float images reaching ``high`` and ``other_high`` are on the 0..1 and 0..255
    scales: one stays near 1 (resizing overshoots it a little) and the other reaches over
    twenty times as far. Features of similar spread are on one scale."""
    low, top = sorted((high, other_high))
    return low <= 2.0 and top > 2.0 and top > 20 * max(low, 1e-12)


def _check_classes(classes, y):
    """Sorted class array: ``np.unique(y)`` or the validated user ``classes``."""
    if classes is None:
        return _unique_labels(y, "y")
    classes_arr = _check_label_vector(classes, "classes")
    sorted_classes = _unique_labels(classes_arr, "classes")
    if sorted_classes.shape[0] != classes_arr.shape[0]:
        raise ValueError("classes contains duplicate labels; list each class once.")
    return _in_dtype_of(sorted_classes, y.dtype)


def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise ValueError(f"rate must be a number in [0, 1]; got {rate!r}.")
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(
            f"rate must be in [0, 1] (the share of labels to corrupt); got {rate}."
        )
    return rate


def _check_features(features, n_samples):
    if features is None:
        raise ValueError(
            "kind='instance' needs features: pass features=X, a float array of "
            "shape (n_samples, n_features) such as image embeddings or flattened pixels."
        )
    try:
        X = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"features must be a numeric array of shape (n_samples, n_features) ({exc})."
        ) from exc
    if X.ndim != 2:
        raise ValueError(
            f"features must be 2-D (n_samples, n_features); got shape {X.shape}. "
            "Flatten images first, e.g. X.reshape(len(X), -1)."
        )
    if X.shape[0] != n_samples:
        raise ValueError(
            f"features has {X.shape[0]} rows but y has {n_samples} labels; "
            "pass one feature row per label."
        )
    if X.shape[1] == 0:
        raise ValueError("features has no columns; pass at least one feature.")
    if not np.all(np.isfinite(X)):
        raise ValueError(
            "features contains NaN or infinity; impute or drop those rows first."
        )
    return X


def _check_kind_specific_args(kind, include_true_class, mapping, superclasses, features):
    """Reject parameters that belong to another noise kind (likely a typo in ``kind``)."""
    owners = (
        ("include_true_class=True", include_true_class, "symmetric"),
        ("mapping", mapping is not None, "asymmetric"),
        ("superclasses", superclasses is not None, "asymmetric"),
        ("features", features is not None, "instance"),
    )
    for arg, given, owner in owners:
        if given and kind != owner:
            raise ValueError(
                f"{arg} is only used with kind={owner!r}, not kind={kind!r}; "
                f"remove it or set kind={owner!r}."
            )


def _check_number_at_least(value, name, low, meaning):
    """``value`` as a float: a finite real number >= ``low`` (``meaning`` explains it)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number >= {low:g}; got {value!r}.")
    value = float(value)
    if not (np.isfinite(value) and value >= low):
        raise ValueError(f"{name} must be a finite number >= {low:g} ({meaning}); got {value}.")
    return value


def _check_temperature(temperature):
    return _check_number_at_least(
        temperature, "temperature", 0.0, "0 picks the most ambiguous samples deterministically"
    )


def _check_imbalance(imbalance):
    return _check_number_at_least(
        imbalance, "imbalance", 1.0,
        "the size of the largest class divided by the size of the smallest, e.g. 10; 1 keeps the classes "
        "balanced",
    )


def _check_pred_probs(pred_probs, n_samples, classes):
    """Return ``pred_probs`` as a float64 (n_samples, n_classes) array of probability rows,
    clipped to [0, 1]: the check tolerates rounding (``1 - p`` a hair below 0), whose
    logarithm would be NaN."""
    return np.clip(check_pred_probs(pred_probs, n_samples=n_samples, classes=classes).astype(np.float64), 0.0, 1.0)


#: What the open-set generator takes as samples, said after each refusal.
_SAMPLES_HELP = (
    "Pass an image array (N, H, W) or (N, H, W, C), a 2-D feature array (N, D), or image "
    "paths (a list, tuple, 1-D object array or pandas Series)."
)


def _check_samples(X, name):
    """Say whether ``X`` is ``"paths"`` or an ``"array"``; return it as a (view of an) ndarray.

    Paths come back as a 1-D object array of the original entries (str or PathLike).
    """
    if isinstance(X, (str, os.PathLike)):
        raise ValueError(f"{name} is a single path ({os.fspath(X)!r}). {_SAMPLES_HELP}")
    is_sequence = isinstance(X, (list, tuple)) or (
        hasattr(X, "dtype") and getattr(X.dtype, "kind", "") in "OUS" and np.ndim(X) == 1
    )
    if is_sequence:
        values = list(X.tolist() if hasattr(X, "tolist") else X)
        is_path = [isinstance(v, (str, os.PathLike)) for v in values]
        if values and all(is_path):
            paths = np.empty(len(values), dtype=object)
            paths[:] = values
            return "paths", paths
        if any(is_path):
            position = is_path.index(False)
            raise ValueError(
                f"{name} mixes image paths with other values (e.g. "
                f"{type(values[position]).__name__} at position {position}); pass only paths."
            )
    try:
        array = np.asarray(X)
    except ValueError as exc:
        raise ValueError(
            f"{name} cannot form one array (images of different shapes?) ({exc}). "
            "Resize the images to one shape, or pass their file paths."
        ) from exc
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be numeric images or features, or image paths; got "
            f"{type(X).__name__} of dtype {array.dtype}. {_SAMPLES_HELP}"
        )
    if array.ndim < 2:
        raise ValueError(f"{name} has shape {array.shape}, not one row per sample. {_SAMPLES_HELP}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} has no samples. {_SAMPLES_HELP}")
    return "array", array


def _check_outside_like_X(form, X, form_out, X_outside):
    """Refuse outside samples that could not stand in for samples of ``X``."""
    if form != form_out:
        raise ValueError(
            f"X holds {'image paths' if form == 'paths' else 'an array'} but X_outside holds "
            f"{'image paths' if form_out == 'paths' else 'an array'}; pass both as arrays of "
            "the same image shape, or both as lists of image paths."
        )
    if form == "paths":
        return X_outside
    if X_outside.shape[1:] != X.shape[1:]:
        raise ValueError(
            f"X_outside has samples of shape {X_outside.shape[1:]} but X has {X.shape[1:]}; "
            "every outside image must have X's shape (and channels). Resize them first, e.g. "
            "np.stack([np.asarray(PIL.Image.fromarray(img).resize((W, H))) for img in X_outside]), "
            "or pass both as lists of file paths."
        )
    x_float, out_float = X.dtype.kind == "f", X_outside.dtype.kind == "f"
    if x_float != out_float:
        raise ValueError(
            f"X has dtype {X.dtype} but X_outside has dtype {X_outside.dtype}: integer and "
            "float images are on different scales (0..255 against 0..1). Convert X_outside to "
            "X's scale and dtype first, e.g. (X_outside * 255).round().astype(np.uint8) or "
            "X_outside / 255."
        )
    if x_float and X.size and X_outside.size:
        if not np.isfinite(X_outside).all():
            raise ValueError("X_outside contains NaN or infinite values; drop or repair those images first.")
        x_high, out_high = float(np.nanmax(X)), float(X_outside.max())
        if _different_scales(x_high, out_high):
            scale = {True: "0..1", False: "0..255"}
            raise ValueError(
                f"X holds float images up to {x_high:.4g} (scale {scale[x_high < out_high]}) but X_outside up to "
                f"{out_high:.4g} (scale {scale[out_high < x_high]}); put X_outside on X's scale first, e.g. "
                f"{'X_outside / 255' if x_high < out_high else 'X_outside * 255'}."
            )
    if not x_float and X.dtype != X_outside.dtype and X_outside.size:
        low, high = X_outside.min(), X_outside.max()
        info_min, info_max = (0, 1) if X.dtype.kind == "b" else (np.iinfo(X.dtype).min, np.iinfo(X.dtype).max)
        if low < info_min or high > info_max:
            raise ValueError(
                f"X_outside holds values in [{low}, {high}], which do not fit X's dtype "
                f"{X.dtype}; convert X_outside to X's scale and dtype first."
            )
    return X_outside.astype(X.dtype, copy=False)
