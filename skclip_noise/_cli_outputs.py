"""A command's outputs in ``--output-dir``: one run at a time, each run's files written in a
folder of its own and moved into place together once they are all written, so the folder
holds one run's outputs and an earlier run's stay whole until then."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading

__all__ = ["DEMO_OUTPUTS", "DETECT_OUTPUTS", "RunOutputs", "THUMBNAILS"]

#: The report's thumbnail folder, written beside ``report.html`` for large reports.
THUMBNAILS = "report_thumbnails"
#: What ``detect`` writes into ``--output-dir`` (an earlier run's are replaced or removed).
DETECT_OUTPUTS = ("label_issues.csv", "report.html", "unreadable.csv", THUMBNAILS)
#: What ``demo`` writes.
DEMO_OUTPUTS = (*DETECT_OUTPUTS, "report.txt")
#: Locked by the run writing into the folder (the system releases it if the run dies), and
#: removed when the run ends.
LOCK = ".skclip-noise.lock"


class RunOutputs:
    """The outputs of one run into ``folder``, as a context manager.

    Entering locks the folder (another run writing there is refused, naming its process)
    and makes a private folder in it; :meth:`staged` names the files to write there,
    :meth:`publish` moves them over the earlier run's (and removes the earlier run's
    ``outputs`` this run did not write), and leaving removes what was not published and
    unlocks the folder.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with RunOutputs(folder, ("report.txt",)) as outputs:
    ...     _ = open(outputs.staged("report.txt"), "w").write("done")
    ...     outputs.publish()
    >>> sorted(name for name in os.listdir(folder) if not name.startswith("."))
    ['report.txt']
    """

    def __init__(self, folder, outputs):
        self.folder = folder
        self.outputs = tuple(outputs)
        self.staging = None
        self._lock = None

    def __enter__(self):
        self._lock = _lock_folder(self.folder)
        try:
            self.staging = tempfile.mkdtemp(dir=self.folder, prefix=".skclip-noise-run-")
        except BaseException:
            _unlock(self._lock)
            raise
        return self

    def __exit__(self, *exc_info):
        shutil.rmtree(self.staging, ignore_errors=True)
        _unlock(self._lock)
        return False

    def staged(self, name):
        """Where this run writes ``name`` before it is published."""
        return os.path.join(self.staging, name)

    def final(self, name):
        """Where ``name`` is once published."""
        return os.path.join(self.folder, name)

    def publish(self):
        """Move the staged outputs into ``folder``, with Ctrl-C and SIGTERM held until done."""
        written = set(os.listdir(self.staging))
        with _signals_held():
            for name in self.outputs:  # the thumbnails before the page that shows them
                target = self.final(name)
                if name in written and os.path.isfile(self.staged(name)):
                    os.replace(self.staged(name), target)  # a file replaces the earlier one at once
                    continue
                if os.path.lexists(target):
                    _remove_earlier(target)
                if name in written:
                    os.replace(self.staged(name), target)


def _lock_folder(folder):
    """An open, locked lock file in ``folder``; refused (``ValueError``) while another run holds it."""
    path = os.path.join(folder, LOCK)
    for _ in range(3):
        handle = open(path, "a+")
        try:
            _try_lock(handle)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise ValueError(
                f"--output-dir {folder!r} is being written by another skclip-noise run"
                f"{f' (process {holder})' if holder.isdigit() else ''}; wait for it to finish or pass another "
                "--output-dir."
            ) from None
        if os.path.exists(path) and os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            return handle
        handle.close()  # the file was replaced meanwhile: lock the one that is there now
    raise ValueError(f"Cannot lock --output-dir {folder!r}: remove {path!r} and run again.")


def _try_lock(handle):
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(handle):
    try:  # removed while still locked: a run that opened it meanwhile finds it gone and locks a new one
        os.remove(handle.name)
    except OSError:  # already gone, or (Windows) open elsewhere: the next run locks it as it is
        pass
    handle.close()  # closing releases the lock


@contextlib.contextmanager
def _signals_held():
    """Ctrl-C and SIGTERM wait until the block ends (in the main thread), then act."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {number: signal.signal(number, lambda number, frame: received.append(number))
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in received[:1]:
            signal.raise_signal(number)  # now, to the handler the block held it from


def _remove_earlier(target):
    """Remove an earlier run's output at ``target``: a file or link, or the thumbnails of a
    folder the report made (see ``report._thumbnails``); nothing else."""
    from .report._thumbnails import _remove_thumbnails

    if os.path.isdir(target) and not os.path.islink(target):
        _remove_thumbnails(target)
        return
    os.remove(target)
