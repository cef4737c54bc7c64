"""ConsensusDetector and NeighbourDetector: quality on real digits, graded scores,
transition estimates, new pairs, and clear errors for bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.datasets import load_digits
from scipy.special import softmax
from sklearn.metrics import roc_auc_score

from skclip_noise import (
    ConsensusDetector,
    ImageEmbedder,
    NeighbourDetector,
    detection_report,
    make_noisy_labels,
    noise_transition_matrix,
)
from skclip_noise.backbones.offline_weights import list_offline_weights
from skclip_noise.datasets import load_digits_images
from skclip_noise.detectors._consensus_rules import (
    SIGNAL_WEIGHTS,
    best_weights,
    calibrated_to_verdicts,
    rival_share,
    verdict_weights,
)
from skclip_noise.selection.calibration import TEMPERATURES

N_FIT = 1200  # the rest of the 1,797 digits are new pairs


@pytest.fixture(scope="module")
def digits_pixels():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _noisy(y, kind, rate=0.4):
    return make_noisy_labels(y, kind, rate, random_state=0)


@pytest.fixture(scope="module")
def fitted(digits_pixels):
    """ConsensusDetector fitted on 1,200 raw digits under symmetric and pair-flip noise."""
    X, y = digits_pixels
    out = {}
    for kind in ("symmetric", "pairflip"):
        y_noisy, is_noisy = _noisy(y, kind)
        detector = ConsensusDetector(random_state=0).fit(X[:N_FIT], y_noisy[:N_FIT])
        out[kind] = detector, y_noisy, is_noisy
    return out


# Bounds set from measurement (seed 0): symmetric 40 % clean/noisy F1 0.990/0.985,
# pair-flip 40 % 0.958/0.936; new pairs (the other 597 digits) 0.982/0.972 and
# 0.972/0.953. Tuned cleanlab on all 1,797 pixels: 0.961/0.943 and 0.744/0.642.
@pytest.mark.parametrize("kind, clean_f1, noisy_f1", [("symmetric", 0.97, 0.96), ("pairflip", 0.92, 0.88)])
def test_quality_on_real_digits_without_the_noise_rate(fitted, kind, clean_f1, noisy_f1, digits_pixels):
    detector, y_noisy, is_noisy = fitted[kind]
    report = detection_report(is_noisy[:N_FIT], detector.clean_mask_, output_dict=True)
    assert report["clean_f1"] > clean_f1 and report["noisy_f1"] > noisy_f1, report
    X, _ = digits_pixels
    new = detection_report(is_noisy[N_FIT:], detector.predict_clean(X[N_FIT:], y_noisy[N_FIT:]), output_dict=True)
    assert new["clean_f1"] > clean_f1 - 0.02 and new["noisy_f1"] > noisy_f1 - 0.04, new


def test_label_quality_is_a_graded_ranking_and_suggestions_are_mostly_the_true_class(fitted, digits_pixels):
    detector, _, is_noisy = fitted["pairflip"]
    issues = detector.label_issues_
    quality = issues["label_quality"].to_numpy()
    assert len(np.unique(quality)) > 0.9 * N_FIT  # no saturated posterior: it ranks
    assert roc_auc_score(is_noisy[:N_FIT], 1 - quality) > 0.95  # measured 0.982
    _, y = digits_pixels
    caught = ~detector.clean_mask_ & is_noisy[:N_FIT]
    assert (issues["suggested_label"].to_numpy()[caught] == y[:N_FIT][caught]).mean() > 0.9  # measured 0.982
    assert issues["suggested_label_confidence"].between(0, 1).all()


def test_transition_estimate_is_close_to_the_truth_under_symmetric_noise(fitted, digits_pixels):
    detector, y_noisy, _ = fitted["symmetric"]
    _, y = digits_pixels
    truth = noise_transition_matrix(y[:N_FIT], y_noisy[:N_FIT])
    assert np.abs(detector.noise_transition_ - truth).max() < 0.1  # measured 0.04
    assert 0.3 < detector.noise_rate_ < 0.5


@pytest.mark.skipif(not list_offline_weights()[0].installed, reason="needs the real MobileNetV2 weights (offline-weights)")
def test_quality_on_real_mobilenet_embeddings_of_digits():
    images, labels = load_digits_images()
    Z = ImageEmbedder("torchvision:mobilenet_v2", "offline", image_size=64, device="cpu").fit_transform(images[:800])
    for kind, clean_f1, noisy_f1 in [("symmetric", 0.92, 0.89), ("pairflip", 0.92, 0.89)]:  # measured .941/.917, .944/.915
        y_noisy, is_noisy = _noisy(labels[:800], kind)
        report = detection_report(is_noisy, ConsensusDetector(random_state=0).fit(Z, y_noisy).clean_mask_,
                                  output_dict=True)
        assert report["clean_f1"] > clean_f1 and report["noisy_f1"] > noisy_f1, (kind, report)


# ------------------------------------------------------------ NeighbourDetector


def test_neighbour_detector_finds_the_flips_in_separable_clusters():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 25)
    X = np.eye(4)[y] * 8 + rng.normal(size=(100, 4))
    flipped = np.array([3, 30, 57, 80, 99])
    y_noisy = y.copy()
    y_noisy[flipped] = (y[flipped] + 1) % 4
    for rule in ("vote", "rank"):
        detector = NeighbourDetector(n_neighbors=5, rule=rule).fit(X, y_noisy)
        np.testing.assert_array_equal(np.flatnonzero(~detector.clean_mask_), flipped)
        np.testing.assert_array_equal(detector.label_issues_["predicted_label"].to_numpy()[flipped], y[flipped])
    # New pairs are judged by their neighbours in the training set.
    np.testing.assert_array_equal(detector.predict_clean(X[:4] + 0.01, [0, 1, 0, 0]), [True, False, True, True])


def test_neighbour_detector_on_real_digits(digits_pixels):
    X, y = digits_pixels
    y_noisy, is_noisy = _noisy(y, "symmetric")
    report = detection_report(is_noisy, NeighbourDetector().fit(X, y_noisy).clean_mask_, output_dict=True)
    assert report["clean_f1"] > 0.96 and report["noisy_f1"] > 0.95  # measured on 1,200: 0.983 / 0.975


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("make", [ConsensusDetector, NeighbourDetector])
def test_a_neighbourhood_larger_than_a_class_is_refused_with_the_fix(make):
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.r_[np.zeros(36, int), np.ones(4, int)]
    with pytest.raises(ValueError, match="n_neighbors=10 is not below the size of class '1' \\(4 samples\\)"):
        make(n_neighbors=10).fit(X, y)
    y[-1] = 2  # class 2 has one sample: no neighbourhood size fits, "auto" included
    for n_neighbors in (1, "auto"):
        with pytest.raises(ValueError, match="class '2' has a single sample"):
            make(n_neighbors=n_neighbors).fit(X, y)


def test_a_class_of_one_sample_is_judged_by_the_callers_pred_probs():
    """Without another model a class of one sample is refused (nothing in the features can
    back its label); with pred_probs its row comes from them: kept where they back it,
    flagged where they point elsewhere. The warning says why."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    X = np.eye(2)[y] * 4 + rng.normal(size=(80, 2))
    y[[0, 40]] = [2, 3]  # two lone labels on images of classes 0 and 1
    with pytest.raises(ValueError, match="class '2' has a single sample.*Pass pred_probs from a model that knows"):
        ConsensusDetector(random_state=0).fit(X, y)
    pred_probs = np.full((80, 4), 0.02)
    pred_probs[np.arange(80), np.repeat([0, 1], 40)] = 0.94
    pred_probs[0] = [0.02, 0.02, 0.94, 0.02]  # the model backs the lone label 2 ...
    pred_probs[40] = [0.02, 0.94, 0.02, 0.02]  # ... not the lone label 3
    with pytest.warns(UserWarning, match="has 1 sample, fewer than cv=5 folds: the probe that judges it never"):
        detector = ConsensusDetector(random_state=0).fit(X, y, pred_probs=pred_probs)
    assert detector.clean_mask_[0] and not detector.clean_mask_[40]
    assert detector.clean_mask_[1:40].all() and detector.clean_mask_[41:].all()


def test_neighbour_detector_fits_its_default_neighbourhood_inside_a_small_class():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(36, int), np.ones(6, int)]
    X = np.eye(2)[y] * 6 + rng.normal(size=(42, 2))
    y_noisy = y.copy()
    y_noisy[[0, 40]] = [1, 0]
    detector = NeighbourDetector().fit(X, y_noisy)  # 10 neighbours would not fit class 1 (6 samples)
    assert detector.n_neighbors_ == 5
    np.testing.assert_array_equal(detector.clean_mask_, NeighbourDetector(n_neighbors=5).fit(X, y_noisy).clean_mask_)
    np.testing.assert_array_equal(np.flatnonzero(~detector.clean_mask_), [0, 40])
    assert NeighbourDetector().fit(rng.normal(size=(60, 2)), np.repeat([0, 1], 30)).n_neighbors_ == 10  # SimiFeat's


def test_a_class_smaller_than_the_folds_is_judged_with_a_warning():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(37, int), np.ones(3, int)]
    X = np.eye(3)[y] * 5 + rng.normal(size=(40, 3))
    with pytest.warns(UserWarning, match="class '1' has 3 samples, fewer than cv=5 folds") as record:
        detector = ConsensusDetector(random_state=0).fit(X, y)
    assert len(record) == 1  # ours, not also scikit-learn's about the folds
    assert detector.clean_mask_.all()  # three clean, well separated members
    with pytest.raises(ValueError, match="cv=5 folds need at least 5 samples of some class; the largest has 4"):
        ConsensusDetector().fit(X[:8], np.repeat([0, 1], 4))


@pytest.mark.parametrize("make", [ConsensusDetector, NeighbourDetector])
def test_nan_features_are_refused_before_any_work(make):
    X = np.random.default_rng(0).normal(size=(40, 3))
    X[7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make(n_neighbors=3).fit(X, np.repeat([0, 1], 20))


def test_zero_shot_needs_a_clip_backbone():
    X = np.random.default_rng(0).normal(size=(40, 3))
    detector = ConsensusDetector("timm:test_vit", None, n_neighbors=3, zero_shot=True, device="cpu")
    with pytest.raises(ValueError, match="needs a CLIP"):
        detector.fit(X, np.repeat(["a", "b"], 20))


def test_zero_shot_signal_runs_on_a_clip_and_its_embeddings():
    images, labels = load_digits_images(as_strings=True)
    tiny = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")
    Z = ImageEmbedder(**tiny).fit_transform(images[:200])
    detector = ConsensusDetector(**tiny, n_neighbors=3, zero_shot=True, random_state=0).fit(Z, labels[:200])
    assert detector.clean_mask_.shape == (200,) and 0 <= detector.noise_rate_ < 0.5
    with pytest.raises(ValueError, match="joint space"):
        ConsensusDetector(**tiny, n_neighbors=3, zero_shot=True).fit(Z[:, :10], labels[:200])


def test_in_an_imbalanced_learn_pipeline_under_grid_search(digits_pixels):
    from imblearn.pipeline import Pipeline
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    X, y = digits_pixels
    y_noisy, _ = _noisy(y, "pairflip")
    pipeline = Pipeline([("detect", ConsensusDetector(cv=3, random_state=0)),
                         ("classify", LogisticRegression(C=0.1, max_iter=300))])
    search = GridSearchCV(pipeline, {"detect__n_neighbors": [5, 10]}, cv=2).fit(X[:600], y_noisy[:600])
    assert search.best_params_["detect__n_neighbors"] in (5, 10)
    # Trained on what the detector kept, the classifier beats one trained on every noisy label.
    plain = LogisticRegression(C=0.1, max_iter=300).fit(X[:600], y_noisy[:600])
    assert search.score(X[1200:], y[1200:]) > plain.score(X[1200:], y[1200:]) + 0.1


def test_auto_neighbourhood_fits_each_pair_inside_its_own_class():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60, int), np.ones(8, int)]
    X = np.eye(2)[y] * 4 + rng.normal(size=(68, 2))
    detector = ConsensusDetector(random_state=0).fit(X, y)
    assert detector.n_neighbors_ == 20  # the class of 8 does not shrink the others' neighbourhoods
    slots = detector._neighbourhoods.slots(y, y)
    assert slots.sum(axis=1).tolist() == [20] * 60 + [7] * 8
    y3 = np.tile(y, 3)  # every class above 20: every pair asks all 20, as an int would
    X3 = np.tile(X, (3, 1)) + rng.normal(scale=0.01, size=(204, 2))
    assert ConsensusDetector(random_state=0).fit(X3, y3)._neighbourhoods.slots(y3, y3) is None
    # Exact copies are one image: the class of 8 images given thrice still asks 7.
    copied = ConsensusDetector(random_state=0).fit(np.tile(X, (3, 1)), y3)
    assert copied._neighbourhoods.slots(y3, y3).sum(axis=1).tolist() == ([20] * 60 + [7] * 8) * 3
    with pytest.raises(ValueError, match="n_neighbors=8 is not below the size of class '1'"):
        ConsensusDetector(n_neighbors=8).fit(X, y)  # an int is one size for every pair


def test_one_small_class_leaves_every_other_neighbourhood_whole(digits_pixels):
    X, y = digits_pixels
    rows = np.r_[np.flatnonzero(y != 9), np.flatnonzero(y == 9)[:10]]
    X, y = X[rows], y[rows]
    y_noisy, is_noisy = _noisy(y, "pairflip")
    into_small = (y_noisy == 9) & (y != 9)  # the small class attracts no flips: it stays small
    y_noisy[into_small], is_noisy[into_small] = y[into_small], False
    smallest = np.bincount(y_noisy).min()
    scores = {}
    for n_neighbors in ("auto", smallest - 1):  # the second: one small class sets every neighbourhood
        detector = ConsensusDetector(n_neighbors=n_neighbors, random_state=0).fit(X, y_noisy)
        scores[n_neighbors] = detection_report(is_noisy, detector.clean_mask_, output_dict=True)["clean_f1"]
    assert scores["auto"] > scores[smallest - 1] + 0.02, scores  # measured: 0.977 against 0.928


def test_max_samples_bounds_the_probe_folds_and_still_scores_every_sample(digits_pixels, fitted):
    X, y = digits_pixels
    y_noisy, is_noisy = _noisy(y, "symmetric")
    capped = ConsensusDetector(max_samples=300, random_state=0).fit(X[:N_FIT], y_noisy[:N_FIT])
    probe = capped._probe
    for k, (train, _) in enumerate(probe.folds_):
        rows = probe._training_rows(train, y_noisy[:N_FIT], k)
        assert len(rows) == 300 and np.isin(rows, train).all()
        assert np.array_equal(np.bincount(y_noisy[rows]) > 0, np.bincount(y_noisy[train]) > 0)
    assert capped.clean_proba_.shape == (N_FIT,)
    # A linear probe on 300 samples per fold is still a good one (measured 0.987 / 0.981).
    report = detection_report(is_noisy[:N_FIT], capped.clean_mask_, output_dict=True)
    assert report["clean_f1"] > 0.96 and report["noisy_f1"] > 0.94, report
    uncapped, _, _ = fitted["symmetric"]
    assert not np.array_equal(capped.clean_proba_, uncapped.clean_proba_)


def test_zero_shot_signal_is_weighted_by_how_well_it_predicts_the_kept_labels():
    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(4), 50)
    vague = np.full((200, 4), 0.1)
    vague[np.arange(200), codes] = 0.7  # the probe and neighbours: right but unsure
    sharp = np.full((200, 4), 0.01)
    sharp[np.arange(200), codes] = 0.97  # a zero-shot signal that knows the classes
    noise = rng.dirichlet(np.ones(4), size=200)  # a random text tower's
    kept = np.ones(200, dtype=bool)
    candidates = [(weight,) for weight in SIGNAL_WEIGHTS]
    assert best_weights(codes, vague, [sharp], kept, candidates)[0] > 0
    assert best_weights(codes, vague, [noise], kept, candidates) == (0.0,)


def test_caller_pred_probs_earn_weight_only_for_what_the_first_probe_lacks():
    codes = np.repeat(np.arange(4), 50)
    kept = np.ones(200, dtype=bool)
    kept[::3] = False  # judged wrong so far
    vague = np.full((200, 4), 0.1)
    vague[np.arange(200), codes] = 0.7
    informed = vague.copy()  # sure where the label is kept, doubtful where it is not
    informed[kept] = 0.01
    informed[np.flatnonzero(kept), codes[kept]] = 0.97
    informed[~kept] = 0.3
    informed[np.flatnonzero(~kept), codes[~kept]] = 0.1
    flipped = np.full((200, 4), 0.01)  # learned every given label, the flips included
    flipped[np.arange(200), codes] = 0.97
    candidates = [(weight,) for weight in SIGNAL_WEIGHTS]
    # The same information as the first probe earns nothing; more, some.
    assert verdict_weights(codes, vague, [informed], [informed], kept, candidates) == (0.0,)
    assert verdict_weights(codes, vague, [informed], [vague], kept, candidates)[0] > 0
    # A model that learned the flips does not beat a first probe that is merely vague.
    assert verdict_weights(codes, vague, [flipped], [vague], kept, candidates) == (0.0,)
    # A gain at noise level (a random perturbation of the reference) earns none.
    rng = np.random.default_rng(0)
    wobbly = np.clip(vague + rng.normal(scale=0.02, size=vague.shape), 1e-3, None)
    wobbly /= wobbly.sum(axis=1, keepdims=True)
    assert verdict_weights(codes, vague, [wobbly], [vague], kept, candidates) == (0.0,)
    # Only the given labels' probabilities are read: those alone (n,) give the same weights.
    given = np.arange(200), codes
    for arrays in ([informed], [vague]), ([flipped], [vague]), ([wobbly], [vague]):
        assert verdict_weights(codes, vague[given], [a[given] for a in arrays[0]], [arrays[1][0][given]], kept,
                               candidates) == verdict_weights(codes, vague, *arrays, kept, candidates)


def test_a_merely_sharper_model_earns_no_weight_once_both_fit_the_kept_labels():
    # One model's probabilities at two temperatures: the same knowledge, one flatter (as a
    # strongly regularised first probe is). Mixed in raw, the sharper looks better.
    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(4), 100)
    logits = rng.normal(size=(400, 4))
    logits[np.arange(400), codes] += 2.0
    kept = rng.random(400) < 0.8  # the verdicts so far
    # Flatter by exactly eight steps of the temperature grid, so both calibrate alike.
    sharp, flat = softmax(logits, axis=1), softmax(logits * TEMPERATURES[0] / TEMPERATURES[8], axis=1)
    candidates = [(weight,) for weight in SIGNAL_WEIGHTS]
    assert verdict_weights(codes, flat, [sharp], [flat], kept, candidates)[0] > 0
    signal, reference = (calibrated_to_verdicts(codes, p, kept) for p in (sharp, flat))
    np.testing.assert_allclose(signal, reference, atol=1e-9)
    assert verdict_weights(codes, flat, [signal], [reference], kept, candidates) == (0.0,)


@pytest.fixture(scope="module")
def digits_pred_probs(digits_pixels):
    """Out-of-fold probabilities of a caller's own model: a kNN classifier on the pixels."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    X, y = digits_pixels
    y_noisy, is_noisy = _noisy(y, "symmetric")
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    proba = cross_val_predict(KNeighborsClassifier(15), X, y_noisy, cv=folds, method="predict_proba")
    return X, y_noisy, is_noisy, proba


def test_fit_takes_the_callers_pred_probs_as_one_more_signal(digits_pixels, digits_pred_probs):
    X, y_noisy, is_noisy, proba = digits_pred_probs
    alone = ConsensusDetector(random_state=0).fit(X, y_noisy)
    helped = ConsensusDetector(random_state=0).fit(X, y_noisy, pred_probs=proba)
    assert alone.pred_probs_weight_ == 0.0
    assert 0 <= helped.pred_probs_weight_ <= 1 / 3 + 1e-9
    f1 = {name: detection_report(is_noisy, d.clean_mask_, output_dict=True)["clean_f1"]
          for name, d in (("alone", alone), ("helped", helped))}
    assert f1["helped"] >= f1["alone"] - 0.005, f1
    assert helped.class_proba_.shape == (len(X), 10)
    np.testing.assert_allclose(helped.class_proba_.sum(axis=1), 1, atol=1e-6)
    # New pairs are judged from the features (the caller's model saw only the training set).
    assert helped.predict_clean(X[:5], y_noisy[:5]).shape == (5,)


def test_a_callers_model_never_outweighs_the_probe_or_the_neighbours(digits_pixels, digits_pred_probs):
    # A model that knows the truth (as one trained on the noise's own inputs nearly does)
    # earns the most weight there is, and that is the weight of each of the detector's signals.
    X, y_noisy, _, _ = digits_pred_probs
    _, y = digits_pixels
    oracle = np.full((len(y), 10), 0.02)
    oracle[np.arange(len(y)), y] = 0.82
    detector = ConsensusDetector(random_state=0).fit(X, y_noisy, pred_probs=oracle)
    assert detector.pred_probs_weight_ == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "transform, message",
    [
        (lambda p: np.c_[p[:, :8], p[:, 8:].sum(axis=1)], "9 columns but there are 10 classes"),
        (lambda p: p[:-1], "1796 rows but there are 1797 labels"),
        (lambda p: p * 2, "probabilities|sum to 1"),
        (lambda p: np.where(np.arange(10) == 3, np.nan, p), "NaN"),
    ],
)
def test_bad_pred_probs_are_refused_before_any_work(digits_pred_probs, transform, message, monkeypatch):
    X, y_noisy, _, proba = digits_pred_probs
    detector = ConsensusDetector(random_state=0)
    monkeypatch.setattr(detector, "_fit_scores", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ValueError, match=message):
        detector.fit(X, y_noisy, pred_probs=transform(proba))


def test_pred_probs_are_routed_through_pipeline_and_grid_search(digits_pred_probs):
    import sklearn
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y_noisy, _, proba = digits_pred_probs
    X, y_noisy, proba = X[:600], y_noisy[:600], proba[:600]
    seen = []

    class Recording(ConsensusDetector):
        def fit(self, X, y, pred_probs=None):
            seen.append(None if pred_probs is None else pred_probs.shape)
            return super().fit(X, y, pred_probs=pred_probs)

    with sklearn.config_context(enable_metadata_routing=True):
        detector = Recording(random_state=0).set_fit_request(pred_probs=True)
        pipe = Pipeline([("scale", StandardScaler()), ("detector", detector)]).fit(X, y_noisy, pred_probs=proba)
        assert seen == [(600, 10)]
        assert pipe[-1].clean_mask_.shape == (600,)
        seen.clear()
        search = GridSearchCV(
            Recording(random_state=0).set_fit_request(pred_probs=True), {"n_neighbors": [5, 10]}, cv=2,
            scoring=lambda est, X, y: float(est.predict_clean(X, y).mean()),
        ).fit(X, y_noisy, pred_probs=proba)
    # Each of the 2 x 2 fold fits got its training rows of pred_probs, and the refit all of them.
    assert seen == [(300, 10)] * 4 + [(600, 10)]
    assert search.best_estimator_.clean_mask_.shape == (600,)

def test_the_probe_standardises_as_standard_scaler_does_without_a_full_copy():
    from sklearn.preprocessing import StandardScaler

    from skclip_noise.detectors._probe import _Standardiser

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(3000, 7)) * [1, 10, 0.1, 1e3, 1, 1, 1] + [0, 5, -3, 1e4, 0, 0, 0]).astype(np.float32)
    X[:, 5] = 2.5  # a constant column is only centred
    ours, theirs = _Standardiser(X), StandardScaler().fit(X)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-6)
    np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-5)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), atol=1e-4)
    assert ours.transform(X).dtype == np.float32



def test_the_probe_reads_only_the_given_labels_probabilities_when_that_is_all_it_is_asked():
    from skclip_noise.detectors._probe import CrossFittedProbe

    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(4), 60)
    X = (np.eye(4)[codes] + rng.normal(size=(240, 4))).astype(np.float32)
    full, given = CrossFittedProbe(4, random_state=0), CrossFittedProbe(4, random_state=0)
    proba, given_proba = full.fit(X, codes), given.fit(X, codes, given_only=True)
    assert given_proba.shape == (240,) and given.C_ == full.C_
    np.testing.assert_array_equal(given_proba, proba[np.arange(240), codes])


# ---------------------------------------------------------------- step 5: disagreement


def test_rival_share_is_below_one_half_exactly_where_another_class_is_most_probable():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(5), size=300)
    codes = rng.integers(0, 5, size=300)
    share = rival_share(proba, codes)
    assert np.all((share < 0.5) == (proba.argmax(axis=1) != codes))
    assert np.all((share > 0) & (share < 1))


@pytest.fixture(scope="module")
def model_noise_fits(digits_pixels):
    """Both flag_disagreement settings fitted under a model's plausible wrong labels (20 %)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from skclip_noise.noise import make_model_noise

    X, y = digits_pixels
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    proba = cross_val_predict(LogisticRegression(max_iter=300), X, y, cv=folds, method="predict_proba")
    y_noisy, is_noisy = make_model_noise(y, proba, 0.2, random_state=0)
    fits = {flag: ConsensusDetector(flag_disagreement=flag, random_state=0).fit(X, y_noisy) for flag in (False, True)}
    return fits, y_noisy, is_noisy


def test_flagging_disagreement_catches_a_models_plausible_wrong_labels(model_noise_fits):
    fits, _, is_noisy = model_noise_fits
    f1 = {flag: detection_report(is_noisy, d.clean_mask_, output_dict=True)["clean_f1"] for flag, d in fits.items()}
    # Measured: 0.895 with the Bayes rule alone, 0.969 with the pairs of another most probable class flagged.
    assert f1[True] > f1[False] + 0.05 and f1[True] > 0.95, f1
    flagged = fits[True]
    codes = np.searchsorted(flagged.classes_, flagged.label_issues_["given_label"].to_numpy())
    disagree = flagged.class_proba_.argmax(axis=1) != codes
    assert not flagged.clean_mask_[disagree].any()
    assert np.array_equal(fits[False].clean_mask_ & ~disagree, flagged.clean_mask_)
    for detector in fits.values():  # the verdict is still the probability against the threshold
        assert np.array_equal(detector.clean_mask_, detector.clean_proba_ > detector.threshold)


def test_new_pairs_whose_most_probable_class_is_another_are_flagged(model_noise_fits, digits_pixels):
    fits, _, _ = model_noise_fits
    X, _ = digits_pixels
    detector = fits[True]
    suggested = detector.label_issues_["suggested_label"].to_numpy()[:50]
    other = np.where(suggested == 0, 1, 0)
    assert not detector.predict_clean(X[:50], other).any()
    assert detector.predict_clean(X[:50], suggested).mean() > 0.5


def _disputed(detector):
    """The documented recipe: kept pairs whose most probable class is another."""
    issues = detector.label_issues_
    return ((issues["issue_type"] == "ok") & (issues["predicted_label"] != issues["given_label"])).to_numpy()


def test_checking_the_disputed_pairs_tells_a_models_wrong_labels_from_class_level_noise(fitted, model_noise_fits):
    """The user guide's "decide with thirty checked labels": the disputed pairs are what
    flag_disagreement adds, mostly wrong under a model's plausible wrong labels and mostly
    right under class-level noise (measured: 0.97 of 248, against 0.31 of 29 and 0.27 of 51)."""
    fits, _, is_noisy = model_noise_fits
    disputed = _disputed(fits[False])
    assert np.array_equal(fits[True].clean_mask_, fits[False].clean_mask_ & ~disputed)
    assert disputed.sum() >= 30 and is_noisy[disputed].mean() > 0.8
    for kind in ("symmetric", "pairflip"):
        detector, _, class_level_noisy = fitted[kind]
        disputed = _disputed(detector)
        assert disputed.any() and class_level_noisy[:N_FIT][disputed].mean() < 0.5, kind


def test_the_disputed_pairs_to_check_make_a_review_page_of_their_own(fitted):
    """The guide's review-page recipe shows exactly the pairs drawn for checking."""
    from skclip_noise.report import label_issues_html

    detector = fitted["symmetric"][0]
    issues = detector.label_issues_
    disputed = issues[_disputed(detector)]
    to_check = disputed.sample(min(30, len(disputed)), random_state=0)
    page = issues.assign(is_label_issue=issues.index.isin(to_check.index))
    html = label_issues_html(None, page, review=True)
    shown = sorted(int(sample) for sample in re.findall(r'data-sample="(\d+)"', html))
    assert shown == sorted(to_check.index.tolist()) and len(shown) == min(30, len(disputed)) > 0
    assert page["is_label_issue"].sum() == len(shown) and not detector.label_issues_.equals(page)  # a copy
