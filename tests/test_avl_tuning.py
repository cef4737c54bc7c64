"""AVLPrompter's ``tuning``: how much of the image tower trains ("full" or "peft")."""

import pickle

import numpy as np
import pytest
import torch

from skclip_noise import AVLPrompter, make_noisy_labels
from skclip_noise._param_validation import InvalidParameterError
from skclip_noise.backbones import load_backbone

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, prompt_depth=2, epochs=1, batch_size=8,
            device="cpu", random_state=0)
#: Towers without vision prompts: the test-only CNN trunk and the hybrid CLIP's MobileNetV2
#: trunk (random weights, so nothing is downloaded; 32 px to keep it fast).
NON_VIT = [
    pytest.param(dict(backbone="open_clip:skclip-tiny-cnn"), id="skclip-tiny-cnn"),
    pytest.param(dict(backbone="open_clip:skclip-hybrid-mobilenetv2", image_size=32), id="skclip-hybrid-mobilenetv2"),
]


@pytest.fixture(scope="module")
def data(digits):
    """24 digit images with string labels (25% symmetric noise) and 8 new images."""
    images, y = digits
    names = y.astype(str)
    y_noisy, _ = make_noisy_labels(names[:24], "symmetric", 0.25, random_state=0)
    return images[:24], y_noisy, images[24:32]


def _capture_peers(monkeypatch):
    """Spy on ``_build_peers``: each build's peers and a copy of their state as built."""
    built = []
    original = AVLPrompter._build_peers

    def spy(self, *args, **kwargs):
        peers = original(self, *args, **kwargs)
        built.append((peers, {k: v.detach().clone() for k, v in peers.state_dict().items()}))
        return peers

    monkeypatch.setattr(AVLPrompter, "_build_peers", spy)
    return built


def _changed(module, reference):
    """Names of the state entries (parameters and buffers) of ``module`` that differ from ``reference``'s."""
    ref = reference.state_dict()
    return {k for k, v in module.state_dict().items() if not torch.equal(v, ref[k])}


def _bias_names(module):
    return {n for n, _ in module.named_parameters() if n.split(".")[-1].endswith("bias")}


def test_tuning_defaults_to_full():
    """The default is "full", the paper's setting (both encoders fine-tuned)."""
    assert AVLPrompter().get_params()["tuning"] == "full"
    assert "freeze_image" not in AVLPrompter().get_params()


def test_peft_on_a_vit_tower_keeps_every_image_tower_weight_and_trains_the_prompts(data, monkeypatch):
    """tuning="peft" on the tiny ViT CLIP: every parameter and buffer of each trained peer's
    image tower stays equal to the loaded one (none requires a gradient, and the tower stays
    in eval mode in training), while the text context, the deep text prompts and the
    coupling layers (the vision prompts that enter the tower) train; the fitted state leaves
    the image tower out."""
    X, y, X_new = data
    loaded = load_backbone(TINY["backbone"], None).model
    built = _capture_peers(monkeypatch)
    clf = AVLPrompter(**TINY, tuning="peft").fit(X, y)
    assert clf.coupled_
    peers, initial = built[0]  # the peers fit trained (later builds restore them to predict)
    trained = peers.state_dict()
    for k, net in enumerate(peers.nets):
        assert net.image_tuning == "vpt"
        assert _changed(net.clip.visual, loaded.visual) == set()
        assert not any(p.requires_grad for p in net.clip.visual.parameters())
        net.train()
        assert not net.clip.visual.training and net.prompts.couplings[0].training
        prompts = [f"nets.{k}.prompts.text_encoder.ctx", f"nets.{k}.prompts.couplings.0.weight",
                   f"nets.{k}.prompts.couplings.1.weight", f"nets.{k}.prompts.deep_text_prompts.0"]
        assert all(name in trained for name in prompts)
        unchanged = [name for name in prompts if torch.equal(trained[name], initial[name])]
        assert unchanged == [], f"prompts that did not train: {unchanged}"
    assert not any(".visual." in key for state in clf.peer_states_ for key in state)
    assert clf.predict_proba(X_new).shape == (len(X_new), len(clf.classes_))


def test_full_changes_image_tower_weights(data):
    """tuning="full" fine-tunes the image tower: its weight matrices (the patch embedding,
    the attention and MLP projections), not only its biases, differ from the loaded ones, and
    the fitted state carries them."""
    X, y, _ = data
    loaded = load_backbone(TINY["backbone"], None).model.visual.state_dict()
    clf = AVLPrompter(**TINY, tuning="full").fit(X, y)
    prefix = "prompts.text_encoder.clip.visual."
    for state in clf.peer_states_:
        visual = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        changed = {k for k, v in visual.items() if not torch.equal(v, loaded[k])}
        for name in ("conv1.weight", "transformer.resblocks.0.attn.in_proj_weight",
                     "transformer.resblocks.1.mlp.c_fc.weight"):
            assert name in changed, f"{name} did not train"


@pytest.mark.parametrize("tower", NON_VIT)
def test_peft_on_a_non_vit_tower_trains_only_its_bias_terms(data, monkeypatch, tower):
    """tuning="peft" on a tower without vision prompts is BitFit: only the tower's bias
    parameters require a gradient and change; every other parameter and every buffer
    (BatchNorm running statistics included: the tower stays in eval mode) keeps its loaded
    value; fit says so in its warning."""
    X, y, _ = data
    params = {**TINY, "prompt_depth": 1, "n_networks": 1, **tower}
    loaded = load_backbone(params["backbone"], None).model.visual
    biases = _bias_names(loaded)
    assert biases, "precondition: the tower has bias terms"
    built = _capture_peers(monkeypatch)
    with pytest.warns(UserWarning, match=r"not a ViT.*only the image tower's bias terms \(BitFit\)"):
        clf = AVLPrompter(**params, tuning="peft").fit(X, y)
    assert not clf.coupled_
    net = built[0][0].nets[0]
    assert net.image_tuning == "bitfit"
    assert {n for n, p in net.clip.visual.named_parameters() if p.requires_grad} == biases
    changed = _changed(net.clip.visual, loaded)
    assert changed, "no bias term trained"
    assert changed <= biases, f"not bias terms, yet changed: {sorted(changed - biases)[:5]}"
    buffers = {n for n, _ in loaded.named_buffers()}
    assert any("running_mean" in n for n in buffers) and not changed & buffers


def test_predicting_after_bitfit_uses_the_trained_biases_and_pickles(data, monkeypatch):
    """After a BitFit fit the tower is no longer the cached one: the fitted state carries the
    trained biases (and no other weight of the tower), the model rebuilt to predict has them
    (not the cached backbone's), predicts exactly what the trained peers predict, and a
    pickled copy predicts the same."""
    X, y, X_new = data
    params = {**TINY, "backbone": "open_clip:skclip-tiny-cnn", "prompt_depth": 1}
    cached = load_backbone(params["backbone"], None)
    built = _capture_peers(monkeypatch)
    with pytest.warns(UserWarning, match="BitFit"):
        clf = AVLPrompter(**params, tuning="peft").fit(X, y)
    trained = built[0][0]
    prefix = "prompts.text_encoder.clip.visual."
    biases = _bias_names(cached.model.visual)
    for state in clf.peer_states_:
        tower_params = {k[len(prefix):] for k in state if k.startswith(prefix)} - {
            n for n, _ in cached.model.visual.named_buffers()}
        assert tower_params == biases
    restored, backbone, device = clf._fitted_model()
    assert restored is not trained
    for net, fitted_net in zip(restored.nets, trained.nets):
        assert _changed(net.clip.visual, fitted_net.clip.visual) == set()
        assert _changed(net.clip.visual, cached.model.visual) & biases
    X_checked = clf._check_X(X_new, reset=False)
    expected = clf._average_proba(clf._peer_logits(trained, backbone, X_checked, device))
    proba = clf.predict_proba(X_new)
    np.testing.assert_array_equal(proba, expected)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X_new), proba)
    np.testing.assert_array_equal(loaded.clean_proba(X, y), clf.clean_proba(X, y))


@pytest.mark.parametrize("value", ["frozen", "FULL", True, None])
def test_other_tuning_values_are_refused_naming_the_accepted_ones(data, value):
    """"frozen" (and any value but "full" or "peft") raises InvalidParameterError before
    any training, naming the parameter and both accepted values."""
    X, y, _ = data
    with pytest.raises(InvalidParameterError, match=r"'tuning' parameter of AVLPrompter must be a str among") as info:
        AVLPrompter(**TINY, tuning=value).fit(X, y)
    message = str(info.value)
    assert "'full'" in message and "'peft'" in message and "'frozen'" not in message.split("Got")[0]


@pytest.mark.parametrize("fitted_with, changed_to, pickled", [("full", "peft", False), ("peft", "full", True)])
def test_set_params_tuning_after_fit_makes_predict_refuse(data, fitted_with, changed_to, pickled):
    """tuning is one of the parameters the fitted peers are built from (``_model_params``):
    after ``set_params(tuning=...)`` predicting refuses with a ValueError that names it and
    says to refit (also after pickling); set back, it predicts as before (as
    tests/test_estimator_lifecycle.py asks of every torch estimator)."""
    X, y, X_new = data
    clf = AVLPrompter(**TINY, n_networks=1, tuning=fitted_with).fit(X, y)
    before = clf.predict_proba(X_new)
    clf.set_params(tuning=changed_to)
    if pickled:
        clf = pickle.loads(pickle.dumps(clf))
    refusal = rf"fitted with tuning='{fitted_with}', but tuning is now '{changed_to}'.*Refit"
    with pytest.raises(ValueError, match=refusal):
        clf.predict_proba(X_new)
    with pytest.raises(ValueError, match=refusal):
        clf.clean_proba(X, y)
    clf.set_params(tuning=fitted_with)
    np.testing.assert_array_equal(clf.predict_proba(X_new), before)


def test_set_params_freeze_text_after_fit_makes_predict_refuse(data):
    """freeze_text also decides which weights the fitted peers keep: changed after fit (and
    pickled), prediction refuses naming it, where it failed to load the state, naming no
    parameter."""
    X, y, X_new = data
    clf = AVLPrompter(**TINY, n_networks=1, freeze_text=True).fit(X, y)
    clf.set_params(freeze_text=False)
    clf = pickle.loads(pickle.dumps(clf))
    with pytest.raises(ValueError, match=r"fitted with freeze_text=True, but freeze_text is now False.*Refit"):
        clf.predict_proba(X_new)
