"""ConsensusDetector with many classes: the (n_samples, n_classes) arrays are the memory."""

from __future__ import annotations

import tracemalloc

import numpy as np

from skclip_noise import ConsensusDetector, make_noisy_labels


def test_a_fit_with_four_hundred_classes_holds_few_sample_by_class_arrays_at_once():
    """10,000 samples of 400 classes: the fit's peak stays under 6 arrays of (n_samples,
    n_classes) float64 (13.7 before the arrays were released as soon as no step needed
    them and the calibration, Bayes' rule and the outlier model worked block by block
    or on sparse neighbour counts)."""
    rng = np.random.default_rng(0)
    n_classes, per_class = 400, 25
    y = np.repeat(np.arange(n_classes), per_class)
    X = (rng.normal(size=(n_classes, 16))[y] + 0.3 * rng.normal(size=(y.size, 16))).astype(np.float32)
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    ConsensusDetector(random_state=0, Cs=[1.0]).fit(X[:400], y_noisy[:400] % 4)  # lazy imports, not counted

    tracemalloc.start()
    try:
        detector = ConsensusDetector(random_state=0, Cs=[1.0]).fit(X, y_noisy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    one_array = y.size * n_classes * 8
    assert peak < 6 * one_array, f"peak {peak / one_array:.1f} arrays of (n_samples, n_classes)"
    assert (detector.clean_mask_ == ~is_noisy).mean() > 0.99


def _peak_arrays(call, one_array):
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / one_array


def test_pred_probs_alone_of_many_classes_hold_few_sample_by_class_arrays_at_once():
    """find_label_issues' route with 250 classes: under 6 arrays of (n_samples, n_classes)
    float64 at the peak (7.0 before the probe's choice of C read only the given labels'
    probabilities, the neighbours' label shares became sparse and a signal that weighs
    everything stopped being copied); at this size a fixed share of it is the
    calibration's row blocks."""
    from skclip_noise.filter import fit_pred_probs_detector

    rng = np.random.default_rng(0)
    n_samples, n_classes = 12_000, 250
    y = np.arange(n_samples) % n_classes
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    logits = rng.normal(size=(n_samples, n_classes))
    logits[np.arange(n_samples), y] += 4
    pred_probs = np.exp(logits - logits.max(axis=1, keepdims=True)).astype(np.float32)
    pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    fit_pred_probs_detector(y_noisy[:400] % 4, np.full((400, 4), 0.25))  # lazy imports, not counted

    detector, arrays = _peak_arrays(
        lambda: fit_pred_probs_detector(y_noisy, pred_probs, detector=ConsensusDetector(random_state=0, Cs=[1.0])),
        n_samples * n_classes * 8,
    )
    assert arrays < 6, f"peak {arrays:.1f} arrays of (n_samples, n_classes)"
    assert detector.pred_probs_weight_ == 1 and (detector.clean_mask_ == ~is_noisy).mean() > 0.98


def test_temperature_confident_learning_and_the_rival_share_work_block_by_block():
    """None holds a copy of the probabilities (the temperature on every row: a log
    copy): with many classes one is as large as the caller's array."""
    from skclip_noise.detectors._consensus_rules import rival_share
    from skclip_noise.selection import confident_learning_mask, fit_temperature

    rng = np.random.default_rng(0)
    n_samples, n_classes = 40_000, 400
    labels = rng.integers(0, n_classes, n_samples)
    proba = rng.dirichlet(np.full(n_classes, 0.05), size=n_samples)
    proba[np.arange(n_samples), labels] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    one_array = proba.nbytes
    calls = (lambda: fit_temperature(labels, proba), lambda: confident_learning_mask(labels, proba),
             lambda: rival_share(proba, labels))  # step 5's rule (flag_disagreement): a full copy before
    for call in calls:
        _, arrays = _peak_arrays(call, one_array)
        assert arrays < 0.75, f"peak {arrays:.2f} arrays of (n_samples, n_classes)"  # row blocks; 1.27 before


def test_sparse_kept_neighbour_shares_are_the_dense_ones():
    """The neighbours' label shares, sparse, equal the dense label distribution bit for
    bit: with a class too small for a whole neighbourhood (slots) and pairs none of whose
    neighbours is kept (uniform shares)."""
    from functools import partial

    from skclip_noise.detectors._kept_neighbours import KeptNeighbourhoods, kept_neighbour_distribution
    from skclip_noise.selection import NeighbourIndex, neighbour_label_distribution

    rng = np.random.default_rng(0)
    codes = np.r_[np.repeat(np.arange(6), 40), [6, 6, 6]]
    features = rng.normal(size=(codes.size, 5)).astype(np.float32)
    neighbourhoods = KeptNeighbourhoods(partial(NeighbourIndex, backend="sklearn"), 8, 7, fit_to_class=True)
    neighbourhoods.fit(features, codes)
    keep = rng.random(codes.size) < 0.6
    keep[neighbourhoods._indices[:5].ravel()] = False  # the first five pairs hear no kept neighbour
    dense = kept_neighbour_distribution(
        neighbour_label_distribution, neighbourhoods._indices, codes, keep, 7, neighbourhoods._slots
    )
    sparse_shares = neighbourhoods.shares(keep)
    np.testing.assert_array_equal(sparse_shares.toarray(), dense)
    np.testing.assert_array_equal(dense[:5], 1 / 7)
    assert sparse_shares.nnz < 0.5 * dense.size
