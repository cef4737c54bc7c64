"""An on-disk store of embeddings keyed by image content and backbone.

Layout: ``<cache_dir>/<backbone key>/<shard>.keys.npy`` and ``<shard>.emb.npy``.
Every computation that produced new embeddings adds one shard; a shard counts once
its keys file exists, and files are written under a temporary name then renamed, so
an interrupted write never corrupts the store and concurrent writers never clash.
Embeddings are read through memory maps, so looking up a few rows of a large store
reads only those rows.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import numpy as np

__all__ = ["EmbeddingStore", "content_keys"]

_KEY_BYTES = 20


def content_keys(image_dataset):
    """One SHA-1 digest per sample of the image content (not of its name).

    Arrays hash their pixels and shape; paths hash the file bytes; torch datasets
    hash the decoded pixels.
    """
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
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
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
        self.directory = os.path.join(os.fspath(cache_dir), digest)
        os.makedirs(self.directory, exist_ok=True)
        info = os.path.join(self.directory, "backbone.txt")
        if not os.path.exists(info):
            with open(info, "w") as handle:
                handle.write(backbone_key + "\n")

    def _shards(self):
        names = sorted(f for f in os.listdir(self.directory) if f.endswith(".keys.npy"))
        return [os.path.join(self.directory, f[: -len(".keys.npy")]) for f in names]

    def lookup(self, keys):
        """Rows found for ``keys``: ``(found mask, embeddings of the found keys)``."""
        keys = np.asarray(keys, dtype=f"S{_KEY_BYTES}")
        found = np.zeros(len(keys), dtype=bool)
        parts = []
        for shard in self._shards():
            shard_keys = np.load(shard + ".keys.npy")
            order = np.argsort(shard_keys)
            positions = np.searchsorted(shard_keys, keys, sorter=order)
            positions = np.clip(positions, 0, len(shard_keys) - 1)
            hit = (shard_keys[order[positions]] == keys) & ~found
            if not hit.any():
                continue
            embeddings = np.load(shard + ".emb.npy", mmap_mode="r")
            parts.append((np.flatnonzero(hit), np.asarray(embeddings[order[positions[hit]]])))
            found |= hit
        if not parts:
            return found, None
        width = parts[0][1].shape[1]
        values = np.empty((len(keys), width), dtype=np.float32)
        for where, emb in parts:
            values[where] = emb
        return found, values[found]

    def add(self, keys, embeddings):
        """Write a new shard with these rows."""
        keys = np.asarray(keys, dtype=f"S{_KEY_BYTES}")
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if len(keys) == 0:
            return
        base = os.path.join(self.directory, uuid.uuid4().hex)
        for suffix, array in ((".emb.npy", embeddings), (".keys.npy", keys)):
            tmp = f"{base}{suffix}.tmp"
            with open(tmp, "wb") as handle:
                np.save(handle, array)
            os.replace(tmp, base + suffix)
