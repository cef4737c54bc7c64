"""Integer labels to class-name strings, shared by the loaders."""

from __future__ import annotations

import numpy as np

__all__ = ["_as_string_labels"]


def _as_string_labels(y, class_names):
    """Map integer labels to an object array of class-name strings."""
    names = np.empty(len(class_names), dtype=object)
    names[:] = list(class_names)
    return names[y]
