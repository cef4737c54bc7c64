"""Copies of one image: exact copies (identical features) and the members of a ``groups`` id
given the same label are judged as one sample, so a copied wrong label is not taken as
evidence for itself."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skclip_noise import ConsensusDetector, NeighbourDetector, make_noisy_labels
from skclip_noise.detectors._duplicates import (
    distinct_image_neighbours,
    duplicate_groups,
    grouped_folds,
    judged_groups,
    merged_groups,
    neighbours_outside_groups,
    same_label_groups,
)
from skclip_noise.selection import NeighbourIndex


def _digits_with_copies(n_copied=180, copies=4, seed=0):
    """Raw digits with symmetric noise 20 %, and ``n_copied`` images given ``copies`` more
    times with their (possibly wrong) label; the mask marks the copies."""
    digits = load_digits()
    X = (digits.data / 16).astype(np.float32)
    y_noisy, is_noisy = make_noisy_labels(digits.target, "symmetric", 0.2, random_state=seed)
    copied = np.random.default_rng(seed).choice(len(X), n_copied, replace=False)
    repeat = np.repeat(copied, copies)
    is_copy = np.r_[np.zeros(len(X), bool), np.ones(len(repeat), bool)]
    return np.vstack([X, X[repeat]]), np.r_[y_noisy, y_noisy[repeat]], np.r_[is_noisy, is_noisy[repeat]], is_copy


def test_duplicate_groups_group_identical_rows_only():
    X = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    assert duplicate_groups(X) is None
    near = X[4].copy()
    near[0] = np.nextafter(near[0], np.float32(np.inf))  # one bit apart: another image
    groups = duplicate_groups(np.vstack([X, X[[3, 3, 7]], near]))
    assert groups[3] == groups[500] == groups[501] and groups[7] == groups[502]
    assert groups[3] != groups[7] and groups[503] != groups[4]
    assert len(np.unique(groups)) == 501


def test_grouped_folds_never_part_a_group():
    X = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    X = np.vstack([X, X[:60], X[:30]])
    codes = np.r_[np.arange(300) % 3, np.arange(60) % 3, np.arange(30) % 3]
    groups = duplicate_groups(X)
    folds = grouped_folds(codes, groups, 5, random_state=0)
    tested = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(tested), np.arange(len(X)))  # every sample judged once
    for train, test in folds:
        assert not np.isin(groups[test], groups[train]).any()
        assert np.bincount(codes[test], minlength=3).min() > 0


def test_a_class_of_copies_is_counted_by_its_distinct_samples():
    """Three copies of one image are one sample to the probe: fewer than cv=5, said as such."""
    X, y, _, _ = _digits_with_copies(n_copied=0)
    X = np.vstack([X, np.full((3, X.shape[1]), 0.5, dtype=np.float32)])
    y = np.r_[y, 10, 10, 10]
    with pytest.warns(UserWarning, match="class '10' has 1 distinct sample .*exact copies.*fewer than cv=5"):
        ConsensusDetector(random_state=0, n_neighbors=2).fit(X, y)
    with pytest.raises(ValueError, match="cv=5 folds need at least 5 distinct samples .* the largest has 2"):
        ConsensusDetector(random_state=0, n_neighbors=1).fit(np.repeat(X[:4], 3, axis=0), np.repeat([0, 0, 1, 1], 3))


def test_copies_given_the_same_label_never_ask_each_other():
    X = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    X = np.vstack([X, X[[0, 0, 0, 1]]])
    codes = np.r_[np.arange(200) % 2, 0, 0, 1, 1]  # row 0 (label 0) has copies labelled 0, 0 and 1
    index = NeighbourIndex(X, backend="sklearn")
    groups = same_label_groups(duplicate_groups(X), codes)
    indices, similarities = neighbours_outside_groups(index, groups, 5)
    assert not (groups[indices] == groups[:, None]).any()
    for row in (0, 200, 201):  # the copy labelled otherwise is asked, first
        assert indices[row, 0] == 202 and similarities[row, 0] == pytest.approx(1.0)
    np.testing.assert_array_equal(neighbours_outside_groups(index, None, 5)[0], index.search(None, 5)[0])


def test_a_group_larger_than_the_rest_fills_with_its_own_members():
    X = np.vstack([np.ones((8, 3)), np.random.default_rng(0).normal(size=(3, 3))]).astype(np.float32)
    groups = duplicate_groups(X)
    indices, _ = neighbours_outside_groups(NeighbourIndex(X, backend="sklearn"), groups, 5)
    assert set(indices[0, :3]) == {8, 9, 10} and (groups[indices[0, 3:]] == groups[0]).all()
    assert (indices != np.arange(len(X))[:, None]).all()  # never itself


def test_copied_wrong_labels_are_found():
    """A tenth of the digits given five times: before, the probe trained on each wrong label's
    copies and the copies voted for it, so 38 % of the copied flips were found (clean F1 0.962)."""
    X, y, is_noisy, is_copy = _digits_with_copies()
    detector = ConsensusDetector(random_state=0).fit(X, y)
    assert detector.n_duplicates_ == 180 * 5
    assert (~detector.clean_mask_[is_noisy & is_copy]).mean() > 0.85
    assert (detector.clean_mask_ == ~is_noisy).mean() > 0.98


def test_features_without_copies_are_split_as_before():
    from sklearn.model_selection import StratifiedKFold

    digits = load_digits()
    y_noisy, _ = make_noisy_labels(digits.target, "pairflip", 0.3, random_state=0)
    detector = ConsensusDetector(random_state=0).fit(digits.data, y_noisy)
    assert detector.n_duplicates_ == 0
    splitter = StratifiedKFold(5, shuffle=True, random_state=detector._probe._seed)
    for (_, test), (_, expected) in zip(detector._probe.folds_, splitter.split(digits.data, y_noisy)):
        np.testing.assert_array_equal(test, expected)


def test_pred_probs_alone_are_not_grouped():
    """Equal rows of a caller's probabilities (a 10-NN model's come in steps of 0.1) are
    different images, not copies."""
    from skclip_noise import find_label_issues

    y = np.repeat([0, 1, 2], 50)
    pred_probs = np.full((150, 3), 0.1)
    pred_probs[np.arange(150), y] = 0.8
    pred_probs[:6] = [0.1, 0.8, 0.1]  # six labels of class 0 that the model puts in class 1
    # four distinct rows: grouped, they could not even fill cv=5 folds
    np.testing.assert_array_equal(np.flatnonzero(find_label_issues(y, pred_probs)), np.arange(6))


def _digits_with_near_copies(sigma=0.05, n_copied=180, copies=4, seed=0):
    """As ``_digits_with_copies`` but every copy slightly changed (a re-encoded or resized
    image), with the group ids that tie each copy to its original."""
    X, y, is_noisy, is_copy = _digits_with_copies(n_copied, copies, seed)
    rng = np.random.default_rng(seed)
    X[is_copy] += rng.normal(scale=sigma, size=(int(is_copy.sum()), X.shape[1])).astype(np.float32)
    originals = np.random.default_rng(seed).choice(int((~is_copy).sum()), n_copied, replace=False)
    groups = np.r_[np.arange(int((~is_copy).sum())), np.repeat(originals, copies)]
    return X, y, is_noisy, is_copy, groups


def test_groups_tie_near_copies_together():
    """Near-copies are not found by their features: without groups 42 % of the copied flips
    were found (clean F1 0.966), with them all but a few."""
    X, y, is_noisy, is_copy, groups = _digits_with_near_copies()
    detector = ConsensusDetector(random_state=0).fit(X, y, groups=groups)
    assert detector.n_duplicates_ == 0
    assert (~detector.clean_mask_[is_noisy & is_copy]).mean() > 0.9
    assert (detector.clean_mask_ == ~is_noisy).mean() > 0.98


def test_groups_are_routed_through_a_pipeline():
    import sklearn
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, _, _, groups = _digits_with_near_copies()
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline([("scale", StandardScaler()),
                         ("detect", ConsensusDetector(random_state=0).set_fit_request(groups=True))])
        pipe.fit(X, y, groups=groups)
    direct = ConsensusDetector(random_state=0).fit(StandardScaler().fit_transform(X), y, groups=groups)
    np.testing.assert_array_equal(pipe[-1].clean_mask_, direct.clean_mask_)


def test_groups_of_one_sample_each_change_nothing():
    X, y, _, _ = _digits_with_copies(n_copied=0)
    alone = ConsensusDetector(random_state=0).fit(X, y, groups=np.arange(len(y)))
    np.testing.assert_array_equal(alone.clean_proba_, ConsensusDetector(random_state=0).fit(X, y).clean_proba_)


@pytest.mark.parametrize(("groups", "message"), [
    (np.arange(5), r"one id per sample \(1977\); got shape \(5,\)"),
    (np.r_[np.nan, np.arange(1976.0)], "groups holds NaN"),
])
def test_bad_groups_are_refused_before_any_work(groups, message):
    X, y, _, _ = _digits_with_copies(n_copied=45)
    with pytest.raises(ValueError, match=message):
        ConsensusDetector().fit(X, y, groups=groups)


def test_merged_groups_join_chains_of_groups():
    copies = np.array([0, 0, 1, 2, 3, 4])
    given = np.array([5, 6, 6, 7, 7, 8])
    merged = merged_groups(copies, given)
    assert merged[0] == merged[1] == merged[2] and merged[3] == merged[4] and len(np.unique(merged)) == 3
    assert merged_groups(None, np.arange(4)) is None and merged_groups(None, None) is None


def test_members_of_a_group_of_different_rows_never_ask_each_other():
    X = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    X = np.vstack([X, X[:2]])  # rows 300 and 301 are copies of rows 0 and 1
    groups = merged_groups(duplicate_groups(X), np.r_[np.arange(300) // 3, 0, 0])
    codes = np.zeros(len(X), dtype=int)
    index = NeighbourIndex(X, backend="sklearn")
    indices, _ = neighbours_outside_groups(index, groups, 5)
    assert not (groups[indices] == groups[:, None]).any()
    assert all(len(set(groups[row])) == 5 for row in indices)  # each other group takes one place
    expected = index.search(None, 60)[0]
    for row in (0, 2, 301, 150):  # the nearest member of each of the 5 nearest groups outside its own, in order
        outside = expected[row][groups[expected[row]] != groups[row]]
        nearest_of_group = outside[np.sort(np.unique(groups[outside], return_index=True)[1])][:5]
        np.testing.assert_array_equal(indices[row], nearest_of_group)
    assert same_label_groups(groups, codes) is not None


def test_find_label_issues_takes_groups():
    from skclip_noise import find_label_issues

    X, y, is_noisy, is_copy, groups = _digits_with_near_copies()
    with_groups = find_label_issues(y, features=X, groups=groups)
    without = find_label_issues(y, features=X)
    assert with_groups[is_noisy & is_copy].mean() > 0.9 > 0.5 > without[is_noisy & is_copy].mean()
    with pytest.raises(ValueError, match="one id per sample"):
        find_label_issues(y, features=X, groups=groups[:10])


def test_copies_given_another_label_are_judged_apart():
    """A copy given another label is a second opinion: its own group, so it may train the
    probe that judges the other copy and is asked as its neighbour."""
    X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    X = np.vstack([X, X[[0, 0, 1]]])
    codes = np.r_[np.arange(20) % 2, 0, 1, 1]  # row 0 (label 0): copies labelled 0 and 1; row 1: a copy with 1
    copies, _, judged = judged_groups(X, codes, groups=np.r_[np.arange(20), 0, 0, 1])
    assert copies[0] == copies[20] == copies[21] and copies[1] == copies[22]
    assert judged[0] == judged[20] != judged[21] and judged[1] == judged[22]
    _, _, none = judged_groups(X[:20], codes[:20])
    assert none is None


def _burst_beside_a_sample(seed=0):
    """Two classes of 30; beside sample 0 (class 0) lies one image labelled 1, given 8 times.
    Returns features, labels and the burst's rows."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(30, int), np.ones(30, int)]
    X = np.eye(2)[y] * 3 + rng.normal(scale=0.6, size=(60, 2))
    burst = X[0] + np.array([0.01, 0.0])
    X = np.vstack([X, np.repeat(burst[None], 8, axis=0)]).astype(np.float32)
    return X, np.r_[y, np.ones(8, int)], np.arange(60, 68)


def test_each_neighbour_image_is_counted_once_per_label():
    X, codes, burst = _burst_beside_a_sample()
    X = np.vstack([X, X[60:61]])  # and once more labelled 0: another opinion, another neighbour
    codes = np.r_[codes, 0]
    index, indices, similarities = distinct_image_neighbours(
        partial(NeighbourIndex, backend="sklearn"), X, codes, 5, units=same_label_groups(duplicate_groups(X), codes))
    assert index.index.n_samples == 62 and len(index.rows) == 62 and index.index.features is X  # read in place
    assert (np.isin(indices, burst).sum(axis=1) <= 1).all()  # the burst takes one place at most
    assert set(indices[0, :2]) == {60, 68}  # sample 0 asks it once per label given
    assert not np.isin(indices[burst], burst).any() and (indices[burst, 0] == 68).all()
    assert indices.shape == similarities.shape == (69, 5) and (np.diff(similarities, axis=1) <= 1e-6).all()
    # Without copies given one label, the index holds every row and the search is the plain one.
    plain = X[:60]
    index, indices, _ = distinct_image_neighbours(
        partial(NeighbourIndex, backend="sklearn"), plain, codes[:60], 5,
        units=same_label_groups(duplicate_groups(plain), codes[:60]))
    assert index.rows is None
    np.testing.assert_array_equal(indices, NeighbourIndex(plain, backend="sklearn").search(None, 5)[0])


@pytest.mark.parametrize("detector", [NeighbourDetector(knn_backend="sklearn"), ConsensusDetector(random_state=0)])
def test_a_burst_of_copies_is_one_voter(detector):
    """Before, the burst filled eight of sample 0's ten places and outvoted its class, and
    its copies voted for each other (NeighbourDetector kept all eight wrong labels)."""
    X, y, burst = _burst_beside_a_sample()
    detector.fit(X, y)
    assert detector.clean_mask_[0] and not detector.clean_mask_[burst].any()
    # New pairs are searched among distinct images too.
    assert detector.predict_clean(X[[0]] + 0.001, [0])[0]


def test_a_burst_of_copies_does_not_outvote_the_neighbourhoods_it_enters():
    """Raw digits, pair-flip 30 %, a fiftieth of the images given nine more times: each copied
    image used to fill up to ten places of its neighbours' neighbourhoods (accuracy 0.985)."""
    digits = load_digits()
    X = (digits.data / 16).astype(np.float32)
    y_noisy, is_noisy = make_noisy_labels(digits.target, "pairflip", 0.3, random_state=0)
    repeat = np.repeat(np.random.default_rng(0).choice(len(X), 36, replace=False), 9)
    X, y_noisy, is_noisy = np.vstack([X, X[repeat]]), np.r_[y_noisy, y_noisy[repeat]], np.r_[is_noisy, is_noisy[repeat]]
    detector = ConsensusDetector(random_state=0).fit(X, y_noisy)
    assert (detector.clean_mask_ == ~is_noisy).mean() > 0.993


def test_a_group_of_near_copies_takes_one_place_in_each_neighbourhood():
    """As above with near-copies tied by ``groups``: each group's nearest member takes one
    place (before, every member took one: accuracy 0.983)."""
    digits = load_digits()
    X = (digits.data / 16).astype(np.float32)
    y_noisy, is_noisy = make_noisy_labels(digits.target, "pairflip", 0.3, random_state=0)
    rng = np.random.default_rng(0)
    repeat = np.repeat(rng.choice(len(X), 36, replace=False), 9)
    near = X[repeat] + 0.1 * X.std(axis=0) * rng.standard_normal((len(repeat), 64)).astype(np.float32)
    X, y_noisy, is_noisy = np.vstack([X, near]), np.r_[y_noisy, y_noisy[repeat]], np.r_[is_noisy, is_noisy[repeat]]
    detector = ConsensusDetector(random_state=0).fit(X, y_noisy, groups=np.r_[np.arange(len(digits.target)), repeat])
    assert detector.n_duplicates_ == 0 and (detector.clean_mask_ == ~is_noisy).mean() > 0.993


def test_neighbour_detector_fits_its_auto_neighbourhood_to_distinct_images():
    """A class of three images each given five times has two neighbours of its own: with
    ten, its copies (counted once) were outvoted and a third of them flagged."""
    rng = np.random.default_rng(0)
    X = np.vstack([np.repeat(rng.normal(size=(3, 8)) + 4, 5, axis=0), rng.normal(size=(40, 8)),
                   rng.normal(size=(40, 8)) + np.r_[0, 0, 0, 0, 0, 0, 0, 8]]).astype(np.float32)
    y = np.r_[np.zeros(15, int), np.ones(40, int), np.full(40, 2)]
    detector = NeighbourDetector().fit(X, y)
    assert detector.n_neighbors_ == 2 and detector.clean_mask_[:15].all()
    assert NeighbourDetector(n_neighbors=5).fit(X, y).n_neighbors_ == 5  # an int is kept as given
