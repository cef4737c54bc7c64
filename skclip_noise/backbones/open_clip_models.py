"""open_clip architecture configurations shipped with this package.

Registered with open_clip the first time a backbone is loaded (or on
:func:`register_model_configs`):

``skclip-tiny``
    **Test-only.** A 3.5 M-parameter CLIP: ViT image tower (width 96, 2 layers,
    patch 8, 32 px) and a text tower of width 64 with 2 layers, deliberately of
    different widths so that code mixing them up fails. Random weights only
    (``pretrained=None``); never use it for real work.
``skclip-tiny-cnn``
    **Test-only.** The same text tower with timm's ``test_efficientnet`` CNN as image
    trunk (64 px), for code paths that must handle non-ViT image towers.
``skclip-hybrid-mobilenetv2``
    A CLIP whose image trunk is MobileNetV2; with ``pretrained="offline"`` the trunk
    gets the real ImageNet weights of the ``offline-weights`` extra, while the
    projection and the whole text side stay random. Its image features are real, so
    it exercises the CLIP-based methods on real image data; its zero-shot
    predictions mean nothing.
``skclip-hybrid-efficientnet-lite0``
    The same with an EfficientNet-Lite0 trunk.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path

__all__ = ["MODEL_CONFIG_DIR", "register_model_configs", "list_models", "TEST_ONLY_CONFIGS", "quiet_root_logger"]

MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"
TEST_ONLY_CONFIGS = ("skclip-tiny", "skclip-tiny-cnn")

_registered = False
_lock = threading.Lock()


@contextlib.contextmanager
def quiet_root_logger():
    """open_clip's ``create_model`` logs through the root logger's module functions
    (``logging.info``), which configure the root logger (``basicConfig``: a stderr handler
    for good) when it has none, so that the user's own ``basicConfig`` later does
    nothing. During the block a ``NullHandler`` stands in and the root level is at least
    ERROR; both go after."""
    root = logging.getLogger()
    previous = root.level
    stand_in = logging.NullHandler() if not root.handlers else None
    if stand_in is not None:
        root.addHandler(stand_in)
    root.setLevel(max(previous, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(previous)
        if stand_in is not None:
            root.removeHandler(stand_in)


def register_model_configs():
    """Register this package's open_clip configs (idempotent).

    Examples
    --------
    >>> import open_clip
    >>> register_model_configs()
    >>> "skclip-tiny" in open_clip.list_models()
    True
    """
    global _registered
    with _lock:
        if _registered:
            return
        import open_clip

        open_clip.add_model_config(MODEL_CONFIG_DIR)
        _registered = True


def list_models():
    """open_clip's architectures, including this package's.

    Examples
    --------
    >>> "skclip-hybrid-mobilenetv2" in list_models()
    True
    """
    register_model_configs()
    import open_clip

    return open_clip.list_models()
