"""A check of a folder the library will write into, made before any work."""

from __future__ import annotations

import os
import tempfile

__all__ = ["probe_writable_folder"]


def probe_writable_folder(folder):
    """Create ``folder`` if it is missing, then write and remove a file there; raises the
    ``OSError`` of the step that fails (the caller words it for its parameter).

    Examples
    --------
    >>> import tempfile, os
    >>> probe_writable_folder(os.path.join(tempfile.mkdtemp(), "new"))
    """
    os.makedirs(folder, exist_ok=True)
    handle, probe = tempfile.mkstemp(dir=folder, prefix=".skclip-noise-write-check-")
    os.close(handle)
    os.remove(probe)
