"""Checks of constructor parameters shared by the estimators (run in ``fit``)."""

from __future__ import annotations

import numpy as np

__all__ = ["check_positive_ints"]


def check_positive_ints(estimator, *names, context=""):
    """Raise a ``ValueError`` naming the first of ``names`` that is not an int >= 1.

    Examples
    --------
    >>> class Est:
    ...     epochs = 0
    >>> check_positive_ints(Est(), "epochs")
    Traceback (most recent call last):
    ...
    ValueError: epochs must be a positive int; got 0.
    """
    for name in names:
        value = getattr(estimator, name)
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int{context}; got {value!r}.")
