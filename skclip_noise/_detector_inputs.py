"""Tell a fitted detector from the arrays and tables it produces, and read those tables.

The report, the review's decisions and the disputed pairs all take either a detector or
what it computed (``label_issues_``, ``clean_proba_``); these checks are theirs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["check_fitted", "is_detector", "issue_flags"]

_FLAG_TEXT = {"true": True, "false": False, "1": True, "0": False, "": False}


def is_detector(obj):
    """Whether ``obj`` is an estimator (an instance) rather than an array, a Series or a DataFrame."""
    return (hasattr(obj, "fit") and not isinstance(obj, type)
            and not isinstance(obj, (np.ndarray, pd.Series, pd.DataFrame, list, tuple)))


def check_fitted(detector, attribute="clean_proba_"):
    """``detector``, or a NotFittedError that says what to do when it lacks ``attribute``."""
    if not hasattr(detector, attribute):
        from sklearn.exceptions import NotFittedError

        name = type(detector).__name__
        if hasattr(detector, "steps"):  # a Pipeline: the verdicts are its last step's
            raise NotFittedError(
                f"This {name} has no {attribute}: pass its fitted detector (pipeline[-1]) or that detector's "
                "label_issues_."
            )
        raise NotFittedError(f"This {name} is not fitted yet: call fit(X, y) first.")
    return detector


def issue_flags(label_issues):
    """The ``is_label_issue`` column as a bool array; missing values are not flagged.

    Text (a ``label_issues.csv`` read back with ``dtype=str``) is read as ``True`` /
    ``False`` / ``1`` / ``0``, not as non-empty strings, which would all be true."""
    column = label_issues["is_label_issue"]
    if column.dtype == object or isinstance(column.dtype, pd.StringDtype):
        text = column.astype("string").str.strip().str.lower().fillna("")
        unknown = ~text.isin(list(_FLAG_TEXT))
        if unknown.any():
            raise ValueError(
                f"label_issues['is_label_issue'] must be true or false; it holds {column[unknown].iloc[0]!r}."
            )
        return text.map(_FLAG_TEXT).to_numpy(dtype=bool)
    return column.fillna(False).to_numpy(dtype=bool)
