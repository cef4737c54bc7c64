"""Devices, mixed precision and seeds."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._warnings import warn_user
from .distributed import distributed_device

__all__ = ["resolve_device", "fitted_device", "small_model_threads", "autocast_dtype", "autocast", "seed_from_random_state", "seeded_torch"]


def resolve_device(device="auto"):
    """Turn ``"auto"`` into cuda, then mps, then cpu; check an explicit choice exists.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return distributed_device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda'.") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available here; use 'auto' or 'cpu'.")
    if resolved.type == "cuda":
        resolved = distributed_device(resolved)  # under torchrun: this rank's GPU
    if resolved.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError(f"device={device!r} was asked for but MPS is not available here; use 'auto' or 'cpu'.")
    if resolved.type not in ("cpu", "cuda", "mps"):  # xpu, hpu, meta, ...: only where torch has it working
        backend = getattr(torch, resolved.type, None)
        available = getattr(backend, "is_available", None)
        if resolved.type == "meta" or available is None or not available():
            raise ValueError(
                f"device={device!r} was asked for but this torch build cannot run on {resolved.type!r} here; "
                "use 'auto', 'cpu' or 'cuda'."
            )
    return resolved


def fitted_device(device_name):
    """The device a fitted estimator runs on: its fit-time device when this machine
    has it, else the CPU (so a model fitted on a GPU still predicts after unpickling)."""
    device = torch.device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        warn_user(
            f"This estimator was fitted on {device_name!r}, which this machine lacks; using the CPU.",
            RuntimeWarning,
        )
        return torch.device("cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        return torch.device("cpu")
    return device


def autocast_dtype(device, mixed_precision="auto"):
    """The autocast dtype to use, or None for full precision.

    ``"auto"`` means bfloat16 on CUDA devices that support it, float16 on other CUDA
    devices, and full precision elsewhere. ``True`` is ``"auto"`` that also applies
    bfloat16 on CPU; ``"bf16"``/``"fp16"`` force a dtype; ``False`` turns it off.
    """
    device = torch.device(device)
    if mixed_precision in (False, None, "no", "fp32"):
        return None
    if mixed_precision == "bf16":
        return torch.bfloat16
    if mixed_precision == "fp16":
        return torch.float16
    if mixed_precision not in ("auto", True):
        raise ValueError(
            f"mixed_precision must be 'auto', True, False, 'bf16' or 'fp16'; got {mixed_precision!r}."
        )
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if mixed_precision is True and device.type == "cpu":
        return torch.bfloat16
    return None


def autocast(device, dtype):
    """``torch.autocast`` for ``dtype``, or a no-op context when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def seed_from_random_state(random_state):
    """An int seed drawn from a scikit-learn ``random_state``.

    An int gives a fixed seed and a ``RandomState`` instance is drawn from. ``None``
    gives a fresh seed from the operating system's entropy, so fits are not
    reproducible; unlike scikit-learn's default, numpy's global RNG is never drawn
    from, so fitting never changes the caller's random stream.

    Examples
    --------
    >>> seed_from_random_state(0) == seed_from_random_state(0)
    True
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] % np.iinfo(np.int32).max)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


#: Held while torch's process-wide generator is seeded for one fit (:func:`seeded_torch`,
#: the backbone loader's fixed initialisation): fits in threads of one process (joblib's
#: threading backend, a Dask worker) take turns instead of drawing from each other's streams.
TORCH_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded_torch(seed, device="cpu"):
    """Seed torch's global RNG inside the block and restore the caller's state after: the
    CPU generator, and ``device``'s when it is a GPU (no other device's is touched).

    Transforms in DataLoader workers and the main process draw from torch's global
    RNG; forking it keeps training reproducible without touching the user's state. The
    generator is one per process, so the block holds :data:`TORCH_RNG_LOCK`: a fit in
    another thread waits for it rather than shift its draws.
    """
    device = torch.device(device)
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with TORCH_RNG_LOCK, torch.random.fork_rng(devices=cuda_devices):
        # Not torch.manual_seed: it also reseeds every CUDA device, which the fork does not restore.
        torch.default_generator.manual_seed(seed)
        for index in cuda_devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield


@contextlib.contextmanager
def small_model_threads(device, n_threads=1):
    """Run torch's CPU work on ``n_threads`` threads inside the block, then restore.

    For tiny models (a linear probe on embeddings) the per-step work is far too small
    to split: several threads only wait for each other, and much longer when another
    process holds the cores (a 10-class probe on 5,000 x 1280 embeddings: 7.4 s on 2
    threads beside a busy process, 1.8 s on 1, the same result). No effect on GPUs.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with small_model_threads("cpu"):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if torch.device(device).type != "cpu":
        yield
        return
    with _THREADS.lock:
        if _THREADS.active == 0:
            _THREADS.outside = torch.get_num_threads()
        _THREADS.active += 1
        outside = _THREADS.outside
    depth = getattr(_THREADS.here, "depth", 0)
    _THREADS.here.depth = depth + 1
    torch.set_num_threads(min(n_threads, outside) if depth == 0 else torch.get_num_threads())
    try:
        yield
    finally:
        with _THREADS.lock:
            _THREADS.active -= 1
        _THREADS.here.depth = depth
        if depth == 0:  # this thread's outermost block: back to the process's count
            torch.set_num_threads(outside)


class _ThreadCount:
    """The process's torch thread count while blocks of :func:`small_model_threads` overlap.

    ``torch.set_num_threads`` also sets the count a thread takes at its first torch call,
    so a block entered in another thread while one is open would read the open block's 1
    as "the previous" count (a Dask worker's thread then ran on 1 thread for good). The
    first block records the count once; each thread's outermost block restores that (an
    inner block leaves the outer one's count)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.active = 0
        self.outside = None
        self.here = threading.local()  # this thread's depth of blocks


_THREADS = _ThreadCount()

