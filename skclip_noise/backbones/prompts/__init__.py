"""Prompt learning on open_clip models: CoOp text context, VPT-deep, MaPLe; BitFit.

The modules here take an ``open_clip`` model object (``open_clip.model.CLIP`` or
``open_clip.model.CustomTextCLIP``) and re-run its towers with learnable prompt
tokens injected; with empty prompts they reproduce ``encode_text`` and
``encode_image`` exactly.

Modules
-------
:mod:`~skclip_noise.backbones.prompts.text`
    :class:`PromptTextEncoder`: CoOp-style learnable context shared by all
    classes (DEFT phase 1 uses two of them, positive and negative: ``n_prompts=2``).
:mod:`~skclip_noise.backbones.prompts.visual`
    :class:`VisualPromptEncoder` (VPT-deep), :func:`vit_forward_with_prompts`,
    :func:`init_visual_prompts` and :func:`require_vit`, for open_clip
    ``VisionTransformer`` image towers (tower kind ``"clip_vit"``).
:mod:`~skclip_noise.backbones.prompts.coupled`
    :class:`CoupledPromptLearner`: MaPLe coupled vision-language deep prompts
    (AVL-Prompter's model), text-only on other image towers.
:mod:`~skclip_noise.backbones.prompts.peft`
    :func:`freeze_module`, :func:`trainable_parameters`, :func:`bitfit_parameters`,
    :func:`apply_bitfit`: small helpers for parameter-efficient fine-tuning.

Build the prompt modules *after* loading pretrained weights into the CLIP model:
the fixed token embeddings of the prompts are copied from the model at construction.

Examples
--------
>>> from skclip_noise.backbones import load_backbone
>>> from skclip_noise.backbones.prompts import PromptTextEncoder
>>> backbone = load_backbone("open_clip:skclip-tiny", pretrained=None)
>>> encoder = PromptTextEncoder(backbone.trainable_copy(), ["cat", "dog"], ctx_init="a photo of a",
...                             tokenizer=backbone.tokenizer)
>>> encoder().shape
torch.Size([2, 48])
"""

from .coupled import CoupledPromptLearner
from .peft import apply_bitfit, bitfit_parameters, freeze_module, trainable_parameters
from .text import PromptTextEncoder
from .visual import VisualPromptEncoder, init_visual_prompts, require_vit, vit_forward_with_prompts

__all__ = [
    "PromptTextEncoder",
    "VisualPromptEncoder",
    "CoupledPromptLearner",
    "freeze_module",
    "trainable_parameters",
    "bitfit_parameters",
    "apply_bitfit",
    "require_vit",
    "vit_forward_with_prompts",
    "init_visual_prompts",
]
