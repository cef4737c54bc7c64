"""ImageClassifierNet: an image tower copy plus a new linear head."""

import copy

import pytest
import torch

from skclip_noise.backbones import load_backbone
from skclip_noise.backbones.heads import ImageClassifierNet

# spec -> input side used in the tests (timm's test_vit has a fixed 160 px input)
SIZES = {
    "open_clip:skclip-tiny": 32,
    "open_clip:skclip-tiny-cnn": 32,
    "timm:test_vit": 160,
    "timm:test_efficientnet": 32,
    "torchvision:mobilenet_v2": 32,
}
# tunings each family supports (vpt: open_clip ViT towers only)
CASES = [(spec, t) for spec in SIZES for t in ("full", "linear", "bitfit")] + [
    ("open_clip:skclip-tiny", "vpt")
]
N_CLASSES = 3


def _images(spec, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    size = SIZES[spec]
    return torch.randn(n, 3, size, size, generator=g)


def _net(spec, tuning="full", **kwargs):
    torch.manual_seed(0)
    return ImageClassifierNet.from_backbone(load_backbone(spec), N_CLASSES, tuning=tuning, **kwargs)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_feature_widths_clip():
    vit = load_backbone("open_clip:skclip-tiny")
    assert _net("open_clip:skclip-tiny").feature_dim == 96  # default: pre-projection
    assert _net("open_clip:skclip-tiny", feature="pre_projection").feature_dim == 96
    assert _net("open_clip:skclip-tiny", feature="projection").feature_dim == vit.feature_dim == 48
    assert _net("open_clip:skclip-tiny", "vpt", feature="projection", n_vpt=2).feature_dim == 48
    cnn = _net("open_clip:skclip-tiny-cnn")
    assert cnn.feature == "pre_projection" and cnn.feature_dim == 256  # timm trunk's pooled width
    assert _net("open_clip:skclip-tiny-cnn", feature="projection").feature_dim == 48
    assert _net("timm:test_efficientnet").feature == "pooled"
    assert _net("torchvision:mobilenet_v2").feature_dim == load_backbone("torchvision:mobilenet_v2").feature_dim


def test_projection_features_equal_encode_image():
    backbone = load_backbone("open_clip:skclip-tiny")
    net = _net("open_clip:skclip-tiny", "full", feature="projection").eval()
    x = _images("open_clip:skclip-tiny", n=4)
    with torch.no_grad():
        # Same weights and computation; CPU kernels may still differ in the last bit (7e-7 measured).
        torch.testing.assert_close(net.features(x), backbone.model.encode_image(x))
        # the pre-projection feature is what `proj` maps to the embedding
        pre = _net("open_clip:skclip-tiny").eval().features(x)
        torch.testing.assert_close(pre @ backbone.model.visual.proj, backbone.model.encode_image(x))
        # timm trunk: pre-projection pooled feature, then the tower's projection head
        cnn_bb = load_backbone("open_clip:skclip-tiny-cnn")
        cnn = _net("open_clip:skclip-tiny-cnn").eval()
        torch.testing.assert_close(cnn_bb.model.visual.head(cnn.features(x)), cnn_bb.model.encode_image(x))


def _expected_trainable(net, tuning):
    """Names of the parameters that should train."""
    head = {f"head.{n}" for n, _ in net.head.named_parameters()}
    tower = {f"tower.{n}" for n, _ in net.tower.named_parameters()}
    unused = {"tower.proj"} if net.feature == "pre_projection" and hasattr(net.tower, "proj") else set()
    unused |= {n for n in tower if n.startswith("tower.head.")} if hasattr(net.tower, "trunk") else set()
    if tuning == "full":
        return (tower - unused) | head
    if tuning == "linear":
        return head
    if tuning == "bitfit":
        return {n for n in tower - unused if n.endswith("bias")} | head
    return {"prompts"} | head


def _check_parameter_groups(net, tuning):
    groups = net.parameter_groups(1e-4, 1e-2)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in net.parameters() if p.requires_grad}
    by_name = {g["name"]: g for g in groups}
    assert by_name["head"]["lr"] == 1e-2
    head_ids = {id(p) for p in by_name["head"]["params"]}
    assert {id(p) for p in net.head.parameters()} <= head_ids
    if tuning in ("linear", "vpt"):
        assert set(by_name) == {"head"}
    else:
        assert by_name["backbone"]["lr"] == 1e-4
    if tuning == "vpt":
        assert id(net.prompts) in head_ids
    assert net.parameter_groups(0.5)[-1]["lr"] == 0.5


@pytest.mark.parametrize("spec,tuning", CASES)
def test_tuning_shapes_gradients_groups_and_independent_copy(spec, tuning):
    """Per family and tuning: output shapes, which parameters get gradients, the
    optimizer groups, and that an optimizer step leaves the cached backbone alone."""
    backbone = load_backbone(spec)
    before = _state(backbone.model)
    net = _net(spec, tuning, n_vpt=2)
    x = _images(spec)
    feats = net.features(x)
    assert feats.shape == (2, net.feature_dim) == (2, net.head.in_features)
    _check_parameter_groups(net, tuning)
    # eval mode: gradients flow all the same, and the deterministic BatchNorm makes every
    # bias gradient nonzero (train-mode BN cancels per-channel shifts on 1x1 maps)
    net.eval()
    logits = net(x)
    assert logits.shape == (2, N_CLASSES) and torch.isfinite(logits).all()
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2]))
    loss.backward()
    expected = _expected_trainable(net, tuning)
    assert expected  # sanity
    with_grad = {n for n, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad == expected
    assert {n for n, p in net.named_parameters() if p.requires_grad} == expected
    if tuning == "bitfit":
        assert any(n.startswith("tower.") for n in expected)

    opt = torch.optim.SGD(net.parameter_groups(0.1, 1.0), lr=0.1)
    tower_before = _state(net.tower)
    opt.step()
    after = _state(backbone.model)
    assert all(torch.equal(before[k], after[k]) for k in before), "the cached backbone changed"
    changed = {k for k, v in _state(net.tower).items() if not torch.equal(v, tower_before[k])}
    assert bool(changed) == (tuning in ("full", "bitfit"))
    for p in backbone.model.parameters():
        assert not p.requires_grad and p.grad is None


def test_linear_is_frozen_batchnorm_and_no_grad():
    spec = "timm:test_efficientnet"
    net = _net(spec, "linear")
    net.train()
    assert net.training and not net.tower.training
    assert not any(m.training for m in net.tower.modules())
    before = _state(net.tower)
    out = net(_images(spec, n=4, seed=1) * 3 + 1)
    after = _state(net.tower)
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats included
    assert any("running_mean" in k for k in before)
    assert not net.features(_images(spec)).requires_grad
    assert out.requires_grad
    net.eval()
    net.train(True)
    assert not net.tower.training

    # the other tunings let the tower follow the net's mode (BN stats update in training)
    full = _net(spec, "full").train()
    assert full.tower.training
    before = _state(full.tower)
    full(_images(spec, n=4, seed=1) * 3 + 1)
    assert any(not torch.equal(before[k], v) for k, v in _state(full.tower).items() if "running_mean" in k)


@pytest.mark.parametrize("spec", ["open_clip:skclip-tiny-cnn", "timm:test_vit", "torchvision:mobilenet_v2"])
def test_vpt_needs_open_clip_vit(spec):
    with pytest.raises(ValueError, match="open_clip ViT") as info:
        _net(spec, "vpt")
    msg = str(info.value)
    assert "'full'" in msg and "'bitfit'" in msg and "'linear'" in msg


def test_bad_arguments():
    with pytest.raises(ValueError, match="tuning"):
        _net("timm:test_efficientnet", "lora")
    with pytest.raises(ValueError, match="feature"):
        _net("timm:test_efficientnet", feature="cls")
    with pytest.raises(ValueError, match="no projection"):
        _net("torchvision:mobilenet_v2", feature="projection")
    with pytest.raises(ValueError, match="n_vpt"):
        _net("open_clip:skclip-tiny", "vpt", n_vpt=0)


@pytest.mark.parametrize("spec", ["open_clip:skclip-tiny", "open_clip:skclip-tiny-cnn"])
def test_text_tower_dropped(spec):
    net = _net(spec)
    names = [n for n, _ in net.named_parameters()] + [n for n, _ in net.named_buffers()]
    forbidden = ("token_embedding", "text_projection", "ln_final", "positional_embedding", "logit_scale")
    text_names = [n for n in names if any(f in n for f in forbidden) and not n.startswith("tower.positional")]
    assert not text_names
    assert not any(n.startswith(("transformer.", "text.")) for n in names)
    backbone = load_backbone(spec)
    assert not any(m is backbone.model for m in net.modules())
    tower_ids = {id(p) for p in net.parameters()}
    assert not tower_ids & {id(p) for p in backbone.model.parameters()}


def test_head_init_deterministic_and_zero_bias():
    a, b = _net("open_clip:skclip-tiny", "vpt", n_vpt=2), _net("open_clip:skclip-tiny", "vpt", n_vpt=2)
    assert torch.equal(a.head.weight, b.head.weight) and torch.equal(a.prompts, b.prompts)
    assert torch.count_nonzero(a.head.bias) == 0
    torch.manual_seed(1)
    c = ImageClassifierNet.from_backbone(load_backbone("open_clip:skclip-tiny"), N_CLASSES)
    assert not torch.equal(a.head.weight, c.head.weight)
    assert a.head.weight.dtype == torch.float32


def test_modified_resnet_tower_projection_only():
    from open_clip.modified_resnet import ModifiedResNet

    torch.manual_seed(0)
    tower = ModifiedResNet(layers=(1, 1, 1, 1), output_dim=16, heads=2, image_size=32, width=8).eval()
    net = ImageClassifierNet(tower, N_CLASSES, input_size=32)
    assert net.feature == "projection" and net.feature_dim == 16
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, N_CLASSES)
    with pytest.raises(ValueError, match="pre_projection"):
        ImageClassifierNet(tower, N_CLASSES, feature="pre_projection", input_size=32)
    with pytest.raises(ValueError, match="open_clip ViT"):
        ImageClassifierNet(tower, N_CLASSES, tuning="vpt", input_size=32)


@pytest.mark.parametrize(
    "spec, expected", [("open_clip:skclip-tiny", "vpt"), ("open_clip:skclip-tiny-cnn", "bitfit"),
                       ("timm:test_vit", "bitfit"), ("torchvision:mobilenet_v2", "bitfit")]
)
def test_peft_method_follows_the_tower_kind(spec, expected):
    from skclip_noise.backbones.towers import peft_method_for

    assert peft_method_for(load_backbone(spec).tower_kind) == expected


@pytest.mark.parametrize("spec", ["open_clip:skclip-tiny", "open_clip:skclip-tiny-cnn", "timm:test_vit"])
def test_tower_kind_from_backbone_equals_inferred(spec):
    backbone = load_backbone(spec)
    net = _net(spec)
    assert net._kind == backbone.tower_kind
    torch.manual_seed(0)
    inferred = ImageClassifierNet(copy.deepcopy(backbone.image_tower), N_CLASSES, input_size=SIZES[spec])
    assert inferred.feature == net.feature and inferred.feature_dim == net.feature_dim
    assert torch.equal(inferred.head.weight, net.head.weight)


def test_bad_tower_kind():
    with pytest.raises(ValueError, match="tower_kind"):
        ImageClassifierNet(torch.nn.Linear(2, 2), N_CLASSES, tower_kind="timm_trunk")
