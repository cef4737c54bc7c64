"""Image transforms: the backbone's own evaluation preprocessing and two training views.

The weak view is DivideMix/FixMatch's flip-and-shift (a reflect-padded random crop
of one eighth of the side, then a horizontal flip); the strong view adds RandAugment
with two operations at magnitude 10, as FixMatch and AVL-Prompter use.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = ["PreprocessConfig", "eval_transform", "weak_transform", "strong_transform"]

_INTERPOLATIONS = ("bicubic", "bilinear", "nearest")


def _torchvision_transforms():
    # Imported on first use: torchvision's import costs over a second.
    from torchvision import transforms

    return transforms


@dataclass(frozen=True)
class PreprocessConfig:
    """What a backbone expects: input size, normalisation and resize filter.

    Parameters
    ----------
    image_size : int
        Side of the square input.
    mean, std : tuple of float
        Per-channel normalisation.
    interpolation : {"bicubic", "bilinear", "nearest"}
        Resize filter.
    crop_pct : float
        Share of the resized image kept by the centre crop at evaluation (1.0 keeps
        all of it, as CLIP does; 0.875 is the usual ImageNet setting).
    """

    image_size: int
    mean: tuple = (0.485, 0.456, 0.406)
    std: tuple = (0.229, 0.224, 0.225)
    interpolation: str = "bicubic"
    crop_pct: float = 1.0

    def __post_init__(self):
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {sorted(_INTERPOLATIONS)}; got {self.interpolation!r}."
            )

    def resized(self, image_size):
        """This config at another input side (no centre crop), or itself for None."""
        if image_size is None:
            return self
        return dataclasses.replace(self, image_size=int(image_size), crop_pct=1.0)

    @property
    def resize_size(self):
        """Side of the resize before the centre crop (floored, as timm does)."""
        return int(math.floor(self.image_size / self.crop_pct))

    def _resize_and_normalize(self):
        T = _torchvision_transforms()
        mode = T.InterpolationMode(self.interpolation)
        return (
            [T.Resize(self.resize_size, interpolation=mode), T.CenterCrop(self.image_size)],
            [T.ToTensor(), T.Normalize(self.mean, self.std)],
        )


def eval_transform(config):
    """Deterministic evaluation transform: resize, centre crop, normalise.

    Examples
    --------
    >>> from PIL import Image
    >>> t = eval_transform(PreprocessConfig(image_size=32))
    >>> t(Image.new("RGB", (8, 8))).shape
    torch.Size([3, 32, 32])
    """
    head, tail = config._resize_and_normalize()
    return _torchvision_transforms().Compose(head + tail)


def _weak_ops(config):
    T = _torchvision_transforms()
    return [
        T.RandomCrop(config.image_size, padding=max(1, config.image_size // 8), padding_mode="reflect"),
        T.RandomHorizontalFlip(),
    ]


def weak_transform(config):
    """Training view: resize, random reflect-padded crop, horizontal flip.

    Examples
    --------
    >>> from PIL import Image
    >>> weak_transform(PreprocessConfig(image_size=32))(Image.new("RGB", (8, 8))).shape
    torch.Size([3, 32, 32])
    """
    head, tail = config._resize_and_normalize()
    return _torchvision_transforms().Compose(head + _weak_ops(config) + tail)


def strong_transform(config, *, num_ops=2, magnitude=10):
    """Training view: the weak view followed by RandAugment(``num_ops``, ``magnitude``).

    Examples
    --------
    >>> from PIL import Image
    >>> strong_transform(PreprocessConfig(image_size=32))(Image.new("RGB", (8, 8))).shape
    torch.Size([3, 32, 32])
    """
    T = _torchvision_transforms()
    head, tail = config._resize_and_normalize()
    return T.Compose(
        head + _weak_ops(config) + [T.RandAugment(num_ops=num_ops, magnitude=magnitude)] + tail
    )
