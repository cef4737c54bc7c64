"""Weights files: the key that identifies them, and their checks and reading."""

from __future__ import annotations

import hashlib
import os

import torch

from .spec import looks_like_path

__all__ = [
    "WeightsChangedError",
    "check_checkpoint_path",
    "check_weights_unchanged",
    "load_state_dict_strict",
    "read_state_dict",
    "same_weights_file",
    "weights_key",
]


#: Content digests of weights files already read in this process, by their stat (the
#: change time and inode too: a rewrite with the modification time put back changes them).
_DIGESTS = {}


def _content_digest(path, stat):
    """BLAKE2b digest of a file's bytes, computed once per version of the file."""
    version = (path, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    if version not in _DIGESTS:
        digest = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 22), b""):
                digest.update(chunk)
        _DIGESTS[version] = digest.hexdigest()
    return _DIGESTS[version]


def weights_key(pretrained):
    """A hashable key of a ``pretrained`` value: a file's path with its size and a digest of
    its bytes (other weights are another key, whatever their size and modification time;
    the embedding cache is keyed by it), a folder's path with its size and modification
    time, else the value itself."""
    if looks_like_path(pretrained):
        path = os.path.abspath(os.path.expanduser(os.fspath(pretrained)))
        if not os.path.exists(path):
            return (path,)
        stat = os.stat(path)
        if os.path.isdir(path):
            return (path, stat.st_size, stat.st_mtime_ns)
        return (path, stat.st_size, _content_digest(path, stat))
    return pretrained


def same_weights_file(key, other):
    """Whether two :func:`weights_key` values are one file's bytes, wherever it lies (a
    model saved on one machine and loaded where its weights sit in another folder, or a
    relative path read from another working directory).

    Examples
    --------
    >>> same_weights_file(("/a/w.pt", 10, "f00d"), ("/b/w.pt", 10, "f00d"))
    True
    """
    return (isinstance(key, tuple) and isinstance(other, tuple) and len(key) == len(other) == 3
            and isinstance(key[2], str) and key[1:] == other[1:])


class WeightsChangedError(RuntimeError):
    """The ``pretrained=`` checkpoint file changed (or vanished) since the estimator was
    fitted: a restored model would silently combine fitted state with other weights.

    Examples
    --------
    >>> try:
    ...     check_weights_unchanged("/no/such/w.pt", ("/no/such/w.pt", 10, 0), "ImageEmbedder")
    ... except WeightsChangedError as error:
    ...     print(str(error)[:75])
    ImageEmbedder was fitted with pretrained='/no/such/w.pt', but that file has
    """


def check_weights_unchanged(pretrained, fitted_key, owner="The estimator"):
    """Refuse to reload a ``pretrained`` file that is not the one ``fit`` used.

    Parameters
    ----------
    pretrained : object
        The ``pretrained`` parameter.
    fitted_key : object or None
        :attr:`Backbone.weights_key` recorded at fit; None (an estimator pickled before
        keys were recorded) checks nothing.
    owner : str
        Named in the message.

    Raises
    ------
    WeightsChangedError
        The file's size or content differs from fit's, or it is gone.

    Examples
    --------
    >>> check_weights_unchanged("openai", "openai")  # tags are not files: nothing to check
    """
    if fitted_key is None or not looks_like_path(pretrained):
        return
    current = weights_key(pretrained)
    if current == fitted_key or same_weights_file(current, fitted_key):
        return
    path = current[0]

    def describe(key):
        if not isinstance(key, tuple) or len(key) < 3:
            return "no file"
        return f"{key[1]} bytes, content {key[2][:12]}" if isinstance(key[2], str) else f"{key[1]} bytes"

    raise WeightsChangedError(
        f"{owner} was fitted with pretrained={path!r}, but that file has changed since fit "
        f"(at fit: {describe(fitted_key)}; now: {describe(current)}). Its fitted state only "
        "matches the weights it was trained with: restore the original file at that path, "
        "or refit the estimator with the new one."
    )


def check_checkpoint_path(path):
    path = os.path.expanduser(os.fspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"pretrained={path!r} is a folder; pass the checkpoint file inside it (e.g. its .pt, .bin or "
            ".safetensors file)."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint file {path!r} does not exist.")
    return path


def read_state_dict(path):
    path = check_checkpoint_path(path)
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"Cannot read checkpoint {path!r}: {exc}") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"Checkpoint {path!r} does not hold a state dict.")
    return state


def load_state_dict_strict(module, state, source):
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"Weights in {source!r} do not match the architecture: {str(exc)[:500]}"
        ) from exc


# ----------------------------------------------------------------------------- open_clip
