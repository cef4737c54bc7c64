"""How a command speaks to the terminal it runs in: the library's advice worded as flags,
its warnings as the command's own lines, progress only on a terminal, and Ctrl-C or
SIGTERM ending a run in one line."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import warnings
from functools import partial

from ._shown_text import with_controls_shown

__all__ = [
    "PYTHON_TO_FLAGS", "Terminated", "as_flags", "in_the_commands_words", "on_terminal", "show_warning",
    "silence_stdout", "terminate_as_interrupt",
]

#: The library's advice in Python's words, and the same advice as this command's flags.
PYTHON_TO_FLAGS = (
    ("Lower cv or use cv=None", "Lower --cv or leave it out"),
    ("pretrained=None", "--pretrained none"),
    ("image_size=None", "--image-size 0"),
    ("fit(X, y, pred_probs=...)", "--pred-probs FILE"),
    ("Lower cv", "Lower --cv"),
    ("listed in unreadable_", "listed in unreadable.csv of --output-dir"),
    ("Lower n_neighbors below", "Lower --n-neighbors below"),
    ("(or pass 'auto')", "(or leave it out)"),
    ("class_names has", "--class-names has"),
    (", or a mapping from label to name.", ", comma-separated."),
    ("), or pass path= to a folder holding", "), or point the SKCLIP_NOISE_FASHION_MNIST environment variable at a "
                                            "folder holding"),
    (", or set the SKCLIP_NOISE_FASHION_MNIST environment variable to that folder.", "."),
    ("; where a function takes classes=, list there the classes that never occur in the labels)", ")"),
    (", or pass samples= (e.g. the image paths) to match them.", ": pass the INPUT the report was made on."),
)


def as_flags(message):
    """``message`` with the library's Python advice worded as flags (``cv=None`` -> leave out
    ``--cv``), where the command line has one for it.

    Examples
    --------
    >>> as_flags("Use image_size=None (ViT towers need their native side).")
    'Use --image-size 0 (ViT towers need their native side).'
    """
    for python, flags in PYTHON_TO_FLAGS:
        message = message.replace(python, flags)
    return message


def show_warning(command, message, category, filename, lineno, file=None, line=None):
    """A warning raised during a command, as one line of its own: ``skclip-noise detect:
    warning: ...`` (Python would print the library file and source line it points at);
    ``warnings.showwarning``'s signature after ``command``."""
    text = " ".join(str(message).split())
    print(f"skclip-noise {command}: warning: {with_controls_shown(as_flags(text))}",
          file=sys.stderr if file is None else file)


@contextlib.contextmanager
def in_the_commands_words(command):
    """Warnings printed by :func:`show_warning` during the block, in the main thread (the
    warnings module's printer is one for the process: a command run in a thread leaves it
    alone, lest overlapping runs restore each other's)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with warnings.catch_warnings():
        warnings.showwarning = partial(show_warning, command)
        yield


def on_terminal(stream):
    """Whether ``stream`` is a terminal (progress bars redraw there; in a log file their
    redraws would be one line of carriage returns)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: the same cleanup runs (the cache keeps what
    was embedded), and the command exits with 143."""


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM raises :class:`Terminated` during the block (in the main thread; the
    caller's handler comes back after)."""
    def terminated(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def silence_stdout():
    """Point stdout at the null device, so that Python's flush at exit finds no closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # a stdout without a descriptor of its own
        pass
    finally:
        os.close(devnull)
