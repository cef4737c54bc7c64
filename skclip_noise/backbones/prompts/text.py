"""CoOp text prompts on an open_clip text tower (:class:`PromptTextEncoder`).

The encoder re-runs the CLIP's text tower with learnable context tokens in place
of the token embeddings of a placeholder phrase. The rest of the tower runs as the
installed open_clip 3.x runs it (:mod:`~skclip_noise.backbones.prompts.text_towers`),
so that with the context set to the embeddings of real words it reproduces
``encode_text`` exactly.

Supported towers: open_clip's own ``TextTransformer`` (``CLIP``, or ``CustomTextCLIP``
under ``model.text``) and its Hugging Face ``HFTextEncoder`` (the context spliced after
the first special token into the encoder's word embeddings, run as ``inputs_embeds``
with the prompt's attention mask, then the tower's pooler and projection).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import torch
from torch import nn

from .peft import freeze_module
from .text_towers import text_tower

__all__ = ["PromptTextEncoder"]


# ---------------------------------------------------------------------------
# tokenisation helpers
# ---------------------------------------------------------------------------
def _resolve_tokenizer(tokenizer, clip_model):
    import open_clip

    if tokenizer is None:
        from open_clip.hf_model import HFTextEncoder

        if isinstance(getattr(clip_model, "text", None), HFTextEncoder):  # CLIP's BPE ids mean nothing to it
            raise ValueError(
                "This CLIP's text tower is a Hugging Face encoder with a tokenizer of its own: pass it, "
                "tokenizer=backbone.tokenizer (or open_clip.get_tokenizer(<model name>))."
            )
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

    Examples
    --------
    >>> from skclip_noise.backbones import load_backbone
    >>> backbone = load_backbone("open_clip:skclip-tiny", pretrained=None)
    >>> clip = backbone.trainable_copy()
    >>> encoder = PromptTextEncoder(clip, ["cat", "dog"], n_ctx=4, tokenizer=backbone.tokenizer)
    >>> tuple(encoder.ctx.shape), tuple(encoder().shape)  # (n_prompts, n_ctx, width), (classes, dim)
    ((1, 4, 64), (2, 48))
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
        tower = text_tower(clip_model)
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
        if L > tower.n_positions or (tower.needs_full_context and L != tower.n_positions):
            raise ValueError(
                f"The tokenizer makes sequences of length {L} but the text tower has "
                f"{tower.n_positions} positions; pass the model's tokenizer."
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

        ids = tower.trim(ids)
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

        self.embed_dim = tower.output_dim

    @property
    def token_embedding(self) -> nn.Embedding:
        """The CLIP's token embedding table (for either open_clip layout).

        The prompts hold fixed copies of its rows, taken at construction, so the
        table gets no gradient through this encoder.
        """
        return text_tower(self.clip).token_embedding

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
        tower = text_tower(self.clip)
        ctx_arg = ctx
        ctx = self.ctx if ctx is None else ctx
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0)
        P, K = ctx.shape[0], self.n_classes
        cast_dtype = tower.cast_dtype
        deep = list(deep_prompts) if deep_prompts is not None else []
        if len(deep) > self.n_layers - 1:
            raise ValueError(f"{len(deep)} deep prompts given but the text tower has {self.n_layers} layers "
                             f"(at most {self.n_layers - 1} deep prompts).")

        prefix = self.token_prefix.to(cast_dtype).unsqueeze(0).expand(P, -1, -1, -1)
        suffix = self.token_suffix.to(cast_dtype).unsqueeze(0).expand(P, -1, -1, -1)
        ctx_x = ctx.to(cast_dtype).unsqueeze(1).expand(-1, K, -1, -1)
        x = torch.cat([prefix, ctx_x, suffix], dim=2).reshape(P * K, -1, self.text_width)
        x = tower.encode(x, self.tokenized_prompts.repeat(P, 1), deep, self._start, self.n_ctx)
        x = x.reshape(P, K, -1)
        squeeze = (ctx_arg is None and self.n_prompts == 1) or (ctx_arg is not None and ctx_arg.dim() == 2)
        return x[0] if squeeze else x


