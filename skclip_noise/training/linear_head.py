"""A linear head on frozen features, standardised as every frozen route here reads them."""

from __future__ import annotations

import torch
from torch import nn

from .loop import evaluate, make_loader

__all__ = ["StandardizedLinear", "head_logits"]


class StandardizedLinear(nn.Module):
    """``linear((z - mean) / scale)``: features centred on the training mean and divided
    by one spread for all dimensions (per-dimension scaling would blow up near-constant
    dimensions on samples outside the training set).

    Parameters
    ----------
    mean, scale : Tensor of shape (n_features,)
        Buffers, saved with the state.
    linear : nn.Linear
    """

    def __init__(self, mean, scale, linear):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self.linear = linear

    @classmethod
    def fitted_to(cls, train, n_classes, linear=None):
        """A head standardised on the training features ``train`` (n, d); ``linear``
        (default: a new ``nn.Linear(d, n_classes)``) is its layer. Constant features (no
        spread at all) keep their unit; any spread, however small, is divided out."""
        spread = train.std(dim=0).mean() if len(train) > 1 else torch.zeros((), device=train.device)
        scale = (spread if spread > 0 else torch.ones_like(spread)).expand(train.shape[1]).clone()
        return cls(train.mean(dim=0), scale, nn.Linear(train.shape[1], n_classes) if linear is None else linear)

    @classmethod
    def empty(cls, n_features, n_classes):
        """A head of this shape to load a saved state into."""
        return cls(torch.zeros(n_features), torch.ones(n_features), nn.Linear(n_features, n_classes))

    def forward(self, features):
        return self.linear((features - self.mean) / self.scale)

    @torch.no_grad()
    def folded_into(self, head):
        """Write ``linear((z - mean) / scale)`` as one ``nn.Linear`` on raw features ``z``."""
        weight = self.linear.weight / self.scale
        head.weight.copy_(weight)
        head.bias.copy_(self.linear.bias - weight @ self.mean)


def head_logits(head, features, device, *, mixed_precision="auto"):
    """Logits of ``head`` for every row of ``features`` (a CPU tensor), in eval mode, in
    blocks; on the CPU."""
    loader = make_loader(torch.utils.data.TensorDataset(torch.as_tensor(features).float()), batch_size=4096)
    return evaluate(head, loader, lambda batch: head(batch[0]), device=device, mixed_precision=mixed_precision)
