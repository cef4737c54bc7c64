"""Tests for the realistic noise generators of skclip_noise.noise.realistic."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from skclip_noise import noise
from skclip_noise.noise import make_long_tail, make_model_noise, make_noisy_labels, make_open_set

ROOT = Path(__file__).resolve().parents[1]


def _random_probs(n, k, seed):
    logits = np.random.RandomState(seed).standard_normal((n, k)) * 2
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def _other_class_max(P, codes):
    """Highest probability of a class other than the given one, and that class."""
    masked = np.where(np.arange(P.shape[1]) == codes[:, None], -1.0, P)
    return masked.max(axis=1), masked.argmax(axis=1)


Y_UNEVEN = np.repeat(np.arange(4), [50, 37, 23, 90])
P_UNEVEN = _random_probs(Y_UNEVEN.shape[0], 4, seed=0)


# --------------------------------------------------------------------------- #
# make_model_noise
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 1.0])
def test_model_noise_exact_rate_per_class_most_ambiguous_first(rate):
    y_noisy, is_noisy = make_model_noise(Y_UNEVEN, P_UNEVEN, rate, random_state=0)
    assert is_noisy.dtype == bool
    assert_array_equal(is_noisy, y_noisy != Y_UNEVEN)
    counts = np.bincount(Y_UNEVEN)
    assert_array_equal(np.bincount(Y_UNEVEN[is_noisy], minlength=4), np.round(rate * counts))
    score, target = _other_class_max(P_UNEVEN, Y_UNEVEN)
    # Each flipped sample moves to its most probable other class ...
    assert_array_equal(y_noisy[is_noisy], target[is_noisy])
    # ... and, within its class, is at least as ambiguous as every kept one.
    for c in range(4):
        flipped, kept = score[is_noisy & (Y_UNEVEN == c)], score[~is_noisy & (Y_UNEVEN == c)]
        if flipped.size and kept.size:
            assert flipped.min() >= kept.max()


def test_model_noise_ties_broken_by_the_seed():
    y = np.repeat([0, 1, 2], 20)
    P = np.full((60, 3), 1 / 3)  # every sample equally ambiguous, every target tied
    a = make_model_noise(y, P, 0.25, random_state=1)
    b = make_model_noise(y, P, 0.25, random_state=1)
    c = make_model_noise(y, P, 0.25, random_state=2)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert_array_equal(np.bincount(y[a[1]]), [5, 5, 5])
    # With all targets tied, both other classes are reached.
    assert set(a[0][a[1] & (y == 0)].tolist()) == {1, 2}


def test_model_noise_without_ties_is_deterministic():
    a = make_model_noise(Y_UNEVEN, P_UNEVEN, 0.3, random_state=1)
    b = make_model_noise(Y_UNEVEN, P_UNEVEN, 0.3, random_state=2)
    assert_array_equal(a[0], b[0])


def test_model_noise_temperature_samples_and_is_seeded():
    a = make_model_noise(Y_UNEVEN, P_UNEVEN, 0.3, temperature=1.0, random_state=3)
    b = make_model_noise(Y_UNEVEN, P_UNEVEN, 0.3, temperature=1.0, random_state=3)
    c = make_model_noise(Y_UNEVEN, P_UNEVEN, 0.3, temperature=1.0, random_state=4)
    assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1], c[1])
    assert_array_equal(np.bincount(Y_UNEVEN[a[1]], minlength=4), np.round(0.3 * np.bincount(Y_UNEVEN)))
    assert_array_equal(a[1], a[0] != Y_UNEVEN)
    # Sampling is not the deterministic ranking ...
    deterministic = make_model_noise(Y_UNEVEN, P_UNEVEN, 0.3, random_state=3)[1]
    assert not np.array_equal(a[1], deterministic)
    # ... and never draws a class the model gives no probability.
    P = P_UNEVEN.copy()
    P[:, 3] = 0.0
    P /= P.sum(axis=1, keepdims=True)
    y_noisy, is_noisy = make_model_noise(Y_UNEVEN, P, 0.5, temperature=1.0, random_state=0)
    assert not np.any(y_noisy[is_noisy & (Y_UNEVEN != 3)] == 3)


def test_model_noise_one_hot_rows_still_flip_to_another_class():
    y = np.repeat([0, 1, 2], 4)
    P = np.eye(3)[y]  # no mass outside the given class
    y_noisy, is_noisy = make_model_noise(y, P, 0.5, random_state=0)
    assert is_noisy.sum() == 6
    assert np.all(y_noisy[is_noisy] != y[is_noisy])


def test_model_noise_string_labels_in_sorted_column_order():
    y = np.array(["dog", "cat", "bird"] * 10)
    # columns: bird, cat, dog (sorted). Every dog looks like a bird, every cat like a dog.
    P = np.tile([[0.2, 0.1, 0.7], [0.2, 0.3, 0.5], [0.8, 0.15, 0.05]], (10, 1))
    y_noisy, is_noisy = make_model_noise(y, P, 0.5, random_state=0)
    assert all(isinstance(v, str) for v in y_noisy.tolist())
    pairs = set(zip(y[is_noisy].tolist(), y_noisy[is_noisy].tolist()))
    assert pairs == {("dog", "bird"), ("cat", "dog"), ("bird", "cat")}
    assert is_noisy.sum() == 15


def test_model_noise_classes_name_columns_of_absent_classes():
    y = np.repeat([0, 1], 10)
    P = np.repeat([[0.5, 0.1, 0.4], [0.1, 0.6, 0.3]], 10, axis=0)
    y_noisy, is_noisy = make_model_noise(y, P, 0.5, classes=[0, 1, 2], random_state=0)
    assert set(y_noisy[is_noisy].tolist()) == {2}
    with pytest.raises(ValueError, match="3 columns but there are 2 classes.*takes classes=, list there the classes"):
        make_model_noise(y, P, 0.5)


def test_model_noise_rate_zero_and_inputs_unmodified():
    y, P = Y_UNEVEN.copy(), P_UNEVEN.copy()
    y_noisy, is_noisy = make_model_noise(y, P, 0.0, random_state=0)
    assert_array_equal(y_noisy, y)
    assert not is_noisy.any()
    y_noisy[0] = 9
    make_model_noise(y, P, 0.7, temperature=2.0, random_state=0)
    assert_array_equal(y, Y_UNEVEN)
    assert_array_equal(P, P_UNEVEN)
    series = pd.Series(Y_UNEVEN, index=np.arange(1000, 1200))
    assert isinstance(make_model_noise(series, P_UNEVEN, 0.3, random_state=0)[0], np.ndarray)
    pd.testing.assert_series_equal(series, pd.Series(Y_UNEVEN, index=np.arange(1000, 1200)))


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_model_noise_leaves_global_rng_alone(rng_guard, temperature):
    make_model_noise(Y_UNEVEN, P_UNEVEN, 0.3, temperature=temperature, random_state=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rate": 1.5}, r"rate must be in \[0, 1\]"),
        ({"rate": -0.1}, r"rate must be in \[0, 1\]"),
        ({"rate": "0.2"}, "rate must be a number"),
        ({"rate": True}, "rate must be a number"),
        ({"temperature": -1.0}, "temperature must be a finite number >= 0"),
        ({"temperature": np.inf}, "temperature must be a finite number >= 0"),
        ({"pred_probs": P_UNEVEN[:, 0]}, r"2-D \(n_samples, n_classes\).*predict_proba"),
        ({"pred_probs": P_UNEVEN[:-1]}, "199 rows but there are 200 labels"),
        ({"pred_probs": P_UNEVEN[:, :3]}, "3 columns but there are 4 classes"),
        ({"pred_probs": np.log(P_UNEVEN)}, "look like scores or logits.*softmax"),
        ({"pred_probs": P_UNEVEN * 2}, r"probabilities in \[0, 1\]"),
        ({"pred_probs": P_UNEVEN * 0.9}, "must sum to 1.*row 0 sums to 0.9"),
        ({"pred_probs": np.where(P_UNEVEN > 0.5, np.nan, P_UNEVEN)}, "NaN or infinity"),
        ({"pred_probs": [["a"] * 4] * 200}, "numeric array"),
    ],
)
def test_model_noise_clear_errors(kwargs, match):
    args = {"y": Y_UNEVEN, "pred_probs": P_UNEVEN, "rate": 0.2, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_model_noise(args.pop("y"), args.pop("pred_probs"), args.pop("rate"), **args)


def test_model_noise_single_class_refused():
    with pytest.raises(ValueError, match=r"single class \(0\).*classes="):
        make_model_noise(np.zeros(5, dtype=int), np.ones((5, 1)), 0.2)


@pytest.fixture(scope="module")
def digits_oof(digits):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    X, y = digits
    features = X.reshape(len(X), -1) / 255.0
    P = cross_val_predict(LogisticRegression(max_iter=1000), features, y, cv=5, method="predict_proba")
    return y, P


def test_model_noise_on_digits_flips_the_hard_images(digits_oof):
    y, P = digits_oof
    y_noisy, is_noisy = make_model_noise(y, P, 0.3, random_state=0)
    assert_array_equal(np.bincount(y[is_noisy]), np.round(0.3 * np.bincount(y)))
    score, target = _other_class_max(P, y)
    flipped, kept = score[is_noisy].mean(), score[~is_noisy].mean()
    assert flipped > 5 * kept, (flipped, kept)
    # Harder than class-independent noise at the same rate: the flips are plausible.
    _, symmetric = make_noisy_labels(y, "symmetric", 0.3, random_state=0)
    assert flipped > 2 * score[symmetric].mean()
    assert_array_equal(y_noisy[is_noisy], target[is_noisy])
    # The model agrees with far more of these wrong labels than with random ones.
    assert (P.argmax(axis=1) == y_noisy)[is_noisy].mean() > 0.15
    # A higher temperature follows the model less strictly.
    mean_score = [
        score[make_model_noise(y, P, 0.3, temperature=t, random_state=0)[1]].mean() for t in (0.0, 1.0, 100.0)
    ]
    assert mean_score[0] > mean_score[1] > mean_score[2], mean_score


# --------------------------------------------------------------------------- #
# make_open_set
# --------------------------------------------------------------------------- #
def _images(n, value_offset=0, shape=(4, 4)):
    """Images whose first pixel encodes their index (so each one is recognisable)."""
    X = np.zeros((n, *shape), dtype=np.uint8)
    X.reshape(n, -1)[:, 0] = value_offset + np.arange(n)
    return X


Y_OPEN = np.repeat(["cat", "dog", "emu"], [30, 21, 9])
X_OPEN = _images(60)
X_OUTSIDE = _images(40, value_offset=100)


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.5])
def test_open_set_replaces_an_exact_share_of_each_class(rate):
    X_new, y_new, is_outlier = make_open_set(X_OPEN, Y_OPEN, X_OUTSIDE, rate, random_state=0)
    assert is_outlier.dtype == bool
    counts = pd.Series(Y_OPEN[is_outlier]).value_counts().reindex(["cat", "dog", "emu"], fill_value=0)
    assert_array_equal(counts.to_numpy(), np.round(rate * np.array([30, 21, 9])))
    assert_array_equal(y_new, Y_OPEN)
    assert X_new.dtype == X_OPEN.dtype and X_new.shape == X_OPEN.shape
    assert_array_equal(X_new[~is_outlier], X_OPEN[~is_outlier])
    sources = X_new[is_outlier].reshape(int(is_outlier.sum()), -1)[:, 0].astype(int) - 100
    assert np.all((sources >= 0) & (sources < 40))
    assert np.unique(sources).shape[0] == sources.shape[0]  # distinct outside images
    assert_array_equal(X_new[is_outlier], X_OUTSIDE[sources])


def test_open_set_never_modifies_or_shares_the_inputs():
    X, y, X_out = X_OPEN.copy(), Y_OPEN.copy(), X_OUTSIDE.copy()
    X_new, y_new, _ = make_open_set(X, y, X_out, 0.3, random_state=0)
    assert_array_equal(X, X_OPEN)
    assert_array_equal(y, Y_OPEN)
    assert_array_equal(X_out, X_OUTSIDE)
    assert not np.shares_memory(X_new, X) and not np.shares_memory(y_new, y)
    X_zero, _, is_outlier = make_open_set(X, y, X_out, 0.0, random_state=0)
    assert_array_equal(X_zero, X) and not is_outlier.any()
    assert not np.shares_memory(X_zero, X)


def test_open_set_seeding():
    a = make_open_set(X_OPEN, Y_OPEN, X_OUTSIDE, 0.3, random_state=5)
    b = make_open_set(X_OPEN, Y_OPEN, X_OUTSIDE, 0.3, random_state=5)
    c = make_open_set(X_OPEN, Y_OPEN, X_OUTSIDE, 0.3, random_state=6)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[2], b[2])
    assert not np.array_equal(a[2], c[2])


def test_open_set_leaves_global_rng_alone(rng_guard):
    make_open_set(X_OPEN, Y_OPEN, X_OUTSIDE, 0.3, random_state=0)


def test_open_set_colour_images_and_float_features():
    rng = np.random.RandomState(0)
    X, X_out = rng.random_sample((20, 5, 5, 3)), rng.random_sample((10, 5, 5, 3)).astype(np.float32)
    y = np.repeat([0, 1], 10)
    X_new, _, is_outlier = make_open_set(X, y, X_out, 0.2, random_state=0)
    assert X_new.dtype == np.float64 and is_outlier.sum() == 4
    features = rng.standard_normal((20, 8))
    X_new, _, is_outlier = make_open_set(features, y, rng.standard_normal((4, 8)), 0.2, random_state=0)
    assert not np.allclose(X_new[is_outlier], features[is_outlier])


@pytest.mark.parametrize(
    "container, expected_type",
    [(list, list), (tuple, list), (lambda v: np.array(v, dtype=object), np.ndarray),
     (lambda v: [Path(p) for p in v], list)],
)
def test_open_set_paths(container, expected_type):
    paths = [f"data/{label}/{i}.png" for i, label in enumerate(Y_OPEN)]
    outside = [f"crawl/{i}.jpg" for i in range(20)]
    X = container(paths)
    X_new, y_new, is_outlier = make_open_set(X, Y_OPEN, outside, 0.2, random_state=0)
    assert type(X_new) is expected_type
    values = [str(p) for p in X_new]
    assert is_outlier.sum() == round(0.2 * 30) + round(0.2 * 21) + round(0.2 * 9)
    assert all(v.startswith("crawl/") for v in np.array(values)[is_outlier])
    assert_array_equal(np.array(values)[~is_outlier], np.array(paths)[~is_outlier])
    assert [str(p) for p in X] == paths  # unchanged


def test_open_set_series_keeps_its_index():
    series = pd.Series([f"{i}.png" for i in range(60)], index=np.arange(500, 560), name="path")
    before = series.copy()
    X_new, _, is_outlier = make_open_set(series, Y_OPEN, [f"out{i}.png" for i in range(20)], 0.2, random_state=0)
    assert isinstance(X_new, pd.Series)
    assert_array_equal(X_new.index, series.index)
    assert X_new.name == "path"
    assert X_new[is_outlier].str.startswith("out").all()
    pd.testing.assert_series_equal(series, before)


@pytest.mark.parametrize(
    "X_outside, match",
    [
        (_images(40, shape=(5, 4)), r"X_outside has samples of shape \(5, 4\) but X has \(4, 4\).*Resize"),
        (np.zeros((40, 4, 4, 3), dtype=np.uint8), r"shape \(4, 4, 3\) but X has \(4, 4\)"),
        (np.zeros((40, 4, 4)), "dtype uint8 but X_outside has dtype float64.*X_outside \\* 255"),
        (np.full((40, 4, 4), 300), r"values in \[300, 300\].*do not fit X's dtype uint8"),
        ([f"{i}.png" for i in range(40)], "X holds an array but X_outside holds image paths"),
        (_images(5), "replaces 18 samples.*X_outside has only 5; pass more outside images or lower rate"),
        (np.zeros(40), r"X_outside has shape \(40,\), not one row per sample"),
        (["a.png", 3], "X_outside mixes image paths with other values"),
    ],
)
def test_open_set_clear_errors(X_outside, match):
    with pytest.raises(ValueError, match=match):
        make_open_set(X_OPEN, Y_OPEN, X_outside, 0.3, random_state=0)


def test_open_set_other_clear_errors():
    with pytest.raises(ValueError, match="X has 59 samples but y has 60 labels"):
        make_open_set(X_OPEN[:59], Y_OPEN, X_OUTSIDE, 0.2)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        make_open_set(X_OPEN, Y_OPEN, X_OUTSIDE, 2.0)
    with pytest.raises(ValueError, match="X holds image paths but X_outside holds an array"):
        make_open_set([f"{i}.png" for i in range(60)], Y_OPEN, X_OUTSIDE, 0.2)
    with pytest.raises(ValueError, match="X is a single path"):
        make_open_set("images/", Y_OPEN, X_OUTSIDE, 0.2)
    # The count of outside images needed is exact: 2 of 3 samples at rate 2/3 of each class.
    X_new, _, is_outlier = make_open_set(X_OPEN[:3], ["a", "a", "a"], X_OUTSIDE[:2], 2 / 3, random_state=0)
    assert is_outlier.sum() == 2


# --------------------------------------------------------------------------- #
# make_long_tail
# --------------------------------------------------------------------------- #
Y_BALANCED = np.tile(np.arange(10), 100)  # 10 classes x 100, interleaved


def test_long_tail_follows_the_exponential_profile():
    kept = make_long_tail(Y_BALANCED, imbalance=10, random_state=0)
    counts = np.bincount(Y_BALANCED[kept], minlength=10)
    expected = np.floor(100 * 10.0 ** (-np.arange(10) / 9) + 1e-9)
    assert_array_equal(counts, expected)
    assert counts[0] == 100 and counts[-1] == 10  # imbalance exactly 10
    assert np.all(np.diff(kept) > 0)  # sorted, no repeats
    assert kept.dtype.kind == "i"


def test_long_tail_indices_subsample_labels_and_noise_mask_consistently():
    y_noisy, is_noisy = make_noisy_labels(Y_BALANCED, "symmetric", 0.3, random_state=0)
    kept = make_long_tail(Y_BALANCED, imbalance=5, random_state=0)
    assert_array_equal(is_noisy[kept], y_noisy[kept] != Y_BALANCED[kept])
    assert np.bincount(Y_BALANCED[kept]).max() == 100


def test_long_tail_seeding_and_global_rng(rng_guard):
    a = make_long_tail(Y_BALANCED, 10, random_state=1)
    b = make_long_tail(Y_BALANCED, 10, random_state=1)
    c = make_long_tail(Y_BALANCED, 10, random_state=2)
    assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert_array_equal(np.bincount(Y_BALANCED[a]), np.bincount(Y_BALANCED[c]))


def test_long_tail_random_and_explicit_class_order():
    a = np.bincount(Y_BALANCED[make_long_tail(Y_BALANCED, 10, class_order="random", random_state=1)])
    b = np.bincount(Y_BALANCED[make_long_tail(Y_BALANCED, 10, class_order="random", random_state=1)])
    c = np.bincount(Y_BALANCED[make_long_tail(Y_BALANCED, 10, class_order="random", random_state=3)])
    sorted_counts = np.bincount(Y_BALANCED[make_long_tail(Y_BALANCED, 10, random_state=1)])
    assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert_array_equal(np.sort(a), np.sort(sorted_counts))  # same sizes, other classes
    order = [3, 1, 4, 0, 5, 9, 2, 6, 8, 7]
    counts = np.bincount(Y_BALANCED[make_long_tail(Y_BALANCED, 10, class_order=order, random_state=0)])
    assert_array_equal(counts[order], sorted_counts)


def test_long_tail_string_labels_and_uneven_input():
    y = np.repeat(["ant", "bee", "cow"], [40, 200, 60])
    y_before = y.copy()
    kept = make_long_tail(y, imbalance=4, random_state=0)
    assert_array_equal(y, y_before)
    counts = pd.Series(y[kept]).value_counts()
    # n_max is the largest head every class can supply: "ant" (the head) has only 40.
    assert counts.to_dict() == {"ant": 40, "bee": 20, "cow": 10}
    kept = make_long_tail(y, imbalance=4, class_order=["bee", "cow", "ant"], n_max=120, random_state=0)
    assert pd.Series(y[kept]).value_counts().to_dict() == {"bee": 120, "cow": 60, "ant": 30}


def test_long_tail_imbalance_one_is_balanced():
    y = np.repeat([0, 1, 2], [10, 20, 30])
    assert_array_equal(np.bincount(y[make_long_tail(y, 1, random_state=0)]), [10, 10, 10])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"imbalance": 0.5}, "imbalance must be a finite number >= 1"),
        ({"imbalance": np.nan}, "imbalance must be a finite number >= 1"),
        ({"imbalance": "10"}, "imbalance must be a number >= 1"),
        ({"imbalance": True}, "imbalance must be a number >= 1"),
        ({"imbalance": 1000}, r"smallest class would keep no sample \(n_max / imbalance = 0.1\); lower imbalance"),
        ({"n_max": 150}, "n_max=150 .* needs 150 samples of class 0, which has 100; lower n_max \\(at most 100"),
        ({"n_max": 0}, "n_max must be a positive int"),
        ({"n_max": 50.0}, "n_max must be a positive int"),
        ({"class_order": "reversed"}, "class_order must be 'sorted', 'random' or a list"),
        ({"class_order": [0, 1, 2]}, "list each of the 10 classes exactly once"),
        ({"class_order": [0] * 10}, "list each of the 10 classes exactly once"),
        ({"class_order": list(range(1, 11))}, r"class_order contains labels \[10\] that are not in classes"),
    ],
)
def test_long_tail_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_long_tail(Y_BALANCED, **{"imbalance": 10, **kwargs})


def test_long_tail_single_class_refused():
    with pytest.raises(ValueError, match=r"single class \('a'\)"):
        make_long_tail(np.array(["a"] * 10))


# --------------------------------------------------------------------------- #
# public and documented
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", ["make_model_noise", "make_open_set", "make_long_tail"])
def test_exported_and_in_the_api_reference(name):
    assert name in noise.__all__
    api = (ROOT / "docs" / "api" / "index.rst").read_text(encoding="utf-8")
    noise_section = api.split(".. currentmodule:: skclip_noise.noise", 1)[1].split(".. currentmodule::", 1)[0]
    assert f"\n   {name}\n" in noise_section
    guide = (ROOT / "docs" / "user_guide" / "noise.rst").read_text(encoding="utf-8")
    assert name in guide.split("Realistic noise", 1)[1]
