"""What kind of image tower a backbone has: decided once, when it is loaded.

Everything that depends on the tower (which parameter-efficient tuning applies, which
optimiser preset fits, which feature a classification head reads) asks
:attr:`~skclip_noise.backbones.Backbone.tower_kind` instead of looking at class or
model names again.

=============== ==============================================================
kind            towers
=============== ==============================================================
``clip_vit``    open_clip ``VisionTransformer`` (takes VPT and MaPLe prompts)
``clip_timm``   open_clip CLIP whose image trunk is a timm model
``clip_other``  any other open_clip image tower (e.g. ``ModifiedResNet``)
``vit``         timm / torchvision vision transformers (ViT, DeiT, ...)
``mae``         masked-autoencoder pre-trained ViTs
``convnext``    ConvNeXt models
``cnn``         every other timm / torchvision model
=============== ==============================================================
"""

from __future__ import annotations

from torch import nn

__all__ = ["TOWER_KINDS", "CLIP_TOWER_KINDS", "tower_kind_of", "peft_method_for"]

TOWER_KINDS = ("clip_vit", "clip_timm", "clip_other", "vit", "mae", "convnext", "cnn")
CLIP_TOWER_KINDS = ("clip_vit", "clip_timm", "clip_other")


def tower_kind_of(tower: nn.Module, model_name: str = "") -> str:
    """The kind (one of :data:`TOWER_KINDS`) of an image tower.

    Parameters
    ----------
    tower : torch.nn.Module
        The image encoder (``clip.visual`` for a CLIP, else the model itself).
    model_name : str, default=""
        The family's model name (``"resnet50.a1_in1k"``); it tells ViT, MAE and
        ConvNeXt models of timm and torchvision apart.

    Examples
    --------
    >>> from skclip_noise.backbones import load_backbone
    >>> tower_kind_of(load_backbone("open_clip:skclip-tiny").model.visual)
    'clip_vit'
    >>> tower_kind_of(nn.Linear(2, 2), "convnext_tiny")
    'convnext'
    """
    from open_clip.timm_model import TimmModel
    from open_clip.transformer import VisionTransformer

    if isinstance(tower, VisionTransformer):
        return "clip_vit"
    if isinstance(tower, TimmModel):
        return "clip_timm"
    if type(tower).__module__.startswith("open_clip"):
        return "clip_other"
    name = model_name.lower()
    if "mae" in name:
        return "mae"
    if "convnext" in name:
        return "convnext"
    if name.startswith(_CNNS_NAMED_LIKE_VITS):
        return "cnn"
    if name.startswith(_TRANSFORMERS) or "vit" in name or "deit" in name:
        return "vit"
    return "cnn"


#: timm / torchvision vision transformers whose names do not say "vit".
_TRANSFORMERS = ("swin", "beit", "eva", "cait", "xcit", "pit_", "tnt_", "twins", "crossvit", "volo", "coat_", "mvit")
#: Convolutional networks whose names do say "vit" (RepViT).
_CNNS_NAMED_LIKE_VITS = ("repvit",)


def peft_method_for(tower_kind: str) -> str:
    """The parameter-efficient tuning a tower takes: ``"vpt"`` (deep visual prompts)
    on open_clip ViT towers, ``"bitfit"`` (bias terms only) on every other tower.

    Examples
    --------
    >>> peft_method_for("clip_vit"), peft_method_for("cnn")
    ('vpt', 'bitfit')
    """
    return "vpt" if tower_kind == "clip_vit" else "bitfit"
