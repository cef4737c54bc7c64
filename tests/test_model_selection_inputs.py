"""Regression tests for inputs users really pass to ``skclip_noise.model_selection``.

Each test fails on the code it was written against, for the reason in its docstring.
"""

import functools

import numpy as np
import pytest

from skclip_noise import ConsensusDetector
from skclip_noise.metrics import clean_f1_score
from skclip_noise.model_selection import (
    make_detection_scorer,
    make_noise_corrected_scorer,
    noise_corrected_accuracy_score,
    prefer_defaults,
)


def _cv_results(fold_scores, params):
    folds = np.asarray(fold_scores, dtype=float)
    results = {f"split{i}_test_score": folds[:, i] for i in range(folds.shape[1])}
    results["params"] = params
    return results


@pytest.mark.parametrize("detector", [ConsensusDetector(), ConsensusDetector], ids=["unfitted", "class"])
def test_noise_corrected_scorer_refuses_an_unfitted_detector_clearly(detector):
    """An unfitted detector (or the class itself) falls through to ``np.asarray(..., float)``
    and fails with numpy's "float() argument must be ... not 'ConsensusDetector'"; it should
    say the detector must be fitted."""
    with pytest.raises((TypeError, ValueError), match=r"(?i)\bfit"):
        make_noise_corrected_scorer(detector)


class _KeepAll:
    def predict_clean(self, X, y):
        return np.ones(len(y), dtype=bool)


def test_detection_scorer_with_a_partial_metric_gives_its_own_error_and_repr():
    """``make_detection_scorer(functools.partial(metric))`` is accepted (callable), but its
    ``__repr__`` and its missing-``is_noisy`` message use ``metric.__name__``, so both raise
    AttributeError instead of the documented ValueError / a repr."""
    scorer = make_detection_scorer(functools.partial(clean_f1_score))
    repr(scorer)
    with pytest.raises(ValueError, match="is_noisy"):
        scorer(_KeepAll(), np.zeros((4, 2)), np.array([0, 1, 0, 1]))


def test_prefer_defaults_does_not_keep_defaults_whose_folds_failed():
    """When the defaults' fit failed on a fold (``error_score=nan``), the paired difference is
    NaN, ``NaN > x`` is False, and the rule silently keeps the failed defaults over a candidate
    with valid, clearly better scores on every fold."""
    params = [{"n_neighbors": 20}, {"n_neighbors": 40}]
    results = _cv_results([[0.5, 0.5, np.nan, 0.5, 0.5], [0.80, 0.81, 0.79, 0.80, 0.80]], params)
    assert prefer_defaults({"n_neighbors": 20})(results) == 1


def test_prefer_defaults_all_candidates_failed_gives_its_own_error():
    """With every candidate NaN (all fits failed) the error is numpy's "All-NaN slice
    encountered" from ``np.nanargmax``; it should say the candidates' scores are all NaN."""
    params = [{"n_neighbors": 20}, {"n_neighbors": 40}]
    results = _cv_results([[np.nan] * 3, [np.nan] * 3], params)
    with pytest.raises(ValueError, match=r"(?i)candidate|score"):
        prefer_defaults({"n_neighbors": 20})(results)


@pytest.mark.parametrize("value", ["2", None])
def test_prefer_defaults_refuses_a_non_number_n_standard_errors_clearly(value):
    """``n_standard_errors="2"`` or None fails inside ``np.isfinite`` with "ufunc 'isfinite'
    not supported for the input types" instead of the module's own message naming the parameter."""
    with pytest.raises((TypeError, ValueError), match="n_standard_errors"):
        prefer_defaults({"n_neighbors": 20}, n_standard_errors=value)


@pytest.mark.parametrize("solver", ["inverse", "nnls"])
def test_noise_corrected_accuracy_refuses_sample_weight_of_the_wrong_length(solver):
    """A ``sample_weight`` of the wrong length fails deep in numpy (``np.average``: "Axis must be
    specified when shapes of a and weights differ"; ``np.add.at``: "array is not broadcastable"),
    with messages that differ by solver and never name ``sample_weight``."""
    y = np.array([0, 1] * 10)
    transition = np.array([[0.8, 0.2], [0.2, 0.8]])
    with pytest.raises(ValueError, match="sample_weight"):
        noise_corrected_accuracy_score(y, y, transition, sample_weight=np.ones(3), solver=solver)
