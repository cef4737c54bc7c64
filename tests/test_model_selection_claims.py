"""Documented behaviour of ``skclip_noise.model_selection`` that the code does not keep.

Each test quotes the claim (file:line) and fails on the code it was written against, for
the reason in its docstring.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import sklearn
from conftest import folds
from sklearn.model_selection import GridSearchCV

from skclip_noise import NeighbourDetector
from skclip_noise.model_selection import (
    make_detection_scorer,
    make_noise_corrected_scorer,
    noise_corrected_accuracy_score,
    prefer_defaults,
)


def test_prefer_defaults_does_not_compare_a_name_the_grid_holds_at_one_value(digits_noisy):
    """skclip_noise/model_selection.py:371-372 (``prefer_defaults``, ``defaults``): "only
    the names the grid varies are compared. One candidate of the grid must match them."

    A grid that holds ``weighted`` at a single value does not vary it, yet the rule compares
    it with the defaults' ``weighted`` (``if name in params``: every name of the grid is in
    every candidate's ``params``) and raises "No candidate of the grid has the defaults"
    instead of keeping the ``n_neighbors=10`` candidate as the defaults."""
    X, _, y_noisy, _ = digits_noisy
    grid = {"n_neighbors": [5, 10], "weighted": [True]}  # only n_neighbors varies
    search = GridSearchCV(NeighbourDetector(), grid, cv=folds(),
                          refit=prefer_defaults({"n_neighbors": 10, "weighted": False}))
    search.fit(X, y_noisy)
    assert search.best_params_["n_neighbors"] in (5, 10)


@pytest.mark.parametrize("make", ["score", "scorer"])
def test_noise_corrected_accuracy_refuses_a_transition_whose_row_does_not_prefer_its_class(make):
    """docs/user_guide/label_free_selection.rst:384-386: "``T`` must be invertible; with
    noise so dense that a row of ``T`` no longer prefers its own class, the given labels say
    little about the true accuracy and the scorer refuses it."

    Only the condition number is checked (``_check_transition``): a well-conditioned ``T``
    whose rows all prefer another class (symmetric noise at 70 % over 3 classes, condition
    number 20) is accepted, and the "accuracy" comes out as -5.0."""
    n_classes, rate = 3, 0.7
    transition = np.full((n_classes, n_classes), rate / (n_classes - 1))
    np.fill_diagonal(transition, 1 - rate)  # every row: 0.30 on its own class, 0.35 elsewhere
    y_noisy = np.array([0, 1, 0, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 0])
    with pytest.raises(ValueError):
        if make == "score":
            noise_corrected_accuracy_score(y_noisy, y_pred, transition, labels=[0, 1, 2])
        else:
            make_noise_corrected_scorer(transition)


def test_detection_scorer_is_the_score_of_an_unset_scoring_with_sample_weight_routed(digits_noisy):
    """skclip_noise/model_selection.py:313-314 (``make_detection_scorer``): "None: the
    detector's label-free score (no truth needed; the same as leaving ``scoring``
    unset)"; docs/user_guide/label_free_selection.rst:55-56: "``make_detection_scorer()``
    is the same score as a ``scoring=`` object, e.g. for a multi-metric search", and
    :245-247 names the class-balanced score, "``sample_weight`` passed to ``score``".

    With metadata routing on and the detector's ``score`` requesting ``sample_weight``,
    ``scoring`` unset rates each candidate with the weights; ``make_detection_scorer()``
    neither accepts ``sample_weight`` nor requests it (``DetectionScorer.__call__`` and
    ``get_metadata_routing``), so the same search raises "GridSearchCV.fit got unexpected
    argument(s) {'sample_weight'}, which are not routed to any object"."""
    X, _, y_noisy, _ = digits_noisy
    weights = np.where(y_noisy == 0, 5.0, 1.0)
    grid = {"n_neighbors": [5, 10]}
    with sklearn.config_context(enable_metadata_routing=True):
        detector = NeighbourDetector().set_score_request(sample_weight=True)
        unset = GridSearchCV(detector, grid, cv=folds()).fit(X, y_noisy, sample_weight=weights)
        try:
            scorer = GridSearchCV(detector, grid, cv=folds(), scoring=make_detection_scorer()).fit(
                X, y_noisy, sample_weight=weights)
        except TypeError as exc:
            pytest.fail(f"make_detection_scorer() cannot take the routed sample_weight: {exc}")
    np.testing.assert_allclose(scorer.cv_results_["mean_test_score"], unset.cv_results_["mean_test_score"])


def test_detection_scorer_label_free_score_is_the_given_labels_mean_probability(digits_noisy):
    """The module docstring called the detector's ``score`` (``make_detection_scorer()``)
    "the accuracy, on the held-out given labels, of a logistic regression trained on the
    training pairs the detector kept", while the code, the user guide
    (label_free_selection.rst) and ``score``'s own docstring give the *mean probability*
    of the given labels (0.490 here, against an accuracy of 0.535 for the same reference
    classifier). The module docstring now says so; pinned here."""
    X, _, y_noisy, _ = digits_noisy
    train, test = np.arange(400), np.arange(400, 600)
    detector = NeighbourDetector().fit(X[train], y_noisy[train])
    reference = detector._reference_classifier()  # trained on codes; here the labels are 0..9
    proba = reference.predict_proba(X[test])[np.arange(len(test)), y_noisy[test]]
    assert make_detection_scorer()(detector, X[test], y_noisy[test]) == pytest.approx(float(proba.mean()))
    assert "mean probability" in " ".join(sys.modules["skclip_noise.model_selection"].__doc__.split())
