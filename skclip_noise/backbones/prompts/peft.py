"""Small helpers for parameter-efficient fine-tuning: freezing and BitFit.

BitFit (train only the bias terms) applies to any image tower; VPT and MaPLe
prompts (:mod:`.visual`, :mod:`.coupled`) need an open_clip ViT tower.
"""

from __future__ import annotations

from typing import List

from torch import nn

__all__ = ["freeze_module", "trainable_parameters", "bitfit_parameters", "apply_bitfit"]


def freeze_module(module: nn.Module) -> nn.Module:
    """Set ``requires_grad=False`` on every parameter of a module.

    Parameters
    ----------
    module : torch.nn.Module
        Module to freeze, in place.

    Returns
    -------
    torch.nn.Module
        The same module.

    Examples
    --------
    >>> from torch import nn
    >>> layer = freeze_module(nn.Linear(3, 2))
    >>> [p.requires_grad for p in layer.parameters()]
    [False, False]
    """
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def trainable_parameters(module: nn.Module) -> List[nn.Parameter]:
    """Return the parameters of a module that require gradients.

    Parameters
    ----------
    module : torch.nn.Module
        Module to inspect. Shared parameters are listed once.

    Returns
    -------
    list of torch.nn.Parameter

    Examples
    --------
    >>> from torch import nn
    >>> layer = nn.Linear(3, 2)
    >>> _ = layer.weight.requires_grad_(False)
    >>> [tuple(p.shape) for p in trainable_parameters(layer)]
    [(2,)]
    """
    return [p for p in module.parameters() if p.requires_grad]


def bitfit_parameters(module: nn.Module) -> List[nn.Parameter]:
    """Return the bias parameters of a module (BitFit).

    BitFit fine-tunes only the bias terms; it works for any image tower
    (ViT, ResNet, timm trunks), unlike VPT which needs a ViT.

    Parameters
    ----------
    module : torch.nn.Module
        Module to inspect, e.g. ``clip_model.visual``.

    Returns
    -------
    list of torch.nn.Parameter
        Every parameter whose name ends in ``"bias"`` (linear, convolution,
        normalisation layers and attention ``in_proj_bias``), listed once.

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    >>> [tuple(p.shape) for p in bitfit_parameters(net)]
    [(4,), (4,)]
    """
    return [p for n, p in module.named_parameters() if n.split(".")[-1].endswith("bias")]


def apply_bitfit(module: nn.Module) -> List[nn.Parameter]:
    """Freeze a module except for its bias terms (BitFit), in place.

    Parameters
    ----------
    module : torch.nn.Module
        Module to modify, e.g. ``clip_model.visual``.

    Returns
    -------
    list of torch.nn.Parameter
        The bias parameters, now the only ones with ``requires_grad=True``.

    Raises
    ------
    ValueError
        If the module has no bias parameter.

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    >>> len(apply_bitfit(net)), [p.requires_grad for p in net.parameters()]
    (2, [False, True, False, True])
    """
    freeze_module(module)
    params = bitfit_parameters(module)
    if not params:
        raise ValueError(f"{type(module).__name__} has no bias parameters; BitFit does not apply.")
    for p in params:
        p.requires_grad_(True)
    return params
