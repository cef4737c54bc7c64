"""ConsensusDetector on features that separate the classes poorly or not at all: no outlier
typing it cannot support, no label judged without evidence, and a warning that says so."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_blobs

from skclip_noise import ConsensusDetector, detection_report, disputed_pairs, make_noisy_labels


def _weak_classes(cluster_std, n_samples=1500, n_classes=10, seed=0):
    """Gaussian classes in 64 dimensions that a linear probe tells apart at about 0.5 (std 13)."""
    X, y = make_blobs(n_samples=n_samples, centers=n_classes, n_features=64, cluster_std=cluster_std,
                      random_state=seed, center_box=(-5, 5))
    return X.astype(np.float32), y


def _clean_f1(is_noisy, detector):
    return detection_report(is_noisy, detector.clean_mask_, output_dict=True)["clean_f1"]


def test_classes_the_features_barely_separate_are_not_called_outliers():
    X, y = _weak_classes(13.0)
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    with pytest.warns(UserWarning, match=r"would call \d+ of 1500 samples images of no class.*none is typed"):
        detector = ConsensusDetector(random_state=0).fit(X, y_noisy)
    assert detector.outlier_rate_ == 0.0 and not detector.outlier_proba_.any()
    # 60 % of these samples were typed outliers, clean F1 0.40; the label verdicts alone give 0.82
    without = ConsensusDetector(random_state=0, detect_outliers=False).fit(X, y_noisy)
    np.testing.assert_array_equal(detector.clean_mask_, without.clean_mask_)
    assert _clean_f1(is_noisy, detector) > 0.8


def test_features_without_evidence_about_the_labels_keep_every_label():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 64)).astype(np.float32)
    y = rng.integers(0, 10, 1500)
    with pytest.warns(UserWarning, match="no better than the labels' frequencies.*every label is kept"):
        detector = ConsensusDetector(random_state=0).fit(X, y)
    assert detector.evidence_gain_ <= 0.0
    assert detector.clean_mask_.all() and detector.noise_rate_ == 0.0  # was: every label flagged
    assert (detector.label_issues_["issue_type"] == "ok").all()
    assert detector.predict_clean(X[:50], y[:50]).all()  # new pairs are judged by the same rule
    issues = detector.label_issues_
    assert (issues["predicted_label"] != issues["given_label"]).mean() > 0.5
    assert len(disputed_pairs(detector)) == 0  # none for a person to check: flag_disagreement adds none


def test_weak_but_real_evidence_is_still_judged():
    """Digits averaged down to 2 x 2 pixels: a probe reads 0.54 of the true labels, well above
    the frequencies, so the labels are judged, without warnings, as before."""
    digits = load_digits()
    X = digits.images.reshape(-1, 2, 4, 2, 4).mean(axis=(2, 4)).reshape(len(digits.target), -1)
    y_noisy, is_noisy = make_noisy_labels(digits.target, "symmetric", 0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        detector = ConsensusDetector(random_state=0).fit(X, y_noisy)
    assert detector.evidence_gain_ > 0.3
    assert 0.1 < 1 - detector.clean_mask_.mean() < 0.5
    assert _clean_f1(is_noisy, detector) > 0.8  # tuned cleanlab: 0.83


def test_find_label_issues_with_a_model_that_knows_nothing_returns_no_issue():
    """cleanlab's call flags 62 % of these labels."""
    from skclip_noise import find_label_issues

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000)
    pred_probs = rng.dirichlet(np.ones(10), 2000)
    with pytest.warns(UserWarning, match=r"pred_probs alone\) predicts the given labels no better"):
        issues = find_label_issues(labels, pred_probs)
    assert not issues.any()


def test_votes_with_exact_zeros_under_heavy_noise_are_evidence():
    """Five neighbours' votes for the given label, 60 % of the labels wrong: the given label
    often gets no vote, and no temperature lifts a zero, so the gain against the
    frequencies came out -0.90 nats; as a mixture with the frequencies (a label drawn at
    random with their share) it is +0.09 at many standard errors. Random probabilities stay
    below zero."""
    from skclip_noise.detectors._consensus_rules import evidence_gain

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 180)
    given, _ = make_noisy_labels(y, "symmetric", 0.6, random_state=0)
    given_share = np.full((10, 10), 0.6 / 9) + np.eye(10) * (0.4 - 0.6 / 9)  # given labels around each true class
    votes = np.array([rng.multinomial(5, given_share[c]) for c in y]) / 5
    assert evidence_gain(given, votes) > 0.05
    assert evidence_gain(given, rng.dirichlet(np.ones(10), size=len(y))) < 0
