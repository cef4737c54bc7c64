"""DualPromptDetector (DEFT phase 1): the loss, its stop-gradients, and the estimator."""

import pickle

import numpy as np
import pytest
import torch

from skclip_noise import DualPromptDetector
from skclip_noise.backbones import load_backbone
from skclip_noise.detectors.dual_prompt import _DualPromptModel, clean_probabilities, dual_prompt_loss

NAMES = ["cat", "dog", "car", "tree"]
TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu", random_state=0)


def _model(image_side="vpt", backbone="open_clip:skclip-tiny"):
    loaded = load_backbone(backbone, None)
    clip = loaded.trainable_copy() if image_side == "bitfit" else loaded.model
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return _DualPromptModel(clip, NAMES, loaded.tokenizer, n_ctx=4, n_vpt=3, image_side=image_side)


def _grads(model):
    return {name: p.grad is not None and p.grad.abs().sum() > 0 for name, p in model.named_parameters() if p.requires_grad}


def test_clean_probability_is_the_pair_softmax_with_positive_detached():
    s_pos = torch.tensor([[3.0, 0.0]], requires_grad=True)
    s_neg = torch.tensor([[1.0, 2.0]], requires_grad=True)
    p = clean_probabilities(s_pos, s_neg)
    expected = torch.softmax(torch.stack([s_pos, s_neg]), dim=0)[0]
    torch.testing.assert_close(p, expected)
    p.sum().backward()
    assert s_pos.grad is None and s_neg.grad is not None


def test_dual_prompt_term_trains_only_the_negative_context():
    model = _model()
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    s_pos, s_neg = model(images)
    p = clean_probabilities(s_pos, s_neg)
    rows = torch.arange(6)
    l_dp = -torch.log(1 - p[rows, (labels + 1) % 4]).mean() - torch.log(p[rows, labels]).mean()
    l_dp.backward()
    grads = _grads(model)
    assert grads["text.ctx"]  # the shared ctx tensor holds both contexts: check which slice
    assert model.text.ctx.grad[0].abs().sum() == 0 and model.text.ctx.grad[1].abs().sum() > 0
    assert not grads["visual.prompts"]


def test_similarity_term_trains_positive_context_and_visual_prompts():
    model = _model()
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    s_pos, _ = model(images)
    torch.nn.functional.cross_entropy(s_pos, torch.tensor([0, 1, 2, 3, 0, 1])).backward()
    assert model.text.ctx.grad[0].abs().sum() > 0 and model.text.ctx.grad[1].abs().sum() == 0
    assert model.visual.prompts.grad.abs().sum() > 0
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(model.get_parameter(n).grad is None for n in frozen)


def test_bitfit_trains_image_biases_and_leaves_the_cached_clip_alone():
    model = _model("bitfit", "open_clip:skclip-tiny-cnn")
    s_pos, _ = model(torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    torch.nn.functional.cross_entropy(s_pos, torch.tensor([0, 1, 2, 3])).backward()
    trained = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0]
    assert any(n.endswith("bias") and ".visual." in n for n in trained)
    cached = load_backbone("open_clip:skclip-tiny-cnn", None).model
    assert not any(p.requires_grad for p in cached.parameters())


def test_empty_clean_batch_skips_the_similarity_term_instead_of_nan():
    s_pos = torch.tensor([[0.0, 5.0], [5.0, 0.0]], requires_grad=True)
    s_neg = torch.tensor([[9.0, 0.0], [0.0, 9.0]], requires_grad=True)  # p_y < 0.5 everywhere
    loss, clean = dual_prompt_loss(s_pos, s_neg, torch.tensor([0, 1]), torch.tensor([1, 0]),
                                   warmup=False, real_world=False, positive_weight=1.0)
    assert not clean.any() and torch.isfinite(loss)
    loss.backward()
    assert s_pos.grad.abs().sum() == 0  # no clean sample: L_sim contributes nothing


def test_real_world_rule_also_needs_the_argmax_of_clean_probabilities():
    s_pos = torch.tensor([[2.0, 4.0]])
    s_neg = torch.tensor([[1.0, 0.0]])  # p = sigmoid([1, 4]): p_0 > 0.5 but argmax is 1
    labels, complementary = torch.tensor([0]), torch.tensor([1])
    _, synthetic = dual_prompt_loss(s_pos, s_neg, labels, complementary, warmup=False, real_world=False, positive_weight=1.0)
    _, real = dual_prompt_loss(s_pos, s_neg, labels, complementary, warmup=False, real_world=True, positive_weight=1.0)
    assert synthetic.item() and not real.item()


def test_positive_weight_scales_the_positive_term():
    s_pos, s_neg = torch.zeros(3, 4), torch.zeros(3, 4)
    labels, comp = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 3])
    full, _ = dual_prompt_loss(s_pos, s_neg, labels, comp, warmup=True, real_world=False, positive_weight=1.0)
    light, _ = dual_prompt_loss(s_pos, s_neg, labels, comp, warmup=True, real_world=False, positive_weight=0.25)
    # p = 0.5 everywhere: each L_dp term is log 2
    assert full.item() - light.item() == pytest.approx(0.75 * np.log(2), rel=1e-5)


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    X, y = X[:48], np.array(NAMES)[y[:48] % 4]
    detector = DualPromptDetector(**TINY, n_ctx=4, n_vpt=2, epochs=2, batch_size=16).fit(X, y)
    return detector, X, y


def test_estimator_contract_and_w_o_adaptation_prediction(fitted):
    detector, X, y = fitted
    assert detector.clean_mask_.shape == (48,)
    assert detector.classes_.tolist() == sorted(NAMES)
    assert len(detector.history_) == 2 and "clean_share" in detector.history_[0]
    np.testing.assert_array_equal(detector.clean_mask_, detector.clean_proba_ > 0.5)
    proba = detector.predict_proba(X)
    assert proba.shape == (48, 4)
    np.testing.assert_array_equal(detector.predict(X), detector.classes_[proba.argmax(1)])
    np.testing.assert_array_equal(detector.label_issues_["predicted_label"], detector.predict(X))
    np.testing.assert_allclose(detector.clean_proba(X, y), detector.clean_proba_, atol=1e-6)


def test_pickle_keeps_only_the_prompts(fitted):
    detector, X, y = fitted
    restored = pickle.loads(pickle.dumps(detector))
    trained = {name for name, p in _model().named_parameters() if p.requires_grad}
    assert trained == {"text.ctx", "visual.prompts"} and trained <= set(restored.prompt_state_)
    assert not any(".clip." in name for name in restored.prompt_state_)  # no frozen backbone
    np.testing.assert_allclose(restored.clean_proba(X, y), detector.clean_proba_, atol=1e-6)


def test_frozen_image_side_accepts_embeddings(digits):
    X, y = digits
    from skclip_noise import ImageEmbedder

    Z = ImageEmbedder("open_clip:skclip-tiny", pretrained=None, device="cpu").fit_transform(X[:40])
    labels = np.array(NAMES)[y[:40] % 4]
    on_features = DualPromptDetector(**TINY, tuning="frozen", n_ctx=4, epochs=2, batch_size=16).fit(Z, labels)
    on_images = DualPromptDetector(**TINY, tuning="frozen", n_ctx=4, epochs=2, batch_size=16).fit(X[:40], labels)
    np.testing.assert_allclose(on_features.clean_proba_, on_images.clean_proba_, atol=1e-5)
    with pytest.raises(ValueError, match="precomputed features"):
        DualPromptDetector(**TINY, n_ctx=4, epochs=1).fit(Z, labels)


@pytest.mark.parametrize(
    "params, labels, message",
    [
        ({}, "ints", "class names"),
        ({"tuning": "full"}, "names", "'tuning' parameter of DualPromptDetector must be"),
        ({"warmup_epochs": 5, "epochs": 2}, "names", "warmup_epochs"),
        ({"backbone": "timm:test_vit"}, "names", "CLIP"),
    ],
)
def test_clear_errors(params, labels, message, small_digits):
    X, y = small_digits
    y = y if labels == "ints" else np.array(NAMES)[y % 4]
    with pytest.raises(ValueError, match=message):
        DualPromptDetector(**{**TINY, "n_ctx": 4, "epochs": 2, **params}).fit(X, y)


def test_frozen_image_side_reloads_without_the_fit_device(digits):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    X, y = digits
    labels = np.array(NAMES)[y[:32] % 4]
    detector = DualPromptDetector(**TINY, tuning="frozen", n_ctx=4, epochs=1, batch_size=16).fit(X[:32], labels)
    detector.device, detector.device_ = "cuda", "cuda"  # as if fitted and pickled on a GPU machine
    restored = pickle.loads(pickle.dumps(detector))
    with pytest.warns(RuntimeWarning, match="using the CPU"):
        proba = restored.clean_proba(X[:32], labels)
    np.testing.assert_allclose(proba, detector.clean_proba_, atol=1e-6)


def test_detects_symmetric_noise_on_real_digits(digits):
    """Quality on real images: 1797 digits, 40 % symmetric noise.

    ``skclip-tiny-cnn`` (random weights; a CNN image side, so ``tuning="frozen"``): its random
    text tower is the limit, so the bar is modest but above chance, and set below the
    spread of training draws (one seed is asserted). Measured with seeds 0-5, before and
    after the epoch loader's random stream lost a draw (an unused loader iterator,
    2026-12-07): clean precision 0.68-0.81 (chance: 0.60, the clean share), noisy recall
    0.62-0.82, AUROC 0.57-0.79; with seed 0 now 0.751, 0.669 and 0.721.
    """
    from sklearn.metrics import roc_auc_score

    from skclip_noise import ImageEmbedder, detection_report, make_noisy_labels
    from skclip_noise.datasets import DIGITS_CLASSES

    X, y = digits
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.4, random_state=0)
    Z = ImageEmbedder("open_clip:skclip-tiny-cnn", None, device="cpu").fit(X).transform(X)
    detector = DualPromptDetector(
        "open_clip:skclip-tiny-cnn", None, tuning="frozen", n_ctx=4, class_names=list(DIGITS_CLASSES),
        device="cpu", random_state=0,
    ).fit(Z, y_noisy)
    report = detection_report(is_noisy, detector.clean_mask_, output_dict=True)
    assert report["clean_precision"] > 0.65
    assert report["noisy_recall"] > 0.6
    assert roc_auc_score(is_noisy, 1 - detector.clean_proba_) > 0.55


@pytest.mark.parametrize("tuning", ["peft", "frozen"])
def test_training_leaves_the_cached_clip_in_eval_mode(tuning, small_digits):
    X, y = small_digits
    backbone = "open_clip:skclip-tiny" if tuning == "peft" else "open_clip:skclip-tiny-cnn"
    cached = load_backbone(backbone, None, device="cpu").model
    DualPromptDetector(**{**TINY, "backbone": backbone}, tuning=tuning, n_ctx=2, n_vpt=2, epochs=1, batch_size=16,
                       class_names=[str(i) for i in range(10)]).fit(X, y)
    assert not any(module.training for module in cached.modules())


@pytest.mark.parametrize("backbone, image_side", [("open_clip:skclip-tiny", "vpt"), ("open_clip:skclip-tiny-cnn", "bitfit")])
def test_peft_is_visual_prompts_on_vit_towers_and_bitfit_on_others(backbone, image_side, small_digits):
    X, y = small_digits
    detector = DualPromptDetector(**{**TINY, "backbone": backbone}, n_ctx=2, n_vpt=2, epochs=1, batch_size=16,
                                  class_names=[str(i) for i in range(10)]).fit(X[:16], y[:16])
    assert detector.image_side_ == image_side


def test_bitfit_keeps_the_batchnorm_statistics_it_trained(small_digits):
    """BitFit trains a CNN tower in train mode, so its BatchNorm statistics move; the
    fitted state must carry them, or new-pair scores differ from the fit's own."""
    X, y = small_digits
    detector = DualPromptDetector(**{**TINY, "backbone": "open_clip:skclip-tiny-cnn"}, n_ctx=2, epochs=2,
                                  batch_size=16, class_names=[str(i) for i in range(10)]).fit(X, y)
    assert any("running_mean" in name for name in detector.prompt_state_)
    restored = pickle.loads(pickle.dumps(detector))
    np.testing.assert_allclose(restored.clean_proba(X, y), detector.clean_proba_, atol=1e-5)
