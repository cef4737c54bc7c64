"""Images of no class: the neighbour-label outlier model and ConsensusDetector's
``issue_type``, on synthetic counts and on real digits with real photo patches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits, load_sample_images

from skclip_noise import ConsensusDetector, make_noisy_labels
from skclip_noise.base import ISSUE_TYPES, issue_types
from skclip_noise.noise import make_open_set
from skclip_noise.selection import (
    NeighbourOutlierModel,
    decidedness,
    fit_neighbour_outlier_model,
    neighbour_label_counts,
    neighbour_label_distribution,
)
from skclip_noise.selection.outliers import _most_frequent_labels


def _class_counts(labels, k, rng, purity=0.9):
    """Neighbour label counts of samples inside their class: ``purity`` of them share its label."""
    n_classes = labels.max() + 1
    shares = np.full((len(labels), n_classes), (1 - purity) / (n_classes - 1))
    shares[np.arange(len(labels)), labels] = purity
    return np.stack([rng.multinomial(k, row) for row in shares]).astype(float)


def test_arbitrary_neighbourhoods_are_outliers_and_class_neighbourhoods_are_not():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 60)
    counts = _class_counts(labels, 20, rng)
    outliers = rng.choice(len(labels), 30, replace=False)
    counts[outliers] = rng.multinomial(20, np.full(6, 1 / 6), size=30)
    model, proba = fit_neighbour_outlier_model(counts, labels, 6)
    found = np.flatnonzero(proba > 0.5)
    assert len(np.intersect1d(found, outliers)) >= 27
    assert len(np.setdiff1d(found, outliers)) <= 2
    assert model.outlier_share == pytest.approx(30 / 360, abs=0.03)
    np.testing.assert_allclose(model.proba(counts), proba)  # new rows are scored by the same model


def test_the_border_of_two_classes_is_not_an_outlier():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(5), 80)
    counts = _class_counts(labels, 20, rng)
    border = np.arange(0, 400, 10)  # 40 samples with half their neighbours from the next class
    counts[border] = 0
    counts[border, labels[border]] = 10
    counts[border, (labels[border] + 1) % 5] = 10
    _, proba = fit_neighbour_outlier_model(counts, labels, 5)
    assert proba.max() < 0.5


def test_no_outliers_in_class_conditional_noise():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(10), 50)
    counts = _class_counts(labels, 20, rng, purity=0.4)  # 60 % symmetric noise among the neighbours
    _, proba = fit_neighbour_outlier_model(counts, labels, 10)
    assert (proba > 0.5).mean() < 0.01


def test_the_outlier_share_is_the_minority():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 200)
    counts = rng.multinomial(20, np.full(4, 0.25), size=200).astype(float)  # nothing but arbitrary labels
    model, proba = fit_neighbour_outlier_model(counts, labels, 4)
    assert model.outlier_share <= 0.5
    assert model.rejected and not proba.any()  # most samples of no class says the classes are not there


def test_undecided_posteriors_reject_the_fit():
    """Classes the features barely separate: a member's neighbours share its label at 0.2 against
    0.1 for the marginal, so 20 of them cannot tell it from an outlier, and EM's share is no
    share of outliers."""
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(10), 100)
    counts = _class_counts(labels, 20, rng, purity=0.2)
    model, proba = fit_neighbour_outlier_model(counts, labels, 10)
    assert model.rejected and not proba.any() and not model.proba(counts).any()
    from scipy import sparse

    assert model.proba(sparse.csr_matrix(counts)).shape == (len(counts),)  # sparse counts, as the detector passes
    assert decidedness(np.full(5, 0.3), 0.3) == 0.0
    clear = _class_counts(labels, 20, rng)  # the same classes, well separated, with 50 outliers
    clear[:50] = rng.multinomial(20, np.full(10, 0.1), size=50)
    model, proba = fit_neighbour_outlier_model(clear, labels, 10)
    assert not model.rejected and decidedness(proba, model.outlier_share) > 0.9


def test_counts_must_match_the_labels():
    with pytest.raises(ValueError, match=r"counts must have shape \(n_samples, n_classes\) = \(3, 2\)"):
        fit_neighbour_outlier_model(np.ones((3, 4)), np.array([0, 1, 0]), 2)


def _dense_class_log_likelihood(model, counts):
    """The class hypothesis written out on dense counts, as the model's docstring states it."""
    from scipy.special import logsumexp

    log_marginal = np.log(model.label_marginal)
    single = logsumexp(counts @ np.log(model.profiles).T + log_marginal, axis=1)
    frequent = np.argsort(-counts, axis=1, kind="stable")[:, :4]
    border = []
    for a in range(4):
        for b in range(a + 1, 4):
            first, second = model.profiles[frequent[:, a]], model.profiles[frequent[:, b]]
            blends = np.stack([(counts * np.log(w * first + (1 - w) * second)).sum(axis=1)
                               for w in (0.125, 0.375, 0.625, 0.875)], axis=1)
            prior = np.log(2.0) + log_marginal[frequent[:, a]] + log_marginal[frequent[:, b]]
            border.append(logsumexp(blends, axis=1) - np.log(4) + prior)
    return np.logaddexp(single, logsumexp(np.stack(border, axis=1), axis=1)) + np.log(0.5)


def test_sparse_counts_give_the_dense_formula_ties_and_short_rows_included():
    """Counts are read as a sparse matrix (with many classes most are zero): the same log-odds
    as the dense formula, for rows with tied counts, fewer labels than border places, or none."""
    from scipy import sparse

    rng = np.random.default_rng(0)
    n_classes = 12
    counts = np.zeros((400, n_classes))
    for row in counts:
        labels = rng.integers(0, n_classes, rng.integers(0, 7))  # 0-6 neighbours: short rows and ties
        np.add.at(row, labels, 1.0)
    counts[:5] = 0.0
    counts[5, [3, 9]] = 2.0  # a tie of two labels; the lowest absent ones follow
    stable_order = np.argsort(-counts, axis=1, kind="stable")[:, :4]
    assert (_most_frequent_labels(sparse.csr_matrix(counts), 4) == stable_order).all()

    profiles = rng.dirichlet(np.ones(n_classes), size=n_classes) + np.eye(n_classes)
    model = NeighbourOutlierModel(profiles / profiles.sum(axis=1, keepdims=True),
                                  rng.dirichlet(np.ones(n_classes)), outlier_share=0.1)
    expected = counts @ np.log(model.label_marginal) - _dense_class_log_likelihood(model, counts)
    np.testing.assert_allclose(model.log_odds(counts), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model.log_odds(sparse.csr_matrix(counts)), expected, rtol=1e-10, atol=1e-10)
    # a caller's matrix with repeated and zero entries is read, not tidied in place
    theirs = sparse.csr_matrix((np.array([1.0, 0.0, 2.0]), np.array([3, 1, 3]), np.array([0, 3])), shape=(1, n_classes))
    model.log_odds(theirs)
    assert theirs.nnz == 3 and theirs.data.tolist() == [1.0, 0.0, 2.0]


def test_neighbour_label_counts_are_the_label_shares_times_the_asked_neighbours():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 30, 200)
    indices = rng.integers(0, 200, (200, 8))
    slots = np.arange(8) < rng.integers(0, 9, 200)[:, None]  # some rows ask none
    counts = neighbour_label_counts(indices, labels, 30, slots=slots)
    assert counts.shape == (200, 30) and counts.nnz <= slots.sum()
    shares = neighbour_label_distribution(indices, labels, 30, weights=slots)
    np.testing.assert_allclose(counts.toarray(), shares * slots.sum(axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_array_equal(neighbour_label_counts(indices, labels, 30).toarray().sum(axis=1), 8)
    with pytest.raises(ValueError, match="slots must have the shape"):
        neighbour_label_counts(indices, labels, 30, slots=slots[:, :3])


def test_issue_types_cover_each_kind():
    types = issue_types(np.array([True, False, False, False]), np.array([0, 1, 1, -1]), np.array([0.9, 0.2, 0.8, 0.0]))
    assert types.tolist() == ["ok", "label", "outlier", "unreadable"]  # a kept pair is ok whatever its score
    assert set(types) <= set(ISSUE_TYPES)
    assert issue_types(np.array([True, False]), np.array([0, 1])).tolist() == ["ok", "label"]


@pytest.fixture(scope="module")
def open_set_digits():
    """Raw digits (X / 16) with 15 % of each class replaced by 8x8 patches of the two
    photos scikit-learn ships, each keeping the replaced digit's label, plus 10 % flips."""
    X, y = load_digits(return_X_y=True)
    photos = [np.asarray(Image.fromarray(image).convert("L")) for image in load_sample_images().images]
    patches = np.stack([
        np.asarray(Image.fromarray(photo[r:r + 32, c:c + 32]).resize((8, 8), Image.BILINEAR))
        for photo in photos for r in range(0, 400, 24) for c in range(0, 600, 24)
    ]).reshape(-1, 64) / 255.0
    X_open, y_open, is_outlier = make_open_set(X / 16.0, y, patches, 0.15, random_state=0)
    y_noisy, is_flipped = make_noisy_labels(y_open, "symmetric", 0.1, random_state=0)
    is_flipped &= ~is_outlier
    return X_open, y_noisy, is_outlier, is_flipped


def test_consensus_types_most_foreign_images_as_outliers(open_set_digits):
    X, y, is_outlier, is_flipped = open_set_digits
    detector = ConsensusDetector(random_state=0).fit(X, y)
    issues = detector.label_issues_
    types = issues["issue_type"].astype(str).to_numpy()
    assert (types[is_outlier] == "outlier").mean() > 0.9
    assert (types[~is_outlier] == "outlier").mean() < 0.02
    assert (types[is_flipped] == "label").mean() > 0.8  # a wrong digit label is a label issue
    assert issues["suggested_label"][types == "outlier"].isna().all()
    assert issues["suggested_label_confidence"][types == "outlier"].isna().all()
    np.testing.assert_allclose(issues["outlier_score"], detector.outlier_proba_)
    assert detector.outlier_rate_ == pytest.approx((types == "outlier").mean())
    assert isinstance(issues["issue_type"].dtype, pd.CategoricalDtype)
    # New pairs are judged with the same outlier outcome.
    proba = detector.clean_proba(X[is_outlier][:40], y[is_outlier][:40])
    assert (proba < 0.5).mean() > 0.9


def test_without_outlier_detection_foreign_images_pass_as_clean(open_set_digits):
    X, y, is_outlier, _ = open_set_digits
    detector = ConsensusDetector(detect_outliers=False, random_state=0).fit(X, y)
    assert "outlier_score" not in detector.label_issues_
    assert detector.outlier_rate_ == 0.0 and not detector.outlier_proba_.any()
    assert detector.clean_mask_[is_outlier].mean() > 0.5  # the failure the outlier outcome fixes


def test_the_command_line_writes_the_issue_type_and_counts_each_kind(open_set_digits, tmp_path):
    from types import SimpleNamespace

    from skclip_noise import cli
    from skclip_noise._cli_outputs import DETECT_OUTPUTS, RunOutputs

    X, y, is_outlier, _ = open_set_digits
    detector = ConsensusDetector(random_state=0).fit(X, y)
    args = SimpleNamespace(output_dir=str(tmp_path), max_items=50, quiet=False)
    with RunOutputs(str(tmp_path), DETECT_OUTPUTS) as outputs:
        said = cli._write_outputs(outputs, args, detector, None)
        outputs.publish()
    issues = pd.read_csv(tmp_path / "label_issues.csv", index_col="sample").sort_index()
    assert (issues["issue_type"].to_numpy() == detector.label_issues_["issue_type"].astype(str).to_numpy()).all()
    kinds = detector.label_issues_["issue_type"].value_counts()
    assert f"{kinds['label']} wrong labels, {kinds['outlier']} images of no class" in said
    assert "Images of no class" in (tmp_path / "report.html").read_text()
