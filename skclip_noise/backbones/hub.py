"""Fail fast, and clearly, when pretrained weights would have to be downloaded offline.

Without a network, huggingface_hub retries for about 47 s before giving up. Before a
download is attempted, :func:`hub_download_guard` checks (one TCP connect, a few
seconds at most) whether the host is reachable; when it is not, it switches
huggingface_hub to offline mode for the duration of the load, so weights already in
the local cache still load and missing ones fail at once. Any failure is re-raised as
:class:`~skclip_noise.exceptions.PretrainedWeightsUnavailableError` saying how to
pass a local checkpoint.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import time
from urllib.parse import urlparse

from ..exceptions import PretrainedWeightsUnavailableError

__all__ = ["hub_download_guard", "host_reachable"]

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


@contextlib.contextmanager
def hub_download_guard(what, local_hint, host=None):
    """Run a weight load that may download; turn any failure into a clear error.

    Parameters
    ----------
    what : str
        The weights, for the message, e.g. ``"open_clip ViT-B-16 'openai' weights"``.
    local_hint : str
        How to pass a local checkpoint instead.
    host : str, default=None
        Host the download would use; the Hugging Face hub when None.

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
        raise PretrainedWeightsUnavailableError(
            f"Could not fetch {what} ({reason}). {local_hint}"
        ) from exc
