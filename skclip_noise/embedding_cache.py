"""An on-disk store of embeddings keyed by image content and backbone.

Layout: ``<cache_dir>/<backbone key>/<shard>.keys.npy``, ``<shard>.emb.npy`` and
``<shard>.sums.npy`` (one 8-byte BLAKE2b digest per embedding row).
Every computation that produced new embeddings adds one shard; a shard counts once
its keys file exists, and files are written under a temporary name then renamed, so
an interrupted write never corrupts the store and concurrent writers never clash.
Embeddings are read through memory maps, so looking up a few rows of a large store
reads only those rows, and only those rows' digests are checked. A shard whose files
are truncated or whose rows fail their digest (a damaged disk, a file edited or cut
by hand) is reported in a warning naming the file, removed, and its rows are
recomputed. A store that cannot be written (read-only ``cache_dir``) warns and keeps
serving what it holds.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import numpy as np

from ._warnings import warn_user
from .data.inputs import ImageDataset, check_image_input

__all__ = ["EmbeddingStore", "content_keys"]

_KEY_BYTES = 20
_SUFFIXES = (".keys.npy", ".emb.npy", ".sums.npy")


def _row_digests(embeddings):
    """One 8-byte BLAKE2b digest per row, as uint64."""
    rows = np.ascontiguousarray(embeddings, dtype=np.float32)
    return np.array(
        [int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little") for row in rows],
        dtype=np.uint64,
    )


class _DamagedShard(Exception):
    def __init__(self, path, reason):
        super().__init__(path, reason)
        self.path, self.reason = path, reason


def _check_keys(keys):
    """``keys`` as a 1-D array of 20-byte digests (:func:`content_keys`), refused when longer
    keys would be cut (two keys sharing their first 20 bytes would then be one)."""
    arr = np.asarray(keys)
    if arr.dtype.kind == "O" and arr.ndim == 1 and all(isinstance(k, bytes) for k in arr):
        arr = arr.astype(bytes)
    if arr.ndim != 1 or arr.dtype.kind != "S" or arr.dtype.itemsize > _KEY_BYTES:
        raise ValueError(
            f"keys must be a 1-D sequence of digests of at most {_KEY_BYTES} bytes, one per image "
            f"(skclip_noise.embedding_cache.content_keys); got shape {arr.shape} and dtype {arr.dtype}."
        )
    return arr.astype(f"S{_KEY_BYTES}")


def content_keys(images):
    """One SHA-1 digest per sample of the image content (not of its name).

    Arrays hash their pixels and shape; paths hash the file bytes; torch datasets
    hash the decoded pixels.

    Parameters
    ----------
    images : array of images, sequence of paths, torch Dataset or ImageDataset
        Any image input the estimators take (precomputed features are not images).

    Returns
    -------
    keys : ndarray of dtype ``S20`` and shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> keys = content_keys(np.zeros((2, 8, 8), dtype=np.uint8))
    >>> keys.shape, bool(keys[0] == keys[1])
    ((2,), True)
    """
    if isinstance(images, ImageDataset):
        image_dataset = images
    else:
        image_input = check_image_input(images)  # a clear error for what is not images
        image_dataset = ImageDataset(image_input)
    image_input = image_dataset.image_input
    keys = np.empty(len(image_input), dtype=f"S{_KEY_BYTES}")
    if image_input.kind == "images":
        data = image_input.data
        for i in range(len(keys)):
            sample = np.ascontiguousarray(data[i])
            keys[i] = hashlib.sha1(
                f"{sample.dtype}{sample.shape}".encode() + sample.tobytes()
            ).digest()
    elif image_input.kind == "paths":
        for i, path in enumerate(image_input.data):
            digest = hashlib.sha1()
            try:
                with open(path, "rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
            except OSError:  # a key no content has: the embedding pass reports (or skips) the file
                digest.update(b"\0unreadable\0" + os.fsencode(path))
            keys[i] = digest.digest()
    else:
        for i in range(len(keys)):
            pixels = np.asarray(image_dataset.load(i))
            keys[i] = hashlib.sha1(f"{pixels.shape}".encode() + pixels.tobytes()).digest()
    return keys


class EmbeddingStore:
    """Embeddings of one backbone configuration under ``cache_dir``.

    Parameters
    ----------
    cache_dir : str or path-like
    backbone_key : str
        Identifies everything the embedding depends on besides the image.
    """

    def __init__(self, cache_dir, backbone_key):
        digest = hashlib.sha1(backbone_key.encode()).hexdigest()[:16]
        self.directory = os.path.join(os.path.expanduser(os.fspath(cache_dir)), digest)  # "~/..." as a shell reads it
        self.writable = True
        os.makedirs(self.directory, exist_ok=True)  # an OSError here: no cache at all
        info = os.path.join(self.directory, "backbone.txt")
        if not os.path.exists(info):
            try:
                with open(info, "w") as handle:
                    handle.write(backbone_key + "\n")
            except OSError as exc:
                self._not_writable(exc)

    def _not_writable(self, exc):
        if self.writable:
            warn_user(
                f"Embedding cache folder {self.directory!r} is not writable ({exc}); new "
                "embeddings are not stored and will be computed again next time. Pass a "
                "writable cache_dir, or cache_dir=None.",
                UserWarning,
            )
        self.writable = False

    def _shards(self):
        names = sorted(f for f in os.listdir(self.directory) if f.endswith(".keys.npy"))
        return [os.path.join(self.directory, f[: -len(".keys.npy")]) for f in names]

    def lookup(self, keys):
        """Rows found for ``keys``: ``(found mask, embeddings of the found keys)``.

        A damaged shard is reported (a warning naming the file), removed, and its
        keys count as not found, so the caller recomputes them.
        """
        keys = _check_keys(keys)
        found = np.zeros(len(keys), dtype=bool)
        parts, width = [], self._width()
        for shard in self._shards():
            try:
                part = self._lookup_shard(shard, keys, found)
            except _DamagedShard as damaged:
                self._discard(shard, damaged)
                continue
            if part is not None and part[1].shape[1] != width:
                continue  # a shard of another width (written before add refused one): its rows are recomputed
            if part is not None:
                parts.append(part)
                found[part[0]] = True
        if not parts:
            return found, None
        values = np.empty((len(keys), width), dtype=np.float32)
        for where, emb in parts:
            values[where] = emb
        return found, values[found]

    def _lookup_shard(self, shard, keys, found):
        shard_keys = _load(shard + ".keys.npy")
        if shard_keys is None:  # removed meanwhile by another process
            return None
        if shard_keys.ndim != 1 or shard_keys.dtype != np.dtype(f"S{_KEY_BYTES}"):
            raise _DamagedShard(shard + ".keys.npy", "unexpected content")
        if len(shard_keys) == 0:
            return None
        order = np.argsort(shard_keys)
        positions = np.searchsorted(shard_keys, keys, sorter=order)
        positions = np.clip(positions, 0, len(shard_keys) - 1)
        hit = (shard_keys[order[positions]] == keys) & ~found
        if not hit.any():
            return None
        rows = order[positions[hit]]
        embeddings = _load(shard + ".emb.npy", mmap_mode="r")
        if embeddings is None or embeddings.ndim != 2 or len(embeddings) != len(shard_keys):
            raise _DamagedShard(shard + ".emb.npy", "missing, or not one row per key")
        values = np.asarray(embeddings[rows], dtype=np.float32)
        sums = _load(shard + ".sums.npy", mmap_mode="r")
        if sums is not None:  # shards written before digests existed have none
            if len(sums) != len(shard_keys):
                raise _DamagedShard(shard + ".sums.npy", "not one digest per key")
            if not np.array_equal(_row_digests(values), np.asarray(sums[rows])):
                raise _DamagedShard(shard + ".emb.npy", "rows do not match their checksums")
        return np.flatnonzero(hit), values

    def _discard(self, shard, damaged):
        warn_user(
            f"Embedding cache file {damaged.path!r} is damaged ({damaged.reason}); its "
            "embeddings are recomputed and the damaged shard is removed.",
            UserWarning,
        )
        for suffix in _SUFFIXES:  # the keys file first: the shard stops counting at once
            try:
                os.remove(shard + suffix)
            except OSError:
                pass

    def _width(self):
        """The width of most of the embedding rows the store holds (None when it holds none):
        one backbone configuration has one width, and a shard of another (written before
        :meth:`add` refused one) is ignored, whatever its name sorts as."""
        rows_by_width = {}
        for shard in self._shards():
            try:
                embeddings = _load(shard + ".emb.npy", mmap_mode="r")
            except _DamagedShard:
                continue
            if embeddings is not None and embeddings.ndim == 2:
                rows_by_width[embeddings.shape[1]] = rows_by_width.get(embeddings.shape[1], 0) + len(embeddings)
        return max(rows_by_width, key=rows_by_width.get) if rows_by_width else None

    def add(self, keys, embeddings):
        """Write a new shard with these rows (a warning, not an error, when the folder
        is not writable)."""
        keys = _check_keys(keys)
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(keys):
            raise ValueError(
                f"embeddings must be a 2-D array with one row per key ({len(keys)}); got shape {embeddings.shape}."
            )
        width = self._width()
        if width is not None and embeddings.shape[1] != width:
            raise ValueError(
                f"this store holds {width}-wide embeddings; these are {embeddings.shape[1]} wide. Another "
                "backbone configuration needs its own backbone_key."
            )
        if len(keys) == 0 or not self.writable:
            return
        base = os.path.join(self.directory, uuid.uuid4().hex)
        written = []
        try:
            # The keys file last: it is what makes the shard count.
            for suffix, array in (
                (".emb.npy", embeddings),
                (".sums.npy", _row_digests(embeddings)),
                (".keys.npy", keys),
            ):
                tmp = f"{base}{suffix}.tmp"
                written.append(tmp)
                with open(tmp, "wb") as handle:
                    np.save(handle, array)
                os.replace(tmp, base + suffix)
                written[-1] = base + suffix
        except BaseException as exc:  # a full disk, or Ctrl-C: no partial shard stays behind
            for path in reversed(written):
                try:
                    os.remove(path)
                except OSError:
                    pass
            if not isinstance(exc, OSError):
                raise
            self._not_writable(exc)


def _load(path, mmap_mode=None):
    """``np.load``, None for a missing file, :class:`_DamagedShard` for a broken one."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (ValueError, OSError, EOFError) as exc:
        raise _DamagedShard(path, f"unreadable or truncated: {exc}") from exc
