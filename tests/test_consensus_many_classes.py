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
