"""Tests for skclip_noise.metrics."""

import doctest
import json
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import make_scorer

from skclip_noise import metrics
from skclip_noise.metrics import (
    clean_f1_score,
    clean_precision_score,
    clean_recall_score,
    detection_report,
    noisy_f1_score,
    noisy_precision_score,
    noisy_recall_score,
)

# 6 clean, 4 noisy. Kept as clean: 4 of the clean + 1 noisy (5 selected).
# Flagged: 2 clean + 3 noisy (5 flagged).
IS_NOISY = np.array([False] * 6 + [True] * 4)
CLEAN_PRED = np.array([True, True, True, True, False, False, True, False, False, False])
EXPECTED = {
    "clean_precision": 4 / 5,
    "clean_recall": 4 / 6,
    "clean_f1": 2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6),
    "noisy_precision": 3 / 5,
    "noisy_recall": 3 / 4,
    "noisy_f1": 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4),
    "accuracy": 7 / 10,
    "true_noise_rate": 0.4,
    "estimated_noise_rate": 0.5,
    "n_samples": 10,
    "n_true_clean": 6,
    "n_true_noisy": 4,
    "n_selected_clean": 5,
    "n_flagged_noisy": 5,
    "n_selected_truly_clean": 4,
    "n_flagged_truly_noisy": 3,
}
SCORERS = {
    "clean_precision": clean_precision_score,
    "clean_recall": clean_recall_score,
    "clean_f1": clean_f1_score,
    "noisy_precision": noisy_precision_score,
    "noisy_recall": noisy_recall_score,
    "noisy_f1": noisy_f1_score,
}


def test_report_dict_hand_computed():
    report = detection_report(IS_NOISY, CLEAN_PRED, output_dict=True)
    assert set(report) == set(EXPECTED)
    for key, value in EXPECTED.items():
        assert report[key] == pytest.approx(value), key
    assert report["clean_f1"] == pytest.approx(0.7272727, abs=1e-6)
    assert report["noisy_f1"] == pytest.approx(2 / 3)


def test_report_dict_types_are_plain_python():
    report = detection_report(IS_NOISY, CLEAN_PRED, output_dict=True)
    for key, value in report.items():
        expected_type = int if key.startswith("n_") else float
        assert type(value) is expected_type, key
    json.dumps(report)


@pytest.mark.parametrize("name", list(SCORERS))
def test_scorer_functions_match_report(name):
    assert SCORERS[name](IS_NOISY, CLEAN_PRED) == pytest.approx(EXPECTED[name])
    assert type(SCORERS[name](IS_NOISY, CLEAN_PRED)) is float


@pytest.mark.parametrize(
    "convert",
    [
        lambda m: m.astype(int),
        lambda m: m.astype(np.float32),
        lambda m: m.astype(int).tolist(),
        lambda m: m.tolist(),
        lambda m: m.astype(object),
    ],
)
def test_boolean_like_inputs_accepted(convert):
    report = detection_report(convert(IS_NOISY), convert(CLEAN_PRED), output_dict=True)
    assert report["clean_precision"] == pytest.approx(EXPECTED["clean_precision"])
    assert report["noisy_recall"] == pytest.approx(EXPECTED["noisy_recall"])


def test_inputs_not_modified():
    is_noisy, clean_pred = IS_NOISY.astype(int), CLEAN_PRED.copy()
    detection_report(is_noisy, clean_pred)
    np.testing.assert_array_equal(is_noisy, IS_NOISY.astype(int))
    np.testing.assert_array_equal(clean_pred, CLEAN_PRED)


@pytest.mark.parametrize(
    "is_noisy, clean_pred, zero_keys",
    [
        # nothing selected as clean
        ([0, 1, 0], [0, 0, 0], ["clean_precision", "clean_recall", "clean_f1"]),
        # no noisy samples at all
        ([0, 0, 0], [1, 0, 1], ["noisy_recall", "noisy_precision", "noisy_f1", "true_noise_rate"]),
        # everything kept: nothing flagged
        ([0, 1, 1], [1, 1, 1], ["noisy_precision", "noisy_recall", "noisy_f1"]),
        # all noisy: no clean samples to recall
        ([1, 1], [1, 0], ["clean_precision", "clean_recall", "clean_f1"]),
    ],
)
def test_zero_division_gives_zero_without_warning(is_noisy, clean_pred, zero_keys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = detection_report(is_noisy, clean_pred, output_dict=True)
        text = detection_report(is_noisy, clean_pred)
        scores = {name: f(is_noisy, clean_pred) for name, f in SCORERS.items()}
    for key in zero_keys:
        assert report[key] == 0.0, key
        if key in scores:
            assert scores[key] == 0.0, key
    assert "nan" not in text.lower()


def test_perfect_detector():
    report = detection_report(IS_NOISY, ~IS_NOISY, output_dict=True)
    for key in ("clean_precision", "clean_recall", "clean_f1", "noisy_precision",
                "noisy_recall", "noisy_f1", "accuracy"):
        assert report[key] == 1.0
    assert report["estimated_noise_rate"] == report["true_noise_rate"] == 0.4


def test_text_report_contains_numbers():
    text = detection_report(IS_NOISY, CLEAN_PRED)
    lines = text.splitlines()
    clean_line = next(line for line in lines if line.strip().startswith("clean"))
    noisy_line = next(line for line in lines if line.strip().startswith("noisy"))
    assert clean_line.split() == ["clean", "0.8000", "0.6667", "0.7273", "6", "5"]
    assert noisy_line.split() == ["noisy", "0.6000", "0.7500", "0.6667", "4", "5"]
    assert "0.7000" in text  # accuracy
    assert "true noise rate" in text and "0.4000" in text
    assert "estimated noise rate" in text and "0.5000" in text
    for header in ("precision", "recall", "f1-score", "support"):
        assert header in lines[0]


def test_text_report_digits():
    text = detection_report(IS_NOISY, CLEAN_PRED, digits=2)
    assert "0.80" in text and "0.8000" not in text
    with pytest.raises(ValueError, match="digits must be a non-negative int"):
        detection_report(IS_NOISY, CLEAN_PRED, digits=-1)
    with pytest.raises(ValueError, match="digits must be a non-negative int"):
        detection_report(IS_NOISY, CLEAN_PRED, digits=2.5)


@pytest.mark.parametrize(
    "is_noisy, clean_pred, message",
    [
        ([0, 1, 2], [0, 1, 1],
         r"is_noisy must be boolean \(True/False or 0/1\); found other values \[2\]"),
        ([0, 1, 1], [0.5, 1, 1], r"clean_pred must be boolean .* found other values \[0.5\]"),
        ([0, 1, 1], [0, np.nan, 1], "clean_pred must be boolean"),
        (["yes", "no"], [0, 1], r"is_noisy must be boolean .* got dtype <U3"),
        ([0, 1, 1], [0, 1], "is_noisy has 3 entries but clean_pred has 2"),
        (np.zeros((2, 2), dtype=bool), np.zeros(4, dtype=bool),
         "is_noisy must be a 1-D boolean mask"),
        ([0, 1], [[0, 1]], "clean_pred must be a 1-D boolean mask"),
    ],
)
def test_validation_errors(is_noisy, clean_pred, message):
    with pytest.raises(ValueError, match=message):
        detection_report(is_noisy, clean_pred)
    with pytest.raises(ValueError, match=message):
        clean_f1_score(is_noisy, clean_pred)


class _MaskPredictor(ClassifierMixin, BaseEstimator):
    """Predicts a fixed clean mask, to check the scorers plug into make_scorer."""

    def __init__(self, clean_pred=None):
        self.clean_pred = clean_pred

    def fit(self, X, y):
        self.classes_ = np.array([False, True])
        return self

    def predict(self, X):
        return np.asarray(self.clean_pred)


def test_scorers_work_with_make_scorer():
    est = _MaskPredictor(CLEAN_PRED).fit(np.zeros((10, 1)), IS_NOISY)
    scorer = make_scorer(clean_precision_score)
    assert scorer(est, np.zeros((10, 1)), IS_NOISY) == pytest.approx(0.8)


def test_doctests():
    result = doctest.testmod(metrics, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
