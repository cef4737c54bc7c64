"""Prediction for classifiers that keep one trained network on a backbone (or, with
``tuning="frozen"``, a linear head on its embeddings)."""

from __future__ import annotations

import torch

from ..backbones.loading import check_weights_unchanged, load_backbone
from ..base.classifier import _FINITE_CHECK_SAMPLES
from ..training.device import fitted_device
from ..training.linear_head import StandardizedLinear, head_logits
from ..training.loop import load_trainable_state

__all__ = ["FittedNetMixin"]


class FittedNetMixin:
    """``_restore_model`` and ``_predict_proba`` of a classifier whose fit leaves
    ``net_state_`` (the trained network's state), ``_net_backbone`` (the backbone's spec
    and weights) and ``device_``, and which builds its network with
    ``_net(backbone, n_classes)`` and runs it with ``_logits(net, backbone, X, device)``.
    The network's backbone may be another estimator's (DEFT's detector's): its weights
    file must be the one of fit (``_net_weights_key``). With ``tuning="frozen"`` the state is
    a :class:`~skclip_noise.training.linear_head.StandardizedLinear` on the embeddings, and
    ``_logits`` gets it as ``net`` (``backbone`` None)."""

    def _restore_model(self):
        if self.tuning == "frozen":
            with torch.random.fork_rng(devices=[]):  # the layer's initialisation, overwritten by the state
                head = StandardizedLinear.empty(self.net_state_["mean"].shape[0], len(self.classes_))
            load_trainable_state(head, self.net_state_)
            device = fitted_device(self.device_)
            return head.to(device), None, device
        check_weights_unchanged(self._net_backbone[1], getattr(self, "_net_weights_key", None), type(self).__name__)
        device = fitted_device(self.device_)
        backbone = load_backbone(*self._net_backbone, device=device)
        with torch.random.fork_rng(devices=[]):
            net = self._net(backbone, len(self.classes_))
        load_trainable_state(net, self.net_state_)
        return net.to(device), backbone, device

    def _check_head_finite(self, head, features, device):
        """fit's check of a diverged last step (``_check_outputs_finite``) with
        ``tuning="frozen"``: the head on a few training embeddings at hand, so the tower
        does not run again."""
        if len(features):
            logits = head_logits(head, features[:_FINITE_CHECK_SAMPLES], device, mixed_precision=self.mixed_precision)
            self._finite(logits.softmax(dim=1).numpy())

    def _embedding_width(self):
        if self.tuning == "frozen":  # the head's input: no backbone to load
            return self.net_state_["mean"].shape[0]
        return super()._embedding_width()

    def _check_outputs_finite(self, X, n_samples):
        if self.tuning != "frozen":  # frozen: _check_head_finite, during fit
            super()._check_outputs_finite(X, n_samples)

    def _predict_proba(self, X_checked):
        net, backbone, device = self._fitted_model()
        return self._logits(net, backbone, X_checked, device).softmax(dim=1).numpy()
