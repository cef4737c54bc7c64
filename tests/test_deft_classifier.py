"""DeftClassifier (DEFT phase 2): train on the detector's clean samples."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from skclip_noise import DeftClassifier, GMMLossDetector, SmallLossDetector
from skclip_noise.backbones import load_backbone
from skclip_noise.backbones.towers import tower_kind_of
from skclip_noise.training.optim import optimizer_preset

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu", random_state=0)


def _detector(**params):
    return GMMLossDetector(**{**TINY, "epochs": 2, **params})


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    clf = DeftClassifier(_detector(), epochs=2, batch_size=16, **TINY).fit(X[:60], y[:60])
    return clf, X, y


def test_trains_only_on_the_clean_samples(fitted):
    clf, _, _ = fitted
    np.testing.assert_array_equal(clf.clean_mask_, clf.detector_.clean_mask_)
    assert 0 < clf.clean_mask_.sum() < 60
    assert len(clf.history_) == 2
    assert clf.history_[0]["n_steps"] == int(np.ceil(clf.clean_mask_.sum() / 16))
    assert clf.best_epoch_ == 2  # no validation data: the last epoch


def test_predictions_follow_classes(fitted):
    clf, X, y = fitted
    proba = clf.predict_proba(X[60:80])
    assert proba.shape == (20, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(clf.predict(X[60:80]), clf.classes_[proba.argmax(axis=1)])
    assert 0 <= clf.score(X[60:80], y[60:80]) <= 1


def test_pickle_round_trip(fitted):
    clf, X, _ = fitted
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X[:10]), clf.predict_proba(X[:10]))


def test_the_detector_parameter_is_cloned_not_fitted(digits):
    X, y = digits
    detector = _detector()
    clf = DeftClassifier(detector, epochs=1, batch_size=16, **TINY).fit(X[:40], y[:40])
    assert not hasattr(detector, "clean_mask_")
    assert clf.detector_ is not detector


def test_validation_data_keeps_the_best_epoch(digits):
    X, y = digits
    clf = DeftClassifier(_detector(), epochs=3, batch_size=16, **TINY)
    clf.fit(X[:60], y[:60], validation_data=(X[60:90], y[60:90]))
    accuracies = [h["val_accuracy"] for h in clf.history_]
    assert clf.best_epoch_ == int(np.argmax(accuracies)) + 1
    assert clf.score(X[60:90], y[60:90]) == pytest.approx(max(accuracies))


@pytest.mark.parametrize("tuning", ["peft", "frozen"])
def test_tuning_modes(tuning, digits):
    X, y = digits
    clf = DeftClassifier(_detector(), tuning=tuning, epochs=1, batch_size=16, **TINY).fit(X[:40], y[:40])
    assert clf.predict(X[:5]).shape == (5,)


def test_grid_search_over_the_detector_threshold(digits):
    X, y = digits
    search = GridSearchCV(
        DeftClassifier(_detector(), epochs=1, batch_size=16, **TINY),
        {"detector__threshold": [0.3, 0.7]},
        cv=2,
    ).fit(X[:60], y[:60])
    assert search.best_params_["detector__threshold"] in (0.3, 0.7)


def test_backbone_defaults_to_the_detector_s():
    clf = DeftClassifier(_detector())
    assert clf._phase2_backbone(clf.detector) == ("open_clip:skclip-tiny", None)
    explicit = DeftClassifier(_detector(), backbone="timm:test_vit", pretrained=None)
    assert explicit._phase2_backbone(explicit.detector) == ("timm:test_vit", None)


@pytest.mark.parametrize(
    "spec, preset",
    [
        ("open_clip:ViT-B-16", ("sgd", 5e-4, 5e-4)),
        ("timm:vit_base_patch16_224", ("sgd", 1e-2, 1e-5)),
        ("timm:resnet50.a1_in1k", ("adamw", 1e-3, 1e-5)),
        ("timm:convnext_tiny", ("adamw", 1e-4, 1e-4)),
        ("timm:vit_base_patch16_224.mae", ("adamw", 1e-4, 1e-3)),
    ],
)
def test_optimizer_presets_follow_table_11(spec, preset):
    family, _, name = spec.partition(":")
    if family == "open_clip":
        kind = tower_kind_of(load_backbone("open_clip:skclip-tiny").model.visual)
    else:
        kind = tower_kind_of(torch.nn.Identity(), name)
    assert optimizer_preset(kind) == preset


@pytest.mark.parametrize(
    "params, message",
    [
        ({"tuning": "lora"}, "'tuning' parameter of DeftClassifier must be a str among"),
        ({"optimizer": "rmsprop"}, "'optimizer' parameter of DeftClassifier must be"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_parameters(params, message, small_digits):
    X, y = small_digits
    with pytest.raises(ValueError, match=message):
        DeftClassifier(_detector(), **{**TINY, **params}).fit(X, y)


def test_an_all_noisy_verdict_is_an_error(small_digits):
    X, y = small_digits
    keep_none = SmallLossDetector(**{**TINY, "epochs": 1}, forget_rate=0.99)
    with pytest.raises(ValueError, match="nothing is left to train on"):
        DeftClassifier(keep_none, epochs=1, **TINY).fit(X[:8], y[:8] % 2)


def test_passthrough_trains_on_every_sample(small_digits):
    X, y = small_digits
    clf = DeftClassifier("passthrough", epochs=1, batch_size=16, **TINY).fit(X, y)
    assert clf.detector_ is None
    assert clf.clean_mask_.all() and len(clf.clean_mask_) == len(y)
    assert clf.history_[0]["n_steps"] == int(np.ceil(len(y) / 16))


@pytest.mark.parametrize(
    "detector, params, message",
    [
        ("passthrough", {"backbone": None}, "needs a backbone"),
        ("drop", {}, "'detector' parameter of DeftClassifier must be"),
    ],
)
def test_bad_detector_values(detector, params, message, small_digits):
    X, y = small_digits
    with pytest.raises(ValueError, match=message):
        DeftClassifier(detector, **{**TINY, "epochs": 1, **params}).fit(X, y)


def test_grid_search_over_the_dual_prompt_context_length(digits):
    from skclip_noise import DualPromptDetector
    from skclip_noise.datasets import DIGITS_CLASSES

    X, y = digits
    tiny_cnn = {**TINY, "backbone": "open_clip:skclip-tiny-cnn"}
    detector = DualPromptDetector(**tiny_cnn, tuning="frozen", epochs=1, batch_size=16, class_names=list(DIGITS_CLASSES))
    search = GridSearchCV(
        DeftClassifier(detector, epochs=1, batch_size=16, **tiny_cnn), {"detector__n_ctx": [2, 4]}, cv=2,
    ).fit(X[:60], y[:60])
    assert search.best_estimator_.detector_.n_ctx == search.best_params_["detector__n_ctx"]
    assert search.best_estimator_.detector_.prompt_state_["text.ctx"].shape[1] == search.best_params_["detector__n_ctx"]
    assert len(search.cv_results_["params"]) == 2


def test_warns_when_the_detector_keeps_no_sample_of_a_class(small_digits):
    class KeepsOnlyEvenLabels(GMMLossDetector):
        def fit(self, X, y):
            super().fit(X, y)
            self.clean_mask_ = np.asarray(y) % 2 == 0
            return self

    X, y = small_digits
    with pytest.warns(UserWarning, match=r"kept no sample of 5 of 10 classes \(1, 3, 5, 7, 9\)"):
        clf = DeftClassifier(KeepsOnlyEvenLabels(**{**TINY, "epochs": 1}), epochs=1, batch_size=16, **TINY).fit(X, y)
    assert not clf.clean_mask_[y % 2 == 1].any()
