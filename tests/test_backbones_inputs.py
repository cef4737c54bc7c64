"""Regression tests for bugs found by probing the backbones and the text side with odd inputs:
spec strings, Hugging Face text towers offline, text prompts and the zero-shot classifier.

Every test uses offline tiny models only (``open_clip:skclip-tiny``, a tiny BERT built in a
temporary folder) and runs in well under 5 s.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from torch import nn

from conftest import tiny_hf_clip_name
from skclip_noise import LabelMatchDetector
from skclip_noise.backbones import load_backbone, parse_backbone_spec
from skclip_noise.backbones.prompts import PromptTextEncoder
from skclip_noise.backbones.towers import tower_kind_of
from skclip_noise.detectors.label_match import class_text_features
from skclip_noise.exceptions import PretrainedWeightsUnavailableError

TINY = "open_clip:skclip-tiny"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _features(n=8, width=48, seed=0):
    return np.random.default_rng(seed).normal(size=(n, width)).astype(np.float32)


# ------------------------------------------------------------------------- spec strings


def test_did_you_mean_offers_the_name_that_differs_only_in_case():
    """``"open_clip:rn50"`` (open_clip's ``RN50`` in lower case) is refused with no
    suggestion at all today ("Unknown open_clip model 'rn50'. open_clip.list_models()
    lists the architectures."), and ``"open_clip:vit-b-32"`` suggests ViT-S-32 and ViT-M-32
    before ViT-B-32: difflib compares case-sensitively. The message should name the
    model that differs only in case, first: "Did you mean 'open_clip:RN50'?"."""
    with pytest.raises(ValueError) as rn50:
        parse_backbone_spec("open_clip:rn50")
    assert "'open_clip:RN50'" in str(rn50.value)
    with pytest.raises(ValueError) as vit:
        parse_backbone_spec("open_clip:vit-b-32")
    assert "Did you mean 'open_clip:ViT-B-32'" in str(vit.value), str(vit.value)


def test_tower_kind_of_vision_transformers_and_cnns_by_name():
    """The tower kind picks the full fine-tuning optimiser (DEFT's Table 11: ViTs SGD 1e-2,
    CNNs AdamW 1e-3). Today ``tower_kind_of`` only looks for "vit"/"deit" in the name, so
    Swin, BEiT, EVA-02 and CaiT (vision transformers, as the module's table defines the
    kind) come out as ``"cnn"``, while RepViT (a pure CNN whose name contains "vit") comes
    out as ``"vit"``. Transformers should not be ``"cnn"``, and RepViT should be."""
    transformers = {
        "timm": ["swin_tiny_patch4_window7_224", "beit_base_patch16_224", "eva02_tiny_patch14_224",
                 "cait_xxs24_224"],
        "torchvision": ["swin_t"],
    }
    kinds = {name: tower_kind_of(nn.Identity(), name) for names in transformers.values() for name in names}
    assert all(kind != "cnn" for kind in kinds.values()), kinds
    assert tower_kind_of(nn.Identity(), "repvit_m1") == "cnn"


# --------------------------------------------------------- network-needing paths offline


def test_hf_text_tower_config_offline_fails_with_the_librarys_error(monkeypatch):
    """``load_backbone("open_clip:roberta-ViT-B-32", pretrained=None)`` (random weights, but
    open_clip fetches roberta-base's config and tokenizer from the hub) is not guarded:
    without ``HF_HUB_OFFLINE`` it spends ~25 s in retries, and in either case the user gets
    transformers' raw ``OSError: We couldn't connect to 'https://huggingface.co'...``. It
    should fail fast with :class:`PretrainedWeightsUnavailableError`, saying what could not
    be fetched and what works offline, as the tagged-weights path does."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PretrainedWeightsUnavailableError):
        load_backbone("open_clip:roberta-ViT-B-32", pretrained=None)


# ---------------------------------------------------------------------- zero-shot prompts


def test_zero_shot_refuses_or_warns_about_class_names_truncated_to_one_prompt():
    """Two long class names that differ only after CLIP's 77 tokens are cut to the same
    prompt, silently: ``LabelMatchDetector`` (and ``ConsensusDetector(zero_shot=True)``)
    gives both classes the same text embedding, every sample a 0.5/0.5 split, and no
    warning. The library refuses class names that share a prompt ("get the same text
    prompt") and ``PromptTextEncoder`` refuses prompts that would be truncated; zero-shot
    should refuse (ValueError) or at least warn that the prompts were truncated."""
    long = "very " * 80
    y = np.array([long + "cat", long + "dog"] * 4)
    detector = LabelMatchDetector(TINY, pretrained=None, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            detector.fit(_features(), y)
        except ValueError:
            return
    assert any("trunc" in str(w.message).lower() for w in caught), [str(w.message) for w in caught]


@pytest.mark.parametrize("names", [["r&amp;b", "r&b"], ["t-shirt", "t - shirt"]])
def test_zero_shot_refuses_class_names_the_tokenizer_merges(names):
    """``check_distinct_prompts`` refuses "big_cat" and "Big cat" because they would get one
    text prompt, but compares strings, not what the tokenizer makes of them: CLIP's
    tokenizer unescapes HTML ("r&amp;b" is "r&b") and splits punctuation ("t-shirt" is
    "t - shirt"). Today such classes are accepted and get identical text embeddings (every
    sample 0.5/0.5 between them). They should be refused with the same ValueError."""
    y = np.array(names * 4)
    with pytest.raises(ValueError):
        LabelMatchDetector(TINY, pretrained=None, device="cpu").fit(_features(), y)


def test_class_text_features_encodes_prompts_in_bounded_batches(monkeypatch):
    """``class_text_features`` (LabelMatchDetector, ConsensusDetector(zero_shot=True)) runs
    every class x template prompt through ``encode_text`` in ONE batch. On the 3.5 M
    parameter test CLIP, 100 classes x CLIP's 80 ImageNet templates already take +1.8 GB;
    ImageNet's 1,000 classes on a real ViT-B text tower need far more memory than a
    machine has. Prompts should be encoded in bounded batches (here: at most 1,024 per
    call) with the same result."""
    backbone = load_backbone(TINY, None)
    names = [f"class {i}" for i in range(30)]
    templates = [f"a photo number {j} of a {{}}." for j in range(40)]  # 1,200 prompts
    sizes = []
    original = backbone.model.encode_text

    def recording(tokens, *args, **kwargs):
        sizes.append(len(tokens))
        return original(tokens, *args, **kwargs)

    monkeypatch.setattr(backbone.model, "encode_text", recording)
    features = class_text_features(backbone, names, templates)
    assert features.shape == (30, 48)
    assert max(sizes) <= 1024, sizes


# --------------------------------------------------------------- Hugging Face text towers

WORDS = "a photo of the cat dog car cafe x . , small big".split()


@pytest.fixture(scope="module")
def tiny_hf_backbone(tmp_path_factory):
    """A backbone spec whose CLIP has a 2-layer BERT text tower (uncased, its own
    vocabulary, random weights, built in a temporary folder: no download)."""
    pytest.importorskip("transformers")
    return "open_clip:" + tiny_hf_clip_name(tmp_path_factory, "test-inputs-tiny-hf", words=WORDS)


def test_prompt_encoder_default_tokenizer_on_a_hugging_face_tower_is_refused_clearly(tiny_hf_backbone):
    """``PromptTextEncoder(clip, names)`` with ``tokenizer=None`` tokenises with CLIP's BPE
    even when the text tower is a Hugging Face encoder (the aligned CLIPs, RoBERTa, ...):
    BPE ids are fed to BERT's embedding table and the user sees ``IndexError: index out of
    range in self`` (with a large vocabulary, silently wrong prompts). The encoder checks
    for a wrong tokenizer ("pass the model's tokenizer") but only by sequence length. It
    should raise a ValueError saying to pass the model's own tokenizer (or use it)."""
    backbone = load_backbone(tiny_hf_backbone, None)
    with pytest.raises(ValueError, match="tokenizer"):
        PromptTextEncoder(backbone.trainable_copy(), ["cat", "dog"])


def test_zero_shot_refuses_class_names_an_uncased_tokenizer_merges(tiny_hf_backbone):
    """An uncased BERT tokenizer (the aligned CLIPs' MiniLM) strips accents: "café" and
    "cafe" become one prompt. Today LabelMatchDetector accepts them and gives every
    sample 0.5/0.5 between the two (measured on open_clip:skclip-aligned-mobilenetv2 too).
    They should be refused like "big_cat" and "Big cat" are."""
    y = np.array(["café", "cafe"] * 4)
    with pytest.raises(ValueError):
        LabelMatchDetector(tiny_hf_backbone, pretrained=None, device="cpu").fit(_features(width=24), y)
