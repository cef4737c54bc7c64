"""Checks that run before training, so that a bad setting fails fast with our words
rather than deep inside a forward pass (or after an earlier phase has trained)."""

from __future__ import annotations

import torch

__all__ = ["check_feature_width", "check_image_size"]


def check_image_size(backbone, image_size, *, owner, spec):
    """Refuse an ``image_size`` the backbone's image tower cannot take (a fixed-size ViT).

    One forward pass of a single blank image at that size, before any training.
    """
    if image_size is None:
        return
    parameter = next(backbone.model.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    probe = torch.zeros(1, 3, int(image_size), int(image_size), device=backbone.device, dtype=dtype)
    try:
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            backbone.encode_images(probe)
    except (RuntimeError, AssertionError, ValueError) as exc:  # timm's and torchvision's ViTs assert the size
        native = backbone.preprocess_config.image_size
        raise ValueError(
            f"{owner}: {spec} does not accept image_size={image_size}; its native side is {native}. "
            "Use image_size=None (ViT towers need their native side) or a CNN backbone."
        ) from exc


def check_feature_width(width, backbone, *, owner, spec, use="embeddings from the same CLIP"):
    """Refuse precomputed features whose width is not the backbone's embedding width.

    Called before any training or scoring, so that a feature array from another model
    fails with both widths named instead of a matrix-shape error from inside torch.
    """
    expected = int(backbone.feature_dim)
    if int(width) != expected:
        raise ValueError(
            f"{owner}: X has {width} features but {spec}'s image embeddings have {expected}. "
            f"Pass images, or {use} (e.g. ImageEmbedder({spec!r}, ...).fit_transform(images))."
        )
