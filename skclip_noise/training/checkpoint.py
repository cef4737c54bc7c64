"""What a training checkpoint is bound to, and where the checkpoints of a fit's parts go.

A checkpoint written by :class:`~skclip_noise.training.loop.Trainer` is only resumed
by a fit that would have produced it: the same training data (a content hash of the
inputs, the training indices and the labels), the same estimator parameters (all of
``get_params(deep=True)`` except ``checkpoint_path`` and ``verbose``, which do not
change the result; ``num_workers`` does, since the random training views are drawn in
the loader's workers), the same validation data and the same backbone weights. A
checkpoint written for anything else is never resumed: the fit trains from scratch
and overwrites it, with a warning naming the file and what differed. So a
``GridSearchCV`` (or any loop of fits) with one ``checkpoint_path`` trains every fold;
the file then holds the last fit's state.
"""

from __future__ import annotations

import hashlib
import os
from numbers import Integral

import numpy as np
import torch

__all__ = [
    "CheckpointedValue",
    "check_checkpoint_destination",
    "check_checkpoint_random_state",
    "checkpoint_fingerprint",
    "data_fingerprint",
    "sub_checkpoint_path",
]

#: parameters that never change what a fit computes (num_workers does: the random training
#: views are drawn in the loader's worker processes)
_IGNORED_PARAMS = {"checkpoint_path", "verbose"}


def sub_checkpoint_path(path, part):
    """The checkpoint file of one part of a fit (a phase, a fold) next to ``path``.

    Examples
    --------
    >>> sub_checkpoint_path("runs/deft.pt", "detector")
    'runs/deft.detector.pt'
    >>> sub_checkpoint_path(None, "fold0") is None
    True
    """
    if path is None:
        return None
    root, ext = os.path.splitext(os.fspath(path))
    return f"{root}.{part}{ext}"


def check_checkpoint_destination(estimator):
    """Refuse, before any training, a ``checkpoint_path`` that names a folder or lies where
    no file can be written: the first checkpoint is written only after the first epoch.

    The path's folder is created (as writing the checkpoint would) and a file is made and
    removed there.
    """
    from .._files import probe_writable_folder

    path = getattr(estimator, "checkpoint_path", None)
    if path is None:
        return
    path = os.path.expanduser(os.fspath(path))
    if os.path.isdir(path) or path.endswith((os.sep, "/")):
        raise ValueError(
            f"checkpoint_path={path!r} is a folder; name the checkpoint file, e.g. "
            f"{os.path.join(path, 'fit.pt')!r}."
        )
    folder = os.path.dirname(os.path.abspath(path))
    try:
        probe_writable_folder(folder)
    except OSError as exc:
        raise ValueError(
            f"checkpoint_path={path!r}: no file can be written in {folder!r} "
            f"({exc.strerror or type(exc).__name__}); pass a path in a folder you can write to, or "
            "checkpoint_path=None."
        ) from exc


def check_checkpoint_random_state(estimator, *, name=None, fix=None):
    """Refuse ``checkpoint_path`` without an integer ``random_state``.

    ``random_state=None`` (or a RandomState instance) draws a new seed on every fit, so
    a checkpoint could never be resumed reproducibly. ``name`` and ``fix`` word the
    error for an estimator inside another.
    """
    path = getattr(estimator, "checkpoint_path", None)
    random_state = getattr(estimator, "random_state", None)
    if path is None or (isinstance(random_state, Integral) and not isinstance(random_state, bool)):
        return
    label = name or type(estimator).__name__
    fix = fix or f"Pass an integer random_state (e.g. {type(estimator).__name__}(random_state=0)) or checkpoint_path=None."
    raise ValueError(
        f"{label} has checkpoint_path={os.fspath(path)!r} but random_state={random_state!r}: a fit "
        "resumes only with the seed that wrote the checkpoint, and random_state=None (or a "
        f"RandomState instance) draws a new one every fit. {fix}"
    )


def _update_array(digest, array):
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())


def data_fingerprint(inputs, codes, indices=None):
    """A content hash of the training data of one fit.

    Parameters
    ----------
    inputs : checked image input, ndarray or tensor
        Image arrays and feature arrays hash every value; image paths hash each path
        with its file's size and modification time; a torch Dataset hashes its type,
        length and a few decoded samples.
    codes : array-like of int
        The training labels (encoded).
    indices : array-like of int, default=None
        The training rows (a fold); None means all of them.
    """
    digest = hashlib.sha1()
    if isinstance(inputs, torch.Tensor):
        _update_array(digest, inputs.detach().cpu().numpy())
    elif isinstance(inputs, np.ndarray):
        _update_array(digest, inputs)
    else:
        kind, data = inputs.kind, inputs.data
        digest.update(kind.encode())
        if kind in ("images", "features"):
            _update_array(digest, np.asarray(data))
        elif kind == "paths":
            for path in data:
                stat = os.stat(path)
                digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        else:
            from ..data.fingerprint import input_fingerprint

            digest.update(f"{type(data).__module__}.{type(data).__qualname__}".encode())
            digest.update(input_fingerprint(inputs).encode())
    _update_array(digest, np.asarray(codes, dtype=np.int64))
    if indices is not None:
        _update_array(digest, np.asarray(indices, dtype=np.int64))
    return digest.hexdigest()


def _param_token(value):
    if hasattr(value, "get_params"):
        return type(value).__qualname__  # its own parameters are listed as name__param
    if isinstance(value, np.ndarray):
        digest = hashlib.sha1()
        _update_array(digest, value)
        return f"ndarray:{digest.hexdigest()}"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def params_fingerprint(estimator):
    """A hash of the estimator's parameters that change what a fit computes."""
    params = estimator.get_params(deep=True)
    digest = hashlib.sha1(type(estimator).__qualname__.encode())
    for name in sorted(params):
        if name.rsplit("__", 1)[-1] in _IGNORED_PARAMS:
            continue
        digest.update(f"{name}={_param_token(params[name])}\0".encode())
    return digest.hexdigest()


def checkpoint_fingerprint(estimator, inputs, codes, *, indices=None, backbone=None, pretrained=None, part=None,
                           validation=None, checkpoint_path=None):
    """What a checkpoint of one of ``estimator``'s trainings is bound to.

    Returns a dict ``{"data", "class names", "parameters", "backbone weights"[,
    "validation data"]}``
    for :class:`~skclip_noise.training.loop.Trainer`'s ``fingerprint``, or None when the
    training writes no checkpoint (``checkpoint_path``, by default the estimator's, is
    None). ``part`` names the training within the fit (e.g. ``"linear probe"``) and
    joins the parameters; ``validation`` is the checked ``(X_val, codes_val)`` of
    ``fit(validation_data=...)``.
    """
    from ..backbones.loading import weights_key

    if checkpoint_path is None and getattr(estimator, "checkpoint_path", None) is None:
        return None
    params = params_fingerprint(estimator)
    if part is not None:
        params = hashlib.sha1(f"{params}:{part}".encode()).hexdigest()
    fingerprint = {
        "data": data_fingerprint(inputs, codes, indices),
        # the codes' meaning: class names enter text prompts, and other names train other prompts
        "class names": repr(list(getattr(estimator, "class_names_", []))),
        "parameters": params,
        "backbone weights": repr((backbone, weights_key(pretrained))) if backbone is not None else None,
    }
    if validation is not None:
        fingerprint["validation data"] = data_fingerprint(*validation)
    return fingerprint


class CheckpointedValue:
    """A value that a training checkpoint saves and restores with the trainer's state
    (pass it in ``Trainer.fit(extra_state=...)``): e.g. outputs recorded at the ends
    of epochs, or the last selection of samples.

    Examples
    --------
    >>> recorded = CheckpointedValue([])
    >>> recorded.value.append(1)
    >>> CheckpointedValue(None).load_state_dict(recorded.state_dict()) or recorded.value
    [1]
    """

    def __init__(self, value):
        self.value = value

    def state_dict(self):
        return {"value": self.value}

    def load_state_dict(self, state):
        self.value = state["value"]
