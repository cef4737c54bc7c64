"""Checkpoints bound to what they were trained on, resume bit for bit, early validation."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from torch import nn

from skclip_noise import (
    DeftClassifier,
    GMMLossDetector,
    SmallLossDetector,
    TurnClassifier,
)
from skclip_noise.training.loop import Trainer

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu", random_state=0)


class _Interrupt(Exception):
    pass


def _features(n=60, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(-1, 1, (n // 2, d)), rng.normal(1, 1, (n // 2, d))]
    y = np.r_[np.zeros(n // 2, int), np.ones(n // 2, int)]
    return X, y


# ------------------------------------------------------------ 1. bound checkpoints


@pytest.mark.parametrize("Detector", [GMMLossDetector, SmallLossDetector])
def test_a_finished_checkpoint_does_not_replace_a_fit_on_other_data(Detector, tmp_path):
    X, y = _features()
    X_other, y_other = _features(seed=1)
    path = tmp_path / "loss.pt"
    params = dict(epochs=3, lr=1e-2, device="cpu", random_state=0)
    Detector(checkpoint_path=str(path), **params).fit(X, y)
    assert path.exists()
    expected = Detector(**params).fit(X_other, y_other)
    with pytest.warns(UserWarning, match="written by a fit with other data"):
        second = Detector(checkpoint_path=str(path), **params).fit(X_other, y_other)
    np.testing.assert_array_equal(second.loss_, expected.loss_)
    # ... and the checkpoint now holds the second fit: a third fit resumes from it silently.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        third = Detector(checkpoint_path=str(path), **params).fit(X_other, y_other)
    np.testing.assert_array_equal(third.loss_, expected.loss_)


def test_other_parameters_are_not_resumed(tmp_path):
    X, y = _features()
    path = tmp_path / "loss.pt"
    GMMLossDetector(checkpoint_path=str(path), epochs=3, lr=1e-2, device="cpu", random_state=0).fit(X, y)
    expected = GMMLossDetector(epochs=3, lr=5e-2, device="cpu", random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="other parameters"):
        other = GMMLossDetector(checkpoint_path=str(path), epochs=3, lr=5e-2, device="cpu", random_state=0).fit(X, y)
    np.testing.assert_array_equal(other.loss_, expected.loss_)


def test_grid_search_with_a_checkpoint_path_trains_every_fold(tmp_path):
    X, y = _features(80)
    grid = {"lr": [1e-2, 1e-1]}
    params = dict(epochs=2, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with_checkpoint = GridSearchCV(
            _Scored(checkpoint_path=str(tmp_path / "grid.pt"), **params), grid, cv=3
        ).fit(X, y)
    without = GridSearchCV(_Scored(**params), grid, cv=3).fit(X, y)
    np.testing.assert_array_equal(
        with_checkpoint.cv_results_["mean_test_score"], without.cv_results_["mean_test_score"]
    )
    for key in ("split0_test_score", "split1_test_score", "split2_test_score"):
        np.testing.assert_array_equal(with_checkpoint.cv_results_[key], without.cv_results_[key])


class _Scored(GMMLossDetector):
    """A GMM detector with a score (mean loss-model accuracy), for GridSearchCV."""

    def score(self, X, y):
        return float(np.mean(self.predict_clean(X, y)) + np.mean(self.loss_))


# ------------------------------------------------------------ 2. resume bit for bit


def test_resume_with_validation_data_reproduces_the_uninterrupted_run(small_digits, tmp_path, monkeypatch):
    X, y = small_digits
    X_val, y_val = X[:20], y[:20]
    params = dict(detector="passthrough", epochs=4, batch_size=16, lr=0.05, **TINY)
    full = DeftClassifier(**params).fit(X, y, validation_data=(X_val, y_val))

    path = tmp_path / "deft.pt"
    calls = {"n": 0}
    original = DeftClassifier._logits

    def interrupting(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # during the 4th epoch's validation: 3 epochs are saved
            raise _Interrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DeftClassifier, "_logits", interrupting)
    with pytest.raises(_Interrupt):
        DeftClassifier(checkpoint_path=str(path), **params).fit(X, y, validation_data=(X_val, y_val))
    monkeypatch.setattr(DeftClassifier, "_logits", original)
    resumed = DeftClassifier(checkpoint_path=str(path), **params).fit(X, y, validation_data=(X_val, y_val))
    assert resumed.best_epoch_ == full.best_epoch_
    assert [h["val_accuracy"] for h in resumed.history_] == [h["val_accuracy"] for h in full.history_]
    for key, value in full.net_state_.items():
        assert torch.equal(resumed.net_state_[key], value), key
    np.testing.assert_array_equal(resumed.predict_proba(X_val), full.predict_proba(X_val))


def test_loss_model_resume_keeps_the_averaged_epochs(tmp_path):
    X, y = _features()
    params = dict(epochs=4, average_last=3, lr=1e-2, device="cpu", random_state=0)
    full = GMMLossDetector(**params).fit(X, y)
    path = tmp_path / "gmm.pt"
    calls = {"n": 0}
    original = GMMLossDetector._pair_outputs

    def interrupting(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Interrupt
        return original(self, *args, **kwargs)

    GMMLossDetector._pair_outputs = interrupting
    try:
        with pytest.raises(_Interrupt):
            GMMLossDetector(checkpoint_path=str(path), **params).fit(X, y)
    finally:
        GMMLossDetector._pair_outputs = original
    resumed = GMMLossDetector(checkpoint_path=str(path), **params).fit(X, y)
    np.testing.assert_array_equal(resumed.loss_, full.loss_)


def test_turn_resume_reproduces_the_uninterrupted_run(small_digits, tmp_path):
    X, y = small_digits
    params = dict(lp_epochs=2, ft_epochs=2, ft_batch_size=16, **TINY)
    full = TurnClassifier(**params).fit(X, y)
    path = tmp_path / "turn.pt"
    first = TurnClassifier(checkpoint_path=str(path), **params).fit(X, y)
    resumed = TurnClassifier(checkpoint_path=str(path), **params).fit(X, y)  # finished: nothing to train
    for clf in (first, resumed):
        np.testing.assert_array_equal(clf.clean_proba_, full.clean_proba_)
        np.testing.assert_array_equal(clf.selection_, full.selection_)
        np.testing.assert_array_equal(clf.predict_proba(X), full.predict_proba(X))


def test_gmm_cv_folds_get_their_own_checkpoints(tmp_path):
    X, y = _features()
    path = tmp_path / "gmm.pt"
    params = dict(epochs=2, cv=2, lr=1e-2, device="cpu", random_state=0)
    full = GMMLossDetector(**params).fit(X, y)
    first = GMMLossDetector(checkpoint_path=str(path), **params).fit(X, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gmm.fold0.pt", "gmm.fold1.pt"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed = GMMLossDetector(checkpoint_path=str(path), **params).fit(X, y)
    np.testing.assert_array_equal(first.loss_, full.loss_)
    np.testing.assert_array_equal(resumed.loss_, full.loss_)


# ------------------------------------------------------------ 4. checkpoint errors


def _linear(n_out):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Linear(4, n_out)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def _one_epoch(trainer, n_out):
    X = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % n_out

    def step(batch, epoch):
        return nn.functional.cross_entropy(trainer.model(batch[0]), batch[1])

    return trainer.fit(1, lambda epoch: [(X, y)], step)


def test_a_checkpoint_of_another_class_count_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "ckpt.pt"
    model, optimizer = _linear(2)
    _one_epoch(Trainer(model, optimizer, device="cpu", seed=0, checkpoint_path=path), 2)
    model, optimizer = _linear(3)
    with pytest.raises(ValueError, match=r"ckpt\.pt.*does not fit this model.*number of classes.*delete"):
        _one_epoch(Trainer(model, optimizer, device="cpu", seed=0, checkpoint_path=path), 3)


def test_a_truncated_checkpoint_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "ckpt.pt"
    model, optimizer = _linear(2)
    _one_epoch(Trainer(model, optimizer, device="cpu", seed=0, checkpoint_path=path), 2)
    path.write_bytes(path.read_bytes()[:100])
    model, optimizer = _linear(2)
    with pytest.raises(ValueError, match=r"Cannot read the training checkpoint .*ckpt\.pt.*truncated.*Delete it"):
        _one_epoch(Trainer(model, optimizer, device="cpu", seed=0, checkpoint_path=path), 2)


@pytest.mark.parametrize("Estimator", [GMMLossDetector, SmallLossDetector, TurnClassifier, DeftClassifier])
def test_checkpoint_without_an_integer_random_state_is_refused_before_training(Estimator, tmp_path):
    X, y = _features() if Estimator in (GMMLossDetector, SmallLossDetector) else (None, None)
    if X is None:
        X = np.zeros((8, 8, 8), np.uint8)
        y = np.arange(8) % 2
    params = {**TINY, "random_state": None} if Estimator is not DeftClassifier else {
        **TINY, "random_state": None, "detector": "passthrough"}
    if Estimator in (GMMLossDetector, SmallLossDetector):
        params = dict(device="cpu", random_state=None)
    with pytest.raises(ValueError, match="random_state=None.*Pass an integer random_state"):
        Estimator(checkpoint_path=str(tmp_path / "x.pt"), **params).fit(X, y)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------ 3. DEFT validates both phases first


_NEEDS_NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")


class _Spy(GMMLossDetector):
    fitted = False

    def fit(self, X, y=None):
        type(self).fitted = True
        return super().fit(X, y)


@pytest.mark.parametrize(
    ("deft_params", "detector_params", "message"),
    [
        ({"backbone": "open_clip:skclip-tinyy"}, {}, "skclip-tinyy"),
        ({}, {"backbone": "open_clip:no-such-model"}, "no-such-model"),
        pytest.param({"device": "cuda"}, {}, "CUDA is not available", marks=_NEEDS_NO_CUDA),
        pytest.param({}, {"device": "cuda"}, "CUDA is not available", marks=_NEEDS_NO_CUDA),
        ({}, {"mixed_precision": "fp8"}, "mixed_precision"),
        ({}, {"average_last": 5}, "average_last"),
    ],
)
def test_deft_checks_both_phases_before_the_detector_trains(deft_params, detector_params, message, small_digits):
    X, y = small_digits
    _Spy.fitted = False
    detector = _Spy(**{**TINY, "epochs": 2, **detector_params})
    with pytest.raises(ValueError, match=message):
        DeftClassifier(detector, **{**TINY, "epochs": 1, **deft_params}).fit(X, y)
    assert not _Spy.fitted


def test_deft_checks_validation_labels_before_the_detector_trains(small_digits):
    X, y = small_digits
    _Spy.fitted = False
    with pytest.raises(ValueError, match="y_val"):
        DeftClassifier(_Spy(**{**TINY, "epochs": 2}), **{**TINY, "epochs": 1}).fit(
            X, y, validation_data=(X[:4], np.array([0, 1, 2, 99]))
        )
    assert not _Spy.fitted


def test_deft_checkpoint_covers_the_detector_phase(small_digits, tmp_path):
    X, y = small_digits
    path = tmp_path / "deft.pt"
    detector = GMMLossDetector(**{**TINY, "epochs": 2})
    DeftClassifier(detector, checkpoint_path=str(path), **{**TINY, "epochs": 1, "batch_size": 16}).fit(X, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deft.detector.pt", "deft.pt"]


def test_deft_second_fit_on_other_data_is_not_the_stale_checkpoint(digits, tmp_path):
    X, y = digits
    params = dict(detector="passthrough", epochs=2, batch_size=16, **TINY)
    path = tmp_path / "deft.pt"
    DeftClassifier(checkpoint_path=str(path), **params).fit(X[:40], y[:40])
    expected = DeftClassifier(**params).fit(X[40:80], y[40:80])
    with pytest.warns(UserWarning, match="other data"):
        second = DeftClassifier(checkpoint_path=str(path), **params).fit(X[40:80], y[40:80])
    np.testing.assert_array_equal(second.predict_proba(X[:20]), expected.predict_proba(X[:20]))


def test_turn_resume_after_an_interruption_in_fine_tuning(small_digits, tmp_path, monkeypatch):
    X, y = small_digits
    X_val, y_val = X[:12], y[:12]
    params = dict(lp_epochs=2, ft_epochs=3, ft_batch_size=16, ft_lr=0.05, **TINY)
    full = TurnClassifier(**params).fit(X, y, validation_data=(X_val, y_val))
    path = tmp_path / "turn.pt"
    calls = {"n": 0}
    original = TurnClassifier._logits

    def interrupting(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # validate(0), validate(1), select(1), validate(2), select(2): stop
            raise _Interrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TurnClassifier, "_logits", interrupting)
    with pytest.raises(_Interrupt):
        TurnClassifier(checkpoint_path=str(path), **params).fit(X, y, validation_data=(X_val, y_val))
    monkeypatch.setattr(TurnClassifier, "_logits", original)
    resumed = TurnClassifier(checkpoint_path=str(path), **params).fit(X, y, validation_data=(X_val, y_val))
    assert resumed.best_epoch_ == full.best_epoch_
    assert [h.get("val_accuracy") for h in resumed.history_] == [h.get("val_accuracy") for h in full.history_]
    np.testing.assert_array_equal(resumed.selection_, full.selection_)
    np.testing.assert_array_equal(resumed.clean_proba_, full.clean_proba_)
    for key, value in full.net_state_.items():
        assert torch.equal(resumed.net_state_[key], value), key


# ------------------------------------------------------------ 5. shapes named by us


def test_features_of_another_width_than_the_fitted_embeddings(small_digits):
    X, y = small_digits
    detector = GMMLossDetector(epochs=1, **TINY).fit(X, y)
    with pytest.raises(ValueError, match=r"X has 7 features per sample.*fitted on 48-wide"):
        detector.predict_clean(np.zeros((4, 7)), y[:4])


def test_features_given_to_a_loss_model_that_tuned_the_tower(small_digits):
    X, y = small_digits
    detector = GMMLossDetector(epochs=1, tuning="peft", batch_size=16, **TINY).fit(X, y)
    with pytest.raises(ValueError, match="tuning='peft' on images.*pass the images"):
        detector.predict_clean(np.zeros((4, 48)), y[:4])


@pytest.mark.parametrize(
    "make",
    [
        lambda: GMMLossDetector(epochs=1, tuning="peft", image_size=64, **TINY),
        lambda: SmallLossDetector(epochs=1, tuning="full", image_size=64, **TINY),
        lambda: DeftClassifier("passthrough", epochs=1, image_size=64, **TINY),
        lambda: TurnClassifier(lp_epochs=1, ft_epochs=1, image_size=64, **TINY),
    ],
)
def test_image_size_on_a_fixed_size_vit_fails_before_training(make, small_digits, monkeypatch):
    X, y = small_digits

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(Trainer, "fit", no_training)
    with pytest.raises(ValueError, match=r"skclip-tiny does not accept image_size=64; its native side is 32"):
        make().fit(X, y)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: DeftClassifier("passthrough", image_size=0, **TINY), "image_size"),
        (lambda: GMMLossDetector(image_size=-3, **TINY), "image_size"),
        (lambda: DeftClassifier("passthrough", lr=-1.0, **TINY), "lr"),
        (lambda: GMMLossDetector(lr=-1.0, **TINY), "lr"),
        (lambda: TurnClassifier(ft_lr=-1.0, **TINY), "ft_lr"),
        (lambda: TurnClassifier(lp_lr=-1.0, **TINY), "lp_lr"),
    ],
)
def test_non_positive_sizes_and_rates_are_parameter_errors(make, name, small_digits):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = small_digits
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        make().fit(X, y)


def test_deft_grid_search_with_a_checkpoint_path_matches_one_without(small_digits, tmp_path):
    X, y = small_digits
    y = y % 2
    grid = {"lr": [0.01, 0.1]}
    params = dict(detector=GMMLossDetector(**{**TINY, "epochs": 1}), epochs=1, batch_size=16, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with_checkpoint = GridSearchCV(
            DeftClassifier(checkpoint_path=str(tmp_path / "deft.pt"), **params), grid, cv=2
        ).fit(X, y)
        without = GridSearchCV(DeftClassifier(**params), grid, cv=2).fit(X, y)
    for key in ("split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(with_checkpoint.cv_results_[key], without.cv_results_[key])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deft.detector.pt", "deft.pt"]


def test_deft_checkpoint_needs_an_integer_random_state_in_the_detector(small_digits, tmp_path):
    X, y = small_digits
    _Spy.fitted = False
    detector = _Spy(**{**TINY, "random_state": None, "epochs": 1})
    with pytest.raises(ValueError, match="DeftClassifier's detector _Spy has checkpoint_path=.*deft.detector.pt.*"
                                         "Pass an integer random_state to the detector"):
        DeftClassifier(detector, checkpoint_path=str(tmp_path / "deft.pt"), **{**TINY, "epochs": 1}).fit(X, y)
    assert not _Spy.fitted and not list(tmp_path.iterdir())


@pytest.mark.parametrize("make", [
    lambda path: __import__("skclip_noise").DualPromptDetector(
        **TINY, tuning="frozen", n_ctx=2, epochs=2, batch_size=16, checkpoint_path=path),
    lambda path: __import__("skclip_noise").AVLPrompter(
        **TINY, prompt_depth=1, epochs=1, batch_size=8, checkpoint_path=path),
], ids=["DualPromptDetector", "AVLPrompter"])
def test_prompt_learners_never_resume_another_fits_checkpoint(make, small_digits, tmp_path):
    X, y = small_digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    path = str(tmp_path / "prompts.pt")
    make(path).fit(X[:20], names[y[:20]])
    expected = make(None).fit(X[20:], names[y[20:]])
    with pytest.warns(UserWarning, match="other data"):
        second = make(path).fit(X[20:], names[y[20:]])
    np.testing.assert_array_equal(second.clean_proba_, expected.clean_proba_)
