"""A command's outputs in ``--output-dir``: one run at a time, each run's files written in a
folder of its own and moved into place together once they are all written, so the folder
holds one run's outputs, never a mix, and an earlier run's stay whole until then."""

from __future__ import annotations

import os
import shutil
import tempfile

__all__ = ["OUTPUT_FILES", "RunOutputs"]

#: The files a run writes into ``--output-dir`` (an earlier run's are replaced or removed).
OUTPUT_FILES = ("label_issues.csv", "report.html", "unreadable.csv", "report.txt")
#: The report's thumbnail folder, written beside ``report.html`` for large reports.
THUMBNAILS = "report_thumbnails"
#: Held by the run writing into the folder; names its process.
LOCK = ".skclip-noise.lock"


class RunOutputs:
    """The outputs of one run into ``folder``, as a context manager.

    Entering takes the folder's lock (another run writing there is refused, naming its
    process) and makes a private folder in it; :meth:`staged` names the files to write
    there, :meth:`publish` moves them over the earlier run's, and leaving removes what
    was not published and releases the lock.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with RunOutputs(folder) as outputs:
    ...     _ = open(outputs.staged("report.txt"), "w").write("done")
    ...     outputs.publish()
    >>> sorted(os.listdir(folder))
    ['report.txt']
    """

    def __init__(self, folder):
        self.folder = folder
        self.staging = None
        self._lock = os.path.join(folder, LOCK)

    def __enter__(self):
        self._take_lock()
        try:
            self.staging = tempfile.mkdtemp(dir=self.folder, prefix=".skclip-noise-run-")
        except BaseException:
            os.remove(self._lock)
            raise
        return self

    def __exit__(self, *exc_info):
        shutil.rmtree(self.staging, ignore_errors=True)
        os.remove(self._lock)
        return False

    def staged(self, name):
        """Where this run writes ``name`` before it is published."""
        return os.path.join(self.staging, name)

    def final(self, name):
        """Where ``name`` is once published."""
        return os.path.join(self.folder, name)

    def publish(self):
        """Move the staged outputs into ``folder``; an earlier run's outputs that this run
        did not write are removed (a thumbnail folder only where the report made it)."""
        written = set(os.listdir(self.staging))
        for name in (THUMBNAILS, *OUTPUT_FILES):  # the page last but one: its thumbnails are there first
            target = self.final(name)
            if os.path.lexists(target):
                _remove_earlier(target)
            if name in written:
                os.replace(self.staged(name), target)

    def _take_lock(self):
        for _ in range(2):
            try:
                handle = os.open(self._lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _holder(self._lock)
                if holder is None or _is_running(holder):
                    raise ValueError(
                        f"--output-dir {self.folder!r} is being written by another skclip-noise run"
                        f"{'' if holder is None else f' (process {holder})'}; wait for it to finish or pass "
                        f"another --output-dir (if no run is going, remove {self._lock!r})."
                    ) from None
                os.remove(self._lock)  # left by a run that was killed
                continue
            with os.fdopen(handle, "w") as lock:
                lock.write(str(os.getpid()))
            return
        raise ValueError(f"Cannot lock --output-dir {self.folder!r}: remove {self._lock!r} and run again.")


def _holder(lock):
    try:
        with open(lock) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _is_running(pid):
    if pid == os.getpid() or os.name == "nt":  # Windows: os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _remove_earlier(target):
    """Remove an earlier run's output at ``target``: a file or link, or a thumbnail folder the
    report made (its marker file); nothing else."""
    from .report._thumbnails import _MARKER

    if os.path.isdir(target) and not os.path.islink(target):
        if os.path.isfile(os.path.join(target, _MARKER)):
            shutil.rmtree(target)
        return
    os.remove(target)
