"""Prompt learning on open_clip models: CoOp text context, VPT-deep, MaPLe.

The modules here take an ``open_clip`` model object (``open_clip.model.CLIP`` or
``open_clip.model.CustomTextCLIP``) and re-run its towers with learnable prompt
tokens injected. The forward paths follow the installed open_clip 3.x code step
by step, so that with empty prompts they reproduce ``encode_text`` and
``encode_image`` exactly:

* text: token embeddings (context positions replaced), ``+ positional_embedding``,
  the residual blocks called as ``blk(x, attn_mask=mask)``, ``ln_final``,
  ``open_clip.transformer.text_global_pool`` at the EOT position of the
  tokenised prompt (with the tower's pool type), then ``text_projection``;
* image: ``visual._embeds(images)`` (patchify, class token, positional
  embedding, patch dropout, ``ln_pre``), the residual blocks with prompt tokens
  appended after the image tokens, the prompt tokens stripped, then
  ``visual._pool(x)`` (which applies ``ln_post`` before or after pooling as the
  tower is configured) and ``@ visual.proj``.

Contents
--------
PromptTextEncoder
    CoOp-style learnable context shared by all classes (DEFT phase 1 uses two
    of them, positive and negative: ``n_prompts=2``).
VisualPromptEncoder
    VPT-deep for open_clip ``VisionTransformer`` image towers.
CoupledPromptLearner
    MaPLe coupled vision-language deep prompts (AVL-Prompter's model).
freeze_module, trainable_parameters, bitfit_parameters, apply_bitfit
    Small helpers for parameter-efficient fine-tuning.

Build these modules *after* loading pretrained weights into the CLIP model: the
fixed token embeddings of the prompts are copied from the model at construction.
"""

from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence, Union

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

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
]

_NON_VIT_ALTERNATIVES = (
    "use peft='bitfit' (train only the bias terms of the image tower, see "
    "skclip_noise.backbones.prompts.bitfit_parameters) or peft='none' "
    "(keep the image tower frozen)"
)


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
def freeze_module(module: nn.Module) -> nn.Module:
    """Set ``requires_grad=False`` on every parameter of a module.

    Parameters
    ----------
    module : torch.nn.Module
        Module to freeze, in place.

    Returns
    -------
    torch.nn.Module
        The same module.
    """
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def trainable_parameters(module: nn.Module) -> List[nn.Parameter]:
    """Return the parameters of a module that require gradients.

    Parameters
    ----------
    module : torch.nn.Module
        Module to inspect. Shared parameters are listed once.

    Returns
    -------
    list of torch.nn.Parameter
    """
    return [p for p in module.parameters() if p.requires_grad]


def bitfit_parameters(module: nn.Module) -> List[nn.Parameter]:
    """Return the bias parameters of a module (BitFit).

    BitFit fine-tunes only the bias terms; it works for any image tower
    (ViT, ResNet, timm trunks), unlike VPT which needs a ViT.

    Parameters
    ----------
    module : torch.nn.Module
        Module to inspect, e.g. ``clip_model.visual``.

    Returns
    -------
    list of torch.nn.Parameter
        Every parameter whose name ends in ``"bias"`` (linear, convolution,
        normalisation layers and attention ``in_proj_bias``), listed once.
    """
    return [p for n, p in module.named_parameters() if n.split(".")[-1].endswith("bias")]


def apply_bitfit(module: nn.Module) -> List[nn.Parameter]:
    """Freeze a module except for its bias terms (BitFit), in place.

    Parameters
    ----------
    module : torch.nn.Module
        Module to modify, e.g. ``clip_model.visual``.

    Returns
    -------
    list of torch.nn.Parameter
        The bias parameters, now the only ones with ``requires_grad=True``.

    Raises
    ------
    ValueError
        If the module has no bias parameter.
    """
    freeze_module(module)
    params = bitfit_parameters(module)
    if not params:
        raise ValueError(f"{type(module).__name__} has no bias parameters; BitFit does not apply.")
    for p in params:
        p.requires_grad_(True)
    return params


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
        If the image tower is not an open_clip ``VisionTransformer`` (e.g. a
        timm trunk or a ModifiedResNet).
    """
    from open_clip.transformer import VisionTransformer

    visual = getattr(clip_model, "visual", clip_model)
    if not isinstance(visual, VisionTransformer):
        raise ValueError(
            f"{what} needs a ViT image tower (open_clip VisionTransformer), but this "
            f"model's image tower is {type(visual).__name__}. For such towers "
            f"{_NON_VIT_ALTERNATIVES}."
        )
    return visual


def _run_block(blk: nn.Module, x: torch.Tensor, mask: Optional[torch.Tensor], ckpt: bool) -> torch.Tensor:
    # keyword call: the positional arguments of ResidualAttentionBlock are q, k, v
    if ckpt and x.requires_grad:
        return checkpoint(lambda t: blk(t, attn_mask=mask), x, use_reentrant=False)
    return blk(x, attn_mask=mask)


# ---------------------------------------------------------------------------
# text tower access (both open_clip layouts)
# ---------------------------------------------------------------------------
class _TextTower:
    """Uniform view of the text tower of ``CLIP`` (on the model) and
    ``CustomTextCLIP`` (under ``model.text``). Holds no state of its own."""

    def __init__(self, clip_model: nn.Module):
        from open_clip.transformer import TextTransformer

        text = getattr(clip_model, "text", None)
        if text is not None:
            if not isinstance(text, TextTransformer):
                raise ValueError(
                    f"Prompt learning needs open_clip's own TextTransformer text tower; "
                    f"got {type(text).__name__} (e.g. a Hugging Face text encoder)."
                )
            if text.cls_emb is not None:
                raise ValueError("Prompt learning does not support text towers with a class embedding (CoCa).")
            self.custom = True
        else:
            if not hasattr(clip_model, "token_embedding"):
                raise ValueError(f"{type(clip_model).__name__} is not an open_clip CLIP model with a text tower.")
            self.custom = False
        self.model = clip_model

    @property
    def src(self):
        return self.model.text if self.custom else self.model

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.src.token_embedding

    @property
    def positional_embedding(self) -> torch.Tensor:
        return self.src.positional_embedding

    @property
    def transformer(self):
        return self.src.transformer

    @property
    def ln_final(self):
        return self.src.ln_final

    @property
    def text_projection(self):
        return self.src.text_projection

    @property
    def pool_type(self) -> str:
        return self.model.text.pool_type if self.custom else self.model.text_pool_type

    @property
    def eos_id(self):
        return getattr(self.model.text, "eos_id", None) if self.custom else getattr(self.model, "text_eos_id", None)

    @property
    def width(self) -> int:
        return self.token_embedding.weight.shape[1]

    @property
    def context_length(self) -> int:
        return self.model.context_length

    @property
    def n_layers(self) -> int:
        return len(self.transformer.resblocks)

    @property
    def is_causal_eot_pooled(self) -> bool:
        """Whether only the tokens up to the pooled end-of-text token matter."""
        causal = self.src.attn_mask is not None and not (self.custom and self.src.use_pad_mask)
        pooled_at_eot = self.pool_type == "argmax" or (self.pool_type == "eos" and self.eos_id is not None)
        return causal and pooled_at_eot

    def attn_mask(self, ids: torch.Tensor, dtype: torch.dtype) -> Optional[torch.Tensor]:
        """Attention mask exactly as the tower's own forward builds it."""
        mask = self.src.attn_mask
        if self.custom and self.src.use_pad_mask:
            add = self.src._build_additive_mask(ids, ids.shape[1], dtype)
            mask = add if mask is None else mask[: ids.shape[1], : ids.shape[1]].unsqueeze(0) + add
        return mask


# ---------------------------------------------------------------------------
# tokenisation helpers
# ---------------------------------------------------------------------------
def _resolve_tokenizer(tokenizer, clip_model):
    import open_clip

    if tokenizer is None:
        # CLIP BPE, right for OpenAI / LAION CLIP models; pass the model's own
        # tokenizer (open_clip.get_tokenizer(name)) for anything else.
        return open_clip.tokenizer.SimpleTokenizer(context_length=clip_model.context_length)
    if isinstance(tokenizer, str):
        return open_clip.get_tokenizer(tokenizer)
    return tokenizer


def _tok(tokenizer, texts: Sequence[str]) -> torch.Tensor:
    ids = tokenizer(list(texts))
    return torch.as_tensor(ids).long()


def _n_tokens(tokenizer, phrase: str, empty: torch.Tensor, start: int) -> int:
    """Number of tokens the tokenizer makes of ``phrase`` (special tokens excluded)."""
    ids = _tok(tokenizer, [phrase])[0]
    length = ids.shape[0]
    for n in range(length - start):
        if torch.equal(ids[start + n:], empty[start:length - n]) and torch.equal(ids[:start], empty[:start]):
            return n
    raise ValueError(f"Could not count the tokens of {phrase!r}: the phrase may exceed the context length.")


def _layout(tokenizer, placeholder: str):
    """Return (empty-string ids, start index of the first content token, placeholder id)."""
    empty = _tok(tokenizer, [""])[0]
    one = _tok(tokenizer, [placeholder])[0]
    diff = (one != empty).nonzero()
    if len(diff) == 0:
        raise ValueError(f"The placeholder {placeholder!r} tokenises to nothing.")
    start = int(diff[0])
    if _n_tokens(tokenizer, placeholder, empty, start) != 1:
        raise ValueError(
            f"The context placeholder {placeholder!r} is not a single token for this tokenizer; "
            f"choose another placeholder (e.g. 'X')."
        )
    return empty, start, int(one[start])


# ---------------------------------------------------------------------------
# CoOp text prompts
# ---------------------------------------------------------------------------
class PromptTextEncoder(nn.Module):
    """CoOp-style class prompts with a learnable context shared by all classes.

    Prompt ``k`` is ``[SOS] ctx_1 .. ctx_M classname_k . [EOS]``: the tokenised
    string ``"X X .. X {classname}."`` with the token embeddings at the ``M``
    placeholder positions replaced by the learnable context. The SOS and suffix
    embeddings are fixed, non-persistent buffers; the sequence keeps the
    model's context length and is pooled at the EOT position of the tokenised
    prompt. Every forward encodes all prompts (nothing depending on the context
    is cached).

    Parameters
    ----------
    clip_model : open_clip.model.CLIP or open_clip.model.CustomTextCLIP
        The CLIP model, registered as the submodule ``clip`` (not copied).
    class_names : sequence of str
        Class names; underscores are replaced by spaces.
    n_ctx : int or None, default=None
        Number of learnable context tokens. ``None`` means 16 without
        ``ctx_init`` (CoOp / DEFT) and the token count of ``ctx_init`` with it.
        With ``ctx_init`` and a smaller ``n_ctx``, only the first ``n_ctx``
        tokens of the phrase are learnable and the rest stay fixed in the
        prompt (MaPLe: ``n_ctx=2, ctx_init="a photo of a"``).
    ctx_init : str or None, default=None
        Initialise the context from the token embeddings of this phrase
        (e.g. ``"a photo of a"``); the prompt becomes ``"{ctx_init} {class}."``.
        ``None`` draws the context from N(0, ``ctx_std``).
    n_prompts : int, default=1
        Number of independent contexts (DEFT: 2, positive and negative). They
        share the fixed buffers and are encoded in one batched pass.
    ctx_std : float, default=0.02
        Standard deviation of the random context initialisation.
    tokenizer : callable, str or None, default=None
        The model's tokenizer, or a model name for ``open_clip.get_tokenizer``.
        ``None`` uses the CLIP BPE tokenizer (``SimpleTokenizer``).
    placeholder : str, default="X"
        Placeholder word for the context; must be one token.
    freeze_clip : bool, default=True
        Set ``requires_grad=False`` on all CLIP parameters (in place).

    Attributes
    ----------
    ctx : torch.nn.Parameter of shape (n_prompts, n_ctx, text_width)
        The learnable context.
    tokenized_prompts : torch.Tensor of shape (n_classes, context_length)
        Token ids of the prompts (used for EOT pooling).
    n_ctx, n_layers, text_width, embed_dim : int
    """

    def __init__(
        self,
        clip_model: nn.Module,
        class_names: Sequence[str],
        n_ctx: Optional[int] = None,
        ctx_init: Optional[str] = None,
        n_prompts: int = 1,
        ctx_std: float = 0.02,
        tokenizer: Union[Callable, str, None] = None,
        placeholder: str = "X",
        freeze_clip: bool = True,
    ):
        super().__init__()
        if len(class_names) == 0:
            raise ValueError("class_names is empty.")
        if n_prompts < 1:
            raise ValueError(f"n_prompts must be >= 1, got {n_prompts}.")
        tower = _TextTower(clip_model)
        tokenizer = _resolve_tokenizer(tokenizer, clip_model)
        self.class_names = [str(c).replace("_", " ") for c in class_names]
        self.n_prompts = int(n_prompts)
        self.text_width = tower.width
        self.n_layers = tower.n_layers

        empty, start, placeholder_id = _layout(tokenizer, placeholder)
        if ctx_init is not None:
            ctx_init = ctx_init.replace("_", " ").strip()
            n_phrase = _n_tokens(tokenizer, ctx_init, empty, start)
            if n_ctx is None:
                n_ctx = n_phrase
            if not 1 <= n_ctx <= n_phrase:
                raise ValueError(
                    f"n_ctx={n_ctx} but ctx_init {ctx_init!r} has {n_phrase} tokens; "
                    f"n_ctx must be between 1 and {n_phrase}."
                )
            prefix_text = ctx_init
        else:
            n_ctx = 16 if n_ctx is None else int(n_ctx)
            if n_ctx < 1:
                raise ValueError(f"n_ctx must be >= 1, got {n_ctx}.")
            prefix_text = " ".join([placeholder] * n_ctx)
        self.n_ctx = int(n_ctx)
        self._start = start

        prompts = [f"{prefix_text} {name}." for name in self.class_names]
        ids = _tok(tokenizer, prompts)
        L = ids.shape[1]
        if L != tower.positional_embedding.shape[0]:
            raise ValueError(
                f"The tokenizer makes sequences of length {L} but the text tower has "
                f"{tower.positional_embedding.shape[0]} positions; pass the model's tokenizer."
            )
        if start + self.n_ctx >= L:
            raise ValueError(f"n_ctx={self.n_ctx} does not fit in the context length {L}.")
        if ctx_init is None:
            bad = [p for p, row in zip(prompts, ids) if not bool((row[start:start + self.n_ctx] == placeholder_id).all())]
            if bad:
                raise ValueError(f"The context placeholders were not tokenised one token each in {bad[0]!r}.")
        # a prompt that fills the whole context was probably truncated (EOT lost or moved)
        full = [p for p, row in zip(prompts, ids) if row[-1] != empty[-1]]
        if full:
            raise ValueError(f"The prompt {full[0]!r} fills the whole context length {L} and would be truncated.")

        # With a causal mask and pooling at the end-of-text token, the tokens after the
        # longest prompt's EOT never reach a pooled feature: dropping them gives the same
        # features for a fraction of the cost (each step encodes every class prompt).
        if tower.is_causal_eot_pooled:
            eot = ids.argmax(dim=1) if tower.pool_type == "argmax" else (ids == tower.eos_id).int().argmax(dim=1)
            ids = ids[:, : int(eot.max()) + 1]
        with torch.no_grad():
            emb = tower.token_embedding(ids.to(tower.token_embedding.weight.device)).detach().float()
        self.register_buffer("tokenized_prompts", ids, persistent=False)
        self.register_buffer("token_prefix", emb[:, :start].clone(), persistent=False)
        self.register_buffer("token_suffix", emb[:, start + self.n_ctx:].clone(), persistent=False)

        if ctx_init is not None:
            init = emb[0, start:start + self.n_ctx].clone()
            ctx = init.unsqueeze(0).repeat(self.n_prompts, 1, 1)
        else:
            ctx = torch.empty(self.n_prompts, self.n_ctx, self.text_width)
            nn.init.normal_(ctx, std=ctx_std)
        self.ctx = nn.Parameter(ctx)
        self.clip = clip_model
        if freeze_clip:
            freeze_module(clip_model)

        proj = tower.text_projection
        if proj is None:
            self.embed_dim = self.text_width
        elif isinstance(proj, nn.Linear):
            self.embed_dim = proj.out_features
        else:
            self.embed_dim = proj.shape[1]

    @property
    def n_classes(self) -> int:
        """Number of classes (prompts per context)."""
        return len(self.class_names)

    def forward(self, deep_prompts: Optional[Sequence[torch.Tensor]] = None, ctx: Optional[torch.Tensor] = None):
        """Encode the class prompts.

        Parameters
        ----------
        deep_prompts : sequence of torch.Tensor or None, default=None
            MaPLe deep text prompts: ``deep_prompts[i]`` of shape
            ``(n_ctx, text_width)`` replaces the context positions of the
            input of layer ``i + 1``. At most ``n_layers - 1`` entries.
        ctx : torch.Tensor or None, default=None
            Context to use instead of ``self.ctx``: shape ``(n_ctx, width)``
            or ``(P, n_ctx, width)``.

        Returns
        -------
        torch.Tensor
            Unnormalised text features, shape ``(n_classes, embed_dim)`` for a
            single context, ``(P, n_classes, embed_dim)`` for ``P > 1``.
        """
        tower = _TextTower(self.clip)
        ctx_arg = ctx
        ctx = self.ctx if ctx is None else ctx
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0)
        P, K = ctx.shape[0], self.n_classes
        cast_dtype = tower.transformer.get_cast_dtype()
        deep = list(deep_prompts) if deep_prompts is not None else []
        if len(deep) > self.n_layers - 1:
            raise ValueError(f"{len(deep)} deep prompts given but the text tower has {self.n_layers} layers "
                             f"(at most {self.n_layers - 1} deep prompts).")

        s, m = self._start, self.n_ctx
        prefix = self.token_prefix.to(cast_dtype).unsqueeze(0).expand(P, -1, -1, -1)
        suffix = self.token_suffix.to(cast_dtype).unsqueeze(0).expand(P, -1, -1, -1)
        ctx_x = ctx.to(cast_dtype).unsqueeze(1).expand(-1, K, -1, -1)
        x = torch.cat([prefix, ctx_x, suffix], dim=2).reshape(P * K, -1, self.text_width)
        ids = self.tokenized_prompts.repeat(P, 1)

        n_tokens = ids.shape[1]
        x = x + tower.positional_embedding[:n_tokens].to(cast_dtype)
        mask = tower.attn_mask(ids, x.dtype)
        if mask is not None and mask.shape[-1] != n_tokens:
            mask = mask[..., :n_tokens, :n_tokens]
        transformer = tower.transformer
        ckpt = getattr(transformer, "grad_checkpointing", False) and not torch.jit.is_scripting()
        batch_first = getattr(transformer, "batch_first", True)
        for i, blk in enumerate(transformer.resblocks):
            if 1 <= i <= len(deep):
                d = deep[i - 1].to(cast_dtype)
                d = d.unsqueeze(0).expand(x.shape[0], -1, -1) if d.dim() == 2 else d
                x = torch.cat([x[:, :s], d, x[:, s + m:]], dim=1)
            if not batch_first:
                x = x.transpose(0, 1)
            x = _run_block(blk, x, mask, ckpt)
            if not batch_first:
                x = x.transpose(0, 1)

        from open_clip.transformer import text_global_pool

        x = tower.ln_final(x)
        x = text_global_pool(x, ids, tower.pool_type, eos_token_id=tower.eos_id)
        proj = tower.text_projection
        if proj is not None:
            x = proj(x) if isinstance(proj, nn.Linear) else x @ proj
        x = x.reshape(P, K, -1)
        squeeze = (ctx_arg is None and self.n_prompts == 1) or (ctx_arg is not None and ctx_arg.dim() == 2)
        return x[0] if squeeze else x


# ---------------------------------------------------------------------------
# ViT forward with prompt tokens
# ---------------------------------------------------------------------------
def vit_forward_with_prompts(
    visual: nn.Module,
    images: torch.Tensor,
    layer_prompts: Sequence[Optional[torch.Tensor]] = (),
    first_through_ln_pre: bool = False,
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

    Returns
    -------
    torch.Tensor of shape (B, output_dim)
        Unnormalised image features.
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
        x = _run_block(blk, x, None, ckpt)
        if not batch_first:
            x = x.transpose(0, 1)
    x = x[:, :N]
    pooled, _ = visual._pool(x)
    if visual.proj is not None:
        pooled = pooled @ visual.proj
    return pooled


def init_visual_prompts(visual: nn.Module, depth: int, n_vpt: int) -> torch.Tensor:
    """VPT's initial prompts for a ViT tower: ``(depth, n_vpt, width)`` float32, uniform on
    ``+-sqrt(6 / (3 * p_h * p_w + width))`` (``p`` the patch size), drawn from torch's RNG."""
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
        If the image tower is not a ViT (use BitFit or no PEFT instead).
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


# ---------------------------------------------------------------------------
# MaPLe
# ---------------------------------------------------------------------------
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

    Parameters
    ----------
    clip_model : open_clip.model.CLIP or open_clip.model.CustomTextCLIP
        Model with a ViT image tower; registered once, as
        ``text_encoder.clip`` (also reachable as ``self.clip``).
    class_names : sequence of str
    n_ctx : int, default=2
    prompt_depth : int, default=9
        Number of prompted layers (1 = shallow prompts only). Must not exceed
        the layers of either tower.
    ctx_init : str or None, default="a photo of a"
        ``None`` initialises the context from N(0, 0.02) with placeholders.
    tokenizer : callable, str or None, default=None
        See :class:`PromptTextEncoder`.
    logit_scale : float or "clip", default=100.0
        Fixed logit scale (a non-trainable buffer), or ``"clip"`` for the
        model's ``logit_scale.exp()``.
    freeze_clip : bool, default=True
        Freeze all CLIP parameters (MaPLe). ``False`` leaves their
        ``requires_grad`` as it is (AVL-Prompter fine-tunes both encoders).
    deep_std : float, default=0.02
        Standard deviation of the deep text prompt initialisation.

    Raises
    ------
    ValueError
        If the image tower is not a ViT, or ``prompt_depth`` exceeds the layers.
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
    ):
        super().__init__()
        visual = require_vit(clip_model, "MaPLe")
        text_layers = _TextTower(clip_model).n_layers
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
        self.vision_width = visual.class_embedding.shape[-1]
        self.deep_text_prompts = nn.ParameterList(
            [nn.Parameter(torch.empty(self.n_ctx, self.text_width).normal_(std=deep_std))
             for _ in range(self.prompt_depth - 1)]
        )
        self.couplings = nn.ModuleList(
            [nn.Linear(self.text_width, self.vision_width) for _ in range(self.prompt_depth)]
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
        """Vision prompts of layers ``0 .. prompt_depth-1``, each (n_ctx, vision_width)."""
        text = [self.text_encoder.ctx[0]] + list(self.deep_text_prompts)
        return [lin(t) for lin, t in zip(self.couplings, text)]

    def encode_text(self) -> torch.Tensor:
        """Unnormalised class text features, shape (n_classes, embed_dim)."""
        return self.text_encoder(deep_prompts=list(self.deep_text_prompts))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised image features with the coupled vision prompts, (B, embed_dim)."""
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
