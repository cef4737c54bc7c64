"""TURN's modules: the linear probe on standardised features, and a training view that
keeps BatchNorm statistics frozen."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FrozenBatchNorm", "Probe"]


class Probe(nn.Module):
    """A linear head on standardised features (centred, divided by one global spread)."""

    def __init__(self, mean, scale, head):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self.linear = head

    def forward(self, features):
        return self.linear((features - self.mean) / self.scale)

    @torch.no_grad()
    def folded_into(self, head):
        """Write ``linear((z - mean) / scale)`` as one ``nn.Linear`` on raw features ``z``."""
        weight = self.linear.weight / self.scale
        head.weight.copy_(weight)
        head.bias.copy_(self.linear.bias - weight @ self.mean)


class FrozenBatchNorm(nn.Module):
    """Training view of a net whose BatchNorm layers stay in eval mode.

    The :class:`~skclip_noise.training.loop.Trainer` calls ``train()`` on this wrapper
    at the start of every epoch; BatchNorm layers then normalise with their running
    statistics (which stop changing) while their affine parameters still train.
    """

    def __init__(self, net):
        super().__init__()
        self.net = net

    def train(self, mode=True):
        super().train(mode)
        if mode:
            for module in self.net.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, images):
        return self.net(images)
