"""TURN's training view that keeps BatchNorm statistics frozen."""

from __future__ import annotations

from torch import nn

__all__ = ["FrozenBatchNorm"]


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
