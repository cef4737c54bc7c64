"""Load a backbone from its string spec, once per process.

:func:`load_backbone` returns a :class:`Backbone`: the model in eval mode with
gradients off, its own evaluation preprocessing, the preprocessing parameters the
training views are built from, and its feature width. Loaded backbones are kept in a
small process-level cache keyed by spec, weights, device and precision, so the clones
a grid search makes do not reload weights. The cached model is shared: code that
trains weights must work on :meth:`Backbone.trainable_copy`.

``pretrained`` values per family:

- open_clip: ``None`` (random), an open_clip tag (``"openai"``, ``"laion2b_s34b_b88k"``, ...),
  a local checkpoint path, or ``"offline"`` for configs whose image trunk has offline
  weights (the hybrid CLIPs; the aligned CLIPs of :mod:`~skclip_noise.backbones.aligned`
  exist only so). OpenAI weights need QuickGELU: it is switched on for
  tags that need it; for a local copy of OpenAI weights name the ``-quickgelu``
  architecture (``"open_clip:ViT-B-16-quickgelu"``).
- timm: ``None`` (random), ``True``/``"default"`` (the hub weights of the model's tag),
  ``"offline"`` (weights of the ``offline-weights`` extra), or a local state-dict path.
- torchvision: ``None`` (random), ``True``/``"DEFAULT"`` or a weights name such as
  ``"IMAGENET1K_V1"`` (downloaded by torchvision), ``"offline"``, or a local path.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..data.transforms import PreprocessConfig, eval_transform, weak_transform
from ..training.device import TORCH_RNG_LOCK
from . import offline_weights
from .aligned import build_aligned_clip, is_aligned_model
from .open_clip_models import quiet_root_logger
from .hub import hub_download_guard
from .spec import BackboneSpec, looks_like_path, parse_backbone_spec
from .towers import tower_kind_of
from .weights import (
    WeightsChangedError,
    check_checkpoint_path,
    check_weights_unchanged,
    load_state_dict_strict,
    read_state_dict,
    weights_key,
)

__all__ = [
    "Backbone",
    "load_backbone",
    "clear_backbone_cache",
    "weights_key",
    "check_weights_unchanged",
    "WeightsChangedError",
    "PRECISIONS",
]

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_CACHE_SIZE = 4
_cache = OrderedDict()
_cache_lock = threading.Lock()


@dataclass
class Backbone:
    """A loaded backbone and what is needed to feed it.

    Attributes
    ----------
    spec : BackboneSpec
    pretrained : object
        The ``pretrained`` value it was loaded with.
    model : torch.nn.Module
        The whole CLIP for open_clip; the image model without its classifier for timm
        and torchvision. Shared through the cache: do not train it in place.
    preprocess : callable
        The backbone's own evaluation transform (PIL image to normalised tensor).
    preprocess_config : PreprocessConfig
        Size and normalisation, from which the training views are built.
    feature_dim : int
        Width of :meth:`encode_images`' output.
    tokenizer : callable or None
        The text tokenizer (open_clip only).
    tower_kind : str
        The image tower's kind (see :mod:`skclip_noise.backbones.towers`), set once at
        load.
    weights_key : object
        :func:`weights_key` of ``pretrained`` when loaded (for a checkpoint path: the
        path, its size and modification time). An estimator records it at ``fit`` and
        passes it to :func:`check_weights_unchanged` where it reloads the backbone.
    device : torch.device
        Where the model lives.
    precision : {"fp32", "fp16", "bf16"}
        The dtype of its weights.

    Examples
    --------
    >>> import torch
    >>> from skclip_noise.backbones import load_backbone
    >>> backbone = load_backbone("open_clip:skclip-tiny", pretrained=None)
    >>> backbone.is_clip, backbone.feature_dim, str(backbone.spec)
    (True, 48, 'open_clip:skclip-tiny')
    >>> backbone.encode_images(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 48])
    """

    spec: BackboneSpec
    pretrained: object
    model: nn.Module
    preprocess: object
    preprocess_config: PreprocessConfig
    feature_dim: int
    device: torch.device
    precision: str = "fp32"
    tokenizer: object = field(default=None, repr=False)
    tower_kind: str = ""
    weights_key: object = None

    @property
    def is_clip(self):
        """Whether the backbone has a text tower (open_clip)."""
        return self.spec.family == "open_clip"

    @property
    def image_tower(self):
        """The image encoder module (``model.visual`` for CLIP)."""
        return self.model.visual if self.is_clip else self.model

    def encode_images(self, images):
        """Image features (unnormalised) of a batch of preprocessed images."""
        if self.is_clip:
            return self.model.encode_image(images)
        return self.model(images)

    def trainable_copy(self):
        """A deep copy of the model with gradients on, for training."""
        model = copy.deepcopy(self.model)
        model.requires_grad_(True)
        return model

    def eval_transform(self, image_size=None):
        """The evaluation transform at ``image_size`` (None: :attr:`preprocess` itself).

        Examples
        --------
        >>> backbone = load_backbone("open_clip:skclip-tiny", pretrained=None)
        >>> backbone.eval_transform() is backbone.preprocess
        True
        """
        if image_size is None:
            return self.preprocess
        return eval_transform(self.preprocess_config.resized(image_size))

    def train_transform(self, image_size=None):
        """The weak training view at ``image_size``: resize and centre crop, a random
        crop of the image padded by reflection by an eighth of its side (the reference's
        ``RandomCrop(32, padding=4)`` at any side), a horizontal flip.

        Examples
        --------
        >>> from PIL import Image
        >>> backbone = load_backbone("open_clip:skclip-tiny", pretrained=None)
        >>> backbone.train_transform(16)(Image.new("RGB", (40, 40))).shape
        torch.Size([3, 16, 16])
        """
        return weak_transform(self.preprocess_config.resized(image_size))


def clear_backbone_cache():
    """Forget every cached backbone (frees their memory).

    Examples
    --------
    >>> first = load_backbone("open_clip:skclip-tiny", pretrained=None)
    >>> load_backbone("open_clip:skclip-tiny", pretrained=None) is first
    True
    >>> clear_backbone_cache()
    >>> load_backbone("open_clip:skclip-tiny", pretrained=None) is first
    False
    """
    with _cache_lock:
        _cache.clear()


def load_backbone(spec, pretrained=None, *, device="cpu", precision="fp32"):
    """Load (or fetch from the process cache) a backbone.

    Parameters
    ----------
    spec : str
        ``"open_clip:<config>"``, ``"timm:<model>"`` or ``"torchvision:<model>"``.
    pretrained : str, bool or None, default=None
        Which weights; see the module docstring.
    device : str or torch.device, default="cpu"
    precision : {"fp32", "fp16", "bf16"}, default="fp32"
        Dtype of the weights. Training keeps fp32 weights and uses autocast.

    Returns
    -------
    Backbone

    Raises
    ------
    ValueError
        Unknown model name or pretrained tag.
    FileNotFoundError
        A checkpoint path that does not exist.
    skclip_noise.exceptions.PretrainedWeightsUnavailableError
        Weights that would have to be downloaded could not be fetched.

    Examples
    --------
    >>> backbone = load_backbone("open_clip:skclip-tiny")
    >>> backbone.feature_dim
    48
    """
    parsed = parse_backbone_spec(spec)
    pretrained = _checked_pretrained(pretrained)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}; got {precision!r}.")
    device = torch.device(device)
    key = (str(parsed), weights_key(pretrained), str(device), precision)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    # Always this lock before the cache's, as a fit that holds it (seeded_torch) loads a backbone.
    with TORCH_RNG_LOCK, _cache_lock:
        if key in _cache:  # loaded by another thread meanwhile
            return _cache[key]
        # Random initialisation draws from a fixed seed in a forked RNG: the same spec
        # gives the same weights in every process, and the caller's RNG is untouched.
        with torch.random.fork_rng(devices=[]):
            # Not torch.manual_seed: it also reseeds every CUDA device, outside the fork.
            torch.default_generator.manual_seed(0)
            backbone = _LOADERS[parsed.family](parsed, pretrained)
        backbone.model.eval().requires_grad_(False)
        backbone.model.to(device=device, dtype=PRECISIONS[precision])
        backbone.device, backbone.precision = device, precision
        backbone.tower_kind = tower_kind_of(backbone.image_tower, parsed.name)
        backbone.weights_key = key[1]
        _cache[key] = backbone
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return backbone


def _checked_pretrained(pretrained):
    """``pretrained`` with numpy's booleans as Python's; refused when it is no weights
    choice (``0`` would otherwise equal ``False``, random weights, and ``1`` ``True``)."""
    if isinstance(pretrained, np.bool_):
        return bool(pretrained)
    if pretrained is None or isinstance(pretrained, (bool, str, os.PathLike)):
        return pretrained
    raise TypeError(
        f"pretrained must be None, True/False, a weights name or a checkpoint path; got "
        f"{pretrained!r} ({type(pretrained).__name__}). Pass pretrained=None for random weights."
    )


def _load_open_clip(spec, pretrained):
    import open_clip

    from .open_clip_models import register_model_configs

    register_model_configs()
    name = spec.name
    kwargs = {}
    tokenizer = None
    if is_aligned_model(name) and pretrained != "offline":
        raise ValueError(
            f"open_clip:{name} exists only as built from real offline parts: pass pretrained='offline' "
            f"(got {pretrained!r})."
        )
    if pretrained in (None, False):
        with quiet_root_logger(), _text_tower_download_guard(open_clip, name):  # random weights: asked for
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
            tokenizer = open_clip.get_tokenizer(name)
    elif pretrained == "offline":
        model, preprocess, tokenizer = _open_clip_with_offline_trunk(open_clip, name)
    elif looks_like_path(pretrained):
        path = check_checkpoint_path(pretrained)
        try:
            with quiet_root_logger():
                model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=path)
        except Exception as exc:
            raise ValueError(f"Cannot load checkpoint {path!r} into open_clip {name!r}: {exc}") from exc
    else:
        tags = open_clip.list_pretrained_tags_by_model(name)
        if pretrained not in tags:
            raise ValueError(
                f"open_clip has no pretrained tag {pretrained!r} for {name!r}; known tags: "
                f"{tags or 'none'}. Pass a local checkpoint path instead, or pretrained=None "
                "for random weights."
            )
        tag_cfg = open_clip.get_pretrained_cfg(name, pretrained)
        if tag_cfg.get("quick_gelu") and not name.endswith("-quickgelu"):
            kwargs["force_quick_gelu"] = True
        fetch = (
            "Download the checkpoint where a network is available, e.g. "
            f"`open_clip.create_model('{name}', pretrained='{pretrained}')` and save "
            "`model.state_dict()` with torch.save, or fetch the file from the hub "
            f"({tag_cfg.get('hf_hub') or tag_cfg.get('url') or 'see open_clip.list_pretrained()'}); "
            "then pass its local path: "
        )
        hint = fetch + "pretrained='/path/to/checkpoint.safetensors'" + (
            f" with backbone='open_clip:{name}-quickgelu'." if kwargs else "."
        )
        cli_hint = fetch + "--pretrained /path/to/checkpoint.safetensors" + (
            f" --backbone open_clip:{name}-quickgelu." if kwargs else "."
        )
        with quiet_root_logger(), hub_download_guard(
            f"open_clip {name!r} weights {pretrained!r}", hint, cli_hint=cli_hint, clip=True
        ):
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, **kwargs
            )
    cfg = model.visual.preprocess_cfg
    size = cfg["size"]
    config = PreprocessConfig(
        image_size=int(size[0] if isinstance(size, (tuple, list)) else size),
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        interpolation=cfg.get("interpolation", "bicubic"),
    )
    return Backbone(
        spec=spec,
        pretrained=pretrained,
        model=model,
        preprocess=preprocess,
        preprocess_config=config,
        feature_dim=int(open_clip.get_model_config(name)["embed_dim"]),
        device=torch.device("cpu"),
        tokenizer=tokenizer or open_clip.get_tokenizer(name),
    )


def _text_tower_download_guard(open_clip, name):
    """For a config whose text tower is a Hugging Face model named on the hub (RoBERTa,
    XLM-R, SigLIP's), which open_clip fetches the config and tokenizer of even for random
    weights: a fast, clear error offline. Other configs: nothing."""
    hf_name = (open_clip.get_model_config(name) or {}).get("text_cfg", {}).get("hf_model_name")
    if not hf_name or os.path.isdir(hf_name):
        return contextlib.nullcontext()
    return hub_download_guard(
        f"the Hugging Face text tower {hf_name!r} of open_clip {name!r} (its config and tokenizer)",
        "Load it once where a network is available (it is cached), or pick a config whose text tower "
        "needs nothing from the hub.", clip=True,
    )


def _open_clip_with_offline_trunk(open_clip, name):
    trunk_name = (open_clip.get_model_config(name) or {}).get("vision_cfg", {}).get("timm_model_name")
    if trunk_name is None or offline_weights.offline_source_for("timm", trunk_name) is None:
        raise ValueError(
            f"pretrained='offline' needs an open_clip config whose image trunk has offline "
            f"weights (e.g. 'open_clip:skclip-hybrid-mobilenetv2'); {name!r} has none."
        )
    pre = offline_weights.offline_preprocessing("timm", trunk_name)
    # create_model_and_transforms builds force_preprocess_cfg from these itself.
    overrides = dict(image_mean=tuple(pre["mean"]), image_std=tuple(pre["std"]), image_interpolation=pre["interpolation"])
    with quiet_root_logger():
        if is_aligned_model(name):
            return build_aligned_clip(name, open_clip, overrides)
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None, **overrides)
    offline_weights.load_offline_weights(model.visual.trunk, "timm", trunk_name)
    return model, preprocess, open_clip.get_tokenizer(name)


# ---------------------------------------------------------------------------------- timm


def _load_timm(spec, pretrained):
    import timm

    arch = spec.name
    if pretrained in (None, False):
        model = timm.create_model(arch, pretrained=False, num_classes=0)
        overrides = {}
    elif pretrained == "offline":
        _require_offline_source("timm", arch)
        model = timm.create_model(arch, pretrained=False, num_classes=0)
        offline_weights.load_offline_weights(model, "timm", arch)
        overrides = offline_weights.offline_preprocessing("timm", arch)
    elif looks_like_path(pretrained):
        model = timm.create_model(arch, pretrained=False)
        load_state_dict_strict(model, read_state_dict(pretrained), pretrained)
        model.reset_classifier(0)
        overrides = {}
    elif pretrained in (True, "default", "hub"):
        fetch = (
            f"Save the weights where a network is available (timm.create_model('{arch}', "
            "pretrained=True) then torch.save(model.state_dict(), path)) and pass "
        )
        with hub_download_guard(
            f"timm {arch!r} pretrained weights",
            fetch + "pretrained='/path/to/state_dict.pth'.",
            cli_hint=fetch + "--pretrained /path/to/state_dict.pth.",
        ):
            model = timm.create_model(arch, pretrained=True, num_classes=0)
        overrides = {}
    else:
        raise ValueError(
            f"pretrained={pretrained!r} is not understood for timm; use None, True, "
            "'offline' or a local checkpoint path (pick weights with the model tag, "
            "e.g. 'timm:resnet50.a1_in1k')."
        )
    data_config = timm.data.resolve_model_data_config(model)
    data_config.update(
        {k: tuple(v) if k in ("mean", "std") else v for k, v in overrides.items() if k != "image_size"}
    )
    if "image_size" in overrides:
        data_config["input_size"] = (3, overrides["image_size"], overrides["image_size"])
    config = PreprocessConfig(
        image_size=int(data_config["input_size"][-1]),
        mean=tuple(data_config["mean"]),
        std=tuple(data_config["std"]),
        interpolation=data_config.get("interpolation", "bicubic"),
        crop_pct=float(data_config.get("crop_pct", 1.0)),
    )
    return Backbone(
        spec=spec,
        pretrained=pretrained,
        model=model,
        preprocess=timm.data.create_transform(**data_config, is_training=False),
        preprocess_config=config,
        # Models with a pre-logits layer (e.g. MobileNetV3) output head_hidden_size.
        feature_dim=int(getattr(model, "head_hidden_size", None) or model.num_features),
        device=torch.device("cpu"),
    )


# --------------------------------------------------------------------------- torchvision


def _load_torchvision(spec, pretrained):
    import torchvision

    arch = spec.name
    config = PreprocessConfig(image_size=224, interpolation="bilinear", crop_pct=0.875)
    preprocess = None
    if pretrained in (None, False):
        model = torchvision.models.get_model(arch, weights=None)
    elif pretrained == "offline":
        _require_offline_source("torchvision", arch)
        model = torchvision.models.get_model(arch, weights=None)
        offline_weights.load_offline_weights(model, "torchvision", arch)
        config = PreprocessConfig(**offline_weights.offline_preprocessing("torchvision", arch))
    elif looks_like_path(pretrained):
        model = torchvision.models.get_model(arch, weights=None)
        load_state_dict_strict(model, read_state_dict(pretrained), pretrained)
    else:
        name = "DEFAULT" if pretrained is True else str(pretrained)
        weights_enum = torchvision.models.get_model_weights(arch)
        if name not in weights_enum.__members__ and name != "DEFAULT":
            raise ValueError(
                f"torchvision has no weights {name!r} for {arch!r}; known: "
                f"{list(weights_enum.__members__)}. Or pass 'offline', None or a local path."
            )
        weights = weights_enum[name]
        fetch = f"Download {weights.url} where a network is available and pass its local path: "
        with hub_download_guard(
            f"torchvision {arch!r} weights {name!r}",
            fetch + "pretrained='/path/to/file.pth'.",
            host="download.pytorch.org",
            cli_hint=fetch + "--pretrained /path/to/file.pth.",
        ):
            model = torchvision.models.get_model(arch, weights=weights)
        preprocess = weights.transforms()
        config = PreprocessConfig(
            image_size=int(preprocess.crop_size[0]),
            mean=tuple(preprocess.mean),
            std=tuple(preprocess.std),
            interpolation=preprocess.interpolation.value,
            crop_pct=preprocess.crop_size[0] / preprocess.resize_size[0],
        )
    feature_dim = _drop_classifier(model, arch)
    return Backbone(
        spec=spec,
        pretrained=pretrained,
        model=model,
        preprocess=preprocess or eval_transform(config),
        preprocess_config=config,
        feature_dim=feature_dim,
        device=torch.device("cpu"),
    )


def _drop_classifier(model, arch):
    """Replace the last Linear layer with Identity; return its input width."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        raise ValueError(f"torchvision:{arch} has no Linear classifier to remove.")
    parent_name, _, child = last.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    width = getattr(parent, child).in_features
    setattr(parent, child, nn.Identity())
    return int(width)


def _require_offline_source(family, arch):
    if offline_weights.offline_source_for(family, arch) is None:
        available = [f"{f}:{a}" for f, a, _, _ in offline_weights.list_offline_weights()]
        raise ValueError(
            f"No offline weights exist for {family}:{arch}; available: {available}."
        )


_LOADERS = {
    "open_clip": _load_open_clip,
    "timm": _load_timm,
    "torchvision": _load_torchvision,
}
