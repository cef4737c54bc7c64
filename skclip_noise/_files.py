"""Files the library writes: a check of the folder before any work, and each file
written beside its name and moved over it."""

from __future__ import annotations

import contextlib
import os
import stat
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
def replaced_file(path, *, binary=False, **open_options):
    """Write ``path`` through a handle (text, or bytes with ``binary``) to a new file beside it, moved over ``path`` once
    the block ends without error (on an error nothing changes): a link at ``path`` is
    replaced, never written through, and a reader never sees half a file. The new file
    gets the permissions an ordinary ``open`` would (not ``mkstemp``'s private ones). A
    ``path`` that is a pipe or a device (``/dev/stdout``, a shell's ``>(...)``) is written
    in place.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with replaced_file(path) as handle:
    ...     _ = handle.write("done")
    >>> open(path).read()
    'done'
    """
    if _is_stream(path):  # a named pipe, /dev/stdout, bash's >(...): there is no file to replace
        with open(path, "wb" if binary else "w", **open_options) as handle:
            yield handle
        return
    folder, name = os.path.split(os.path.abspath(path))
    for attempt in range(100):
        temporary = os.path.join(folder, f".{name}.{os.getpid()}-{attempt}.tmp")
        try:
            handle = open(temporary, "xb" if binary else "x", **open_options)
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


def _is_stream(path):
    try:
        mode = os.stat(path).st_mode  # through links: /dev/stdout is one
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)
