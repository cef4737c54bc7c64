"""TURN's pieces: what phase 2 trains for a ``tuning`` (a route), a training view that
keeps BatchNorm statistics frozen, the per-sample losses and the selection records."""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..backbones.loading import load_backbone
from ..data.inputs import ImageDataset
from ..data.transforms import weak_transform
from ..training.device import seeded_torch, small_model_threads
from ..training.linear_head import StandardizedLinear, head_logits
from ..training.loop import make_loader
from ..training.optim import OptimizerSettings, optimizer_preset, resolve_optimizer

__all__ = ["FrozenBatchNorm", "Route", "ordered", "pair_losses", "probe_route", "selection_record", "tower_route"]


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


@dataclass(frozen=True)
class Route:
    """What phase 2 trains, and how it reads the data, for one ``tuning``."""

    features: torch.Tensor  # phase 1's inputs
    probe: StandardizedLinear  # phase 1's model
    after_probe: Callable[[], None]  # puts the probe where phase 2 starts
    model: torch.nn.Module  # phase 2's model: kept, restored to its best epoch, predicted with
    trained: torch.nn.Module  # its training view
    settings: OptimizerSettings
    training_logits: Callable  # epoch -> logits of every training sample (eval mode)
    loader: Callable  # (chosen, generator) -> the epoch's batches
    validation_logits: Callable  # X_val -> logits
    threads: Callable  # a context for the training threads
    weights_key: object


def tower_route(clf, X_checked, n_classes, device, seed):
    """``tuning`` "full" or "peft": phase 1 on the tower's embeddings, computed once;
    phase 2 trains the net (tower and head) on the images."""
    backbone = load_backbone(clf.backbone, clf.pretrained, device=device)
    features = clf._frozen_features(X_checked, device)
    with seeded_torch(seed):
        net = clf._net(backbone, n_classes)
    if net.feature_dim != features.shape[1]:  # pragma: no cover - a tower we do not know
        raise ValueError(
            f"{clf.backbone}'s image features are {features.shape[1]} wide but its tower "
            f"gives {net.feature_dim}; TurnClassifier cannot put the probe on the tower."
        )
    net = net.to(device)
    # the net's seeded initialisation of the head; no global RNG draw
    probe = StandardizedLinear.fitted_to(features.to(device), n_classes, copy.deepcopy(net.head))
    train_transform = weak_transform(clf._preprocess_config(backbone))

    def training_logits(epoch):
        if epoch == 0:  # the probe's losses, from the cached features
            with torch.inference_mode():
                return net.head(features.to(device)).float().cpu()
        return clf._logits(net, backbone, X_checked, device)

    def loader(chosen, generator):
        return make_loader(ImageDataset(X_checked, train_transform, indices=chosen), batch_size=clf.ft_batch_size,
                           shuffle=True, generator=generator, num_workers=clf.num_workers)

    return Route(
        features=features, probe=probe, after_probe=lambda: probe.folded_into(net.head), model=net,
        trained=FrozenBatchNorm(net) if clf.freeze_batchnorm else net,
        settings=resolve_optimizer(optimizer_preset(backbone.tower_kind, recipe="turn"), optimizer=clf.ft_optimizer,
                                   lr=clf.ft_lr, weight_decay=clf.ft_weight_decay),
        training_logits=training_logits, loader=loader,
        validation_logits=lambda X_val: clf._logits(net, backbone, X_val, device),
        threads=contextlib.nullcontext, weights_key=backbone.weights_key,
    )


def probe_route(clf, X_checked, n_classes, validation, device, seed):
    """``tuning="frozen"``: both phases train the probe on the embeddings (computed once,
    through ``cache_dir``, or X itself)."""
    features = torch.as_tensor(clf._features(X_checked), dtype=torch.float32)
    with seeded_torch(seed):
        probe = StandardizedLinear.fitted_to(features, n_classes).to(device)
    nn.init.zeros_(probe.linear.bias)  # as the tower route's head starts
    val_features = None if validation is None else torch.as_tensor(clf._features(validation[0]))

    def loader(chosen, generator):
        dataset = torch.utils.data.TensorDataset(features[chosen], torch.as_tensor(chosen))
        return make_loader(dataset, batch_size=clf.ft_batch_size, shuffle=True, generator=generator)

    return Route(
        features=features, probe=probe, after_probe=lambda: None, model=probe, trained=probe,
        settings=resolve_optimizer(OptimizerSettings(clf.lp_optimizer, clf.lp_lr, clf.lp_weight_decay),
                                   optimizer=clf.ft_optimizer, lr=clf.ft_lr, weight_decay=clf.ft_weight_decay),
        training_logits=lambda epoch: head_logits(probe, features, device, mixed_precision=clf.mixed_precision),
        loader=loader,
        validation_logits=lambda X_val: head_logits(probe, val_features, device,
                                                    mixed_precision=clf.mixed_precision),
        threads=lambda: small_model_threads(device), weights_key=None,
    )


def selection_record(codes, clean, chosen, n_classes):
    return {
        "n_clean": int(clean.sum()),
        "clean_per_class": np.bincount(codes[clean], minlength=n_classes).tolist(),
        "n_per_class": int(len(chosen) // n_classes),
        "n_selected": len(chosen),
        "selected": chosen,
    }


def pair_losses(logits, codes):
    targets = torch.as_tensor(np.asarray(codes), dtype=torch.long)
    return F.cross_entropy(logits.float(), targets, reduction="none").numpy().astype(np.float64)


_FIRST_KEYS = ("phase", "epoch", "n_steps", "loss", "lr")


def ordered(record):
    return [k for k in _FIRST_KEYS if k in record] + [k for k in record if k not in _FIRST_KEYS]
