"""One residual block of an open_clip transformer, with optional gradient checkpointing."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["run_block"]


def run_block(blk: nn.Module, x: torch.Tensor, mask: Optional[torch.Tensor], ckpt: bool) -> torch.Tensor:
    """``blk(x, attn_mask=mask)``, checkpointed when ``ckpt`` and ``x`` needs gradients.

    The mask is passed by keyword: the positional arguments of open_clip's
    ``ResidualAttentionBlock`` are ``q, k, v``.
    """
    if ckpt and x.requires_grad:
        return checkpoint(lambda t: blk(t, attn_mask=mask), x, use_reentrant=False)
    return blk(x, attn_mask=mask)
