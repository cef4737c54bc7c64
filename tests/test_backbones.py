"""Tests of the backbone layer: spec parsing, the process cache, loading and weights.

Only tiny configs (``open_clip:skclip-tiny``, ``open_clip:skclip-tiny-cnn``, timm's
``test_*`` models) and small torchvision models are built, plus the real offline
ImageNet weights where they are installed. Nothing here downloads: every download path
is exercised up to the point where it must fail, quickly and with a clear message.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

import skclip_noise  # noqa: F401  (torchvision shim before torch/torchvision/timm)
import torch
from torch import nn

from skclip_noise.backbones import (
    PRECISIONS,
    Backbone,
    BackboneSpec,
    clear_backbone_cache,
    load_backbone,
    parse_backbone_spec,
)
from skclip_noise.backbones import hub, loading
from skclip_noise.backbones import offline_weights as ow
from skclip_noise.data.transforms import eval_transform
from skclip_noise.exceptions import PretrainedWeightsUnavailableError

TINY_VIT = "open_clip:skclip-tiny"
TINY_CNN = "open_clip:skclip-tiny-cnn"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Every test starts (and leaves) with an empty backbone cache."""
    clear_backbone_cache()
    yield
    clear_backbone_cache()


@pytest.fixture(scope="module")
def china():
    """A real photo (scikit-learn's bundled china.jpg) as a PIL image."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image("china.jpg"))


def _require_offline(source):
    installed = {e.source: e.installed for e in ow.list_offline_weights()}
    if not installed.get(source):
        pytest.skip(
            f"offline weights {source!r} not installed: {ow.OFFLINE_SOURCES[source]['pip_install']}"
        )


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_state(a, b):
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ----------------------------------------------------------------------- spec parsing


@pytest.mark.parametrize(
    "spec, family, name",
    [
        ("open_clip:skclip-tiny", "open_clip", "skclip-tiny"),
        ("open_clip:ViT-B-32", "open_clip", "ViT-B-32"),
        ("timm:resnet18", "timm", "resnet18"),
        ("timm:resnet18.a1_in1k", "timm", "resnet18.a1_in1k"),
        ("timm:test_vit.r160_in1k", "timm", "test_vit.r160_in1k"),
        ("torchvision:mobilenet_v2", "torchvision", "mobilenet_v2"),
        ("Open-CLIP: skclip-tiny ", "open_clip", "skclip-tiny"),  # family normalised, stripped
    ],
)
def test_parse_valid_specs(spec, family, name):
    parsed = parse_backbone_spec(spec)
    assert parsed == BackboneSpec(family, name)
    assert str(parsed) == f"{family}:{name}"
    assert parse_backbone_spec(parsed) == parsed  # a parsed spec passes through


@pytest.mark.parametrize("spec", ["resnet18", "", None, 42, "timm:", "keras:resnet50", "hf:foo"])
def test_parse_rejects_missing_prefix_or_unknown_family(spec):
    with pytest.raises(ValueError, match=r"Invalid backbone.*open_clip, timm or\s+torchvision"):
        parse_backbone_spec(spec)


@pytest.mark.parametrize(
    "spec, suggestion",
    [
        ("open_clip:ViT-B-33", "open_clip:ViT-B-32"),
        ("open_clip:skclip-tiny-cn", "open_clip:skclip-tiny-cnn"),
        ("timm:resnet19", "timm:resnet18"),
        ("timm:resnet19.a1_in1k", "timm:resnet18"),
        ("torchvision:resnet19", "torchvision:resnet18"),
        ("torchvision:mobilenet_v22", "torchvision:mobilenet_v2"),
    ],
)
def test_unknown_model_names_suggest_close_matches(spec, suggestion):
    with pytest.raises(ValueError, match="Unknown") as info:
        parse_backbone_spec(spec)
    message = str(info.value)
    assert "Did you mean" in message
    assert repr(suggestion) in message
    assert "list_models" in message  # and where to look


def test_unknown_model_without_close_match_has_no_suggestion():
    with pytest.raises(ValueError, match="Unknown torchvision model") as info:
        parse_backbone_spec("torchvision:fasterrcnn_resnet50_fpn")  # detection: not offered
    assert "Did you mean" not in str(info.value)


def test_unknown_timm_tag_is_rejected_at_parse_time():
    with pytest.raises(ValueError, match="Unknown timm pretrained tag") as info:
        parse_backbone_spec("timm:resnet18.a1_in1")
    message = str(info.value)
    assert "Did you mean 'timm:resnet18.a1_in1k'" in message
    assert "resnet18.tv_in1k" in message  # the known tags are listed
    with pytest.raises(ValueError, match="Unknown timm pretrained tag"):
        load_backbone("timm:test_vit.bogus")  # not timm's RuntimeError, later


def test_check_exists_false_skips_registry():
    assert parse_backbone_spec("timm:not_a_model", check_exists=False).name == "not_a_model"


# -------------------------------------------------------------------------- the cache


def test_same_arguments_return_the_cached_backbone():
    a = load_backbone(TINY_VIT)
    assert load_backbone(TINY_VIT) is a
    assert load_backbone("open-clip:skclip-tiny", None, device="cpu", precision="fp32") is a
    assert load_backbone(TINY_VIT, device=torch.device("cpu")) is a


def test_other_precision_or_weights_give_another_backbone(tmp_path):
    a = load_backbone(TINY_VIT)
    b = load_backbone(TINY_VIT, precision="bf16")
    assert b is not a and b.precision == "bf16"
    path = tmp_path / "tiny.pt"
    torch.save(a.model.state_dict(), path)
    c = load_backbone(TINY_VIT, str(path))
    assert c is not a and c is not b
    assert load_backbone(TINY_VIT, str(path)) is c
    assert load_backbone(TINY_VIT) is a and a.precision == "fp32"
    assert next(a.model.parameters()).dtype == torch.float32  # b's cast did not touch a


def test_rewritten_checkpoint_file_is_reloaded(tmp_path):
    path = tmp_path / "tiny.pt"
    model = load_backbone(TINY_VIT).trainable_copy()
    torch.save(model.state_dict(), path)
    first = load_backbone(TINY_VIT, path)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    torch.save(model.state_dict(), path)
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # surely a new mtime
    second = load_backbone(TINY_VIT, path)
    assert second is not first
    _assert_same_state(_state(second.model), _state(model))


def test_clear_backbone_cache():
    a = load_backbone("timm:test_resnet")
    clear_backbone_cache()
    b = load_backbone("timm:test_resnet")
    assert b is not a
    assert load_backbone("timm:test_resnet") is b


def test_cache_is_bounded_least_recently_used_first():
    names = ["timm:test_resnet", "timm:test_vit", "timm:test_efficientnet", TINY_VIT, TINY_CNN]
    assert len(names) > loading._CACHE_SIZE
    first = load_backbone(names[0])
    for name in names[1 : loading._CACHE_SIZE]:
        load_backbone(name)
    assert load_backbone(names[0]) is first  # a hit makes it the most recent
    load_backbone(names[loading._CACHE_SIZE])  # evicts names[1], not names[0]
    assert load_backbone(names[0]) is first
    assert len(loading._cache) == loading._CACHE_SIZE


@pytest.mark.parametrize("spec", [TINY_VIT, TINY_CNN, "timm:test_vit", "torchvision:resnet18"])
def test_random_weights_are_seeded_and_leave_global_rng_alone(spec, rng_guard):
    first = _state(load_backbone(spec).model)
    clear_backbone_cache()
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(12345)  # the caller's seed must not matter
        again = load_backbone(spec)
    _assert_same_state(first, _state(again.model))


def test_loading_does_not_reseed_accelerator_rngs(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: calls.append(seed))
    load_backbone("timm:test_resnet")
    assert calls == [], "loading a backbone reseeded the CUDA generators (the caller's RNG)"


def test_trainable_copy_is_a_deep_copy_and_cache_stays_frozen():
    backbone = load_backbone(TINY_VIT)
    before = _state(backbone.model)
    copy = backbone.trainable_copy()
    assert copy is not backbone.model
    assert all(p.requires_grad for p in copy.parameters())
    cached = dict(backbone.model.named_parameters())
    for name, p in copy.named_parameters():
        assert p.data_ptr() != cached[name].data_ptr(), name
    with torch.no_grad():
        for p in copy.parameters():
            p.add_(1.0)
    copy.train()
    assert not backbone.model.training
    assert not any(m.training for m in backbone.model.modules())
    assert not any(p.requires_grad for p in backbone.model.parameters())
    _assert_same_state(before, _state(backbone.model))
    assert load_backbone(TINY_VIT).model is backbone.model


# ------------------------------------------------------------------ encode / features


@pytest.mark.parametrize(
    "spec, pretrained, feature_dim",
    [
        (TINY_VIT, None, 48),
        (TINY_CNN, None, 48),  # open_clip with a timm trunk
        ("timm:test_vit", None, 64),
        ("timm:test_efficientnet", None, 256),
        ("timm:test_resnet", None, 96),
        ("torchvision:resnet18", None, 512),
        ("torchvision:mobilenet_v2", None, 1280),
    ],
)
def test_encode_images_width_is_feature_dim(spec, pretrained, feature_dim, china):
    backbone = load_backbone(spec, pretrained)
    assert isinstance(backbone, Backbone)
    assert backbone.feature_dim == feature_dim
    size = backbone.preprocess_config.image_size
    x = backbone.preprocess(china)
    assert x.shape == (3, size, size)
    batch = torch.stack([x, x.flip(-1)])
    with torch.no_grad():
        features = backbone.encode_images(batch)
    assert features.shape == (2, feature_dim)
    assert torch.isfinite(features).all()
    assert backbone.is_clip == spec.startswith("open_clip")
    if backbone.is_clip:
        assert backbone.image_tower is backbone.model.visual
        assert backbone.tokenizer is not None
        with torch.no_grad():
            text = backbone.model.encode_text(backbone.tokenizer(["a photo", "a dog"]))
        assert text.shape == (2, feature_dim)  # one joint space
    else:
        assert backbone.image_tower is backbone.model
        assert backbone.tokenizer is None


@pytest.mark.parametrize(
    "spec, pretrained",
    [
        (TINY_VIT, None),
        (TINY_CNN, None),
        ("timm:test_vit", None),
        ("timm:test_resnet", None),
        ("torchvision:resnet18", None),
        # crop_pct 0.95: the resize side must be floored (235), as timm does, not rounded.
        ("timm:resnet18.a1_in1k", None),
    ],
)
def test_preprocess_config_reproduces_the_backbone_preprocess(spec, pretrained, china):
    backbone = load_backbone(spec, pretrained)
    ours = eval_transform(backbone.preprocess_config)(china)
    theirs = backbone.preprocess(china)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "arch, width, head",
    [("resnet18", 512, "fc"), ("mobilenet_v2", 1280, "classifier.1"), ("vgg11", 4096, "classifier.6")],
)
def test_drop_classifier_replaces_the_last_linear(arch, width, head):
    import torchvision

    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        model = torchvision.models.get_model(arch, weights=None)
    assert loading._drop_classifier(model, arch) == width
    assert isinstance(model.get_submodule(head), nn.Identity)
    with torch.no_grad():
        assert model(torch.empty(1, 3, 224, 224, device="meta")).shape == (1, width)


def test_torchvision_without_linear_classifier_is_refused():
    with pytest.raises(ValueError, match="no Linear classifier"):
        load_backbone("torchvision:squeezenet1_0")


def test_torchvision_backbone_has_no_classifier_left():
    backbone = load_backbone("torchvision:resnet18")
    assert isinstance(backbone.model.fc, nn.Identity)
    assert not any(isinstance(m, nn.Linear) for m in backbone.model.modules())


# ------------------------------------------------------------------------ precision


@pytest.mark.parametrize("precision", ["fp64", "float32", "half", None, "FP32"])
def test_invalid_precision(precision):
    with pytest.raises(ValueError, match="precision must be one of"):
        load_backbone(TINY_VIT, precision=precision)


def test_bf16_backbone_has_bf16_parameters():
    assert PRECISIONS["bf16"] is torch.bfloat16
    backbone = load_backbone(TINY_VIT, precision="bf16")
    assert backbone.precision == "bf16"
    assert {p.dtype for p in backbone.model.parameters()} == {torch.bfloat16}
    size = backbone.preprocess_config.image_size
    with torch.no_grad():
        features = backbone.encode_images(torch.zeros(2, 3, size, size, dtype=torch.bfloat16))
    assert features.shape == (2, 48) and features.dtype == torch.bfloat16


# ------------------------------------------------------------ pretrained: downloads


def test_open_clip_openai_fails_fast_with_local_checkpoint_advice():
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailableError) as info:
        load_backbone("open_clip:ViT-B-32", "openai")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert re.search(r"pretrained='/path/to/[^']+'", message), message
    assert "quickgelu" in message.lower()
    assert "ViT-B-32-quickgelu" in message
    assert "openai" in message
    assert not loading._cache  # failures are not cached


_NO_OFFLINE_ENV_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, time
    import skclip_noise
    from skclip_noise.backbones import load_backbone
    from skclip_noise.exceptions import PretrainedWeightsUnavailableError

    out = {}
    start = time.monotonic()
    try:
        load_backbone("open_clip:ViT-B-32", "openai")
        out["error"] = None
    except PretrainedWeightsUnavailableError as exc:
        out["error"], out["message"] = "PretrainedWeightsUnavailableError", str(exc)
    except Exception as exc:
        out["error"], out["message"] = type(exc).__name__, str(exc)
    out["seconds"] = time.monotonic() - start
    digest = hashlib.sha256()
    for value in load_backbone("open_clip:skclip-tiny").model.state_dict().values():
        digest.update(value.detach().contiguous().numpy().tobytes())
    out["tiny_sha256"] = digest.hexdigest()
    print("RESULT" + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def no_offline_env_run():
    """One fresh interpreter without HF_HUB_OFFLINE: the probe alone must fail fast."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    proc = subprocess.run(
        [sys.executable, "-c", _NO_OFFLINE_ENV_SCRIPT],
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


@pytest.mark.slow
def test_openai_fails_fast_without_hf_hub_offline(no_offline_env_run):
    out = no_offline_env_run
    assert out["error"] == "PretrainedWeightsUnavailableError", out
    assert out["seconds"] < 15, out
    assert "pretrained='/path/to/" in out["message"]


@pytest.mark.slow
def test_random_weights_are_identical_across_processes(no_offline_env_run):
    digest = __import__("hashlib").sha256()
    for value in load_backbone(TINY_VIT).model.state_dict().values():
        digest.update(value.detach().contiguous().numpy().tobytes())
    assert no_offline_env_run["tiny_sha256"] == digest.hexdigest()


def test_hub_guard_switches_huggingface_offline_when_host_unreachable(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "host_reachable", lambda host, port=443: False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    seen = []
    with pytest.raises(PretrainedWeightsUnavailableError, match="LOCAL HINT") as info:
        with hub.hub_download_guard("some weights", "LOCAL HINT", host="example.invalid"):
            seen.append(constants.HF_HUB_OFFLINE)
            raise OSError("boom")
    assert seen == [True]
    assert constants.HF_HUB_OFFLINE is False  # restored
    assert "example.invalid is not reachable" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


class _Stop(Exception):
    pass


@pytest.mark.parametrize(
    "name, tag, quick_gelu",
    [
        ("ViT-B-32", "openai", True),
        ("ViT-B-32", "laion2b_s34b_b79k", False),
        ("ViT-B-32-quickgelu", "openai", False),  # the architecture has it already
    ],
)
def test_quick_gelu_is_forced_only_for_tags_that_need_it(monkeypatch, name, tag, quick_gelu):
    import open_clip

    captured = {}

    def fake(model_name, **kwargs):
        captured.update(kwargs, model_name=model_name)
        raise _Stop("no download in tests")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", fake)
    with pytest.raises(PretrainedWeightsUnavailableError) as info:
        load_backbone(f"open_clip:{name}", tag)
    assert isinstance(info.value.__cause__, _Stop)
    assert captured["model_name"] == name and captured["pretrained"] == tag
    assert captured.get("force_quick_gelu", False) is quick_gelu
    # the advice for a local copy names the -quickgelu architecture exactly when needed
    assert (f"backbone='open_clip:{name}-quickgelu'" in str(info.value)) is quick_gelu


def test_unknown_open_clip_tag_lists_the_tags():
    with pytest.raises(ValueError, match="no pretrained tag 'laion2b_bogus'") as info:
        load_backbone("open_clip:ViT-B-32", "laion2b_bogus")
    assert "'openai'" in str(info.value) and "'laion2b_s34b_b79k'" in str(info.value)
    with pytest.raises(ValueError, match="known tags: none"):
        load_backbone(TINY_VIT, "openai")  # a test-only config has no tags at all


def test_timm_hub_weights_fail_fast():
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailableError) as info:
        load_backbone("timm:test_vit.r160_in1k", True)
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "test_vit.r160_in1k" in message
    assert "pretrained='/path/to/state_dict.pth'" in message


def test_timm_unknown_pretrained_value():
    with pytest.raises(ValueError, match="not understood for timm"):
        load_backbone("timm:test_vit", "imagenet")


def test_torchvision_weights_fail_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached copy, and nothing written home
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailableError) as info:
        load_backbone("torchvision:resnet18", "IMAGENET1K_V1")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "download.pytorch.org" in message
    assert "https://download.pytorch.org/models/resnet18-" in message  # the file to fetch
    assert "pretrained='/path/to/file.pth'" in message


@pytest.mark.parametrize(
    "spec, pretrained, clip",
    [("open_clip:ViT-B-32", "openai", True),  # the CLI's default backbone
     ("timm:test_vit.r160_in1k", True, False),
     ("torchvision:resnet18", "IMAGENET1K_V1", False)],
)
def test_failed_download_names_the_offline_weights(spec, pretrained, clip, monkeypatch, tmp_path):
    # issue 19: offline, the message must say that real weights ship without a download
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(PretrainedWeightsUnavailableError) as info:
        load_backbone(spec, pretrained)
    python, cli = str(info.value), info.value.cli_message
    assert 'backbone="torchvision:mobilenet_v2", pretrained="offline"' in python
    assert "--backbone torchvision:mobilenet_v2 --pretrained offline" in cli
    assert "--backbone torchvision" not in python and 'backbone="torchvision' not in cli
    # the local-checkpoint advice, too, in each one's own words
    assert "pretrained='/path/to/" in python and "pretrained='/path/to/" not in cli
    assert "--pretrained /path/to/" in cli
    assert ('backbone="open_clip:skclip-aligned-mobilenetv2", pretrained="offline"' in python) is clip
    assert ("--backbone open_clip:skclip-aligned-mobilenetv2 --pretrained offline" in cli) is clip


def test_offline_route_names_weights_that_exist_and_how_to_install_them(monkeypatch):
    # the route named is a real one: a known spec with offline weights
    assert parse_backbone_spec(hub.OFFLINE_BACKBONE).family == "torchvision"
    assert ow.offline_source_for("torchvision", parse_backbone_spec(hub.OFFLINE_BACKBONE).name)
    assert parse_backbone_spec(hub.OFFLINE_CLIP_BACKBONE).family == "open_clip"
    pip = ow.OFFLINE_SOURCES["mobilenet_v2"]["pip_install"]
    entries = ow.list_offline_weights()
    installed = [e._replace(installed=True) for e in entries]
    missing = [e._replace(installed=False) for e in entries]
    monkeypatch.setattr(ow, "list_offline_weights", lambda: installed)
    assert pip not in hub.offline_route("cli")
    monkeypatch.setattr(ow, "list_offline_weights", lambda: missing)
    assert hub.offline_route("cli").endswith(f"install those weights first with `{pip}`.")
    with pytest.raises(ValueError, match="style"):
        hub.offline_route("bash")


def test_weights_error_pickles_with_its_cli_message():
    import pickle

    error = pickle.loads(pickle.dumps(PretrainedWeightsUnavailableError("py", cli_message="cli")))
    assert (str(error), error.cli_message) == ("py", "cli")
    assert PretrainedWeightsUnavailableError("only").cli_message == "only"


@pytest.mark.parametrize("weights", ["IMAGENET1K_V3", "imagenet", "default"])
def test_torchvision_unknown_weight_names(weights):
    with pytest.raises(ValueError, match="torchvision has no weights") as info:
        load_backbone("torchvision:resnet18", weights)
    assert "IMAGENET1K_V1" in str(info.value)


# ------------------------------------------------------------------ local checkpoints


def _perturbed_tiny_state():
    """A tiny CLIP state dict that differs from the seeded random initialisation."""
    model = load_backbone(TINY_VIT).trainable_copy()
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.add_(0.01 * (i + 1))
    clear_backbone_cache()
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_open_clip_local_checkpoint(tmp_path, fmt):
    state = _perturbed_tiny_state()
    path = tmp_path / f"tiny.{fmt}"
    if fmt == "pt":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    backbone = load_backbone(TINY_VIT, str(path))
    _assert_same_state(state, _state(backbone.model))
    random_init = _state(load_backbone(TINY_VIT).model)
    assert not torch.equal(random_init["visual.proj"], state["visual.proj"])


def test_open_clip_mismatching_checkpoint(tmp_path):
    path = tmp_path / "cnn.pt"
    torch.save(load_backbone(TINY_CNN).model.state_dict(), path)
    with pytest.raises(ValueError, match="Cannot load checkpoint .* into open_clip 'skclip-tiny'"):
        load_backbone(TINY_VIT, path)


def test_timm_local_state_dict(tmp_path):
    import timm

    model = timm.create_model("test_resnet", pretrained=False)  # with its classifier
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5)
    path = tmp_path / "test_resnet.pth"
    torch.save({"state_dict": model.state_dict()}, path)  # a wrapped state dict
    backbone = load_backbone("timm:test_resnet", path)
    loaded = _state(backbone.model)
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    _assert_same_state(expected, loaded)
    assert backbone.feature_dim == 96
    x = torch.randn(2, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected_features = model.eval().forward_head(model.forward_features(x), pre_logits=True)
        torch.testing.assert_close(backbone.encode_images(x), expected_features)


def test_torchvision_local_state_dict(tmp_path):
    import torchvision

    model = torchvision.models.get_model("shufflenet_v2_x0_5", weights=None)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(-1.0)
    path = tmp_path / "shufflenet.pth"
    torch.save(model.state_dict(), path)
    backbone = load_backbone("torchvision:shufflenet_v2_x0_5", str(path))
    assert backbone.feature_dim == 1024
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    _assert_same_state(expected, _state(backbone.model))


@pytest.mark.parametrize(
    "spec, source",
    [
        ("timm:test_vit", "timm:test_resnet"),
        ("torchvision:shufflenet_v2_x1_0", "torchvision:shufflenet_v2_x0_5"),
    ],
)
def test_mismatching_state_dict_gives_clear_error(tmp_path, spec, source):
    path = tmp_path / "other.pth"
    if source.startswith("timm:"):
        import timm

        torch.save(timm.create_model(source[5:], pretrained=False).state_dict(), path)
    else:
        import torchvision

        torch.save(torchvision.models.get_model(source[12:], weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="do not match the architecture"):
        load_backbone(spec, str(path))


def test_unreadable_checkpoint_gives_clear_error(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="Cannot read checkpoint"):
        load_backbone("timm:test_vit", str(path))


@pytest.mark.parametrize("spec", [TINY_VIT, "timm:test_vit", "torchvision:resnet18"])
def test_missing_checkpoint_path(tmp_path, spec):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_backbone(spec, str(tmp_path / "nope.pt"))
    with pytest.raises(FileNotFoundError):
        load_backbone(spec, "weights.safetensors")  # relative name: a path, not a tag


# -------------------------------------------------------------------- offline weights


@pytest.mark.slow
def test_offline_mobilenet_v2_torchvision_and_timm_agree(china):
    _require_offline("mobilenet_v2")
    tv = load_backbone("torchvision:mobilenet_v2", "offline")
    tm = load_backbone("timm:mobilenetv2_100", "offline")
    assert tv.feature_dim == tm.feature_dim == 1280
    assert tv.preprocess_config == tm.preprocess_config
    assert tv.preprocess_config.mean == IMAGENET_MEAN
    with torch.no_grad():
        a = tv.encode_images(tv.preprocess(china).unsqueeze(0))
        b = tm.encode_images(tm.preprocess(china).unsqueeze(0))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert a.abs().sum() > 0


def test_offline_tf_efficientnet_lite0(china):
    _require_offline("efficientnet_lite0")
    backbone = load_backbone("timm:tf_efficientnet_lite0", "offline")
    assert backbone.feature_dim == 1280
    cfg = backbone.preprocess_config
    assert (cfg.mean, cfg.std, cfg.interpolation) == ((0.5,) * 3, (0.5,) * 3, "bicubic")
    expected = ow.offline_state_dict("timm", "tf_efficientnet_lite0")
    loaded = backbone.model.state_dict()
    assert set(expected) - set(loaded) == {"classifier.weight", "classifier.bias"}
    for k, v in loaded.items():
        assert torch.equal(v, expected[k]), k
    with torch.no_grad():
        features = backbone.encode_images(backbone.preprocess(china).unsqueeze(0))
    assert features.shape == (1, 1280) and torch.isfinite(features).all()


@pytest.mark.parametrize(
    "spec", ["timm:resnet18", "torchvision:resnet18", "timm:efficientnet_lite0"]
)
def test_offline_without_offline_weights_lists_available(spec):
    with pytest.raises(ValueError, match="No offline weights exist") as info:
        load_backbone(spec, "offline")
    message = str(info.value)
    for name in ("torchvision:mobilenet_v2", "timm:mobilenetv2_100", "timm:tf_efficientnet_lite0"):
        assert name in message


@pytest.mark.slow
def test_hybrid_clip_trunk_has_the_offline_mobilenet_weights(china):
    _require_offline("mobilenet_v2")
    backbone = load_backbone("open_clip:skclip-hybrid-mobilenetv2", "offline")
    raw = torch.load(ow.offline_weights_path("mobilenet_v2"), map_location="cpu", weights_only=True)
    raw = [v for k, v in raw.items() if not k.startswith("classifier.")]
    trunk = list(backbone.model.visual.trunk.state_dict().values())
    assert len(trunk) == len(raw) == 312
    for i, (a, b) in enumerate(zip(trunk, raw)):
        assert a.shape == b.shape and torch.equal(a, b), i
    cfg = backbone.preprocess_config
    assert cfg.mean == IMAGENET_MEAN and cfg.std == IMAGENET_STD
    assert cfg.interpolation == "bilinear" and cfg.image_size == 224
    normalize = backbone.preprocess.transforms[-1]
    assert tuple(normalize.mean) == IMAGENET_MEAN and tuple(normalize.std) == IMAGENET_STD
    with torch.no_grad():
        features = backbone.encode_images(backbone.preprocess(china).unsqueeze(0))
    assert features.shape == (1, backbone.feature_dim) == (1, 256)


def test_offline_on_a_config_without_offline_trunk():
    for spec in (TINY_VIT, TINY_CNN):
        with pytest.raises(ValueError, match="pretrained='offline' needs an open_clip config") as info:
            load_backbone(spec, "offline")
        assert "skclip-hybrid-mobilenetv2" in str(info.value)
