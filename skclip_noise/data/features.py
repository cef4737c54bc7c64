"""Feature arrays: checked before they are compared in float32."""

from __future__ import annotations

import numpy as np

__all__ = ["check_feature_values", "check_features"]


def check_features(X, *, name="X"):
    """Return a 2-D float32 copy of a feature array, rejecting NaN and inf.

    Examples
    --------
    >>> check_features([[0.5, 1.0], [1.0, 0.0]]).shape
    (2, 2)
    """
    source = np.asarray(X)
    with np.errstate(over="ignore", under="ignore"):  # values beyond float32's range are reported below
        X = np.array(source, dtype=np.float32, copy=True)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D feature array; got shape {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); need at least one sample and one feature.")
    check_feature_values(source, name=name)
    return X


def check_feature_values(features, *, name="X"):
    """Refuse features that cannot be compared in float32: NaN or infinite values, and
    finite values beyond float32's range or, all of them, below its smallest normal
    number (they would become inf, or all zeros). Two reductions, no copy.

    Examples
    --------
    >>> check_feature_values(np.array([[1e-50, 0.0]]))
    Traceback (most recent call last):
    ...
    ValueError: X holds no value larger than 1e-50 in magnitude, below float32's range (1.18e-38) in which features are compared; rescale them first (e.g. sklearn.preprocessing.StandardScaler).
    """
    if features.dtype.kind != "f":  # ints and bools are finite and within float32's range
        return
    low, high = features.min(), features.max()  # NaN propagates through both
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name} contains NaN or infinite values; remove or impute them before fitting.")
    largest = max(abs(float(low)), abs(float(high)))
    info = np.finfo(np.float32)
    # Python floats on both sides: numpy 2 casts a float beside a float32 scalar to float32 (overflow)
    if largest > float(info.max):
        raise ValueError(
            f"{name} holds values up to {largest:.3g}, beyond float32's range ({info.max:.3g}) in which "
            "features are compared; rescale them first (e.g. sklearn.preprocessing.StandardScaler)."
        )
    if 0 < largest < float(info.tiny):
        raise ValueError(
            f"{name} holds no value larger than {largest:.3g} in magnitude, below float32's range "
            f"({info.tiny:.3g}) in which features are compared; rescale them first "
            "(e.g. sklearn.preprocessing.StandardScaler)."
        )
