"""Robust training losses."""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["gce_loss"]


def gce_loss(logits, targets, q=0.7, reduction="mean"):
    """Generalized cross-entropy ``(1 - p_y ** q) / q`` (Zhang & Sabuncu, 2018).

    ``q -> 0`` gives cross-entropy, ``q = 1`` the mean absolute error ``1 - p_y``.
    Computed from ``log_softmax`` in float32, so it stays finite for any logits.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, C)
    targets : torch.Tensor of shape (B,), long
    q : float in (0, 1], default=0.7
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    >>> round(float(gce_loss(logits, torch.tensor([0, 1]), q=1.0, reduction="sum")), 4)
    0.6192
    """
    log_p = F.log_softmax(logits.float(), dim=1).gather(1, targets[:, None].long())[:, 0]
    loss = -torch.expm1(q * log_p) / q  # 1 - p ** q without cancellation for small q
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}.")
