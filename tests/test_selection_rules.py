"""The loss-mixture, small-loss, transition, Bayes and temperature rules of
skclip_noise.selection, each against a case worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from skclip_noise.selection import (
    LossMixture,
    balanced_clean_sample,
    bayes_clean_posterior,
    estimate_forget_rate,
    fit_loss_mixtures,
    fit_temperature,
    loss_mixture_posterior,
    small_loss_cutoffs,
    small_loss_mask,
    temperature_scale,
    transition_from_verdicts,
)

# --------------------------------------------------------------- loss mixtures


def test_loss_mixture_separates_two_groups_and_normalises_like_its_fit():
    loss = np.r_[np.full(6, 0.2), np.full(4, 2.2)] + np.linspace(0, 0.01, 10)
    mixture = LossMixture(loss, random_state=0)
    assert (mixture.low, mixture.high) == (pytest.approx(0.2), pytest.approx(2.21))
    posterior = mixture.clean_posterior(loss)
    np.testing.assert_array_equal(posterior > 0.5, np.r_[np.ones(6, bool), np.zeros(4, bool)])
    # New losses are normalised with the fit's minimum and maximum, not their own.
    assert mixture.clean_posterior(np.array([0.2]))[0] > 0.99
    assert mixture.clean_posterior(np.array([2.2]))[0] < 0.01


def test_a_group_with_nothing_to_separate_is_clean():
    np.testing.assert_array_equal(LossMixture(np.array([0.7])).clean_posterior(np.array([0.7, 5.0])), [1, 1])
    np.testing.assert_array_equal(LossMixture(np.full(4, 1.0)).clean_posterior(np.full(4, 1.0)), np.ones(4))


def test_per_class_mixtures_and_an_unseen_class():
    loss = np.array([0.1, 0.1, 0.12, 3.0, 1.0, 1.0, 1.02, 9.0])
    codes = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    mixtures = fit_loss_mixtures(loss, codes, per_class=True)
    assert sorted(mixtures) == [0, 1]
    np.testing.assert_array_equal(loss_mixture_posterior(mixtures, loss, codes) > 0.5, [1, 1, 1, 0, 1, 1, 1, 0])
    # A class no mixture was fitted for has no evidence of being clean.
    assert loss_mixture_posterior(mixtures, np.array([0.1]), np.array([2]))[0] == 0.0


def test_estimated_forget_rate_is_the_expected_high_loss_share():
    loss = np.r_[np.full(7, 0.1), np.full(3, 4.0)] + np.linspace(0, 0.01, 10)
    assert estimate_forget_rate(loss) == pytest.approx(0.3, abs=1e-3)


def test_small_loss_keeps_exactly_the_lowest_share_per_class():
    #            class 0: 0.1 0.5 0.3 0.9   class 1: 0.8 0.2
    loss = np.array([0.1, 0.5, 0.3, 0.9, 0.8, 0.2])
    codes = np.array([0, 0, 0, 0, 1, 1])
    # forget 0.5: class 0 keeps round(2.0) = 2 (0.1, 0.3), class 1 keeps 1 (0.2).
    np.testing.assert_array_equal(small_loss_mask(loss, 0.5, codes), [1, 0, 1, 0, 0, 1])
    assert small_loss_cutoffs(loss, 0.5, codes) == {0: 0.3, 1: 0.2}
    # Over all samples: keep round(3.0) = 3 of 6 (0.1, 0.2, 0.3).
    np.testing.assert_array_equal(small_loss_mask(loss, 0.5, per_class=False), [1, 0, 1, 0, 0, 1])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: LossMixture(np.array([0.1, np.nan])), "NaN or infinite"),
        (lambda: small_loss_mask(np.ones(3), 1.0), "forget_rate"),
        (lambda: fit_loss_mixtures(np.ones(3), per_class=True), "class codes"),
        (lambda: small_loss_mask(np.ones(3), 0.2, np.zeros(2)), "same length"),
    ],
)
def test_bad_inputs_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_balanced_sample_draws_the_smallest_clean_count_from_every_class():
    codes = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    clean = np.array([1, 1, 1, 1, 0, 1, 1, 0], bool)
    chosen = balanced_clean_sample(codes, clean, 3, np.random.default_rng(0))
    assert np.bincount(codes[chosen]).tolist() == [1, 1, 1] and clean[chosen].all()


# ----------------------------------------------------------- transitions


def test_transition_from_verdicts_by_hand():
    # Given labels 0 0 0 1 1 1; clean verdicts keep the first two of each class; the
    # flagged ones are predicted 1 (sample 2) and 0 (samples 5, and 4 is predicted 2).
    codes = [0, 0, 0, 1, 1, 1]
    clean = [True, True, False, True, False, False]
    predicted = [0, 0, 1, 1, 2, 0]
    # (true, given) pairs: (0,0) (0,0) (1,0) (1,1) (2,1) (0,1)
    # true 0: given 0 twice, 1 once -> [2/3, 1/3, 0]; true 1: [1/2, 1/2, 0];
    # true 2: given 1 once -> [0, 1, 0].
    T = transition_from_verdicts(codes, clean, predicted, 3)
    np.testing.assert_allclose(T, [[2 / 3, 1 / 3, 0], [0.5, 0.5, 0], [0, 1, 0]])


def test_a_class_never_taken_as_true_gets_the_identity_row():
    T = transition_from_verdicts([0, 0, 1], [True, True, True], [0, 0, 1], 3)
    np.testing.assert_array_equal(T[2], [0, 0, 1])


def test_bayes_posterior_by_hand():
    # 30 % of class 0 is labelled 1; class 1 is never mislabelled.
    T = np.array([[0.7, 0.3], [0.0, 1.0]])
    # Given label 1 with p(true | x) = (0.5, 0.5): 0.5 * 1 / (0.5 * 0.3 + 0.5 * 1) = 10 / 13.
    # Given label 0 with (0.4, 0.6): 0.4 * 0.7 / (0.4 * 0.7 + 0.6 * 0) = 1.
    posterior = bayes_clean_posterior([1, 0], [[0.5, 0.5], [0.4, 0.6]], T, smoothing=0)
    np.testing.assert_allclose(posterior, [10 / 13, 1.0])
    with pytest.raises(ValueError, match="2 x 2"):
        bayes_clean_posterior([1], [[0.5, 0.5]], np.eye(3))


# ----------------------------------------------------------- temperature


def test_temperature_scaling_by_hand():
    # (0.8, 0.2) at T = 0.5 is proportional to (0.64, 0.04): (16/17, 1/17).
    np.testing.assert_allclose(temperature_scale([[0.8, 0.2]], 0.5), [[16 / 17, 1 / 17]])
    np.testing.assert_allclose(temperature_scale([[0.8, 0.2]], 1.0), [[0.8, 0.2]])
    with pytest.raises(ValueError, match="positive"):
        temperature_scale([[0.5, 0.5]], 0.0)


def test_fitted_temperature_sharpens_right_but_flat_probabilities_and_softens_wrong_confident_ones():
    labels = np.array([0, 0, 1, 1])
    flat = np.array([[0.6, 0.4], [0.6, 0.4], [0.4, 0.6], [0.4, 0.6]])
    assert fit_temperature(labels, flat) == pytest.approx(0.2)  # the sharpest on the grid
    overconfident = np.array([[0.99, 0.01], [0.01, 0.99], [0.01, 0.99], [0.99, 0.01]])  # half wrong
    assert fit_temperature(labels, overconfident) > 1.0
    # Only the masked rows count.
    assert fit_temperature(labels, overconfident, mask=[True, False, True, False]) == pytest.approx(0.2)


@pytest.mark.parametrize("sharpness", [0.02, 0.3, 1.0, 5.0, 40.0])
@pytest.mark.parametrize("right", [0.1, 0.7, 1.0])
def test_fitted_temperature_minimises_the_log_loss_of_temperature_scale(sharpness, right):
    """The bisection over the grid finds argmin's temperature, at either end of the grid too."""
    from skclip_noise.selection import TEMPERATURES

    rng = np.random.default_rng(0)
    logits = 3 * sharpness * rng.normal(size=(500, 6))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.where(rng.random(500) < right, proba.argmax(axis=1), rng.integers(0, 6, 500))
    losses = [-np.log(temperature_scale(proba, t)[np.arange(500), labels]).mean() for t in TEMPERATURES]
    assert fit_temperature(labels, proba) == TEMPERATURES[int(np.argmin(losses))]


def _log_loss(labels, proba):
    return -np.log(proba[np.arange(len(labels)), labels]).mean()


def test_bias_corrected_temperature_gives_an_under_predicted_class_its_probability_back():
    from skclip_noise.selection import fit_bias_corrected_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 600)
    logits = 2.0 * np.eye(4)[labels] + rng.normal(size=(600, 4))
    logits[:, 3] -= 2.0  # class 3 gets too little probability, on its own samples too
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    temperature, bias = fit_bias_corrected_temperature(labels, proba)
    assert bias[3] == max(bias) and bias[3] > 1.0, bias
    assert abs(bias.sum()) < 1e-9  # centred: a common shift changes nothing
    corrected = temperature_scale(proba, temperature, bias=bias)
    plain = temperature_scale(proba, fit_temperature(labels, proba))
    assert _log_loss(labels, corrected) < _log_loss(labels, plain) - 0.05
    np.testing.assert_allclose(corrected.sum(axis=1), 1.0)


def test_bias_corrected_temperature_leaves_evenly_fitted_classes_alone_and_reads_only_the_mask():
    from skclip_noise.selection import fit_bias_corrected_temperature

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 900)
    logits = 2.0 * np.eye(3)[labels] + rng.normal(size=(900, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    temperature, bias = fit_bias_corrected_temperature(labels, proba)
    assert np.abs(bias).max() < 0.1, bias
    assert temperature == pytest.approx(fit_temperature(labels, proba), rel=0.1)  # the plain fit, on a finer scale
    # Rows outside the mask do not count: mislabelled rows there move nothing.
    shuffled = np.where(np.arange(900) < 300, (labels + 1) % 3, labels)
    masked = fit_bias_corrected_temperature(shuffled, proba, mask=np.arange(900) >= 300)
    alone = fit_bias_corrected_temperature(labels[300:], proba[300:])
    assert masked[0] == pytest.approx(alone[0], rel=1e-4)
    np.testing.assert_allclose(masked[1], alone[1], atol=1e-4)
    # Nothing kept: the plain temperature's fallback, no bias.
    assert fit_bias_corrected_temperature(labels, proba, mask=np.zeros(900, bool)) == (1.0, pytest.approx(np.zeros(3)))


def test_noise_corrected_temperature_without_noise_is_the_bias_corrected_fit_on_every_label():
    from skclip_noise.selection import fit_bias_corrected_temperature, fit_noise_corrected_temperature

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, 800)
    logits = 1.5 * np.eye(4)[labels] + rng.normal(size=(800, 4))
    logits[:, 2] -= 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    kept_fit = fit_bias_corrected_temperature(labels, proba)
    temperature, bias = fit_noise_corrected_temperature(labels, proba, np.eye(4))
    assert temperature == pytest.approx(kept_fit[0], rel=1e-3)
    np.testing.assert_allclose(bias, kept_fit[1], atol=1e-3)


def test_noise_corrected_temperature_recovers_the_calibration_that_labels_fitted_on_the_kept_cannot():
    """Over-confident probabilities (the true ones squared) under 30 % symmetric noise:
    through the true ``T`` the fit finds the temperature that undoes the squaring (2),
    although a third of the labels it reads are wrong; fitted to those labels as
    they are, the temperature overshoots (it absorbs the noise)."""
    from skclip_noise.selection import fit_bias_corrected_temperature, fit_noise_corrected_temperature

    rng = np.random.default_rng(0)
    n, k = 20_000, 3
    true_proba = rng.dirichlet(np.full(k, 0.7), size=n)
    true_class = (true_proba.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    noise = np.full((k, k), 0.15) + 0.55 * np.eye(k)
    given = (noise[true_class].cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    sharp = true_proba**2 / (true_proba**2).sum(axis=1, keepdims=True)
    temperature, bias = fit_noise_corrected_temperature(given, sharp, noise)
    assert temperature == pytest.approx(2.0, rel=0.05)
    assert np.abs(bias).max() < 0.05, bias
    assert fit_bias_corrected_temperature(given, sharp)[0] > 2.5
    with pytest.raises(ValueError, match=r"non-negative \(3, 3\) matrix"):
        fit_noise_corrected_temperature(given, sharp, np.eye(2))
    with pytest.raises(ValueError, match="non-negative"):
        fit_noise_corrected_temperature(given, sharp, noise - 0.2)


def test_calibration_and_bayes_rule_give_the_same_answer_block_by_block(monkeypatch):
    """They work on a few rows at a time (bounded memory with many classes): blocks of 7
    rows give what one block gives."""
    from skclip_noise.selection import (
        bayes_clean_posterior, calibration, fit_bias_corrected_temperature, fit_noise_corrected_temperature, transition,
    )

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, 300)
    logits = 1.5 * np.eye(5)[labels] + rng.normal(size=(300, 5))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    T = np.full((5, 5), 0.05) + 0.75 * np.eye(5)
    whole = (fit_temperature(labels, proba), fit_bias_corrected_temperature(labels, proba),
             bayes_clean_posterior(labels, proba, T), fit_noise_corrected_temperature(labels, proba, T))
    for module in (calibration, transition):
        monkeypatch.setattr(module, "block_rows_for", lambda n_columns: 7)
    blocks = (fit_temperature(labels, proba), fit_bias_corrected_temperature(labels, proba),
              bayes_clean_posterior(labels, proba, T), fit_noise_corrected_temperature(labels, proba, T))
    assert blocks[0] == whole[0]
    assert blocks[1][0] == pytest.approx(whole[1][0], rel=1e-6)
    np.testing.assert_allclose(blocks[1][1], whole[1][1], atol=1e-6)
    np.testing.assert_allclose(blocks[2], whole[2], rtol=1e-12)
    assert blocks[3][0] == pytest.approx(whole[3][0], rel=1e-6)
    np.testing.assert_allclose(blocks[3][1], whole[3][1], atol=1e-6)


def test_noise_corrected_start_judged_on_every_kth_sample_leads_to_the_same_fit(monkeypatch):
    from skclip_noise.selection import calibration

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 5, 3000)
    logits = 2.0 * np.eye(5)[labels] + rng.normal(size=(3000, 5))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    T = np.full((5, 5), 0.05) + 0.75 * np.eye(5)
    every_row = calibration.fit_noise_corrected_temperature(labels, proba, T)
    monkeypatch.setattr(calibration, "START_GRID_ROWS", 97)  # a stride of 31
    strided = calibration.fit_noise_corrected_temperature(labels, proba, T)
    assert strided[0] == pytest.approx(every_row[0], rel=1e-5)
    np.testing.assert_allclose(strided[1], every_row[1], atol=1e-5)


def test_scaled_given_proba_is_the_given_column_of_temperature_scale_block_by_block(monkeypatch):
    import skclip_noise.selection.calibration as calibration

    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.full(7, 0.3), size=1000)
    codes = rng.integers(0, 7, 1000)
    rows = np.flatnonzero(rng.random(1000) < 0.6)
    monkeypatch.setattr(calibration, "block_rows_for", lambda n_features: 128)  # several blocks
    expected = calibration.temperature_scale(proba[rows], 0.7)[np.arange(len(rows)), codes[rows]]
    np.testing.assert_array_equal(calibration.scaled_given_proba(codes, proba, 0.7, rows=rows), expected)
    np.testing.assert_array_equal(
        calibration.scaled_given_proba(codes, proba, 1.3),
        calibration.temperature_scale(proba, 1.3)[np.arange(1000), codes],
    )
