"""Input checks of :mod:`skclip_noise.noise`: labels, classes, rate and features.

The label helpers also encode labels as integer codes in the sorted classes, with
errors that name the unknown labels.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "_check_classes",
    "_check_features",
    "_check_kind_specific_args",
    "_check_label_vector",
    "_check_rate",
    "_encode",
    "_unique_labels",
]


def _check_label_vector(y, name="y"):
    """Return ``y`` as a non-empty 1-D ndarray of sortable labels (a view when possible)."""
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


def _encode(values, classes, name):
    """Integer codes of ``values`` in the sorted ``classes``; error on unknown labels."""
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
            f"{classes.tolist()!r}; add them to classes or leave classes=None."
        )
    return clipped


def _check_classes(classes, y):
    """Sorted class array: ``np.unique(y)`` or the validated user ``classes``."""
    if classes is None:
        return _unique_labels(y, "y")
    classes_arr = _check_label_vector(classes, "classes")
    sorted_classes = _unique_labels(classes_arr, "classes")
    if sorted_classes.shape[0] != classes_arr.shape[0]:
        raise ValueError("classes contains duplicate labels; list each class once.")
    return sorted_classes


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
