"""Regression tests for inputs users really pass to ``skclip_noise.selection``.

Each test fails on the code it was written against, for the reason in its docstring:
a silent wrong answer, an error from deep inside numpy/scipy/pandas, or a
contradiction with a docstring or the changelog.
"""

import numpy as np
import pandas as pd
import pytest

from skclip_noise.selection import (
    LossMixture,
    NeighbourIndex,
    balanced_clean_sample,
    bayes_clean_posterior,
    confident_learning_mask,
    fit_bias_corrected_temperature,
    fit_neighbour_outlier_model,
    fit_noise_corrected_temperature,
    fit_temperature,
    pooled_noise_transition,
    scaled_given_proba,
    self_confidence,
    temperature_scale,
    transition_from_verdicts,
)

LABELS = np.array([0, 0, 0, 1, 1, 1])
PROBS = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.1, 0.9]])
NAN_PROBS = np.where(np.eye(6, 2, dtype=bool), np.nan, PROBS)
LOGITS = 3 * np.log(PROBS)  # scores, not probabilities: what a user passes to "temperature scaling"
T = np.array([[0.8, 0.2], [0.3, 0.7]])


# --- float32 pred_probs: the changelog promises the verdicts of their float64 values to the last bit


def test_confident_learning_mask_float32_verdicts_match_their_float64_values():
    """prune_by_noise_rate ranks by the margin p_j - p_i computed in float32: two margins that
    differ in float64 (0.6 - 1e-9 vs 0.6 - 2e-9) round to the same float32, and the tie goes to
    the earlier sample, so float32 flags sample 0 where its float64 values flag sample 1."""
    probs = np.array(
        [[2e-9, 0.6, 0.4 - 2e-9], [1e-9, 0.6, 0.4 - 1e-9]]
        + [[0.9, 0.05, 0.05]] * 4 + [[0.2, 0.6, 0.2]] * 3 + [[0.05, 0.05, 0.9]] * 3,
        dtype=np.float32,
    )
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    for filter_by in ("prune_by_noise_rate", "both"):
        np.testing.assert_array_equal(
            confident_learning_mask(labels, probs, frac_noise=0.5, filter_by=filter_by),
            confident_learning_mask(labels, probs.astype(np.float64), frac_noise=0.5, filter_by=filter_by),
        )


# --- calibration and Bayes rule: pred_probs are never checked


PROBABILITY_RULES = {
    "fit_temperature": lambda p: fit_temperature(LABELS, p),
    "fit_bias_corrected": lambda p: fit_bias_corrected_temperature(LABELS, p),
    "fit_noise_corrected": lambda p: fit_noise_corrected_temperature(LABELS, p, T),
    "bayes": lambda p: bayes_clean_posterior(LABELS, p, T),
    "temperature_scale": lambda p: temperature_scale(p, 1.0),
    "scaled_given": lambda p: scaled_given_proba(LABELS, p, 1.0),
}


@pytest.mark.parametrize("rule", sorted(PROBABILITY_RULES))
@pytest.mark.parametrize("probs, message", [(NAN_PROBS, "NaN"), (LOGITS, r"\[0, 1\]")], ids=["nan", "logits"])
def test_probabilities_that_are_not_are_refused(rule, probs, message):
    """NaN probabilities gave a silent answer (fit_temperature the grid's end, 3.0; the bias-
    and noise-corrected fits their start; the others NaN), and so did logits read as
    probabilities (negatives floored to 1e-6: fit_temperature 0.2, bayes_clean_posterior 1.0
    for every sample); confident learning refused both with check_pred_probs' messages."""
    with pytest.raises(ValueError, match=message):
        PROBABILITY_RULES[rule](probs)


@pytest.mark.parametrize(
    "call",
    [
        lambda: fit_temperature([0, 1], [0.2, 0.8]),
        lambda: bayes_clean_posterior([0, 1], [0.2, 0.8], np.eye(2)),
        lambda: pooled_noise_transition([0, 1], [0.2, 0.8]),
        lambda: scaled_given_proba([0, 1], [0.2, 0.8], 1.0),
        lambda: temperature_scale([0.2, 0.8], 1.0),
    ],
    ids=["fit_temperature", "bayes", "pooled", "scaled_given", "temperature_scale"],
)
def test_one_dimensional_pred_probs_name_the_shape(call):
    """A 1-D row of probabilities fails with IndexError 'tuple index out of range' (AxisError in
    temperature_scale) instead of check_pred_probs' 'must be 2-D (n_samples, n_classes)'."""
    with pytest.raises(ValueError, match="2-D"):
        call()


def test_temperature_scale_accepts_a_dataframe():
    """A DataFrame of probabilities stays a DataFrame through np.maximum, and pandas then
    refuses max(keepdims=True): ValueError from pandas' validators."""
    frame = pd.DataFrame(PROBS, columns=["cat", "dog"])
    np.testing.assert_allclose(temperature_scale(frame, 0.5), temperature_scale(PROBS, 0.5))


def test_bayes_posterior_is_never_nan_with_a_zero_transition_row():
    """The docstring promises [0, 1], and checked_transition passes a zero row (class never
    observed); with smoothing=0 (the docstring's own example) that row is 0/0 and every
    posterior is NaN. A negative smoothing is not refused either. Either refuse, or answer."""
    zero_row = np.array([[1.0, 0.0], [0.0, 0.0]])
    for transition, smoothing in ((zero_row, 0.0), (np.eye(2), -0.5)):
        try:
            posterior = bayes_clean_posterior([0, 1], [[0.5, 0.5], [0.2, 0.8]], transition, smoothing=smoothing)
        except ValueError:
            continue
        assert np.isfinite(posterior).all() and ((posterior >= 0) & (posterior <= 1)).all()


# --- masks and rows


@pytest.mark.parametrize("fit", [fit_temperature, fit_bias_corrected_temperature])
def test_a_mask_of_the_wrong_length_is_refused(fit):
    """A mask shorter than labels silently fits the first rows only (here 0.2 / 0.10, a
    fit on 4 of 6 samples); transition_from_verdicts refuses the same mistake."""
    mask = np.array([True, True, False, True])
    with pytest.raises(ValueError, match="mask"):
        fit(LABELS, PROBS, mask=mask)


def test_fit_temperature_does_not_read_sample_indices_as_a_mask():
    """mask=np.flatnonzero(clean) (indices, same wrong length) is cast to bool and silently
    fits other samples: 3.0 where the boolean mask gives 0.2."""
    clean = np.array([True, True, False, True, True, False])
    try:
        fitted = fit_temperature(LABELS, PROBS, mask=np.flatnonzero(clean))
    except ValueError:
        return
    assert fitted == fit_temperature(LABELS, PROBS, mask=clean)


def test_fit_temperature_with_a_custom_grid_returns_its_least_loss():
    """The bisection assumes a monotone grid; an unsorted ``temperatures`` returns 3.0 though
    1.0 has the least log-loss of the four (0.553 against 0.575)."""
    grid = [0.2, 3.0, 0.5, 1.0]
    losses = [-np.log(temperature_scale(PROBS, t)[np.arange(6), LABELS]).mean() for t in grid]
    try:
        fitted = fit_temperature(LABELS, PROBS, temperatures=grid)
    except ValueError:
        return
    assert fitted == grid[int(np.argmin(losses))]


def test_scaled_given_proba_with_a_boolean_rows_mask():
    """rows=[True, False, True] fails with numpy's IndexError 'shape mismatch' from inside the
    block loop; a clear ValueError (rows are positions) or the two selected rows is expected."""
    labels, probs = [0, 1, 1], [[0.2, 0.8]] * 3
    try:
        given = scaled_given_proba(labels, probs, 1.0, rows=[True, False, True])
    except ValueError as error:
        assert "rows" in str(error)
        return
    np.testing.assert_allclose(given, [0.2, 0.8])


@pytest.mark.parametrize("call", [
    lambda mask: transition_from_verdicts([0, 1], mask, [1, 1], 2),
    lambda mask: pooled_noise_transition([0, 0, 1, 1], [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]],
                                         clean_mask=mask + [0.9, 0.8]),
], ids=["transition_from_verdicts", "pooled_noise_transition"])
def test_clean_probabilities_passed_as_a_clean_mask_are_refused(call):
    """clean_mask=[0.2, 0.9] (a clean_proba) is cast to bool: every sample counts as clean,
    silently; skclip_noise.metrics refuses such masks ('threshold scores first')."""
    with pytest.raises(ValueError, match="clean_mask"):
        call([0.2, 0.9])


def test_balanced_clean_sample_refuses_codes_outside_n_classes_and_a_wrong_mask_length():
    """Codes >= n_classes are silently never drawn (class 2 vanishes from the subset); a
    clean_mask longer than codes is silently truncated, a shorter one an IndexError."""
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        balanced_clean_sample(np.array([0, 0, 1, 1, 2, 2]), np.ones(6, bool), 2, rng)
    with pytest.raises(ValueError):
        balanced_clean_sample(np.array([0, 0, 1, 1]), np.ones(6, bool), 2, rng)
    with pytest.raises(ValueError):
        balanced_clean_sample(np.array([0, 0, 1, 1]), np.ones(2, bool), 2, rng)


# --- the neighbour index's rows

FEATURES = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.5, 0.5]])


@pytest.mark.parametrize("backend", ["sklearn", "auto"])
def test_neighbour_index_rows_as_a_boolean_mask(backend):
    """rows=<bool mask> is cast to int64 0/1: the index silently holds features 1, 0, 1, 1, 0
    (five rows, duplicates) instead of the three selected ones."""
    mask = np.array([True, False, True, True, False])
    try:
        index = NeighbourIndex(FEATURES, rows=mask, backend=backend)
    except ValueError:
        return
    assert index.n_samples == 3 and index.rows.tolist() == [0, 2, 3]


def test_neighbour_index_rows_out_of_range_are_named():
    """rows=[0, 9] on 5 features fails with numpy's 'index 9 is out of bounds for axis 0'."""
    with pytest.raises(ValueError, match="rows"):
        NeighbourIndex(FEATURES, rows=[0, 9], backend="sklearn")


def test_neighbour_index_negative_rows_give_true_similarities():
    """rows=[0, -1] wraps to the last feature row for the search, but the similarity is read
    through faiss with id -1 ('missing'): -1.0 on the sklearn backend where the cosine is
    0.707 (the faiss backend says 0.707). Refuse negative rows, or answer right."""
    pytest.importorskip("faiss")
    try:
        index = NeighbourIndex(FEATURES, rows=[0, -1], backend="sklearn")
    except ValueError:
        return
    _, similarities = index.search(None, 1)
    np.testing.assert_allclose(similarities.ravel(), [np.sqrt(0.5)] * 2, rtol=1e-5)


# --- the outlier model's labels and reference

OUTLIER_LABELS = np.repeat(np.arange(3), 4)
OUTLIER_COUNTS = np.eye(3)[OUTLIER_LABELS] * 5


@pytest.mark.parametrize("labels", [
    np.r_[OUTLIER_LABELS[:-1], 3],   # scipy: 'axis 0 index 3 exceeds matrix dimension 3'
    np.r_[OUTLIER_LABELS[:-1], -1],  # scipy: 'negative axis 0 index: -1'
    OUTLIER_LABELS.astype(float),    # TypeError from np.bincount: 'Cannot cast ... float64 to int64'
], ids=["code>=n_classes", "negative", "integral floats"])
def test_fit_neighbour_outlier_model_checks_labels(labels):
    """Labels are not checked with check_label_codes as everywhere else: out-of-range codes
    fail inside scipy.sparse, integral floats (accepted elsewhere) inside np.bincount."""
    try:
        fit_neighbour_outlier_model(OUTLIER_COUNTS, labels, 3)
    except ValueError as error:
        assert "labels" in str(error)
        return
    assert labels.dtype.kind == "f"  # integral floats may be accepted, as check_label_codes does


def test_fit_neighbour_outlier_model_refuses_a_reference_of_the_wrong_length():
    """reference of 6 entries for 12 samples is silently read as the first 6: class 2 gets a
    uniform profile; 14 entries give an IndexError."""
    for n in (6, 14):
        with pytest.raises(ValueError, match="reference"):
            fit_neighbour_outlier_model(OUTLIER_COUNTS, OUTLIER_LABELS, 3, reference=np.ones(n, bool))


# --- empty inputs


@pytest.mark.parametrize("call", [
    lambda: confident_learning_mask([], np.empty((0, 2))),
    lambda: self_confidence([], np.empty((0, 2))),
    lambda: LossMixture([]),
], ids=["confident_learning_mask", "self_confidence", "LossMixture"])
def test_empty_inputs_are_named(call):
    """Empty arrays fail with numpy's 'zero-size array to reduction operation minimum which
    has no identity' (check_pred_probs' min() runs before the labels' 'non-empty' check)."""
    with pytest.raises(ValueError, match="empty|no sample|at least"):
        call()
