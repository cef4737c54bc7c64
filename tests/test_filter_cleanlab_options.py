"""cleanlab's remaining options of find_label_issues: num_to_remove_per_class, confident_joint,
rank_by_kwargs and the two "low_*" rules, in ``find_label_issues`` and ``confident_learning_mask``."""

import warnings

import numpy as np
import pytest

from skclip_noise.detectors import ConsensusDetector
from skclip_noise.filter import (
    _adjusted_by_class_thresholds, _caller_class_proba, find_label_issues, fit_pred_probs_detector,
)
from skclip_noise.selection import confident_joint, confident_learning_mask, self_confidence
from skclip_noise.selection.pruning import COUNT_FILTERS

try:
    import cleanlab.filter as cleanlab_filter
    from cleanlab.count import compute_confident_joint
    from cleanlab.rank import get_label_quality_scores
except ImportError:
    cleanlab_filter = None
needs_cleanlab = pytest.mark.skipif(cleanlab_filter is None, reason="cleanlab is not installed (a cross-check only)")


def _noisy_pred_probs(n_per_class=60, n_classes=3, noise=0.2, seed=0):
    rng = np.random.default_rng(seed)
    true = np.repeat(np.arange(n_classes), n_per_class)
    logits = rng.normal(size=(true.size, n_classes)) + 2.5 * np.eye(n_classes)[true]
    pred_probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = true.copy()
    flip = rng.random(true.size) < noise
    labels[flip] = (true[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return labels, pred_probs


LABELS, PRED_PROBS = _noisy_pred_probs()


def test_num_to_remove_per_class_flags_exactly_that_many_most_likely_issues():
    num = [5, 0, 12]
    issues = find_label_issues(LABELS, PRED_PROBS, num_to_remove_per_class=num)
    assert np.bincount(LABELS[issues], minlength=3).tolist() == num
    clean_proba = fit_pred_probs_detector(LABELS, PRED_PROBS).clean_proba_
    for k, n in enumerate(num):
        members = np.flatnonzero(LABELS == k)
        expected = members[np.argsort(clean_proba[members], kind="stable")[:n]]
        assert set(np.flatnonzero(issues & (LABELS == k))) == set(expected)


def test_num_to_remove_per_class_never_leaves_a_class_below_min_examples_per_class():
    counts = np.bincount(LABELS)
    issues = find_label_issues(LABELS, PRED_PROBS, num_to_remove_per_class=counts, min_examples_per_class=3)
    assert (counts - np.bincount(LABELS[issues], minlength=3)).tolist() == [3, 3, 3]


@needs_cleanlab
def test_prune_by_class_with_num_to_remove_per_class_matches_cleanlab():
    num = [4, 7, 2]
    ours = ~confident_learning_mask(LABELS, PRED_PROBS, filter_by="prune_by_class", rank_by="self_confidence",
                                    num_to_remove_per_class=num)
    theirs = cleanlab_filter.find_label_issues(LABELS, PRED_PROBS, filter_by="prune_by_class",
                                               num_to_remove_per_class=num, n_jobs=1)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "both"])
def test_count_rules_flag_at_most_num_to_remove_per_class(filter_by):
    num = np.array([4, 7, 2])
    flagged = ~confident_learning_mask(LABELS, PRED_PROBS, filter_by=filter_by, num_to_remove_per_class=num)
    per_class = np.bincount(LABELS[flagged], minlength=3)
    assert (per_class <= num).all() and per_class.sum() >= num.sum() - 3


def test_num_to_remove_per_class_spreads_evenly_over_a_row_without_off_diagonal_counts():
    labels = np.array([0, 0, 0, 1, 1, 2, 2])
    probs = np.array([[.8, .1, .1], [.7, .2, .1], [.6, .1, .3], [.1, .8, .1], [.2, .7, .1], [.1, .1, .8], [.1, .2, .7]])
    # no sample is confidently another class: the two flags of class 0 go one to each rival, by margin
    flagged = ~confident_learning_mask(labels, probs, num_to_remove_per_class=[2, 0, 0], keep_predicted=False)
    assert np.flatnonzero(flagged).tolist() == [1, 2]


@pytest.mark.parametrize("filter_by", COUNT_FILTERS)
def test_a_confident_joint_of_these_probabilities_gives_the_same_mask(filter_by):
    joint = confident_joint(LABELS, PRED_PROBS)
    np.testing.assert_array_equal(
        confident_learning_mask(LABELS, PRED_PROBS, filter_by=filter_by, confident_joint=joint),
        confident_learning_mask(LABELS, PRED_PROBS, filter_by=filter_by),
    )


@needs_cleanlab
def test_cleanlabs_confident_joint_is_pruned_as_cleanlab_prunes_it():
    joint = compute_confident_joint(LABELS, PRED_PROBS)
    joint[0, 1] += 3  # a joint other than the one these probabilities give
    joint[0, 0] -= 3
    ours = ~confident_learning_mask(LABELS, PRED_PROBS, confident_joint=joint)
    theirs = cleanlab_filter.find_label_issues(LABELS, PRED_PROBS, confident_joint=joint, n_jobs=1)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.sum() > (~confident_learning_mask(LABELS, PRED_PROBS)).sum()


def test_find_label_issues_prunes_by_the_callers_confident_joint():
    # the joint the rule computes itself (on the detector's probabilities), with 6 more 1 -> 2 issues
    joint = confident_joint(LABELS, fit_pred_probs_detector(LABELS, PRED_PROBS).class_proba_)
    joint[1, 2] += 6
    joint[1, 1] -= 6
    default = find_label_issues(LABELS, PRED_PROBS, filter_by="prune_by_noise_rate")
    with_joint = find_label_issues(LABELS, PRED_PROBS, filter_by="prune_by_noise_rate", confident_joint=joint)
    assert (with_joint & (LABELS == 1)).sum() > (default & (LABELS == 1)).sum()
    np.testing.assert_array_equal(with_joint[LABELS == 0], default[LABELS == 0])


@needs_cleanlab
@pytest.mark.parametrize("filter_by", ["low_self_confidence", "low_normalized_margin"])
def test_low_score_rules_match_cleanlab(filter_by):
    ours = ~confident_learning_mask(LABELS, PRED_PROBS, filter_by=filter_by, min_per_class=0)
    theirs = cleanlab_filter.find_label_issues(LABELS, PRED_PROBS, filter_by=filter_by, n_jobs=1)
    np.testing.assert_array_equal(ours, theirs)


def test_low_self_confidence_cuts_the_ranking_at_confident_learnings_count():
    flagged = ~confident_learning_mask(LABELS, PRED_PROBS, filter_by="low_self_confidence")
    counted = ~confident_learning_mask(LABELS, PRED_PROBS, filter_by="confident_learning")
    assert flagged.sum() == counted.sum()
    scores = self_confidence(LABELS, PRED_PROBS)
    assert scores[flagged].max() <= scores[~flagged].min()


def test_find_label_issues_takes_the_low_score_rules():
    issues = find_label_issues(LABELS, PRED_PROBS, filter_by="low_normalized_margin")
    assert 0 < issues.sum() < LABELS.size / 2


def test_adjust_pred_probs_ranks_by_cleanlabs_adjusted_score():
    ranked = find_label_issues(LABELS, PRED_PROBS, return_indices_ranked_by="self_confidence",
                               rank_by_kwargs={"adjust_pred_probs": True})
    plain = find_label_issues(LABELS, PRED_PROBS, return_indices_ranked_by="self_confidence")
    assert sorted(ranked) == sorted(plain) and ranked.tolist() != plain.tolist()
    detector = fit_pred_probs_detector(LABELS, PRED_PROBS)
    proba = _caller_class_proba(detector, np.zeros(0, dtype=np.int64), 3)
    adjusted = _adjusted_by_class_thresholds(LABELS, proba)
    scores = adjusted[ranked, LABELS[ranked]]
    assert (np.diff(scores) >= 0).all()
    if cleanlab_filter is not None:
        np.testing.assert_allclose(
            scores, get_label_quality_scores(LABELS, proba, method="self_confidence", adjust_pred_probs=True)[ranked]
        )


def test_adjusting_gives_a_class_no_label_uses_cleanlabs_threshold_of_two():
    labels = np.array([0, 0, 1])
    proba = np.array([[.6, .3, .1], [.8, .1, .1], [.2, .7, .1]])
    # thresholds (0.7, 0.7, 2); shift 2: row 0 -> (1.9, 1.6, 0.1) / 3.6
    np.testing.assert_allclose(_adjusted_by_class_thresholds(labels, proba)[0], np.array([1.9, 1.6, 0.1]) / 3.6)


@pytest.fixture
def no_fit(monkeypatch):
    """Fail the test if the detector is fitted: the checks must come before any work."""
    def refuse(*args, **kwargs):
        raise AssertionError("the detector was fitted before the options were checked")
    monkeypatch.setattr(ConsensusDetector, "_fit_with", refuse)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_to_remove_per_class": [1, 2]}, "one whole number per class"),
    ({"num_to_remove_per_class": [1, -1, 0]}, "between 0 and"),
    ({"num_to_remove_per_class": [1, 500, 0]}, "class 1 has"),
    ({"num_to_remove_per_class": [1.5, 0, 0]}, "whole number"),
    ({"num_to_remove_per_class": [1, 0, 0], "filter_by": "confident_learning"}, "has none"),
    ({"num_to_remove_per_class": [1, 0, 0], "filter_by": "low_self_confidence"}, "has none"),
    ({"confident_joint": np.eye(3)}, "filter_by=None"),
    ({"confident_joint": np.eye(2), "filter_by": "both"}, r"\(3, 3\) array"),
    ({"confident_joint": -np.eye(3), "filter_by": "both"}, "counts >= 0"),
    ({"confident_joint": np.full((3, 3), np.nan), "filter_by": "both"}, "counts >= 0"),
    ({"confident_joint": np.full((3, 3), 100), "filter_by": "both"}, "computed on other labels"),
    ({"rank_by_kwargs": {"method": "self_confidence"}}, "return_indices_ranked_by"),
    ({"rank_by_kwargs": {"adjust_pred_probs": "yes"}}, "True or False"),
    ({"rank_by_kwargs": [("adjust_pred_probs", True)]}, "a dict"),
])
def test_bad_cleanlab_options_are_refused_before_any_work(no_fit, kwargs, message):
    with pytest.raises(ValueError, match=message):
        find_label_issues(LABELS, PRED_PROBS, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"confident_joint": np.eye(3), "filter_by": "confident_learning"}, "confident_joint is ignored"),
    ({"confident_joint": np.eye(3), "filter_by": "predicted_neq_given"}, "confident_joint is ignored"),
    ({"num_to_remove_per_class": [1, 1, 1], "frac_noise": 0.5, "filter_by": "prune_by_class"}, "frac_noise is ignored"),
    ({"frac_noise": 0.5, "filter_by": "low_self_confidence"}, "frac_noise scales"),
])
def test_options_a_rule_does_not_use_are_ignored_with_a_warning_before_any_work(no_fit, kwargs, message):
    with pytest.warns(UserWarning, match=message), pytest.raises(AssertionError, match="fitted before"):
        find_label_issues(LABELS, PRED_PROBS, **kwargs)


def test_the_warning_points_at_the_callers_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        find_label_issues(LABELS, PRED_PROBS, filter_by="prune_by_class", num_to_remove_per_class=[1, 1, 1],
                          frac_noise=0.5)
    assert [w.filename for w in caught if "frac_noise" in str(w.message)] == [__file__]


def test_a_class_no_label_uses_takes_no_count_and_its_joint_column_is_left_out():
    labels = np.r_[LABELS, 0]
    pred_probs = np.c_[PRED_PROBS * 0.97, np.full(LABELS.size, 0.03)]
    pred_probs = np.r_[pred_probs, [[0.05, 0.05, 0.05, 0.85]]]
    with pytest.raises(ValueError, match="class 3 has 0"):
        find_label_issues(labels, pred_probs, num_to_remove_per_class=[1, 1, 1, 1])
    issues = find_label_issues(labels, pred_probs, num_to_remove_per_class=[1, 1, 1, 0])
    assert np.bincount(labels[issues], minlength=4).tolist() == [1, 1, 1, 0]
    joint = np.zeros((4, 4))
    joint[:3, :3] = confident_joint(LABELS, PRED_PROBS)
    joint[0, 3] = 1
    joint[0, 0] -= 1
    assert issues.shape == find_label_issues(labels, pred_probs, filter_by="both", confident_joint=joint).shape


def test_low_score_rules_do_not_count_a_confident_off_diagonal_sample_whose_label_is_predicted():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[.9, .1], [.7, .3], [.85, .15], [.8, .2]])
    # t = (0.8, 0.175): s1 reaches t_1 only, but 0 is its argmax; s2 and s3 are confidently 0.
    # Two issues, the two lowest self-confidences: s2 (0.15) and s3 (0.2), not s1 (0.7).
    flagged = ~confident_learning_mask(labels, probs, filter_by="low_self_confidence", min_per_class=0)
    assert np.flatnonzero(flagged).tolist() == [2, 3]
    if cleanlab_filter is not None:
        np.testing.assert_array_equal(flagged, cleanlab_filter.find_label_issues(
            labels, probs, filter_by="low_self_confidence", n_jobs=1))
