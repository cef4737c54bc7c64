"""A model's trainable state: what a fitted estimator keeps of a network whose backbone is
rebuilt from its own weights, and how it is loaded back."""

from __future__ import annotations

__all__ = ["cpu_state_dict", "load_trainable_state", "trainable_state_dict"]


def cpu_state_dict(module):
    """A detached CPU copy of ``module``'s state dict (picklable, device-free)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _frozen_parameter_names(model):
    return {name for name, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}


def _frozen_buffer_names(model):
    """Buffers of modules whose parameters are all frozen (a frozen backbone's running
    statistics and masks: rebuilt with it, never changed by training)."""
    names = set()
    for prefix, module in model.named_modules(remove_duplicate=False):
        parameters = list(module.parameters())
        if parameters and not any(p.requires_grad for p in parameters):
            names.update(f"{prefix}.{name}" if prefix else name for name, _ in module.named_buffers())
    return names


def trainable_state_dict(model):
    """A detached CPU copy of the state dict without frozen parameters.

    A prompt learner's state must not carry the whole frozen backbone, which is
    rebuilt from the backbone's own weights: its frozen parameters, and the buffers of
    modules whose parameters are all frozen, are left out. Other buffers (e.g. the
    BatchNorm statistics of a tower that trains) are kept. Load it back with
    :func:`load_trainable_state`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    >>> net[0].requires_grad_(False)
    Linear(in_features=2, out_features=2, bias=True)
    >>> sorted(trainable_state_dict(net))
    ['1.bias', '1.weight']
    """
    frozen = _frozen_parameter_names(model) | _frozen_buffer_names(model)
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k not in frozen}


def load_trainable_state(model, state, *, mismatch_help="the fitted state does not match the model"):
    """Load a :func:`trainable_state_dict` into ``model``: every entry must fit, and only
    frozen parameters may be absent; otherwise a ``ValueError`` starting with
    ``mismatch_help`` and naming the first offending keys."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = sorted(set(missing) - _frozen_parameter_names(model) - _frozen_buffer_names(model))
    if unexpected or missing:
        raise ValueError(f"{mismatch_help[:1].upper()}{mismatch_help[1:]} (missing {missing[:5]}, unexpected {unexpected[:5]}).")
    return model
