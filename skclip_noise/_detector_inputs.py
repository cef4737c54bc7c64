"""Tell a fitted detector from the arrays and tables it produces.

The report, the review's decisions and the disputed pairs all take either a detector or
what it computed (``label_issues_``, ``clean_proba_``); these two checks are theirs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["check_fitted", "is_detector"]


def is_detector(obj):
    """Whether ``obj`` is an estimator rather than an array, a Series or a DataFrame."""
    return hasattr(obj, "fit") and not isinstance(obj, (np.ndarray, pd.Series, pd.DataFrame, list, tuple))


def check_fitted(detector, attribute="clean_proba_"):
    """``detector``, or a NotFittedError that says to call ``fit`` first when it lacks ``attribute``."""
    if not hasattr(detector, attribute):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"This {type(detector).__name__} is not fitted yet: call fit(X, y) first.")
    return detector
