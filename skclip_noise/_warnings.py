"""Warnings that point at the user's own line, however deep in the library they are raised."""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["warn_user"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: scikit-learn's wrappers between a user's call and the library's method (``set_output``'s
#: wrapped ``transform``, ``TransformerMixin.fit_transform``): passed over too.
_WRAPPERS = tuple(os.path.join("sklearn", *name.split("/")) for name in ("utils/_set_output.py", "base.py"))


def _ours(filename):
    return os.path.abspath(filename).startswith(_PACKAGE)


def _wrapper(filename):
    return os.path.abspath(filename).endswith(_WRAPPERS)


def warn_user(message, category=UserWarning):
    """``warnings.warn`` attributed to the first frame outside skclip_noise (and past
    scikit-learn's wrappers that call it): the user's line, whatever the depth of the
    library's frames, so that Python's once-per-location filter and
    ``filterwarnings(module=...)`` work on it. Where no frame is outside (a worker thread
    the library started), the outermost frame.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_user("note")
    >>> caught[0].filename.endswith("skclip_noise/_warnings.py")
    False
    """
    frame, level = sys._getframe(1), 2  # level 2: the caller of warn_user
    # the library's frames and the wrappers between them (library -> set_output -> library)
    while frame.f_back is not None and (_ours(frame.f_code.co_filename) or _wrapper(frame.f_code.co_filename)):
        frame, level = frame.f_back, level + 1
    del frame
    warnings.warn(message, category, stacklevel=level)
