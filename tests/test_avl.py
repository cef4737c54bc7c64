"""AVLPrompter: coupled prompts on any widths, co-divide, the loss terms, freezing, the estimator."""

import json
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold

from skclip_noise import AVLPrompter, make_noisy_labels
from skclip_noise.backbones import load_backbone
from skclip_noise.classifiers import _avl_training, avl
from skclip_noise.classifiers._avl_training import (
    AVLNetwork,
    avl_loss,
    co_divide,
    fixmatch_loss,
    uniform_prior_penalty,
)
from skclip_noise.selection import LossMixture

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, prompt_depth=2, epochs=2, batch_size=8,
            device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data(digits):
    """24 real digit images with string labels (25% symmetric noise) and 8 clean new pairs."""
    images, y = digits
    names = y.astype(str)
    y_noisy, _ = make_noisy_labels(names[:24], "symmetric", 0.25, random_state=0)
    return images[:24], y_noisy, images[24:32], names[24:32]


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _, _ = data
    return AVLPrompter(**TINY).fit(X, y)


def _state_hash(module):
    return joblib.hash({k: v.detach().cpu().numpy() for k, v in module.state_dict().items()})


# ------------------------------------------------------------- coupling widths


def _register(tmp_path, name, text_width, vision_width):
    import open_clip

    config = {
        "embed_dim": 24,
        "vision_cfg": {"image_size": 32, "layers": 3, "width": vision_width, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": text_width, "heads": 2, "layers": 3},
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    open_clip.add_model_config(path)


@pytest.mark.parametrize("text_width, vision_width", [(32, 80), (96, 48)])
def test_coupling_maps_text_width_to_vision_width(tmp_path, text_width, vision_width):
    name = f"skclip-test-avl-t{text_width}-v{vision_width}"
    _register(tmp_path, name, text_width, vision_width)
    backbone = load_backbone(f"open_clip:{name}", None)
    net = AVLNetwork(backbone.trainable_copy(), ["cat", "dog", "car"], backbone.tokenizer, n_ctx=2, prompt_depth=3)
    assert net.coupled
    assert len(net.prompts.couplings) == 3 and len(net.prompts.deep_text_prompts) == 2
    for lin in net.prompts.couplings:
        assert (lin.in_features, lin.out_features) == (text_width, vision_width)
    assert all(p.shape == (2, vision_width) for p in net.prompts.vision_prompts())
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    logits = net(images)
    assert logits.shape == (4, 3)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
    # Every prompt, coupling and encoder weight in use gets a gradient.
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.prompt_parameters())
    assert net.clip.visual.conv1.weight.grad.abs().sum() > 0
    assert net.clip.transformer.resblocks[0].mlp.c_fc.weight.grad.abs().sum() > 0
    # And the estimator runs on it.
    X = np.random.default_rng(0).integers(0, 256, (12, 16, 16), dtype=np.uint8)
    clf = AVLPrompter(f"open_clip:{name}", pretrained=None, prompt_depth=3, epochs=1, batch_size=6,
                      device="cpu", random_state=0).fit(X, np.array(["cat", "dog", "car"] * 4))
    assert clf.coupled_ and clf.predict_proba(X).shape == (12, 3)


# ------------------------------------------------------------------ co-divide


def _two_cluster_losses(n, noisy, seed):
    rng = np.random.default_rng(seed)
    loss = 0.1 + 0.01 * rng.random(n)
    loss[noisy] = 3.0 + 0.01 * rng.random(len(noisy))
    return loss


def test_co_divide_gives_each_peer_its_partners_division():
    n = 30
    losses = [_two_cluster_losses(n, np.arange(0, 5), 0), _two_cluster_losses(n, np.arange(20, 30), 1)]
    mixtures, divisions = co_divide(losses, tau=0.5, seed=0)
    # Peer 0 is divided by peer 1's losses and vice versa.
    np.testing.assert_array_equal(divisions[0][1], np.arange(n) < 20)
    np.testing.assert_array_equal(divisions[1][1], np.arange(n) >= 5)
    np.testing.assert_allclose(divisions[0][0], LossMixture(losses[1], 0).clean_posterior(losses[1]))
    np.testing.assert_allclose(divisions[1][0], mixtures[0].clean_posterior(losses[0]))
    # Alone, a network divides itself.
    _, alone = co_divide(losses[:1], tau=0.5, seed=0)
    np.testing.assert_array_equal(alone[0][1], np.arange(n) >= 5)
    # tau is a >= threshold on the posterior.
    proba = divisions[0][0]
    for tau in (0.0, 1.0):
        np.testing.assert_array_equal(co_divide(losses, tau=tau, seed=0)[1][0][1], proba >= tau)


def test_fit_trains_each_peer_on_the_division_of_the_other(data, monkeypatch):
    """By construction: fake per-sample losses that flag other samples for each peer."""
    X, y, _, _ = data
    n = len(y)
    noisy = {0: np.arange(0, 4), 1: np.arange(16, 24)}
    fake = [_two_cluster_losses(n, noisy[0], 0), _two_cluster_losses(n, noisy[1], 1)]
    calls = []

    def fake_peer_losses(logits, codes):
        calls.append(len(logits))
        return [fake[k] for k in range(len(logits))]

    labelled_sets = []

    class SpyDataset(avl.ImageDataset):
        def __init__(self, image_input, transform=None, indices=None):
            super().__init__(image_input, transform, indices)
            if indices is not None:
                labelled_sets.append(np.sort(np.asarray(indices)))

    monkeypatch.setattr(_avl_training, "peer_losses", fake_peer_losses)
    monkeypatch.setattr(avl, "ImageDataset", SpyDataset)
    clf = AVLPrompter(**TINY).fit(X, y)
    assert calls == [2, 2, 2]  # one co-divide per epoch, one after training
    # Peer 0 trained on what peer 1's losses call clean, and peer 1 on peer 0's.
    expected = [np.setdiff1d(np.arange(n), noisy[1]), np.setdiff1d(np.arange(n), noisy[0])]
    assert len(labelled_sets) == 4
    for i, indices in enumerate(labelled_sets):
        np.testing.assert_array_equal(indices, expected[i % 2])
    assert [h["n_labelled"] for h in clf.history_] == [[16, 20], [16, 20]]
    np.testing.assert_array_equal(clf.peer_clean_proba_[0] >= 0.5, ~np.isin(np.arange(n), noisy[1]))
    np.testing.assert_array_equal(clf.peer_clean_proba_[1] >= 0.5, ~np.isin(np.arange(n), noisy[0]))
    np.testing.assert_allclose(clf.clean_proba_, clf.peer_clean_proba_.mean(axis=0))
    np.testing.assert_array_equal(clf.clean_mask_, clf.clean_proba_ >= clf.threshold)


def test_one_network_divides_on_its_own_losses(data, monkeypatch):
    X, y, _, _ = data
    fake = _two_cluster_losses(len(y), np.arange(0, 6), 0)
    monkeypatch.setattr(_avl_training, "peer_losses", lambda logits, codes: [fake] * len(logits))
    clf = AVLPrompter(**TINY, n_networks=1).fit(X, y)
    assert clf.peer_clean_proba_.shape == (1, len(y)) and len(clf.peer_states_) == 1
    assert [h["n_labelled"] for h in clf.history_] == [[18], [18]]
    np.testing.assert_array_equal(clf.clean_mask_, np.arange(len(y)) >= 6)


# ------------------------------------------------------------------ loss terms


def test_fixmatch_mask_keeps_only_confident_pseudo_labels():
    weak = torch.tensor([[5.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.0, 4.0]])  # confidences .987, .36, .965
    strong = torch.tensor([[1.0, 2.0, 0.0], [3.0, 0.0, 0.0], [0.0, 1.0, 1.0]], requires_grad=True)
    loss, mask = fixmatch_loss(weak, strong, threshold=0.95)
    np.testing.assert_array_equal(mask.numpy(), [1.0, 0.0, 1.0])
    ce = torch.nn.functional.cross_entropy(strong, torch.tensor([0, 0, 2]), reduction="none")
    torch.testing.assert_close(loss, (ce[0] + ce[2]) / 3)  # averaged over all unlabelled samples
    loss.backward()
    assert strong.grad[1].abs().sum() == 0
    loss_99, mask_99 = fixmatch_loss(weak, strong, threshold=0.99)
    assert float(mask_99.sum()) == 0 and float(loss_99.detach()) == 0


def test_uniform_prior_penalty_matches_its_formula():
    assert float(uniform_prior_penalty(torch.zeros(4, 5))) == pytest.approx(0.0, abs=1e-7)
    logits = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 0.5]])
    mean = logits.softmax(1).mean(0)
    expected = float((0.5 * torch.log(0.5 / mean)).sum())
    assert float(uniform_prior_penalty(logits)) == pytest.approx(expected, rel=1e-6)
    collapsed = torch.tensor([[10.0, 0.0]] * 3)
    assert float(uniform_prior_penalty(collapsed)) > float(uniform_prior_penalty(logits)) > 0


def test_avl_loss_combines_the_terms_and_tolerates_empty_parts():
    g = torch.Generator().manual_seed(0)
    lx, lw, ls = torch.randn(4, 3, generator=g), torch.randn(5, 3, generator=g) * 5, torch.randn(5, 3, generator=g)
    tx = torch.tensor([0, 1, 2, 0])
    loss, m = avl_loss(lx, tx, lw, ls, lambda_u=2.0, lambda_r=0.5, threshold=0.9)
    l_u, mask = fixmatch_loss(lw, ls, 0.9)
    l_r = uniform_prior_penalty(torch.cat([lx, lw, ls]))
    expected = torch.nn.functional.cross_entropy(lx, tx) + 2.0 * l_u + 0.5 * l_r
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(m["loss_r"], l_r)
    assert float(m["mask_rate"]) == pytest.approx(float(mask.mean()))
    only_x, m = avl_loss(lx, tx, None, None, lambda_u=2.0, lambda_r=0.0, threshold=0.9)
    torch.testing.assert_close(only_x, torch.nn.functional.cross_entropy(lx, tx))
    assert float(m["loss_u"]) == 0 and float(m["mask_rate"]) == 0
    only_u, _ = avl_loss(None, None, lw, ls, lambda_u=1.0, lambda_r=0.0, threshold=0.9)
    torch.testing.assert_close(only_u, l_u)


# ------------------------------------------------------------------- estimator


def test_fit_outputs_follow_both_contracts(fitted, data):
    X, y, X_new, y_new = data
    n = len(y)
    np.testing.assert_array_equal(fitted.classes_, np.unique(y))
    assert fitted.coupled_ and len(fitted.peer_states_) == 2
    assert fitted.clean_mask_.dtype == bool and fitted.clean_mask_.shape == (n,)
    assert fitted.clean_proba_.shape == (n,) and np.all((fitted.clean_proba_ >= 0) & (fitted.clean_proba_ <= 1))
    assert list(fitted.label_issues_.columns)[:4] == ["is_label_issue", "label_quality", "given_label", "predicted_label"]
    np.testing.assert_array_equal(fitted.predict_clean(X), fitted.clean_mask_)
    np.testing.assert_allclose(fitted.clean_proba(X, y), fitted.clean_proba_, rtol=1e-6, atol=1e-9)
    assert fitted.predict_clean(X_new, y_new).shape == (len(y_new),)
    proba = fitted.predict_proba(X_new)
    assert proba.shape == (len(y_new), len(fitted.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(fitted.predict(X_new)) <= set(fitted.classes_)
    assert 0.0 <= fitted.score(X_new, y_new) <= 1.0
    keys = {"epoch", "loss", "loss_x", "loss_u", "loss_r", "mask_rate", "n_labelled", "warmup", "lr", "time"}
    assert len(fitted.history_) == 2 and keys <= set(fitted.history_[0])
    assert all(h["time"] > 0 and len(h["n_labelled"]) == 2 for h in fitted.history_)


def test_prediction_averages_both_peers(fitted, data):
    _, _, X_new, _ = data
    peers, backbone, device = fitted._fitted_model()
    X_checked = fitted._check_X(X_new, reset=False)
    per_peer = [lg.softmax(dim=1).numpy() for lg in fitted._peer_logits(peers, backbone, X_checked, device)]
    assert len(per_peer) == 2 and not np.allclose(per_peer[0], per_peer[1], atol=1e-4)  # the peers differ
    np.testing.assert_allclose(fitted.predict_proba(X_new), (per_peer[0] + per_peer[1]) / 2, rtol=1e-5, atol=1e-7)


def test_predictions_do_not_depend_on_the_other_samples_in_a_batch(fitted, data):
    """Evaluation batches are padded to one shape: order and subset invariance hold exactly."""
    _, _, X_new, y_new = data
    proba, clean = fitted.predict_proba(X_new), fitted.clean_proba(X_new, y_new)
    order = np.random.default_rng(0).permutation(len(X_new))
    np.testing.assert_array_equal(fitted.predict_proba(X_new[order]), proba[order])
    np.testing.assert_array_equal(fitted.clean_proba(X_new[order], y_new[order]), clean[order])
    pieces = [fitted.predict_proba(X_new[i:i + 3]) for i in range(0, len(X_new), 3)]
    np.testing.assert_array_equal(np.concatenate(pieces), proba)


def test_pickle_round_trip_predicts_the_same(fitted, data):
    _, _, X_new, y_new = data
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict_proba(X_new), fitted.predict_proba(X_new))
    np.testing.assert_array_equal(loaded.clean_proba(X_new, y_new), fitted.clean_proba(X_new, y_new))


def test_fit_is_reproducible_and_leaves_inputs_and_cache_alone(data, fitted, rng_guard):
    X, y, X_new, _ = data
    X_before, y_before = X.copy(), y.copy()
    cached = load_backbone("open_clip:skclip-tiny", None).model
    before = _state_hash(cached)
    again = AVLPrompter(**TINY).fit(X, y)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    assert load_backbone("open_clip:skclip-tiny", None).model is cached and _state_hash(cached) == before
    assert not any(p.requires_grad for p in cached.parameters())
    np.testing.assert_array_equal(again.clean_proba_, fitted.clean_proba_)
    np.testing.assert_array_equal(again.predict_proba(X_new), fitted.predict_proba(X_new))


def test_prompts_and_encoders_get_their_own_learning_rates(data, monkeypatch):
    X, y, _, _ = data
    groups = []
    original = torch.optim.SGD

    def spy(params, **kwargs):
        optimizer = original(params, **kwargs)
        groups.extend(optimizer.param_groups)
        return optimizer

    monkeypatch.setattr(torch.optim, "SGD", spy)
    built = _capture_peers(monkeypatch)
    AVLPrompter(**dict(TINY, epochs=1), lr=0.03, encoder_lr=1e-4).fit(X, y)
    nets = built[0].nets
    assert [g["initial_lr"] for g in groups] == [0.03, 1e-4, 0.03, 1e-4]  # before the cosine schedule
    for k, net in enumerate(nets):
        prompt_ids = {id(p) for p in groups[2 * k]["params"]}
        encoder_ids = {id(p) for p in groups[2 * k + 1]["params"]}
        assert id(net.prompts.ctx) in prompt_ids and id(net.prompts.couplings[0].weight) in prompt_ids
        assert id(net.clip.visual.conv1.weight) in encoder_ids
        assert id(net.clip.transformer.resblocks[0].attn.in_proj_weight) in encoder_ids
        # Never trained: the fixed logit scale and the token table the prompts copied from.
        assert id(net.clip.logit_scale) not in prompt_ids | encoder_ids
        assert id(net.clip.token_embedding.weight) not in prompt_ids | encoder_ids
        trainable = {id(p) for p in net.parameters() if p.requires_grad}
        assert trainable == prompt_ids | encoder_ids


def _capture_peers(monkeypatch):
    built = []
    original = AVLPrompter._build_peers

    def spy(self, *args, **kwargs):
        peers = original(self, *args, **kwargs)
        built.append(peers)
        return peers

    monkeypatch.setattr(AVLPrompter, "_build_peers", spy)
    return built


def _text_state(clip):
    return {k: v.clone() for k, v in clip.state_dict().items() if not k.startswith("visual.")}


@pytest.mark.parametrize("frozen", ["image", "text"])
def test_freezing_an_encoder_keeps_its_weights(data, monkeypatch, frozen):
    X, y, X_new, _ = data
    original = load_backbone("open_clip:skclip-tiny", None).model
    built = _capture_peers(monkeypatch)
    tuning = "peft" if frozen == "image" else "full"  # peft on a ViT: the tower's weights stay as loaded
    clf = AVLPrompter(**TINY, tuning=tuning, freeze_text=frozen == "text").fit(X, y)
    trained = built[0]  # the peers fit trained (later builds restore them to predict)
    for net in trained.nets:
        same_visual = _state_hash(net.clip.visual) == _state_hash(original.visual)
        text, text0 = _text_state(net.clip), _text_state(original)
        same_text = all(torch.equal(text[k], text0[k]) for k in text)
        assert (same_visual, same_text) == ((True, False) if frozen == "image" else (False, True))
    # The fitted state leaves the frozen encoder out; the restored model uses the cached one.
    keys = [k for state in clf.peer_states_ for k in state]
    if frozen == "image":
        assert not any(".visual." in k for k in keys)
    else:
        assert not any(".transformer.resblocks" in k and ".visual." not in k for k in keys)
    assert clf.predict_proba(X_new).shape == (len(X_new), len(clf.classes_))


def test_non_vit_tower_uses_text_prompts_only_and_warns(data, monkeypatch):
    X, y, _, _ = data
    original = load_backbone("open_clip:skclip-tiny-cnn", None).model
    built = _capture_peers(monkeypatch)
    params = dict(TINY, backbone="open_clip:skclip-tiny-cnn", epochs=1)
    with pytest.warns(UserWarning, match="not a ViT.*text-side deep prompts only"):
        clf = AVLPrompter(**params).fit(X, y)
    assert not clf.coupled_ and len(built[0][0].prompts.couplings) == 0
    assert _state_hash(built[0][0].clip.visual) != _state_hash(original.visual)  # the CNN tower trains
    assert clf.predict_proba(X).shape == (len(X), len(clf.classes_))
    # With tuning="peft" (BitFit) only its bias terms train: its other weights and its
    # BatchNorm statistics do not move (tests/test_avl_tuning.py checks it in detail).
    built.clear()
    with pytest.warns(UserWarning, match=r"only the image tower's bias terms \(BitFit\)"):
        AVLPrompter(**params, tuning="peft").fit(X, y)
    visual = built[0][0].clip.visual
    not_bias = {k: v for k, v in visual.state_dict().items() if not k.endswith("bias")}
    assert _state_hash(visual) != _state_hash(original.visual)
    assert joblib.hash({k: v.numpy() for k, v in not_bias.items()}) == joblib.hash(
        {k: v.detach().numpy() for k, v in original.visual.state_dict().items() if not k.endswith("bias")})


def test_warmup_epochs_train_on_all_samples_first(data):
    X, y, _, _ = data
    clf = AVLPrompter(**dict(TINY, epochs=2), warmup_epochs=1, n_networks=1).fit(X, y)
    assert [h["warmup"] for h in clf.history_] == [True, False]
    assert clf.history_[0]["n_labelled"] == [len(y)]


def test_checkpoint_holds_both_peers_and_resumes(data, fitted, tmp_path):
    X, y, X_new, _ = data
    path = tmp_path / "avl.pt"
    first = AVLPrompter(**TINY, checkpoint_path=str(path)).fit(X, y)
    assert path.exists()
    np.testing.assert_array_equal(first.clean_proba_, fitted.clean_proba_)
    # A fit with a finished checkpoint resumes after its last epoch: no training, same model.
    resumed = AVLPrompter(**TINY, checkpoint_path=str(path)).fit(X, y)
    assert [h["epoch"] for h in resumed.history_] == [1, 2]
    np.testing.assert_array_equal(resumed.predict_proba(X_new), fitted.predict_proba(X_new))
    np.testing.assert_array_equal(resumed.clean_proba_, fitted.clean_proba_)


def test_grid_search_over_threshold(data):
    X, y, _, _ = data
    cv = KFold(2, shuffle=True, random_state=0)
    search = GridSearchCV(AVLPrompter(**dict(TINY, epochs=1), n_networks=1), {"threshold": [0.3, 0.7]}, cv=cv)
    search.fit(X, y)
    assert search.best_params_["threshold"] in (0.3, 0.7)
    assert search.best_estimator_.threshold == search.best_params_["threshold"]
    assert search.predict(X).shape == (len(y),)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(n_networks=3), "'n_networks' parameter of AVLPrompter must be"),
        (dict(threshold=1.5), "'threshold' parameter of AVLPrompter must be"),
        (dict(pseudo_label_threshold=-0.1), "'pseudo_label_threshold' parameter"),
        (dict(lambda_u=-1.0), "'lambda_u' parameter"),
        (dict(encoder_lr=0.0), "'encoder_lr' parameter"),
        (dict(warmup_epochs=3), "warmup_epochs"),
        (dict(prompt_depth=0), "'prompt_depth' parameter of AVLPrompter must be"),
        (dict(prompt_depth=3), "prompt_depth=3"),  # skclip-tiny has 2 layers per tower
        (dict(n_ctx=5), "n_ctx=5"),  # "a photo of a" has 4 tokens
        (dict(tuning="frozen"), "'tuning' parameter of AVLPrompter must be"),
        (dict(image_size=64), "fixed input side of 32"),
        (dict(backbone="timm:resnet18"), "needs a CLIP"),
    ],
)
def test_bad_parameters_raise_clear_errors(data, params, message):
    X, y, _, _ = data
    with pytest.raises(ValueError, match=message):
        AVLPrompter(**{**TINY, **params}).fit(X, y)


def test_bad_input_raises_clear_errors(data, fitted):
    X, y, X_new, y_new = data
    with pytest.raises(NotFittedError):
        AVLPrompter(**TINY).predict(X_new)
    with pytest.raises(NotFittedError):
        AVLPrompter(**TINY).predict_clean(X_new, y_new)
    codes = np.unique(y, return_inverse=True)[1]
    with pytest.raises(ValueError, match="class names"):
        AVLPrompter(**TINY).fit(X, codes)
    # Integer labels with class_names work.
    named = AVLPrompter(**dict(TINY, epochs=1), n_networks=1, class_names=[f"digit {c}" for c in np.unique(y)])
    assert named.fit(X, codes).classes_.dtype.kind in "iu"
    with pytest.raises(ValueError, match="features"):
        AVLPrompter(**TINY).fit(X.reshape(len(X), -1).astype(float), y)
    bad = X.astype(np.float64) / 255
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        AVLPrompter(**TINY).fit(bad, y)
    with pytest.raises(ValueError, match="pass y"):
        fitted.predict_clean(X_new)
    with pytest.raises(ValueError, match="not seen during fit"):
        fitted.predict_clean(X_new, np.array(["nope"] * len(X_new)))
    assert clone(fitted).get_params() == fitted.get_params()
