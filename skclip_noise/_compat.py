"""Version shims, imported before anything else in the package.

torchvision's compiled extension (``torchvision/_C*.so``) is built against one
particular torch. When it is paired with another torch build (the usual case on a
CPU-only machine: PyPI's torchvision wheel is a CUDA build that needs
``libtorch_cuda``), ``import torchvision`` fails with ``RuntimeError: operator
torchvision::nms does not exist`` because torchvision registers fake kernels for
operators whose schemas were never defined (pytorch/vision#9077, #9085). open_clip
and timm import torchvision, so they fail too.

:func:`ensure_torchvision_importable` tries to load the compiled library first.
Only when that raises :class:`OSError` does it define the two operator schemas
torchvision's Python code needs at import time, in a ``FRAGMENT`` library held at
module level (a dropped ``Library`` object deregisters its definitions). After that
torchvision's transforms (v1 and v2) and ``torchvision.models`` work; its compiled
ops (``nms``, ``roi_align``, ``io.decode_jpeg``) do not, which is why this package
decodes images with PIL. On a machine whose torchvision matches its torch nothing
is registered.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys

__all__ = ["ensure_torchvision_importable", "TORCHVISION_OPS_SHIMMED"]

#: True when the schema shim below had to be registered.
TORCHVISION_OPS_SHIMMED = False

_SHIM_LIBRARY = None  # keeps the FRAGMENT library alive for the whole process

_SHIMMED_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


def _torchvision_extension_path():
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return None
    candidates = sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.so")))
    candidates += sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.pyd")))
    return candidates[0] if candidates else None


def ensure_torchvision_importable():
    """Make ``import torchvision`` work when its compiled ops cannot load.

    Idempotent; does nothing when torchvision is already imported, absent, or its
    compiled extension loads.

    Returns
    -------
    shimmed : bool
        Whether the operator schemas had to be defined by this package.
    """
    global _SHIM_LIBRARY, TORCHVISION_OPS_SHIMMED
    if _SHIM_LIBRARY is not None or "torchvision" in sys.modules:
        return TORCHVISION_OPS_SHIMMED
    extension = _torchvision_extension_path()
    if extension is None:
        return False
    import torch

    try:
        torch.ops.load_library(extension)
    except OSError:
        library = torch.library.Library("torchvision", "FRAGMENT")
        for schema in _SHIMMED_SCHEMAS:
            library.define(schema)
        _SHIM_LIBRARY = library
        TORCHVISION_OPS_SHIMMED = True
    return TORCHVISION_OPS_SHIMMED


ensure_torchvision_importable()
