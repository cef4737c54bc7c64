"""Visual prompts on an open_clip ViT image tower: VPT-deep and the MaPLe layout.

:func:`vit_forward_with_prompts` re-runs an open_clip ``VisionTransformer`` with
prompt tokens injected, following the installed open_clip 3.x code step by step so
that with empty prompts it reproduces ``encode_image``: ``visual._embeds(images)``
(patchify, class token, positional embedding, patch dropout, ``ln_pre``), the
residual blocks with prompt tokens appended after the image tokens, the prompt
tokens stripped, then ``visual._pool(x)`` (which applies ``ln_post`` before or
after pooling as the tower is configured) and ``@ visual.proj``.

Prompt tokens need a token sequence, so only towers of kind ``"clip_vit"``
(:func:`skclip_noise.backbones.towers.tower_kind_of`) take them; :func:`require_vit`
says so clearly for any other tower.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from ..towers import tower_kind_of
from ._blocks import run_block
from .peft import freeze_module

__all__ = ["require_vit", "vit_forward_with_prompts", "init_visual_prompts", "VisualPromptEncoder"]

_NON_VIT_ALTERNATIVES = (
    "use tuning='peft' (BitFit on this tower: only the bias terms of the image tower "
    "train, see skclip_noise.backbones.prompts.bitfit_parameters) or tuning='frozen' "
    "(keep the image tower frozen)"
)


def require_vit(clip_model: nn.Module, what: str = "VPT"):
    """Return the ViT image tower of an open_clip model or raise a clear error.

    Parameters
    ----------
    clip_model : torch.nn.Module
        open_clip model (its ``visual`` attribute is checked) or an image tower.
    what : str, default="VPT"
        Name of the method, used in the error message.

    Returns
    -------
    open_clip.transformer.VisionTransformer

    Raises
    ------
    ValueError
        If the image tower is not of kind ``"clip_vit"`` (e.g. a timm trunk or a
        ModifiedResNet); the message names the alternatives (BitFit, frozen).

    Examples
    --------
    >>> from skclip_noise.backbones import load_backbone
    >>> type(require_vit(load_backbone("open_clip:skclip-tiny").model)).__name__
    'VisionTransformer'
    >>> require_vit(load_backbone("open_clip:skclip-tiny-cnn").model, "VPT")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: VPT needs a ViT image tower (open_clip VisionTransformer), but ...
    """
    visual = getattr(clip_model, "visual", clip_model)
    if tower_kind_of(visual) != "clip_vit":
        raise ValueError(
            f"{what} needs a ViT image tower (open_clip VisionTransformer), but this "
            f"model's image tower is {type(visual).__name__}. For such towers "
            f"{_NON_VIT_ALTERNATIVES}."
        )
    return visual


# ---------------------------------------------------------------------------
# ViT forward with prompt tokens
# ---------------------------------------------------------------------------
def vit_forward_with_prompts(
    visual: nn.Module,
    images: torch.Tensor,
    layer_prompts: Sequence[Optional[torch.Tensor]] = (),
    first_through_ln_pre: bool = False,
    project: bool = True,
) -> torch.Tensor:
    """Run an open_clip ``VisionTransformer`` with prompt tokens appended.

    ``x = visual._embeds(images)`` gives the tokens after ``ln_pre`` (class
    token, patch tokens, positional embedding, patch dropout). Before block
    ``i < len(layer_prompts)`` the sequence is cut back to those ``N`` tokens
    (``N`` taken from the tensor) and ``layer_prompts[i]`` appended; blocks past
    the prompted depth carry the previous prompt outputs along. The prompt
    tokens are stripped before ``visual._pool`` (which applies ``ln_post``
    before or after pooling as the tower is configured); then ``@ visual.proj``.

    Parameters
    ----------
    visual : open_clip.transformer.VisionTransformer
    images : torch.Tensor of shape (B, 3, H, W)
    layer_prompts : sequence of torch.Tensor
        ``layer_prompts[i]`` of shape ``(n, width)`` or ``(B, n, width)``;
        ``n`` must be the same for all layers (0 allowed).
    first_through_ln_pre : bool, default=False
        Apply ``visual.ln_pre`` to ``layer_prompts[0]``. ``ln_pre`` acts on
        each token separately, so this equals appending the prompt *before*
        ``ln_pre`` (MaPLe); ``False`` appends after ``ln_pre`` (VPT / DEFT).
    project : bool, default=True
        Apply ``visual.proj``; False returns the pooled, pre-projection feature.

    Returns
    -------
    torch.Tensor of shape (B, output_dim), or (B, width) with ``project=False``
        Unnormalised image features.

    Examples
    --------
    >>> import torch
    >>> from skclip_noise.backbones import load_backbone
    >>> clip = load_backbone("open_clip:skclip-tiny").model
    >>> images = torch.randn(2, 3, 32, 32)
    >>> prompts = [torch.randn(4, 96), torch.randn(4, 96)]  # 4 tokens for each of the 2 layers
    >>> vit_forward_with_prompts(clip.visual, images, prompts).shape
    torch.Size([2, 48])
    >>> torch.allclose(vit_forward_with_prompts(clip.visual, images), clip.encode_image(images), atol=1e-5)
    True
    """
    x = visual._embeds(images)
    B, N = x.shape[0], x.shape[1]
    transformer = visual.transformer
    ckpt = getattr(transformer, "grad_checkpointing", False) and not torch.jit.is_scripting()
    batch_first = getattr(transformer, "batch_first", True)
    for i, blk in enumerate(transformer.resblocks):
        if i < len(layer_prompts) and layer_prompts[i] is not None:
            p = layer_prompts[i]
            if i == 0 and first_through_ln_pre:
                p = visual.ln_pre(p)
            p = p.to(x.dtype)
            p = p.unsqueeze(0).expand(B, -1, -1) if p.dim() == 2 else p
            x = torch.cat([x[:, :N], p], dim=1)
        if not batch_first:
            x = x.transpose(0, 1)
        x = run_block(blk, x, None, ckpt)
        if not batch_first:
            x = x.transpose(0, 1)
    x = x[:, :N]
    pooled, _ = visual._pool(x)
    if project and visual.proj is not None:
        pooled = pooled @ visual.proj
    return pooled


def init_visual_prompts(visual: nn.Module, depth: int, n_vpt: int) -> torch.Tensor:
    """VPT's initial prompts for an open_clip ViT tower.

    Parameters
    ----------
    visual : open_clip.transformer.VisionTransformer
    depth : int
        Number of prompted layers.
    n_vpt : int
        Prompt tokens per layer.

    Returns
    -------
    torch.Tensor of shape (depth, n_vpt, width), float32
        Uniform on ``+-sqrt(6 / (3 * p_h * p_w + width))`` (``p`` the patch
        size), drawn from torch's global RNG.

    Examples
    --------
    >>> from skclip_noise.backbones import load_backbone
    >>> init_visual_prompts(load_backbone("open_clip:skclip-tiny").model.visual, 2, 5).shape
    torch.Size([2, 5, 96])
    """
    width = visual.class_embedding.shape[-1]
    ph, pw = visual.patch_size
    bound = math.sqrt(6.0 / float(3 * ph * pw + width))
    return torch.empty(depth, n_vpt, width, dtype=torch.float32).uniform_(-bound, bound)


class VisualPromptEncoder(nn.Module):
    """VPT-deep image encoder for an open_clip ViT image tower.

    ``n_vpt`` learnable tokens per layer are appended after the image tokens
    (after ``ln_pre``); before each prompted block the sequence is cut back to
    the image tokens and that layer's prompts appended; the prompts are
    stripped before pooling (DEFT's reference layout, see
    :func:`vit_forward_with_prompts`). With ``n_vpt=0`` the output equals
    ``clip_model.encode_image``.

    Parameters
    ----------
    clip_model : open_clip.model.CLIP or open_clip.model.CustomTextCLIP
        Model with an open_clip ``VisionTransformer`` image tower, registered
        as the submodule ``clip``.
    n_vpt : int, default=20
        Prompt tokens per layer (DEFT reference: 20).
    prompt_depth : int or None, default=None
        Number of prompted layers, from the first; ``None`` means all (VPT-deep);
        1 is VPT-shallow.
    freeze_clip : bool, default=True
        Set ``requires_grad=False`` on all CLIP parameters (in place).

    Attributes
    ----------
    prompts : torch.nn.Parameter of shape (prompt_depth, n_vpt, width)
        Initialised uniformly on ``+-sqrt(6 / (3 * p * p + D))`` (``p`` the
        patch size, ``D`` the width).

    Raises
    ------
    ValueError
        If the image tower is not a ViT (use BitFit or a frozen tower instead).

    Examples
    --------
    >>> import torch
    >>> from skclip_noise.backbones import load_backbone
    >>> vpt = VisualPromptEncoder(load_backbone("open_clip:skclip-tiny").trainable_copy(), n_vpt=4)
    >>> tuple(vpt.prompts.shape), vpt(torch.randn(2, 3, 32, 32)).shape
    ((2, 4, 96), torch.Size([2, 48]))
    """

    def __init__(self, clip_model: nn.Module, n_vpt: int = 20, prompt_depth: Optional[int] = None,
                 freeze_clip: bool = True):
        super().__init__()
        visual = require_vit(clip_model, "VPT")
        n_layers = len(visual.transformer.resblocks)
        depth = n_layers if prompt_depth is None else int(prompt_depth)
        if not 1 <= depth <= n_layers:
            raise ValueError(f"prompt_depth must be between 1 and the {n_layers} layers of the image tower, got {depth}.")
        if n_vpt < 0:
            raise ValueError(f"n_vpt must be >= 0, got {n_vpt}.")
        self.n_vpt, self.prompt_depth, self.n_layers = int(n_vpt), depth, n_layers
        width = visual.class_embedding.shape[-1]
        self.prompts = nn.Parameter(init_visual_prompts(visual, depth, self.n_vpt))
        self.width = width
        self.clip = clip_model
        if freeze_clip:
            freeze_module(clip_model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Encode images with the visual prompts.

        Parameters
        ----------
        images : torch.Tensor of shape (B, 3, H, W)

        Returns
        -------
        torch.Tensor of shape (B, embed_dim)
            Unnormalised image features.
        """
        return vit_forward_with_prompts(self.clip.visual, images, list(self.prompts))


