"""Confident learning (skclip_noise.selection.confident) on examples worked out by hand.

Each expected value is derived in the comments, then cross-checked against
cleanlab 2.x where it has the same function and the example avoids the details
in which cleanlab departs from the paper (documented in the module).
"""

import numpy as np
import pytest

from skclip_noise.selection import pruning as cl_mod
from skclip_noise.selection.pruning import FILTER_METHODS, confident_learning_mask
from skclip_noise.selection.confident import (
    confident_joint,
    estimate_joint,
    estimate_noise_rate,
    estimate_noise_transition,
    normalized_margin,
    per_class_thresholds,
    self_confidence,
)

try:  # cleanlab is only a cross-check: the hand-worked expectations run without it
    from cleanlab.count import compute_confident_joint
    from cleanlab.count import estimate_joint as cleanlab_estimate_joint
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_normalized_margin_for_each_label, get_self_confidence_for_each_label
except ImportError:
    compute_confident_joint = None
HAS_CLEANLAB = compute_confident_joint is not None

# Eight samples, three classes. Sample 2 is labelled 0 but looks like a 1; sample 7
# is labelled 2 but looks like a 0; sample 5 is labelled 1 and is a near tie 0/1.
LABELS = np.array([0, 0, 0, 1, 1, 1, 2, 2])
PROBS = np.array(
    [
        [0.80, 0.15, 0.05],  # 0
        [0.70, 0.20, 0.10],  # 1
        [0.10, 0.85, 0.05],  # 2  labelled 0, looks like 1
        [0.10, 0.80, 0.10],  # 3
        [0.20, 0.70, 0.10],  # 4
        [0.45, 0.40, 0.15],  # 5  labelled 1, argmax 0 but below every threshold
        [0.05, 0.15, 0.80],  # 6
        [0.60, 0.10, 0.30],  # 7  labelled 2, looks like 0
    ]
)
# t_0 = (0.80 + 0.70 + 0.10) / 3 = 0.5333, t_1 = (0.80 + 0.70 + 0.40) / 3 = 0.6333,
# t_2 = (0.80 + 0.30) / 2 = 0.55
THRESHOLDS = np.array([1.6 / 3, 1.9 / 3, 0.55])
# Classes reaching their threshold, counted under the most probable of them:
# s0 {0} -> (0,0); s1 {0} -> (0,0); s2 {1} -> (0,1); s3 {1} -> (1,1); s4 {1} -> (1,1);
# s5 {} -> not counted (0.45 < t_0, 0.40 < t_1, 0.15 < t_2); s6 {2} -> (2,2); s7 {0} -> (2,0).
JOINT_COUNTS = np.array([[2, 1, 0], [0, 2, 0], [1, 0, 1]])  # [given, true]
# Calibration: row 1 has 3 samples labelled 1 but only 2 counted -> [0, 3, 0].
JOINT_CALIBRATED = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 0.0], [1.0, 0.0, 1.0]])


def test_per_class_thresholds_by_hand():
    np.testing.assert_allclose(per_class_thresholds(LABELS, PROBS), THRESHOLDS)


def test_confident_joint_by_hand_and_cleanlab():
    raw = confident_joint(LABELS, PROBS, calibrate=False)
    np.testing.assert_array_equal(raw, JOINT_COUNTS)
    if HAS_CLEANLAB:
        np.testing.assert_array_equal(raw, compute_confident_joint(LABELS, PROBS, calibrate=False))
    calibrated = confident_joint(LABELS, PROBS)
    np.testing.assert_allclose(calibrated, JOINT_CALIBRATED)
    np.testing.assert_allclose(calibrated.sum(axis=1), np.bincount(LABELS))
    assert calibrated.sum() == pytest.approx(len(LABELS))
    if HAS_CLEANLAB:
        np.testing.assert_allclose(calibrated, compute_confident_joint(LABELS, PROBS))


def test_estimate_joint_transition_and_noise_rate_by_hand():
    joint = estimate_joint(LABELS, PROBS)
    # [true, given] = calibrated.T / 8
    np.testing.assert_allclose(joint, JOINT_CALIBRATED.T / 8)
    if HAS_CLEANLAB:
        np.testing.assert_allclose(joint, cleanlab_estimate_joint(LABELS, PROBS).T)
    transition = estimate_noise_transition(LABELS, PROBS)
    # true 0: given 0 (2/8), given 2 (1/8) -> [2/3, 0, 1/3]; true 1: [1/4, 3/4, 0]; true 2: [0, 0, 1]
    np.testing.assert_allclose(transition, [[2 / 3, 0, 1 / 3], [0.25, 0.75, 0], [0, 0, 1]])
    np.testing.assert_allclose(transition.sum(axis=1), 1.0)
    # 1 - (2 + 3 + 1) / 8
    assert estimate_noise_rate(LABELS, PROBS) == pytest.approx(0.25)
    # given 0: 1 of 3 wrong; given 1: 0 of 3; given 2: 1 of 2
    np.testing.assert_allclose(estimate_noise_rate(LABELS, PROBS, per_class=True), [1 / 3, 0, 0.5])


def test_scores_by_hand_and_cleanlab():
    np.testing.assert_allclose(self_confidence(LABELS, PROBS), [0.8, 0.7, 0.1, 0.8, 0.7, 0.4, 0.8, 0.3])
    # (p_y - max other + 1) / 2, e.g. s2: (0.10 - 0.85 + 1) / 2 = 0.125; s5: (0.40 - 0.45 + 1) / 2 = 0.475
    expected_margin = [0.825, 0.75, 0.125, 0.85, 0.75, 0.475, 0.825, 0.35]
    np.testing.assert_allclose(normalized_margin(LABELS, PROBS), expected_margin)
    if HAS_CLEANLAB:
        np.testing.assert_allclose(self_confidence(LABELS, PROBS), get_self_confidence_for_each_label(LABELS, PROBS))
        np.testing.assert_allclose(
            normalized_margin(LABELS, PROBS), get_normalized_margin_for_each_label(LABELS, PROBS)
        )


@pytest.mark.parametrize("filter_by", FILTER_METHODS)
def test_masks_by_hand_and_cleanlab(filter_by):
    # prune_by_noise_rate: C[0,1] = 1 -> among labels 0 the largest p_1 - p_0 is s2 (0.75);
    #   C[2,0] = 1 -> among labels 2 the largest p_0 - p_2 is s7 (0.30).
    # prune_by_class: class 0 drops 1 (lowest score: s2), class 2 drops 1 (s7).
    # confident_learning: the off-diagonal samples s2 and s7.
    # predicted_neq_given: argmax differs for s2, s5 (0.45 > 0.40) and s7.
    expected_flagged = [2, 5, 7] if filter_by == "predicted_neq_given" else [2, 7]
    clean = confident_learning_mask(LABELS, PROBS, filter_by=filter_by)
    assert clean.dtype == bool and clean.shape == LABELS.shape
    assert np.flatnonzero(~clean).tolist() == expected_flagged
    if HAS_CLEANLAB:
        np.testing.assert_array_equal(clean, ~find_label_issues(LABELS, PROBS, filter_by=filter_by))


def test_paper_argmax_among_confident_classes_differs_from_cleanlab():
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array(
        [
            [0.90, 0.05, 0.05],
            [0.50, 0.30, 0.20],  # reaches t_1 = 0.30 and t_2 = 0.20, not t_0 = 0.70
            [0.70, 0.25, 0.05],
            [0.60, 0.35, 0.05],
            [0.75, 0.10, 0.15],
            [0.60, 0.15, 0.25],
        ]
    )
    # t = [(0.9 + 0.5) / 2, (0.25 + 0.35) / 2, (0.15 + 0.25) / 2] = [0.7, 0.3, 0.2]
    # s1: the paper takes the argmax among the confident classes {1, 2} -> true 1;
    # cleanlab takes the argmax over all classes -> 0.
    # s0 -> (0,0); s2 {0} -> (1,0); s3 {1} -> (1,1); s4 {0} -> (2,0); s5 {2} -> (2,2)
    np.testing.assert_array_equal(confident_joint(labels, probs, calibrate=False), [[1, 1, 0], [1, 1, 0], [1, 0, 1]])
    if HAS_CLEANLAB:
        np.testing.assert_array_equal(
            compute_confident_joint(labels, probs, calibrate=False), [[2, 0, 0], [1, 1, 0], [1, 0, 1]]
        )


def test_tie_with_the_given_label_counts_as_clean():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.5, 0.5], [0.3, 0.7], [0.5, 0.5], [0.6, 0.4]])
    # t = [(0.5 + 0.3) / 2, (0.5 + 0.4) / 2] = [0.4, 0.45]
    # s0 reaches both, tie -> given 0; s1 {1} -> (0,1); s2 reaches both, tie -> given 1;
    # s3 {0} -> (1,0)
    np.testing.assert_array_equal(confident_joint(labels, probs, calibrate=False), [[1, 1], [1, 1]])
    # predicted_neq_given keeps a tie with the given label
    assert confident_learning_mask(labels, probs, filter_by="predicted_neq_given").tolist() == [
        True, False, True, False
    ]


def test_a_whole_class_can_be_estimated_wrong_and_min_per_class_keeps_one():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.85, 0.15], [0.8, 0.2]])
    # t = [(0.9 + 0.7) / 2, (0.15 + 0.2) / 2] = [0.8, 0.175]
    # s0 {0, 1 (0.1 < 0.175: no)} -> (0,0); s1 {1} -> (0,1); s2 {0} -> (1,0); s3 {0, 1} -> argmax 0 -> (1,0)
    np.testing.assert_array_equal(confident_joint(labels, probs, calibrate=False), [[1, 1], [2, 0]])
    # prune_by_noise_rate: C[0,1] = 1 -> s1 (largest p1 - p0), lifted because its argmax is its label;
    # C[1,0] = 2 -> s2 and s3, but class 1 must keep one: the higher margin, s3 (0.2 > 0.15), is kept.
    clean = confident_learning_mask(labels, probs)
    assert np.flatnonzero(~clean).tolist() == [2]
    if HAS_CLEANLAB:
        np.testing.assert_array_equal(clean, ~find_label_issues(labels, probs))
    assert np.flatnonzero(~confident_learning_mask(labels, probs, min_per_class=0)).tolist() == [2, 3]


def test_true_class_without_mass_gets_an_identity_row():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.95, 0.05], [0.92, 0.08]])
    # t = [0.9, 0.065]: every sample is counted as true class 0 -> C = [[2, 0], [2, 0]]
    np.testing.assert_array_equal(confident_joint(labels, probs, calibrate=False), [[2, 0], [2, 0]])
    # true 0: given 0 and given 1 equally; true 1 has no mass -> identity row
    np.testing.assert_allclose(estimate_noise_transition(labels, probs), [[0.5, 0.5], [0.0, 1.0]])


# Four samples labelled 0 of which three prefer class 1, two labelled 1.
SMALL_LABELS = np.array([0, 0, 0, 0, 1, 1])
SMALL_PROBS = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8], [0.1, 0.9], [0.2, 0.8]])
# predicted_neq_given flags s1, s2, s3; normalized margins 0.4, 0.3, 0.2


def test_frac_noise_keeps_the_lowest_ranked_flags():
    # class 0: round(0.5 * 3) = 2 flags, the two lowest margins: s3 (0.2) and s2 (0.3)
    clean = confident_learning_mask(SMALL_LABELS, SMALL_PROBS, filter_by="predicted_neq_given", frac_noise=0.5)
    assert np.flatnonzero(~clean).tolist() == [2, 3]


def test_frac_noise_scales_the_prune_counts():
    # rounded C = [[2,1,0],[0,3,0],[1,0,1]]; halving the off-diagonals gives rows
    # [2.5, 0.5, 0] -> [2, 1, 0] (tie: the later column) and [0.5, 0, 1.5] -> [0, 0, 2]:
    # only s2 is still flagged.
    clean = confident_learning_mask(LABELS, PROBS, frac_noise=0.5)
    assert np.flatnonzero(~clean).tolist() == [2]
    # (cleanlab rounds the halved counts per true class instead and keeps both here.)


@pytest.mark.parametrize("min_per_class, expected", [(1, [1, 2, 3]), (2, [2, 3]), (4, [])])
def test_min_per_class_lifts_the_highest_ranked_flags(min_per_class, expected):
    clean = confident_learning_mask(
        SMALL_LABELS, SMALL_PROBS, filter_by="predicted_neq_given", min_per_class=min_per_class
    )
    assert np.flatnonzero(~clean).tolist() == expected


RANK_LABELS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
RANK_PROBS = np.array(
    [
        [0.90, 0.05, 0.05],  # a
        [0.10, 0.85, 0.05],  # b: confidently 1
        [0.40, 0.55, 0.05],  # c: self-confidence 0.40, normalized margin (0.40 - 0.55 + 1) / 2 = 0.425
        [0.35, 0.30, 0.35],  # d: self-confidence 0.35, normalized margin 0.5, argmax ties with its label
        [0.85, 0.10, 0.05],  # e
        [0.20, 0.70, 0.10],
        [0.10, 0.75, 0.15],
        [0.15, 0.65, 0.20],
        [0.10, 0.10, 0.80],
        [0.10, 0.20, 0.70],
        [0.05, 0.15, 0.80],
    ]
)
# t = [2.6 / 5, 2.1 / 3, 2.3 / 3] = [0.52, 0.70, 0.767]. Class 0: a, e -> (0,0); b -> (0,1);
# c, d reach nothing. Row 0 = [2, 1, 0] -> calibrated [3.33, 1.67, 0] -> rounded [3, 2, 0]:
# prune_by_class drops 2 samples labelled 0. Classes 1 and 2 are all-diagonal.


@pytest.mark.parametrize(
    "rank_by, keep_predicted, expected",
    [
        ("self_confidence", False, [1, 3]),  # lowest self-confidence: b (0.10), d (0.35)
        ("normalized_margin", False, [1, 2]),  # lowest margin: b (0.125), c (0.425)
        ("self_confidence", True, [1]),  # d's label ties for its argmax: lifted
        ("normalized_margin", True, [1, 2]),
    ],
)
def test_prune_by_class_ranks_by_rank_by(rank_by, keep_predicted, expected):
    clean = confident_learning_mask(
        RANK_LABELS, RANK_PROBS, filter_by="prune_by_class", rank_by=rank_by, keep_predicted=keep_predicted
    )
    assert np.flatnonzero(~clean).tolist() == expected
    if HAS_CLEANLAB and rank_by == "self_confidence" and keep_predicted:
        np.testing.assert_array_equal(clean, ~find_label_issues(RANK_LABELS, RANK_PROBS, filter_by="prune_by_class"))


@pytest.mark.skipif(not HAS_CLEANLAB, reason="cleanlab is not installed")
def test_agrees_with_cleanlab_on_random_probabilities():
    rng = np.random.default_rng(0)
    n, k = 400, 4
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(
        confident_joint(labels, probs, calibrate=False), compute_confident_joint(labels, probs, calibrate=False)
    )
    for filter_by in ("prune_by_class", "confident_learning", "predicted_neq_given"):
        ours = confident_learning_mask(labels, probs, filter_by=filter_by, rank_by="self_confidence")
        np.testing.assert_array_equal(ours, ~find_label_issues(labels, probs, filter_by=filter_by))
    # prune_by_noise_rate may split an exact tie of calibrated counts differently (float noise)
    ours = confident_learning_mask(labels, probs)
    assert (ours != ~find_label_issues(labels, probs)).sum() <= 2


def test_finds_most_flips_on_a_noisy_problem():
    rng = np.random.default_rng(1)
    n, k = 600, 3
    true = rng.integers(0, k, n)
    flipped = rng.random(n) < 0.2
    given = np.where(flipped, (true + rng.integers(1, k, n)) % k, true)
    logits = rng.normal(scale=0.7, size=(n, k))
    logits[np.arange(n), true] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    clean = confident_learning_mask(given, probs)
    assert (~clean & flipped).sum() / flipped.sum() > 0.85
    assert (~clean & flipped).sum() / (~clean).sum() > 0.85
    assert estimate_noise_rate(given, probs) == pytest.approx(flipped.mean(), abs=0.05)


def test_round_preserving_row_totals():
    rounded = cl_mod._round_preserving_row_totals(np.array([[1.6, 1.6, 2.8], [0.5, 0.5, 3.0]]))
    np.testing.assert_array_equal(rounded.sum(axis=1), [6, 4])
    # row 0: round -> [2, 2, 3] = 7, one too many: take it from the largest round-up (ties: first)
    np.testing.assert_array_equal(rounded, [[1, 2, 3], [0, 1, 3]])


# --------------------------------------------------------------------------- #
# bad inputs
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "labels, probs, message",
    [
        (LABELS, PROBS[:, 0], "2-D"),
        (LABELS, PROBS[None], "2-D"),
        (LABELS, PROBS[:, :1] * 0 + 1, "at least 2 class"),
        (LABELS, PROBS * 1.5, "in \\[0, 1\\]"),
        (LABELS, np.c_[PROBS[:, :2], PROBS[:, 2] + 0.05] / 1.0, "rows must sum to 1"),
        (LABELS, np.where(np.eye(8, 3, dtype=bool), np.nan, PROBS), "NaN"),
        (np.r_[LABELS[:-1], 3], PROBS, "outside the range 0..2"),
        (np.r_[LABELS[:-1], -1], PROBS, "outside the range"),
        (LABELS[:-1], PROBS, "7 entries but there are 8 samples"),
        (LABELS.astype(str), PROBS, "integer class codes"),
        (LABELS + 0.5, PROBS, "integer class codes"),
        (LABELS[:, None], PROBS, "1-D"),
    ],
)
def test_bad_inputs_raise_clear_errors(labels, probs, message):
    with pytest.raises(ValueError, match=message):
        confident_learning_mask(labels, probs)


def test_class_without_samples_is_named():
    labels = np.array([0, 0, 2, 2])
    probs = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.2, 0.1, 0.7]])
    for function in (per_class_thresholds, confident_joint, estimate_joint, estimate_noise_transition):
        with pytest.raises(ValueError, match="class 1 has no sample"):
            function(labels, probs)
    # predicted_neq_given needs no threshold
    assert confident_learning_mask(labels, probs, filter_by="predicted_neq_given").all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filter_by": "prune"}, "filter_by must be one of"),
        ({"rank_by": "margin"}, "rank_by must be one of"),
        ({"frac_noise": 0.0}, "frac_noise must be in"),
        ({"frac_noise": 1.5}, "frac_noise must be in"),
        ({"min_per_class": -1}, "min_per_class"),
        ({"min_per_class": 1.5}, "min_per_class"),
    ],
)
def test_bad_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        confident_learning_mask(LABELS, PROBS, **kwargs)


def test_float32_and_integral_float_labels_are_accepted():
    clean = confident_learning_mask(LABELS.astype(float), PROBS.astype(np.float32))
    assert np.flatnonzero(~clean).tolist() == [2, 7]
