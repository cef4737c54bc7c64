"""Map the keys of an offline weight file onto a torchvision / timm architecture."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from ... import _compat  # noqa: F401  (torchvision shim before any torchvision import)
from .errors import OfflineWeightsMismatchError
from .files import offline_weights_path
from .registry import _arch_spec

if TYPE_CHECKING:  # torch is imported lazily at call time
    import torch

__all__ = [
    "offline_state_dict",
    "load_offline_weights",
]


@lru_cache(maxsize=None)
def _target_layout(family, base_arch):
    """((key, shape), ...) of the architecture's full state dict (with classifier)."""
    import torch

    def build():
        if family == "torchvision":
            import torchvision

            return torchvision.models.get_model(base_arch, weights=None)
        import timm

        return timm.create_model(base_arch, pretrained=False)

    try:
        with torch.device("meta"):
            model = build()
    except Exception:  # pragma: no cover - fall back to a real (small) model
        model = build()
    return tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())


def _map_state_dict(raw, layout, mapping, family, arch, source):
    target_keys = [k for k, _ in layout]
    if mapping == "identity":
        missing = [k for k in target_keys if k not in raw]
        unexpected = [k for k in raw if k not in dict(layout)]
        if missing or unexpected:
            raise OfflineWeightsMismatchError(
                f"offline weights {source!r} do not match {family} {arch!r}: "
                f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
            )
        pairs = [(k, k, raw[k]) for k in target_keys]
    else:
        if len(raw) != len(layout):
            raise OfflineWeightsMismatchError(
                f"offline weights {source!r} have {len(raw)} tensors but {family} "
                f"{arch!r} has {len(layout)}; they cannot be mapped by position"
            )
        pairs = [(k, src_k, v) for k, (src_k, v) in zip(target_keys, raw.items())]
    shapes = dict(layout)
    out = {}
    for i, (k, src_k, v) in enumerate(pairs):
        if tuple(v.shape) != shapes[k] or src_k.rsplit(".", 1)[-1] != k.rsplit(".", 1)[-1]:
            raise OfflineWeightsMismatchError(
                f"offline weights {source!r} do not fit {family} {arch!r}: tensor #{i} "
                f"{src_k!r} {tuple(v.shape)} cannot go to {k!r} {shapes[k]}"
            )
        out[k] = v
    return out


def offline_state_dict(family: str, arch: str) -> dict[str, torch.Tensor]:
    """State dict of the offline weights, keyed for the given architecture.

    Parameters
    ----------
    family : {"torchvision", "timm"}
        Model library.
    arch : str
        ``"mobilenet_v2"`` (torchvision), ``"mobilenetv2_100"`` or
        ``"tf_efficientnet_lite0"`` (timm; a pretrained tag is ignored).

    Returns
    -------
    state_dict : dict of str to torch.Tensor
        A fresh dict, with classifier, ready for
        ``torchvision.models.get_model(arch, weights=None).load_state_dict(sd)`` or
        ``timm.create_model(arch, pretrained=False).load_state_dict(sd)``. Keys are
        mapped by position where the file uses other names; every shape (and the
        kind of each tensor: weight, bias, running stats) is checked.

    Raises
    ------
    ValueError
        Unknown family, or no offline weights for ``arch``.
    OfflineWeightsUnavailableError
        The file is missing or corrupt.
    OfflineWeightsMismatchError
        The file does not fit the architecture (e.g. another timm/torchvision
        version changed its layout).

    Examples
    --------
    >>> import timm
    >>> from skclip_noise.backbones.offline_weights import offline_state_dict
    >>> sd = offline_state_dict("timm", "mobilenetv2_100")  # doctest: +SKIP
    >>> model = timm.create_model("mobilenetv2_100", pretrained=False)
    >>> model.load_state_dict(sd)  # doctest: +SKIP
    <All keys matched successfully>
    """
    import torch

    base, spec = _arch_spec(family, arch)
    source = spec["source"]
    path = offline_weights_path(source)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise OfflineWeightsMismatchError(f"{str(path)!r} does not hold a flat state dict")
    return _map_state_dict(raw, _target_layout(family, base), spec["mapping"], family, arch, source)


def load_offline_weights(module: torch.nn.Module, family: str, arch: str) -> None:
    """Load the offline weights into a model, in place.

    The model must have exactly the architecture's parameters and buffers. A model
    without classifier (timm ``num_classes=0``, open_clip's timm trunk, a
    torchvision model whose ``classifier`` was replaced by ``nn.Identity``) is
    accepted: then exactly the classifier keys are left out, nothing else.

    Parameters
    ----------
    module : torch.nn.Module
        Model built with ``torchvision.models.get_model(arch, weights=None)`` or
        ``timm.create_model(arch, pretrained=False, ...)``.
    family : {"torchvision", "timm"}
        Model library.
    arch : str
        Architecture name (see :func:`offline_state_dict`).

    Raises
    ------
    OfflineWeightsMismatchError
        Keys other than the classifier's are missing or unexpected, or a shape
        differs (including a classifier with another number of classes).
    ValueError, OfflineWeightsUnavailableError
        As for :func:`offline_state_dict`.

    Examples
    --------
    >>> import timm
    >>> from skclip_noise.backbones.offline_weights import load_offline_weights
    >>> trunk = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    >>> load_offline_weights(trunk, "timm", "tf_efficientnet_lite0")  # doctest: +SKIP
    """
    _, spec = _arch_spec(family, arch)
    sd = offline_state_dict(family, arch)
    target = module.state_dict()
    classifier = set(spec["classifier"])
    missing = [k for k in target if k not in sd]
    unexpected = [k for k in sd if k not in target]
    if not missing and set(unexpected) == classifier:
        for k in classifier:
            del sd[k]
    elif missing or unexpected:
        raise OfflineWeightsMismatchError(
            f"model does not fit the {family} {arch!r} offline weights: missing keys "
            f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected keys "
            f"{unexpected[:5]}{'...' if len(unexpected) > 5 else ''} (only the classifier "
            f"keys {sorted(classifier)} may be absent, all together)"
        )
    bad = [(k, tuple(v.shape), tuple(target[k].shape)) for k, v in sd.items()
           if tuple(v.shape) != tuple(target[k].shape)]
    if bad:
        k, got, want = bad[0]
        hint = (
            " (the classifier has another number of classes: build the model with "
            "num_classes=1000, or num_classes=0 for a headless trunk)"
            if k in classifier else ""
        )
        raise OfflineWeightsMismatchError(
            f"{len(bad)} shape mismatch(es) loading {family} {arch!r} offline weights, "
            f"first {k!r}: weights {got} vs model {want}{hint}"
        )
    module.load_state_dict(sd, strict=True)
