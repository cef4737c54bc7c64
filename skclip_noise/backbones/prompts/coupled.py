"""MaPLe coupled vision-language deep prompts (:class:`CoupledPromptLearner`).

On an open_clip ViT image tower the text prompts are mapped to vision prompts by
coupling layers; on any other image tower (a CNN has no token sequence to put
prompts in) the learner keeps MaPLe's text side alone and encodes images with
``clip.encode_image`` (text-only mode).
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Union

import torch
from torch import nn

from ..towers import tower_kind_of
from .text import PromptTextEncoder
from .text_towers import text_tower
from .visual import require_vit, vit_forward_with_prompts

__all__ = ["CoupledPromptLearner"]


class CoupledPromptLearner(nn.Module):
    """MaPLe coupled vision-language deep prompts (AVL-Prompter's model).

    Text: the context is the first ``n_ctx`` tokens of ``ctx_init`` (learnable,
    initialised from their embeddings); the remaining words stay fixed in the
    prompt, so ``n_ctx=2, ctx_init="a photo of a"`` gives the prompt
    ``"a photo of a {class}."`` with "a photo" learnable. Deep text prompts
    (``prompt_depth - 1`` of shape ``(n_ctx, text_width)``, N(0, 0.02)) replace
    the context positions at layers ``1 .. prompt_depth-1``.

    Vision: ``couplings[0]`` maps the text context and ``couplings[i]`` the
    ``i``-th deep text prompt through ``Linear(text_width, vision_width)`` to
    that layer's vision prompt. The shallow vision prompt is appended to the
    image tokens before ``ln_pre`` (implemented as ``ln_pre`` applied to the
    prompt after ``visual._embeds``, identical since ``ln_pre`` acts per
    token); at layers ``1 .. prompt_depth-1`` the last ``n_ctx`` tokens are
    replaced; the prompts are stripped before pooling (for class-token pooling
    this equals MaPLe, which pools the class token).

    Text-only mode (``text_only=True``; by default whenever the image tower is
    not of kind ``"clip_vit"``, see :func:`skclip_noise.backbones.towers.tower_kind_of`):
    the same text context and deep text prompts, but no coupling layers
    (``couplings`` is empty) and no vision prompts; images go through
    ``clip.encode_image`` unchanged, and ``prompt_depth`` is bounded by the text
    tower alone.

    Parameters
    ----------
    clip_model : open_clip.model.CLIP or open_clip.model.CustomTextCLIP
        The CLIP model; registered once, as ``text_encoder.clip`` (also
        reachable as ``self.clip``).
    class_names : sequence of str
    n_ctx : int, default=2
    prompt_depth : int, default=9
        Number of prompted layers (1 = shallow prompts only). Must not exceed
        the layers of either tower (of the text tower in text-only mode).
    ctx_init : str or None, default="a photo of a"
        ``None`` initialises the context from N(0, 0.02) with placeholders.
    tokenizer : callable, str or None, default=None
        See :class:`~skclip_noise.backbones.prompts.PromptTextEncoder`.
    logit_scale : float or "clip", default=100.0
        Fixed logit scale (a non-trainable buffer), or ``"clip"`` for the
        model's ``logit_scale.exp()``.
    freeze_clip : bool, default=True
        Freeze all CLIP parameters (MaPLe). ``False`` leaves their
        ``requires_grad`` as it is (AVL-Prompter fine-tunes both encoders).
    deep_std : float, default=0.02
        Standard deviation of the deep text prompt initialisation.
    text_only : bool or None, default=None
        ``None``: text-only exactly when the image tower is not an open_clip ViT.
        ``True``: text-only on any tower. ``False``: coupled prompts, and an
        error if the image tower is not an open_clip ViT.

    Attributes
    ----------
    text_encoder : PromptTextEncoder
        Holds the context ``ctx`` and the CLIP model.
    deep_text_prompts : torch.nn.ParameterList
        ``prompt_depth - 1`` tensors of shape ``(n_ctx, text_width)``.
    couplings : torch.nn.ModuleList
        ``prompt_depth`` ``Linear(text_width, vision_width)`` layers; empty in
        text-only mode.
    text_only : bool
    prompt_depth, n_ctx, text_width : int
    vision_width : int or None
        ``None`` in text-only mode.

    Raises
    ------
    ValueError
        If ``text_only=False`` and the image tower is not a ViT, or
        ``prompt_depth`` exceeds the layers.

    Examples
    --------
    >>> import torch
    >>> from skclip_noise.backbones import load_backbone
    >>> backbone = load_backbone("open_clip:skclip-tiny", pretrained=None)
    >>> maple = CoupledPromptLearner(backbone.trainable_copy(), ["cat", "dog", "car"], prompt_depth=2,
    ...                              tokenizer=backbone.tokenizer)
    >>> maple.text_only, len(maple.couplings), maple.logits(torch.randn(4, 3, 32, 32)).shape
    (False, 2, torch.Size([4, 3]))

    On a CNN image tower the learner is text-only:

    >>> cnn = load_backbone("open_clip:skclip-tiny-cnn", pretrained=None)
    >>> text_side = CoupledPromptLearner(cnn.trainable_copy(), ["cat", "dog", "car"], prompt_depth=2,
    ...                                  tokenizer=cnn.tokenizer)
    >>> text_side.text_only, len(text_side.couplings), len(text_side.deep_text_prompts)
    (True, 0, 1)
    """

    def __init__(
        self,
        clip_model: nn.Module,
        class_names: Sequence[str],
        n_ctx: int = 2,
        prompt_depth: int = 9,
        ctx_init: Optional[str] = "a photo of a",
        tokenizer: Union[Callable, str, None] = None,
        logit_scale: Union[float, str] = 100.0,
        freeze_clip: bool = True,
        deep_std: float = 0.02,
        text_only: Optional[bool] = None,
    ):
        super().__init__()
        if text_only is None:
            text_only = tower_kind_of(clip_model.visual) != "clip_vit"
        self.text_only = bool(text_only)
        visual = None if self.text_only else require_vit(clip_model, "MaPLe")
        text_layers = text_tower(clip_model).n_layers
        if self.text_only:
            if not 1 <= prompt_depth <= text_layers:
                raise ValueError(
                    f"prompt_depth={prompt_depth} but the text tower has {text_layers} layers; "
                    f"prompt_depth must be between 1 and {text_layers}."
                )
        else:
            vision_layers = len(visual.transformer.resblocks)
            max_depth = min(text_layers, vision_layers)
            if not 1 <= prompt_depth <= max_depth:
                raise ValueError(
                    f"prompt_depth={prompt_depth} but the model has {text_layers} text and {vision_layers} "
                    f"vision layers; prompt_depth must be between 1 and {max_depth}."
                )
        self.text_encoder = PromptTextEncoder(
            clip_model, class_names, n_ctx=n_ctx, ctx_init=ctx_init, tokenizer=tokenizer, freeze_clip=freeze_clip
        )
        self.prompt_depth = int(prompt_depth)
        self.n_ctx = self.text_encoder.n_ctx
        self.text_width = self.text_encoder.text_width
        self.vision_width = None if self.text_only else visual.class_embedding.shape[-1]
        self.deep_text_prompts = nn.ParameterList(
            [nn.Parameter(torch.empty(self.n_ctx, self.text_width).normal_(std=deep_std))
             for _ in range(self.prompt_depth - 1)]
        )
        n_couplings = 0 if self.text_only else self.prompt_depth
        self.couplings = nn.ModuleList(
            [nn.Linear(self.text_width, self.vision_width) for _ in range(n_couplings)]
        )
        if logit_scale == "clip":
            self._use_clip_scale = True
        else:
            self._use_clip_scale = False
            self.register_buffer("fixed_logit_scale", torch.tensor(float(logit_scale)))

    @property
    def clip(self) -> nn.Module:
        """The CLIP model (registered once, as ``text_encoder.clip``)."""
        return self.text_encoder.clip

    @property
    def ctx(self) -> nn.Parameter:
        """The shallow text context, shape (n_ctx, text_width)."""
        return self.text_encoder.ctx

    def vision_prompts(self) -> List[torch.Tensor]:
        """Vision prompts of layers ``0 .. prompt_depth-1``, each (n_ctx, vision_width);
        empty in text-only mode."""
        if self.text_only:
            return []
        text = [self.text_encoder.ctx[0]] + list(self.deep_text_prompts)
        return [lin(t) for lin, t in zip(self.couplings, text)]

    def encode_text(self) -> torch.Tensor:
        """Unnormalised class text features, shape (n_classes, embed_dim)."""
        return self.text_encoder(deep_prompts=list(self.deep_text_prompts))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised image features, (B, embed_dim): with the coupled vision prompts,
        or ``clip.encode_image`` in text-only mode."""
        if self.text_only:
            return self.clip.encode_image(images)
        return vit_forward_with_prompts(self.clip.visual, images, self.vision_prompts(), first_through_ln_pre=True)

    def forward(self, images: torch.Tensor):
        """Encode images and class prompts.

        Parameters
        ----------
        images : torch.Tensor of shape (B, 3, H, W)

        Returns
        -------
        image_features : torch.Tensor of shape (B, embed_dim)
        text_features : torch.Tensor of shape (n_classes, embed_dim)
            Both unnormalised.
        """
        return self.encode_image(images), self.encode_text()

    def get_logit_scale(self) -> torch.Tensor:
        """The logit scale: the fixed value, or CLIP's ``logit_scale.exp()``."""
        return self.clip.logit_scale.exp() if self._use_clip_scale else self.fixed_logit_scale

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``scale * cos(image, text)``, shape (B, n_classes)."""
        img, txt = self(images)
        img = nn.functional.normalize(img, dim=-1)
        txt = nn.functional.normalize(txt, dim=-1)
        return self.get_logit_scale() * img @ txt.t()
