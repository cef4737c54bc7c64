"""Prediction for classifiers that keep one trained network on a backbone."""

from __future__ import annotations

import torch

from ..backbones.loading import check_weights_unchanged, load_backbone
from ..training.device import fitted_device
from ..training.loop import load_trainable_state

__all__ = ["FittedNetMixin"]


class FittedNetMixin:
    """``_restore_model`` and ``_predict_proba`` of a classifier whose fit leaves
    ``net_state_`` (the trained network's state), ``_net_backbone`` (the backbone's spec
    and weights) and ``device_``, and which builds its network with
    ``_net(backbone, n_classes)`` and runs it with ``_logits(net, backbone, X, device)``.
    The network's backbone may be another estimator's (DEFT's detector's): its weights
    file must be the one of fit (``_net_weights_key``)."""

    def _restore_model(self):
        check_weights_unchanged(self._net_backbone[1], getattr(self, "_net_weights_key", None), type(self).__name__)
        device = fitted_device(self.device_)
        backbone = load_backbone(*self._net_backbone, device=device)
        with torch.random.fork_rng(devices=[]):
            net = self._net(backbone, len(self.classes_))
        load_trainable_state(net, self.net_state_)
        return net.to(device), backbone, device

    def _predict_proba(self, X_checked):
        net, backbone, device = self._fitted_model()
        return self._logits(net, backbone, X_checked, device).softmax(dim=1).numpy()
