"""Backbones: name a model with a string, load it once, encode images and text.

See :func:`load_backbone` for the ``pretrained`` values each family accepts, and
:mod:`skclip_noise.backbones.offline_weights` for the real weights usable offline.
"""

from .heads import ImageClassifierNet
from .loading import PRECISIONS, Backbone, clear_backbone_cache, load_backbone
from .open_clip_models import TEST_ONLY_CONFIGS, register_model_configs
from .spec import BackboneSpec, parse_backbone_spec

__all__ = [
    "Backbone",
    "ImageClassifierNet",
    "BackboneSpec",
    "PRECISIONS",
    "TEST_ONLY_CONFIGS",
    "clear_backbone_cache",
    "load_backbone",
    "parse_backbone_spec",
    "register_model_configs",
]
