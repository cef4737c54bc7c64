"""The ``validation_data`` argument of the classifiers' ``fit``."""

from __future__ import annotations

from ..data.inputs import check_image_input
from ..data.labels import check_labels


def check_validation_data(validation_data, encoding):
    """``(X_val checked, y_val codes)`` for ``fit(..., validation_data=(X_val, y_val))``, or None.

    ``y_val`` is encoded with the training labels' ``encoding``, so a class unseen at fit
    is an error.
    """
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a tuple (X_val, y_val).")
    X_val, y_val = validation_data
    X_val = check_image_input(X_val)
    return X_val, encoding.encode(check_labels(y_val, X_val.n_samples, name="y_val"), name="y_val")
