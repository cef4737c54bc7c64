"""The text towers prompt learning runs through: open_clip's own and Hugging Face encoders.

:func:`text_tower` wraps the text side of an open_clip model in one of two adapters
with the same small interface (token table, width, layers, dtype, and ``encode``, which
runs prompt embeddings through the rest of the tower exactly as its own forward does):

- :class:`OpenClipTextTower`: open_clip's ``TextTransformer``, on ``CLIP`` itself or
  under ``CustomTextCLIP.text``: ``+ positional_embedding``, the residual blocks with the
  tower's attention mask, ``ln_final``, ``text_global_pool`` with the tower's pool type,
  ``text_projection``.
- :class:`HFTextTower`: open_clip's ``HFTextEncoder`` (a Hugging Face encoder: BERT,
  RoBERTa, XLM-R, MT5, ...): the prompt embeddings go in as ``inputs_embeds`` with the
  attention mask of the tokenised prompt (``ids != pad_token_id``, as the tower's forward
  builds it), then the tower's own pooler and projection.

Neither holds state of its own: both read the model they wrap on every call.
"""

from __future__ import annotations

import contextlib
from typing import Optional, Sequence

import torch
from torch import nn

from ._blocks import run_block

__all__ = ["text_tower", "OpenClipTextTower", "HFTextTower"]


def text_tower(clip_model: nn.Module):
    """The prompt-learning adapter for ``clip_model``'s text tower.

    Raises
    ------
    ValueError
        The model has no text tower this package can prompt (e.g. CoCa's class
        embedding), naming what it found.

    Examples
    --------
    >>> from skclip_noise.backbones import load_backbone
    >>> tower = text_tower(load_backbone("open_clip:skclip-tiny").model)
    >>> type(tower).__name__, tower.width, tower.n_layers
    ('OpenClipTextTower', 64, 2)
    """
    from open_clip.hf_model import HFTextEncoder
    from open_clip.transformer import TextTransformer

    text = getattr(clip_model, "text", None)
    if text is None:
        if not hasattr(clip_model, "token_embedding"):
            raise ValueError(f"{type(clip_model).__name__} is not an open_clip CLIP model with a text tower.")
        return OpenClipTextTower(clip_model, custom=False)
    if isinstance(text, HFTextEncoder):
        return HFTextTower(clip_model)
    if isinstance(text, TextTransformer):
        if text.cls_emb is not None:
            raise ValueError("Prompt learning does not support text towers with a class embedding (CoCa).")
        return OpenClipTextTower(clip_model, custom=True)
    raise ValueError(
        f"Prompt learning needs open_clip's TextTransformer or HFTextEncoder text tower; got {type(text).__name__}."
    )


class OpenClipTextTower:
    """open_clip's own ``TextTransformer`` (on ``CLIP``, or ``CustomTextCLIP.text``)."""

    def __init__(self, clip_model: nn.Module, *, custom: bool):
        self.model = clip_model
        self.custom = custom

    @property
    def src(self):
        return self.model.text if self.custom else self.model

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.src.token_embedding

    @property
    def width(self) -> int:
        return self.token_embedding.weight.shape[1]

    @property
    def n_layers(self) -> int:
        return len(self.src.transformer.resblocks)

    @property
    def n_positions(self) -> int:
        return self.src.positional_embedding.shape[0]

    #: open_clip's tower always runs the whole context (its positional table's length).
    needs_full_context = True

    @property
    def cast_dtype(self) -> torch.dtype:
        return self.src.transformer.get_cast_dtype()

    @property
    def output_dim(self) -> int:
        proj = self.src.text_projection
        if proj is None:
            return self.width
        return proj.out_features if isinstance(proj, nn.Linear) else proj.shape[1]

    @property
    def _pool_type(self) -> str:
        return self.model.text.pool_type if self.custom else self.model.text_pool_type

    @property
    def _eos_id(self):
        return getattr(self.model.text, "eos_id", None) if self.custom else getattr(self.model, "text_eos_id", None)

    def trim(self, ids: torch.Tensor) -> torch.Tensor:
        """Drop the positions that never reach a pooled feature.

        With a causal mask and pooling at the end-of-text token, the tokens after the
        longest prompt's EOT change nothing: dropping them gives the same features for
        a fraction of the cost (each step encodes every class prompt).
        """
        src = self.src
        causal = src.attn_mask is not None and not (self.custom and src.use_pad_mask)
        pool, eos = self._pool_type, self._eos_id
        if not (causal and (pool == "argmax" or (pool == "eos" and eos is not None))):
            return ids
        eot = ids.argmax(dim=1) if pool == "argmax" else (ids == eos).int().argmax(dim=1)
        return ids[:, : int(eot.max()) + 1]

    def _attn_mask(self, ids: torch.Tensor, dtype: torch.dtype) -> Optional[torch.Tensor]:
        """The attention mask exactly as the tower's own forward builds it."""
        src = self.src
        mask = src.attn_mask
        if self.custom and src.use_pad_mask:
            add = src._build_additive_mask(ids, ids.shape[1], dtype)
            mask = add if mask is None else mask[: ids.shape[1], : ids.shape[1]].unsqueeze(0) + add
        return mask

    def encode(self, x: torch.Tensor, ids: torch.Tensor, deep: Sequence[torch.Tensor], start: int, n_ctx: int):
        """Features of prompt embeddings ``x`` (B, L, width) tokenised as ``ids``; ``deep[i]``
        replaces the context positions at the input of layer ``i + 1`` (MaPLe)."""
        from open_clip.transformer import text_global_pool

        src = self.src
        n_tokens = ids.shape[1]
        x = x + src.positional_embedding[:n_tokens].to(x.dtype)
        mask = self._attn_mask(ids, x.dtype)
        if mask is not None and mask.shape[-1] != n_tokens:
            mask = mask[..., :n_tokens, :n_tokens]
        transformer = src.transformer
        ckpt = getattr(transformer, "grad_checkpointing", False) and not torch.jit.is_scripting()
        batch_first = getattr(transformer, "batch_first", True)
        for i, blk in enumerate(transformer.resblocks):
            if 1 <= i <= len(deep):
                x = _splice(x, deep[i - 1], start, n_ctx)
            if not batch_first:
                x = x.transpose(0, 1)
            x = run_block(blk, x, mask, ckpt)
            if not batch_first:
                x = x.transpose(0, 1)
        x = src.ln_final(x)
        x = text_global_pool(x, ids, self._pool_type, eos_token_id=self._eos_id)
        proj = src.text_projection
        if proj is not None:
            x = proj(x) if isinstance(proj, nn.Linear) else x @ proj
        return x


class HFTextTower:
    """open_clip's ``HFTextEncoder``: a Hugging Face encoder, its pooler and projection.

    Deep prompts (MaPLe) replace the context positions at the input of encoder layer
    ``i + 1`` through a forward pre-hook; they need the ``encoder.layer`` list of the
    BERT family (BERT, RoBERTa, XLM-R, MiniLM). Other encoders take shallow prompts
    only, and say so.
    """

    def __init__(self, clip_model: nn.Module):
        self.model = clip_model

    @property
    def src(self):
        return self.model.text

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.src.transformer.get_input_embeddings()

    @property
    def width(self) -> int:
        return self.token_embedding.weight.shape[1]

    @property
    def _layers(self):
        encoder = getattr(self.src.transformer, "encoder", None)
        return getattr(encoder, "layer", None)

    @property
    def n_layers(self) -> int:
        layers = self._layers
        if layers is not None:
            return len(layers)
        return int(getattr(self.src.config, "num_hidden_layers", 0) or getattr(self.src.config, "num_layers", 0))

    @property
    def n_positions(self) -> int:
        return int(getattr(self.src.config, "max_position_embeddings", 0) or 10**9)

    #: Padding is masked out: the tokenised prompt may be shorter than the positions.
    needs_full_context = False

    @property
    def cast_dtype(self) -> torch.dtype:
        return self.token_embedding.weight.dtype

    @property
    def output_dim(self) -> int:
        return int(self.src.output_dim)

    def trim(self, ids: torch.Tensor) -> torch.Tensor:
        # Kept whole: encode_text runs the padded context, and exact equality with it
        # (the reduction order included) is worth a few masked positions.
        return ids

    def encode(self, x: torch.Tensor, ids: torch.Tensor, deep: Sequence[torch.Tensor], start: int, n_ctx: int):
        """Features of prompt embeddings ``x`` (B, L, width) tokenised as ``ids``."""
        src = self.src
        attention_mask = (ids != src.config.pad_token_id).long()
        with self._deep_prompts(deep, start, n_ctx):
            out = src.transformer(inputs_embeds=x, attention_mask=attention_mask)
        return src.proj(src.pooler(out, attention_mask))

    @contextlib.contextmanager
    def _deep_prompts(self, deep, start, n_ctx):
        if not deep:
            yield
            return
        layers = self._layers
        if layers is None:
            raise ValueError(
                f"Deep text prompts need the encoder.layer list of a BERT-family encoder; "
                f"{type(self.src.transformer).__name__} has none. Use prompt_depth=1 (shallow prompts)."
            )

        def hook_for(prompt):
            def replace(module, args, kwargs):
                if args:
                    return (_splice(args[0], prompt, start, n_ctx), *args[1:]), kwargs
                kwargs["hidden_states"] = _splice(kwargs["hidden_states"], prompt, start, n_ctx)
                return args, kwargs

            return replace

        handles = [layers[i + 1].register_forward_pre_hook(hook_for(p), with_kwargs=True) for i, p in enumerate(deep)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def _splice(x: torch.Tensor, prompt: torch.Tensor, start: int, n_ctx: int) -> torch.Tensor:
    """``x`` with positions ``start .. start + n_ctx`` replaced by ``prompt`` (one per row or shared)."""
    prompt = prompt.to(x.dtype)
    prompt = prompt.unsqueeze(0).expand(x.shape[0], -1, -1) if prompt.dim() == 2 else prompt
    return torch.cat([x[:, :start], prompt, x[:, start + n_ctx:]], dim=1)
