"""Backbone specifications: ``"<family>:<model name>"`` strings, checked early."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

__all__ = ["BackboneSpec", "parse_backbone_spec", "FAMILIES", "CHECKPOINT_SUFFIXES"]

FAMILIES = ("open_clip", "timm", "torchvision")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".pth.tar")

_SPEC_HELP = (
    "A backbone is named '<family>:<model>' with family one of open_clip, timm or "
    "torchvision, e.g. 'open_clip:ViT-B-16', 'timm:resnet50.a1_in1k' or "
    "'torchvision:mobilenet_v2'."
)


@dataclass(frozen=True)
class BackboneSpec:
    """A parsed backbone name: its family and the family's model name.

    Attributes
    ----------
    family : {"open_clip", "timm", "torchvision"}
    name : str
        The model's name in that family (``"ViT-B-16"``, ``"resnet50.a1_in1k"``).

    Examples
    --------
    >>> spec = parse_backbone_spec("torchvision:mobilenet_v2")
    >>> spec == BackboneSpec("torchvision", "mobilenet_v2"), str(spec)
    (True, 'torchvision:mobilenet_v2')
    """

    family: str
    name: str

    def __str__(self):
        return f"{self.family}:{self.name}"


def parse_backbone_spec(spec, *, check_exists=True):
    """Parse and check a backbone string.

    Parameters
    ----------
    spec : str
        ``"open_clip:<config>"``, ``"timm:<model>[.<tag>]"`` or ``"torchvision:<model>"``.
    check_exists : bool, default=True
        Whether to check the model name against the family's registry, raising a
        ``ValueError`` with close matches when it is unknown.

    Returns
    -------
    BackboneSpec

    Examples
    --------
    >>> parse_backbone_spec("timm:resnet18")
    BackboneSpec(family='timm', name='resnet18')
    """
    if isinstance(spec, BackboneSpec):
        family, name = spec.family, spec.name
    else:
        if not isinstance(spec, str) or ":" not in spec:
            raise ValueError(f"Invalid backbone {spec!r}. {_SPEC_HELP}")
        family, name = (part.strip() for part in spec.split(":", 1))
    family = family.replace("-", "_").lower()
    if family not in FAMILIES or not name:
        raise ValueError(f"Invalid backbone {spec!r}. {_SPEC_HELP}")
    parsed = BackboneSpec(family, name)
    if check_exists:
        _check_model_exists(parsed)
    return parsed


def _check_model_exists(spec):
    known = _known_models(spec.family)
    lookup = spec.name.split(".", 1)[0] if spec.family == "timm" else spec.name
    if lookup in known:
        if lookup != spec.name:
            _check_timm_tag(spec.name, lookup)
        return
    same_but_case = sorted(name for name in known if name.lower() == lookup.lower())
    by_lower = {}
    for name in sorted(known):
        by_lower.setdefault(name.lower(), name)
    close = same_but_case + [by_lower[c] for c in difflib.get_close_matches(lookup.lower(), list(by_lower), n=5, cutoff=0.6)
                             if by_lower[c] not in same_but_case]
    close = close[:5]
    hint = f" Did you mean {', '.join(repr(f'{spec.family}:{c}') for c in close)}?" if close else ""
    raise ValueError(f"Unknown {spec.family} model {spec.name!r}.{hint} {_list_hint(spec.family)}")


def _check_timm_tag(name, arch):
    # timm.create_model rejects an unknown tag only later, with a RuntimeError.
    import timm.models

    tagged = list(timm.models.get_arch_pretrained_cfgs(arch))
    if not tagged or name in tagged:
        return
    tags = {t.partition(".")[2]: t for t in tagged if "." in t}
    close = difflib.get_close_matches(name.partition(".")[2], list(tags), n=5, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(f'timm:{tags[c]}') for c in close)}?" if close else ""
    raise ValueError(
        f"Unknown timm pretrained tag in {name!r}.{hint} Known for {arch!r}: "
        f"{', '.join(tagged)}."
    )


def _known_models(family):
    if family == "open_clip":
        from . import open_clip_models

        return set(open_clip_models.list_models())
    if family == "timm":
        import timm

        return set(timm.list_models())
    import torchvision

    return set(torchvision.models.list_models(module=torchvision.models))


def _list_hint(family):
    return {
        "open_clip": "open_clip.list_models() lists the architectures.",
        "timm": "timm.list_models('<pattern>') lists the architectures.",
        "torchvision": "torchvision.models.list_models() lists the classification models.",
    }[family]


def looks_like_path(value):
    """Whether a ``pretrained`` string names a local file rather than a tag."""
    return isinstance(value, (str, os.PathLike)) and (
        os.sep in os.fspath(value)
        or os.fspath(value).startswith("~")
        or os.fspath(value).lower().endswith(CHECKPOINT_SUFFIXES)
        or os.path.isfile(os.fspath(value))
    )
