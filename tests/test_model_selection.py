"""Label-free scores: detectors' score(), the detection and noise-corrected scorers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import sklearn
from conftest import folds
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold, StratifiedKFold

from skclip_noise import (
    ConsensusDetector,
    DualPromptDetector,
    GMMLossDetector,
    LabelMatchDetector,
    NeighbourDetector,
    SmallLossDetector,
)
from skclip_noise.base.label_free import MAX_REFERENCE_SAMPLES, fit_reference_classifier
from skclip_noise.metrics import clean_f1_score
from skclip_noise.model_selection import (
    make_detection_scorer,
    make_noise_corrected_scorer,
    noise_corrected_accuracy_score,
    prefer_defaults,
)




# ------------------------------------------------------------ noise-corrected accuracy


@pytest.mark.parametrize("solver", ["nnls", "inverse"])
def test_noise_corrected_accuracy_recovers_true_accuracy_in_expectation(solver):
    rng = np.random.default_rng(0)
    n_classes, n = 4, 200_000
    transition = np.full((n_classes, n_classes), 0.1) + np.eye(n_classes) * 0.6  # rows sum to 1
    y_true = rng.integers(n_classes, size=n)
    cdf = transition.cumsum(axis=1)[y_true]  # the given label by inverse CDF of the true class's row
    y_noisy = (rng.random(n)[:, None] > cdf).sum(axis=1)
    y_pred = np.where(rng.random(n) < 0.75, y_true, rng.integers(n_classes, size=n))
    true_accuracy = float(np.mean(y_pred == y_true))
    naive = float(np.mean(y_pred == y_noisy))
    corrected = noise_corrected_accuracy_score(y_noisy, y_pred, transition, solver=solver)
    assert naive < true_accuracy - 0.2
    assert corrected == pytest.approx(true_accuracy, abs=0.01)


def _pair_flip(rate, n_classes):
    return (1 - rate) * np.eye(n_classes) + rate * np.roll(np.eye(n_classes), 1, axis=1)


def test_nnls_solver_is_robust_to_an_error_in_the_transition_where_the_inverse_is_not():
    # Pair-flip noise at 40 %: T is nearly singular, and a transition estimated at 45 %
    # sends the inverse's estimate far off while the constrained one stays a probability.
    rng = np.random.default_rng(0)
    n_classes, n = 10, 5000
    y_true = rng.integers(n_classes, size=n)
    y_noisy = np.where(rng.random(n) < 0.4, (y_true + 1) % n_classes, y_true)
    y_pred = np.where(rng.random(n) < 0.87, y_true, rng.integers(n_classes, size=n))
    true_accuracy = float(np.mean(y_pred == y_true))
    misestimated = _pair_flip(0.45, n_classes)
    constrained = noise_corrected_accuracy_score(y_noisy, y_pred, misestimated, solver="nnls")
    inverse = noise_corrected_accuracy_score(y_noisy, y_pred, misestimated)
    assert constrained == pytest.approx(true_accuracy, abs=0.03)
    assert abs(inverse - true_accuracy) > 0.08


def test_nnls_solver_stays_in_the_unit_interval_and_weights_samples():
    y_noisy = np.array([0, 1, 1, 0, 2, 2])
    y_pred = np.array([0, 1, 0, 0, 2, 1])
    transition = _pair_flip(0.3, 3)
    for weights in (None, np.array([1, 2, 1, 1, 3, 1])):
        score = noise_corrected_accuracy_score(y_noisy, y_pred, transition, sample_weight=weights, solver="nnls")
        assert 0.0 <= score <= 1.0
    # Integer weights are repeated samples.
    repeated = noise_corrected_accuracy_score(np.repeat(y_noisy, [1, 2, 1, 1, 3, 1]),
                                              np.repeat(y_pred, [1, 2, 1, 1, 3, 1]), transition, solver="nnls")
    assert noise_corrected_accuracy_score(
        y_noisy, y_pred, transition, sample_weight=[1, 2, 1, 1, 3, 1], solver="nnls") == pytest.approx(repeated)


@pytest.mark.parametrize("solver", ["lstsq", "auto", None, 1])
def test_noise_corrected_accuracy_refuses_an_unknown_solver(solver):
    with pytest.raises(ValueError, match="solver must be one of"):
        noise_corrected_accuracy_score([0, 1], [0, 1], np.eye(2), solver=solver)
    with pytest.raises(ValueError, match="solver must be one of"):
        make_noise_corrected_scorer(np.eye(2), solver=solver)


def test_noise_corrected_accuracy_identity_is_plain_accuracy_and_labels_map_order():
    y_noisy = np.array(["b", "a", "a", "c"])
    y_pred = np.array(["b", "a", "c", "c"])
    assert noise_corrected_accuracy_score(y_noisy, y_pred, np.eye(3)) == pytest.approx(0.75)
    transition = np.array([[0.8, 0.2, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # for labels a, b, c
    reordered = transition[[2, 0, 1]][:, [2, 0, 1]]  # the same matrix for labels c, a, b
    assert noise_corrected_accuracy_score(y_noisy, y_pred, transition) == pytest.approx(
        noise_corrected_accuracy_score(y_noisy, y_pred, reordered, labels=["c", "a", "b"])
    )


@pytest.mark.parametrize(
    ("transition", "message"),
    [
        (np.ones((2, 3)) / 3, "square"),
        (np.eye(3), "3 x 3 but there are 2 classes"),
        (np.array([[0.5, 0.4], [0.1, 0.9]]), "row-stochastic"),
        (np.full((2, 2), 0.5), "singular"),
    ],
)
def test_noise_corrected_accuracy_refuses_bad_matrices(transition, message):
    with pytest.raises(ValueError, match=message):
        noise_corrected_accuracy_score([0, 1], [0, 1], transition)


def test_noise_corrected_accuracy_refuses_unknown_labels():
    with pytest.raises(ValueError, match="y_pred has labels not in labels"):
        noise_corrected_accuracy_score([0, 1], [0, 2], np.eye(2), labels=[0, 1])


def test_noise_corrected_scorer_in_grid_search_takes_a_fitted_detector(digits_noisy):
    X, y, y_noisy, _ = digits_noisy
    detector = ConsensusDetector(random_state=0).fit(X, y_noisy)
    scorer = make_noise_corrected_scorer(detector)
    search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [1e-4, 1.0]}, scoring=scorer, cv=folds())
    search.fit(X, y_noisy)
    assert search.best_params_ == {"C": 1.0}
    # closer to the accuracy on the true labels than the plain accuracy on the noisy ones
    model = LogisticRegression(max_iter=500).fit(X[:400], y_noisy[:400])
    true_accuracy = model.score(X[400:], y[400:])
    assert abs(scorer(model, X[400:], y_noisy[400:]) - true_accuracy) < abs(model.score(X[400:], y_noisy[400:]) - true_accuracy)


# ------------------------------------------------------------------ detector score


def test_score_only_where_training_embeddings_are_kept():
    for detector in (ConsensusDetector(), NeighbourDetector(), GMMLossDetector(), SmallLossDetector()):
        assert hasattr(detector, "score"), type(detector).__name__
    for detector in (GMMLossDetector(tuning="full"), LabelMatchDetector(), DualPromptDetector()):
        assert not hasattr(detector, "score"), type(detector).__name__


def test_score_prefers_keeping_clean_labels(digits_noisy):
    """The reference trained on a detector's kept set scores higher on held-out noisy labels
    than one trained on everything (no detection) or on a random half."""
    X, y, y_noisy, is_noisy = digits_noisy
    train, test = np.arange(400), np.arange(400, 600)
    detector = ConsensusDetector(random_state=0).fit(X[train], y_noisy[train])
    good = detector.score(X[test], y_noisy[test])
    kept_everything = fit_reference_classifier(X[train], y_noisy[train], np.ones(400, bool), 10)
    proba = kept_everything.predict_proba(X[test])
    assert good > float(proba[np.arange(len(test)), y_noisy[test]].mean())
    assert 0.0 <= good <= 1.0


def test_score_is_label_free_and_ranks_detectors_by_quality(digits_noisy):
    X, y, y_noisy, is_noisy = digits_noisy
    search = GridSearchCV(
        ConsensusDetector(random_state=0), {"threshold": [0.5, 0.999]}, cv=folds()
    ).fit(X, y_noisy)
    assert search.best_params_ == {"threshold": 0.5}
    assert clean_f1_score(is_noisy, search.best_estimator_.clean_mask_) > 0.9


def test_score_reference_is_fitted_once_per_fit_and_survives_pickle(digits_noisy):
    X, _, y_noisy, _ = digits_noisy
    detector = NeighbourDetector().fit(X[:400], y_noisy[:400])
    first = detector.score(X[400:], y_noisy[400:])
    reference = detector._reference_classifier()
    assert detector._reference_classifier() is reference
    restored = pickle.loads(pickle.dumps(detector))
    assert restored.score(X[400:], y_noisy[400:]) == first
    detector.fit(X[200:], y_noisy[200:])
    assert detector._reference_classifier() is not reference


def test_score_weights_and_errors(digits_noisy):
    X, _, y_noisy, _ = digits_noisy
    detector = GMMLossDetector(lr=1e-2, device="cpu", random_state=0).fit(X[:400], y_noisy[:400])
    weights = np.zeros(200)
    weights[:10] = 1.0
    reference = detector._reference_classifier()
    proba = reference.predict_proba(X[400:410])
    given = proba[np.arange(10), np.searchsorted(reference.classes_, y_noisy[400:410])]
    assert detector.score(X[400:], y_noisy[400:], sample_weight=weights) == pytest.approx(float(given.mean()))
    with pytest.raises(ValueError, match="not seen during fit"):
        detector.score(X[400:], np.full(200, 99))
    with pytest.raises(ValueError, match="features"):
        detector.score(X[400:, :10], y_noisy[400:])


def test_reference_subsamples_large_kept_sets_and_handles_one_class_or_none():
    rng = np.random.default_rng(0)
    n = MAX_REFERENCE_SAMPLES + 500
    features = rng.normal(size=(n, 2)).astype(np.float32)
    codes = (features[:, 0] > 0).astype(int)
    model = fit_reference_classifier(features, codes, np.ones(n, bool), 2, random_state=0)
    assert model[-1].n_features_in_ == 2 and model[0].n_samples_seen_ == MAX_REFERENCE_SAMPLES
    single = fit_reference_classifier(features, codes, codes == 1, 2)
    assert single.classes_.tolist() == [1] and np.all(single.predict_proba(features[:5]) == 1.0)
    nothing = fit_reference_classifier(features, codes, np.zeros(n, bool), 2)  # chance: 1 / n_classes
    assert nothing.classes_.tolist() == [0, 1] and np.all(nothing.predict_proba(features[:5]) == 0.5)


# ------------------------------------------------------------------ detection scorer


def test_detection_scorer_label_free_equals_score(digits_noisy):
    X, _, y_noisy, _ = digits_noisy
    detector = ConsensusDetector(random_state=0).fit(X[:400], y_noisy[:400])
    assert make_detection_scorer()(detector, X[400:], y_noisy[400:]) == detector.score(X[400:], y_noisy[400:])


def test_detection_scorer_with_truth_uses_routed_mask(digits_noisy):
    X, _, y_noisy, is_noisy = digits_noisy
    search = GridSearchCV(
        NeighbourDetector(), {"n_neighbors": [3, 10]}, scoring=make_detection_scorer(clean_f1_score), cv=folds()
    )
    with sklearn.config_context(enable_metadata_routing=True):
        search.fit(X, y_noisy, is_noisy=is_noisy)
    assert 0.8 < search.best_score_ <= 1.0
    detector = NeighbourDetector().fit(X[:400], y_noisy[:400])
    with pytest.raises(ValueError, match="pass is_noisy"):
        make_detection_scorer(clean_f1_score)(detector, X[400:], y_noisy[400:])
    with pytest.raises(TypeError, match="callable"):
        make_detection_scorer("clean_f1")


# ------------------------------------------------------------------ trusted set (documented route)


def test_trusted_set_route_for_a_pipeline_and_a_detector(digits_noisy):
    """The user guide's route: the checked samples are the test fold of a single split."""
    imblearn_pipeline = pytest.importorskip("imblearn.pipeline")
    X, y, y_noisy, is_noisy = digits_noisy
    trusted = np.arange(0, 600, 4)  # 150 hand-checked samples
    others = np.setdiff1d(np.arange(600), trusted)
    y_search = y_noisy.copy()
    y_search[trusted] = y[trusted]
    pipeline = imblearn_pipeline.make_pipeline(ConsensusDetector(random_state=0), LogisticRegression(max_iter=500))
    search = GridSearchCV(pipeline, {"consensusdetector__threshold": [0.5, 0.999]}, cv=[(others, trusted)],
                          scoring="accuracy").fit(X, y_search)
    assert search.best_params_ == {"consensusdetector__threshold": 0.5}
    assert search.cv_results_["mean_test_score"][0] > search.cv_results_["mean_test_score"][1]

    checked = np.zeros(600, bool)
    checked[trusted] = is_noisy[trusted]
    detector_search = GridSearchCV(NeighbourDetector(), {"n_neighbors": [1, 10]}, cv=[(others, trusted)],
                                   scoring=make_detection_scorer(clean_f1_score))
    with sklearn.config_context(enable_metadata_routing=True):
        detector_search.fit(X, y_noisy, is_noisy=checked)
    assert detector_search.best_params_ == {"n_neighbors": 10}


def test_score_gives_zero_to_a_class_the_detector_dropped():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 60)
    X = np.eye(3)[y] * 3 + rng.normal(size=(180, 3))
    detector = NeighbourDetector(n_neighbors=5).fit(X, y)
    detector.clean_mask_ = y != 2  # as if every pair of class 2 were judged wrong
    assert detector.score(X[y == 2], y[y == 2]) == 0.0
    assert detector.score(X[y == 0], y[y == 0]) > 0.9


# ------------------------------------------------------------------ prefer_defaults


def _cv_results(fold_scores, params):
    results = {f"split{i}_test_score": np.array(column) for i, column in enumerate(np.array(fold_scores).T)}
    results["params"] = params
    return results


GRID_PARAMS = [{"n_neighbors": 10, "cv": 5}, {"n_neighbors": 20, "cv": 5}, {"n_neighbors": 40, "cv": 5}]


def test_prefer_defaults_keeps_them_unless_the_best_clearly_beats_them():
    refit = prefer_defaults({"n_neighbors": 20, "cv": 5})
    # The best mean, by a gain that changes sign across folds: the defaults stay.
    noisy = _cv_results([[0.70, 0.72, 0.71], [0.71, 0.70, 0.70], [0.60, 0.60, 0.60]], GRID_PARAMS)
    assert refit(noisy) == 1
    # The same gain on every fold: the best wins.
    steady = _cv_results([[0.72, 0.73, 0.74], [0.70, 0.71, 0.72], [0.60, 0.60, 0.60]], GRID_PARAMS)
    assert refit(steady) == 0
    assert prefer_defaults({"n_neighbors": 20}, n_standard_errors=0)(noisy) == 0  # plain argmax
    # Names the grid does not vary are not compared; split11 sorts after split2.
    eleven = _cv_results(np.tile([[0.7], [0.6], [0.5]], 12), GRID_PARAMS)
    assert prefer_defaults({"n_neighbors": 20, "threshold": 0.5})(eleven) == 0


def test_prefer_defaults_asks_two_standard_errors_by_default():
    # A gain of 1.5 standard errors over five folds: enough for the textbook rule, not the default.
    fold_scores = [[0.72, 0.70, 0.70, 0.70, 0.71], [0.70] * 5, [0.60] * 5]
    results = _cv_results(fold_scores, GRID_PARAMS)
    assert prefer_defaults({"n_neighbors": 20})(results) == 1
    assert prefer_defaults({"n_neighbors": 20}, n_standard_errors=1)(results) == 0


def test_prefer_defaults_errors_name_the_fix():
    refit = prefer_defaults({"n_neighbors": 5})
    with pytest.raises(ValueError, match="No candidate of the grid has the defaults"):
        refit(_cv_results([[0.7, 0.7]] * 3, GRID_PARAMS))
    with pytest.raises(ValueError, match="None of the defaults' names"):
        prefer_defaults({"threshold": 0.5})(_cv_results([[0.7, 0.7]] * 3, GRID_PARAMS))
    with pytest.raises(ValueError, match="scoring=<the scorer's name>"):
        refit({"params": GRID_PARAMS, "split0_test_f1": np.ones(3)})
    for bad in ({}, [("cv", 5)]):
        with pytest.raises(ValueError, match="non-empty dict"):
            prefer_defaults(bad)
    with pytest.raises(ValueError, match="n_standard_errors"):
        prefer_defaults({"cv": 5}, n_standard_errors=-1)


def test_prefer_defaults_as_refit_of_a_label_free_search(digits_noisy):
    X, _, y_noisy, _ = digits_noisy
    grid = {"n_neighbors": [10, 20], "threshold": [0.3, 0.5]}
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    search = GridSearchCV(ConsensusDetector(random_state=0), grid, cv=cv,
                          refit=prefer_defaults({"n_neighbors": 20, "threshold": 0.5})).fit(X, y_noisy)
    plain = GridSearchCV(ConsensusDetector(random_state=0), grid, cv=cv).fit(X, y_noisy)
    assert search.best_index_ in (plain.best_index_, 3)  # the best, or the defaults (the last candidate)
    assert hasattr(search, "best_estimator_") and search.best_estimator_.get_params()["threshold"] in (0.3, 0.5)


def test_prefer_defaults_over_repeated_folds_for_a_pipeline(digits_noisy):
    """The guide's route for a pipeline: its threshold searched too, rated by the
    noise-corrected accuracy on 5 x 2 folds, refitted by prefer_defaults."""
    imblearn_pipeline = pytest.importorskip("imblearn.pipeline")
    X, _, y_noisy, _ = digits_noisy
    scorer = make_noise_corrected_scorer(ConsensusDetector(random_state=0).fit(X, y_noisy))
    pipeline = imblearn_pipeline.make_pipeline(ConsensusDetector(random_state=0), LogisticRegression(max_iter=500))
    name = "consensusdetector__threshold"
    search = GridSearchCV(pipeline, {name: [0.5, 0.999]}, scoring=scorer,
                          cv=RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0),
                          refit=prefer_defaults({name: 0.5})).fit(X, y_noisy)
    assert "split9_test_score" in search.cv_results_ and "split10_test_score" not in search.cv_results_
    assert search.best_params_ == {name: 0.5}
    # Flagging nearly every pair (0.999) trains a worse classifier on all ten folds, so with
    # it as the defaults the rule leaves them.
    differences = (search.cv_results_[f"split{i}_test_score"][0] - search.cv_results_[f"split{i}_test_score"][1]
                   for i in range(10))
    assert min(differences) > 0
    assert prefer_defaults({name: 0.999})(search.cv_results_) == 0
