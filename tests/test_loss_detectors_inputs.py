"""Inputs and parameters of the loss detectors (GMMLossDetector, SmallLossDetector, the
loss-mixture rules they use) and of LabelMatchDetector: defects found by a helper probing
them; each test failed when it was written."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skclip_noise import GMMLossDetector, LabelMatchDetector, SmallLossDetector, make_noisy_labels
from skclip_noise.selection import (
    fit_loss_mixtures,
    loss_mixture_clean_proba,
    loss_mixture_posterior,
    small_loss_cutoffs,
    small_loss_mask,
)

FAST = dict(device="cpu", random_state=0, epochs=2, lr=1e-2)
TINY_CLIP = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")


def _blobs(n=40, d=4):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(-2, 1, (n, d)), rng.normal(2, 1, (n, d))]
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    return X, y_noisy, is_noisy


def _images(n=6):
    return np.random.default_rng(0).integers(0, 256, (n, 8, 8), dtype=np.uint8)


LOSS_DETECTORS = [pytest.param(GMMLossDetector, id="gmm_loss"), pytest.param(SmallLossDetector, id="small_loss")]


# Today: batch_size=np.int64(8) (what GridSearchCV passes for a grid written as
# np.array([8, 16]) or np.arange) passes the parameter validation, then fails inside
# torch's DataLoader once training starts: "ValueError: batch_size should be a positive
# integer value, but got batch_size=8", which contradicts itself. Right: numpy integers
# are integers; the fit is the one batch_size=8 gives.
@pytest.mark.parametrize("cls", LOSS_DETECTORS)
def test_numpy_integer_batch_size_is_accepted(cls):
    X, y, _ = _blobs()
    expected = cls(**FAST, batch_size=8).fit(X, y).clean_proba_
    got = cls(**FAST, batch_size=np.int64(8)).fit(X, y).clean_proba_
    np.testing.assert_allclose(got, expected)


def test_grid_search_over_a_numpy_batch_size_grid():
    """Today: GridSearchCV(GMMLossDetector(...), {"batch_size": np.array([8, 16])}) fails
    in every candidate with torch's "batch_size should be a positive integer value, but got
    batch_size=8". Right: the search runs (numpy integers are valid integer parameters)."""
    X, y, _ = _blobs()
    search = GridSearchCV(GMMLossDetector(**FAST), {"batch_size": np.array([8, 16])}, cv=2, error_score="raise")
    assert search.fit(X, y).best_params_["batch_size"] in (8, 16)


def test_label_match_numpy_integer_batch_size_is_accepted():
    """Today: LabelMatchDetector(batch_size=np.int64(2)) fails while embedding, inside
    torch's DataLoader ("batch_size should be a positive integer value, but got
    batch_size=2"). Right: the same fit as batch_size=2."""
    images, labels = _images(), np.array(["cat", "dog"] * 3)
    expected = LabelMatchDetector(**TINY_CLIP, batch_size=2).fit(images, labels).clean_proba_
    got = LabelMatchDetector(**TINY_CLIP, batch_size=np.int64(2)).fit(images, labels).clean_proba_
    np.testing.assert_allclose(got, expected)


# Today: a template whose braces are escaped, "a photo of a {{}}.", passes check_templates
# (it contains "{}" and formats without error) but formats to "a photo of a {}." for
# every class: all classes get the same text embedding, every zero-shot probability is
# 1/K, and argmax ties make every sample of the first class "clean" and every other
# sample a label issue, silently. Right: refused like any template without a field for
# the class name (ValueError naming templates).
def test_label_match_template_with_escaped_braces_only_is_refused():
    detector = LabelMatchDetector(**TINY_CLIP, templates=["a photo of a {{}}."])
    with pytest.raises(ValueError, match="templates"):
        detector.fit(_images(), np.array(["cat", "dog"] * 3))


# Today: class names that differ only by "_" versus " " (class_text_features replaces
# underscores by spaces) or only by case (CLIP's tokenizer lower-cases) give two classes
# the same prompts, hence the same text embedding: every clean_proba_ is 0.5 and the
# verdicts are argmax ties (first class clean, second noisy), silently. The check that
# refuses two classes with one name ("their text prompts would be the same") misses these.
# Right: a ValueError saying the two classes' prompts are the same (or prompts that differ).
@pytest.mark.parametrize(
    "labels, class_names",
    [
        (["big_cat", "big cat"] * 3, None),
        ([0, 1] * 3, ["big_cat", "big cat"]),
        ([0, 1] * 3, ["Cat", "cat"]),
    ],
    ids=["underscore_labels", "underscore_class_names", "case_class_names"],
)
def test_label_match_classes_with_identical_prompts_are_refused(labels, class_names):
    detector = LabelMatchDetector(**TINY_CLIP, class_names=class_names)
    try:
        detector.fit(_images(), labels)
    except ValueError:
        return
    assert not np.allclose(detector.text_features_[0], detector.text_features_[1]), (
        "two classes got the same text embedding; clean_proba_ = %s" % detector.clean_proba_
    )


# Today: the frozen loss model standardises the features with a scale clamped at 1e-12,
# so features of magnitude ~1e-15 (std ~1e-15) are shrunk to ~1e-3 instead of unit
# spread: the probe barely trains, and on separable blobs GMMLossDetector's verdicts fall
# from 96 % right to chance (clean_mask_ agrees with the unscaled fit on about half the
# samples), silently. The docs promise inputs "divided by their average spread", which
# does not depend on the unit. Right: the verdicts of the unscaled features (or a clear error).
def test_gmm_verdicts_do_not_depend_on_a_tiny_feature_scale():
    X, y, is_noisy = _blobs()
    params = dict(device="cpu", random_state=0, epochs=5, lr=0.1)
    expected = GMMLossDetector(**params).fit(X, y).clean_mask_
    assert (expected == ~is_noisy).mean() > 0.9
    scaled = GMMLossDetector(**params).fit(X * 1e-15, y).clean_mask_
    assert (scaled == expected).mean() > 0.95, (scaled == expected).mean()


# Today: a loss higher than every training loss gets the clean posterior of whichever
# Gaussian is wider. When the noisy losses are tightly grouped (here 2.0 +- 0.01) and the
# clean ones spread (0 to 1), a new pair with loss 3.0 gets clean probability 1.0 while
# the noisy training losses around 2.0 get 0: GMMLossDetector.predict_clean(X_new, y_new)
# calls a pair whose label the model finds even less likely than the noisy ones clean.
# Right: the clean probability never rises with the loss beyond the training losses
# (e.g. losses clipped to the fitted range).
def test_loss_mixture_posterior_does_not_rise_beyond_the_noisy_losses():
    rng = np.random.default_rng(0)
    loss = np.r_[rng.uniform(0.0, 1.0, 80), 2.0 + rng.normal(0, 0.01, 20)]
    mixtures = fit_loss_mixtures(loss)
    at_noisy, beyond = loss_mixture_posterior(mixtures, np.array([2.0, 3.0]))
    assert at_noisy < 0.5
    assert beyond <= at_noisy + 1e-9, (at_noisy, beyond)


# Today: the loss-mixture and small-loss rules take any codes: string codes fail with
# "ValueError: invalid literal for int() with base 10: np.str_('a')", and non-integer
# float codes are used silently as groups (keyed by their int(), 0.5 -> 0). Every other
# selection rule checks its codes (check_label_codes: "labels must hold integer class
# codes 0..K-1 ... Encode class names first"). Right: the same clear ValueError.
@pytest.mark.parametrize("codes", [np.array(["a", "a", "b", "b"]), np.array([0.5, 0.5, 1.5, 1.5])],
                         ids=["strings", "fractional"])
@pytest.mark.parametrize(
    "rule",
    [
        lambda loss, codes: small_loss_mask(loss, 0.5, codes),
        lambda loss, codes: small_loss_cutoffs(loss, 0.5, codes),
        lambda loss, codes: loss_mixture_clean_proba(loss, codes, per_class=True),
    ],
    ids=["small_loss_mask", "small_loss_cutoffs", "loss_mixture_clean_proba"],
)
def test_loss_rules_refuse_codes_that_are_not_class_codes(rule, codes):
    loss = np.array([0.1, 0.9, 0.2, 0.8])
    with pytest.raises(ValueError, match=r"(?i)class codes|integer"):
        rule(loss, codes)


# Today: SmallLossDetector scores new pairs with the *current* per_class parameter but
# the *fitted* cutoffs_: after set_params(per_class=...) without a refit, predict_clean(X,
# y) fails deep in numpy ("IndexError: only integers, slices ... are valid indices" or
# "KeyError: None"). GMMLossDetector in the same situation uses its fitted mixtures.
# Right: new pairs judged by the fitted rule (as before set_params), or a clear error
# saying to refit.
@pytest.mark.parametrize("fitted_per_class", [False, True])
def test_small_loss_predict_uses_the_fitted_per_class_rule(fitted_per_class):
    X, y, _ = _blobs()
    detector = SmallLossDetector(**FAST, forget_rate=0.2, per_class=fitted_per_class).fit(X, y)
    expected = detector.predict_clean(X[:10], y[:10])
    detector.set_params(per_class=not fitted_per_class)
    try:
        got = detector.predict_clean(X[:10], y[:10])
    except ValueError as exc:
        assert "fit" in str(exc), exc
        return
    np.testing.assert_array_equal(got, expected)


def test_frozen_loss_model_on_constant_features_gives_probabilities():
    """Review of the scale floor: training features with no spread at all made any other
    input overflow, and clean_proba came back NaN."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    detector = SmallLossDetector(tuning="frozen", epochs=2, random_state=0, device="cpu").fit(np.ones((40, 5)), y)
    proba = detector.clean_proba(10 * rng.random((6, 5)), y[:6])
    assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
