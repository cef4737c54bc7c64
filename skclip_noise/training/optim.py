"""Optimisers: the presets of the papers, keyed by tower kind, and one way to build them.

Every torch estimator builds its optimiser with :func:`make_optimizer`; the settings
that depend on the backbone come from :func:`optimizer_preset`, keyed by
:attr:`~skclip_noise.backbones.Backbone.tower_kind`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..backbones.towers import CLIP_TOWER_KINDS, TOWER_KINDS

__all__ = [
    "OPTIMIZERS",
    "RECIPES",
    "OptimizerSettings",
    "loss_model_optimizer",
    "make_optimizer",
    "optimizer_preset",
    "resolve_optimizer",
]

OPTIMIZERS = ("sgd", "adamw")
RECIPES = ("deft", "turn")


class OptimizerSettings(NamedTuple):
    """``(optimizer, lr, weight_decay)``; compares equal to the plain tuple."""

    optimizer: str
    lr: float
    weight_decay: float


_CLIP = OptimizerSettings("sgd", 5e-4, 5e-4)  # DEFT's reference phase 2 on CLIP image towers
# DEFT's Table 11 (full fine-tuning per backbone family). ResNet-50's setting stands
# for every other CNN.
_TABLE_11 = {
    **{kind: _CLIP for kind in CLIP_TOWER_KINDS},
    "vit": OptimizerSettings("sgd", 1e-2, 1e-5),
    "mae": OptimizerSettings("adamw", 1e-4, 1e-3),
    "convnext": OptimizerSettings("adamw", 1e-4, 1e-4),
    "cnn": OptimizerSettings("adamw", 1e-3, 1e-5),
}
# TURN fine-tunes from the probe's head: at the CNN rate of 1e-3 the first steps wreck
# the features the head was fitted to (MobileNetV2 on noisy digits: loss 1.8 -> 30 in
# one epoch, accuracy at chance); at 3e-5 the loss falls steadily and accuracy rises
# above the probe's.
_TURN = {**_TABLE_11, "cnn": OptimizerSettings("adamw", 3e-5, 1e-5)}
_PRESETS = {"deft": _TABLE_11, "turn": _TURN}


def optimizer_preset(tower_kind, *, recipe="deft"):
    """The full fine-tuning optimiser for a tower kind.

    Parameters
    ----------
    tower_kind : str
        One of :data:`~skclip_noise.backbones.towers.TOWER_KINDS`
        (``Backbone.tower_kind``).
    recipe : {"deft", "turn"}, default="deft"
        ``"deft"``: DEFT's Table 11 (CLIP towers: the reference code's phase-2
        setting). ``"turn"``: the same, with the CNN rate cut to 3e-5 because TURN
        fine-tunes from a fitted probe.

    Returns
    -------
    OptimizerSettings

    Examples
    --------
    >>> optimizer_preset("cnn")
    OptimizerSettings(optimizer='adamw', lr=0.001, weight_decay=1e-05)
    >>> optimizer_preset("cnn", recipe="turn") == ("adamw", 3e-5, 1e-5)
    True
    >>> optimizer_preset("clip_vit")
    OptimizerSettings(optimizer='sgd', lr=0.0005, weight_decay=0.0005)
    """
    if recipe not in _PRESETS:
        raise ValueError(f"recipe must be one of {RECIPES}; got {recipe!r}.")
    if tower_kind not in TOWER_KINDS:
        raise ValueError(f"tower_kind must be one of {TOWER_KINDS}; got {tower_kind!r}.")
    return _PRESETS[recipe][tower_kind]


# The loss-based detectors' classifier, by tuning. The probe's rate was measured on real
# embeddings (digits, MobileNetV2, 10-60 % noise): at 1e-2 it memorises the noise within
# 10 epochs (noisy-side F1 0.3-0.5), at 3e-4 it does not (0.88-0.92). PEFT takes DEFT's
# prompt-learning rate, full tuning DEFT's phase-2 rate.
_LOSS_MODEL = {"frozen": ("adamw", 3e-4), "peft": ("sgd", 0.03), "full": ("sgd", 5e-4)}


def loss_model_optimizer(tuning, *, lr=None, weight_decay=5e-4):
    """The optimiser of the loss-based detectors' classifier for a ``tuning``.

    Examples
    --------
    >>> loss_model_optimizer("frozen")
    OptimizerSettings(optimizer='adamw', lr=0.0003, weight_decay=0.0005)
    """
    name, default_lr = _LOSS_MODEL[tuning]
    return OptimizerSettings(name, default_lr if lr is None else lr, weight_decay)


def resolve_optimizer(preset, *, optimizer=None, lr=None, weight_decay=None):
    """``preset`` with the user's overrides (``None`` keeps the preset's value).

    Examples
    --------
    >>> resolve_optimizer(optimizer_preset("cnn"), lr=0.01)
    OptimizerSettings(optimizer='adamw', lr=0.01, weight_decay=1e-05)
    """
    return OptimizerSettings(
        preset.optimizer if optimizer is None else optimizer,
        preset.lr if lr is None else lr,
        preset.weight_decay if weight_decay is None else weight_decay,
    )


def make_optimizer(params, settings, *, momentum=0.9):
    """A torch optimiser over ``params`` (parameters or parameter groups).

    Parameters
    ----------
    params : iterable of torch.nn.Parameter or of dict
        Parameters without gradients are left out (so frozen towers can be passed whole).
    settings : OptimizerSettings or tuple (optimizer, lr, weight_decay)
        ``optimizer`` is ``"sgd"`` (with ``momentum``) or ``"adamw"``.
    momentum : float, default=0.9
        SGD momentum.

    Examples
    --------
    >>> import torch
    >>> layer = torch.nn.Linear(2, 2)
    >>> type(make_optimizer(layer.parameters(), ("sgd", 0.1, 0.0))).__name__
    'SGD'
    """
    name, lr, weight_decay = settings
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {name!r}.")
    params = list(params)
    if params and isinstance(params[0], dict):
        params = [{**group, "params": [p for p in group["params"] if p.requires_grad]} for group in params]
    else:
        params = [p for p in params if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
