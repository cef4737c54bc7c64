"""Files the library writes: a check of the folder before any work, and each file
written beside its name and moved over it."""

from __future__ import annotations

import contextlib
import os
import tempfile

__all__ = ["probe_writable_folder", "replaced_file"]


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


@contextlib.contextmanager
def replaced_file(path, **open_options):
    """Write ``path`` through a text handle to a new file beside it, moved over ``path`` once
    the block ends without error (on an error nothing changes): a link at ``path`` is
    replaced, never written through, and a reader never sees half a file. The new file
    gets the permissions an ordinary ``open`` would (not ``mkstemp``'s private ones).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with replaced_file(path) as handle:
    ...     _ = handle.write("done")
    >>> open(path).read()
    'done'
    """
    folder, name = os.path.split(os.path.abspath(path))
    for attempt in range(100):
        temporary = os.path.join(folder, f".{name}.{os.getpid()}-{attempt}.tmp")
        try:
            handle = open(temporary, "x", **open_options)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(f"Cannot write {path!r}: remove the .{name}.*.tmp files beside it.")
    try:
        with handle:
            yield handle
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)
