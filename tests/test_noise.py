"""Tests for skclip_noise.noise."""

import doctest

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skclip_noise import noise
from skclip_noise.noise import (
    CIFAR10_CLASSES,
    CIFAR100_COARSE_LABELS,
    make_noisy_labels,
    noise_transition_matrix,
)

RNG = np.random.RandomState(0)
Y_BALANCED = np.repeat(np.arange(4), 50)  # 4 classes x 50
X_BALANCED = RNG.standard_normal((Y_BALANCED.shape[0], 8))

ALL_KINDS = {
    "symmetric": {},
    "symmetric_true_class": {"kind": "symmetric", "include_true_class": True},
    "asymmetric": {"mapping": {0: 1, 1: 0, 2: 3}},
    "pairflip": {},
    "instance": {"features": X_BALANCED},
}


def _call(name, y, rate=0.3, **extra):
    kwargs = dict(ALL_KINDS[name])
    kind = kwargs.pop("kind", name)
    kwargs.update(extra)
    return make_noisy_labels(y, kind, rate, **kwargs)


def _flip_pairs(y, y_noisy):
    changed = y != y_noisy
    return set(zip(np.asarray(y)[changed].tolist(), np.asarray(y_noisy)[changed].tolist()))


# --------------------------------------------------------------------------- #
# properties shared by every kind
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", list(ALL_KINDS))
def test_mask_is_exactly_the_changed_labels(name):
    y_noisy, is_noisy = _call(name, Y_BALANCED, random_state=0)
    assert is_noisy.dtype == bool
    assert y_noisy.shape == is_noisy.shape == Y_BALANCED.shape
    assert_array_equal(is_noisy, y_noisy != Y_BALANCED)
    assert is_noisy.any()


@pytest.mark.parametrize("name", list(ALL_KINDS))
def test_same_seed_same_output_and_different_seeds_differ(name):
    a = _call(name, Y_BALANCED, random_state=7)
    b = _call(name, Y_BALANCED, random_state=7)
    c = _call(name, Y_BALANCED, random_state=8)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("name", list(ALL_KINDS))
def test_randomstate_instance_is_accepted(name):
    a = _call(name, Y_BALANCED, random_state=np.random.RandomState(3))
    b = _call(name, Y_BALANCED, random_state=3)
    assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("name", list(ALL_KINDS))
def test_rate_zero_returns_copy_and_empty_mask(name):
    y = Y_BALANCED.copy()
    y_noisy, is_noisy = _call(name, y, rate=0.0, random_state=0)
    assert_array_equal(y_noisy, y)
    assert not is_noisy.any()
    y_noisy[0] = 99
    assert y[0] == 0


@pytest.mark.parametrize("name", list(ALL_KINDS))
def test_numpy_input_not_modified(name):
    y = Y_BALANCED.copy()
    features = ALL_KINDS[name].get("features")
    features_before = None if features is None else features.copy()
    _call(name, y, rate=0.5, random_state=0)
    assert_array_equal(y, Y_BALANCED)
    if features is not None:
        assert_array_equal(features, features_before)


@pytest.mark.parametrize("name", list(ALL_KINDS))
def test_list_and_series_input_not_modified(name):
    as_list = Y_BALANCED.tolist()
    series = pd.Series(Y_BALANCED, index=np.arange(100, 300))
    series_before = series.copy()
    out_list = _call(name, as_list, rate=0.5, random_state=0)
    out_series = _call(name, series, rate=0.5, random_state=0)
    assert as_list == Y_BALANCED.tolist()
    pd.testing.assert_series_equal(series, series_before)
    assert_array_equal(out_list[0], out_series[0])
    assert isinstance(out_series[0], np.ndarray)


# --------------------------------------------------------------------------- #
# symmetric
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("n, rate", [(200, 0.2), (200, 0.5), (103, 0.37), (7, 0.5), (10, 1.0)])
def test_symmetric_exact_count(n, rate):
    y = np.arange(n) % 3
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", rate, random_state=1)
    assert is_noisy.sum() == round(rate * n)
    assert set(np.unique(y_noisy)) <= {0, 1, 2}


def test_symmetric_targets_are_uniform_over_other_classes():
    y = np.repeat(np.arange(5), 4000)
    y_noisy, _ = make_noisy_labels(y, "symmetric", 0.5, random_state=0)
    T = noise_transition_matrix(y, y_noisy)
    assert_allclose(np.diag(T), 0.5, atol=0.03)
    off = T[~np.eye(5, dtype=bool)]
    assert_allclose(off, 0.5 / 4, atol=0.02)


def test_symmetric_include_true_class_effective_rate():
    n, k, rate = 20000, 4, 0.4
    y = np.arange(n) % k
    y_noisy, is_noisy = make_noisy_labels(
        y, "symmetric", rate, include_true_class=True, random_state=0
    )
    assert_array_equal(is_noisy, y_noisy != y)
    realised = is_noisy.mean()
    assert realised == pytest.approx(rate * (k - 1) / k, abs=0.01)
    assert realised < rate
    # Exactly round(rate * n) samples were redrawn; the rest cannot have changed.
    assert is_noisy.sum() <= round(rate * n)


def test_symmetric_with_classes_can_draw_absent_class():
    y = np.array([0, 1] * 500)
    y_noisy, _ = make_noisy_labels(y, "symmetric", 1.0, classes=[0, 1, 2], random_state=0)
    assert set(np.unique(y_noisy)) == {0, 1, 2}


def test_single_class_y_allowed_with_classes():
    y = np.zeros(10, dtype=int)
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.5, classes=[0, 1], random_state=0)
    assert is_noisy.sum() == 5
    assert set(y_noisy[is_noisy]) == {1}


# --------------------------------------------------------------------------- #
# string labels
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("make", [np.array, lambda v: pd.Series(v, dtype=object)])
def test_string_labels_round_trip(make):
    y = make(["cat", "dog", "bird"] * 20)
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.5, random_state=0)
    assert is_noisy.sum() == 30
    assert set(y_noisy.tolist()) <= {"cat", "dog", "bird"}
    assert all(isinstance(v, str) for v in y_noisy.tolist())
    assert_array_equal(is_noisy, y_noisy != np.asarray(y))


def test_string_dtype_widens_for_longer_target():
    y = np.array(["ab", "cd"] * 5)
    y_noisy, _ = make_noisy_labels(
        y, "asymmetric", 1.0, mapping={"ab": "a_long_label"}, random_state=0
    )
    assert set(y_noisy.tolist()) == {"a_long_label", "cd"}


# --------------------------------------------------------------------------- #
# asymmetric
# --------------------------------------------------------------------------- #
def test_asymmetric_cifar10_exact_pairs_and_counts():
    y = np.repeat(np.arange(10), 50)
    y_noisy, is_noisy = make_noisy_labels(y, "asymmetric", 0.4, mapping="cifar10", random_state=0)
    assert _flip_pairs(y, y_noisy) == {(9, 1), (2, 0), (4, 7), (3, 5), (5, 3)}
    flips_per_class = np.bincount(y[is_noisy], minlength=10)
    assert_array_equal(flips_per_class, [0, 0, 20, 20, 20, 20, 0, 0, 0, 20])


def test_asymmetric_cifar10_rate_one_moves_every_mapped_sample():
    y = np.repeat(np.arange(10), 3)
    y_noisy, _ = make_noisy_labels(y, "asymmetric", 1.0, mapping="cifar10", random_state=0)
    expected = np.array([0, 1, 0, 5, 7, 3, 6, 7, 8, 1]).repeat(3)
    assert_array_equal(y_noisy, expected)


def test_asymmetric_cifar10_class_names():
    y = np.array(list(CIFAR10_CLASSES) * 10)
    y_noisy, _ = make_noisy_labels(y, "asymmetric", 0.5, mapping="cifar10", random_state=0)
    assert _flip_pairs(y, y_noisy) == {
        ("truck", "automobile"),
        ("bird", "airplane"),
        ("deer", "horse"),
        ("cat", "dog"),
        ("dog", "cat"),
    }


def test_asymmetric_cifar10_subset_of_classes():
    y = np.array([9, 9, 9, 9, 8, 8])
    y_noisy, is_noisy = make_noisy_labels(y, "asymmetric", 0.5, mapping="cifar10", random_state=0)
    assert is_noisy.sum() == 2
    assert set(y_noisy[is_noisy]) == {1}


@pytest.mark.parametrize("y", [np.arange(11), np.array(["cat", "tiger"]), np.arange(10) + 0.0])
def test_asymmetric_cifar10_rejects_other_labels(y):
    with pytest.raises(ValueError, match="mapping='cifar10' needs CIFAR-10 labels"):
        make_noisy_labels(y, "asymmetric", 0.2, mapping="cifar10")


def _next_in_superclass(coarse):
    """Reference implementation with plain loops."""
    target = {}
    for group in sorted(set(coarse)):
        members = sorted(f for f in range(100) if coarse[f] == group)
        for i, f in enumerate(members):
            target[f] = members[(i + 1) % len(members)]
    return target


def test_asymmetric_cifar100_within_superclass():
    y = np.repeat(np.arange(100), 10)
    y_noisy, is_noisy = make_noisy_labels(y, "asymmetric", 0.3, mapping="cifar100", random_state=0)
    coarse = np.asarray(CIFAR100_COARSE_LABELS)
    assert_array_equal(np.bincount(y[is_noisy], minlength=100), np.full(100, 3))
    assert_array_equal(coarse[y[is_noisy]], coarse[y_noisy[is_noisy]])
    reference = _next_in_superclass(CIFAR100_COARSE_LABELS)
    assert all(reference[s] == t for s, t in _flip_pairs(y, y_noisy))
    # e.g. superclass 4 (fruit and vegetables) = fine 0, 51, 53, 57, 83
    assert {(0, 51), (51, 53), (53, 57), (57, 83), (83, 0)} <= _flip_pairs(y, y_noisy)


def test_cifar100_table_is_twenty_superclasses_of_five():
    coarse = np.asarray(CIFAR100_COARSE_LABELS)
    assert coarse.shape == (100,)
    assert_array_equal(np.bincount(coarse), np.full(20, 5))


def test_asymmetric_cifar100_custom_superclasses():
    blocks = np.arange(100) // 5  # consecutive blocks of five
    y = np.repeat(np.arange(100), 2)
    y_noisy, _ = make_noisy_labels(
        y, "asymmetric", 1.0, mapping="cifar100", superclasses=blocks, random_state=0
    )
    assert_array_equal(y_noisy[::2][:10], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5])


def test_asymmetric_dict_mapping_exact_per_class():
    y = np.array(["a"] * 10 + ["b"] * 20 + ["c"] * 5)
    y_noisy, is_noisy = make_noisy_labels(
        y, "asymmetric", 0.3, mapping={"a": "c", "b": "a"}, random_state=0
    )
    assert _flip_pairs(y, y_noisy) == {("a", "c"), ("b", "a")}
    assert (y[is_noisy] == "a").sum() == 3
    assert (y[is_noisy] == "b").sum() == 6


def test_asymmetric_errors():
    y = np.repeat(np.arange(3), 5)
    with pytest.raises(ValueError, match="needs a class mapping"):
        make_noisy_labels(y, "asymmetric", 0.2)
    with pytest.raises(ValueError, match="Unknown mapping 'cifar20'"):
        make_noisy_labels(y, "asymmetric", 0.2, mapping="cifar20")
    with pytest.raises(ValueError, match=r"mapping keys contains labels \[7\]"):
        make_noisy_labels(y, "asymmetric", 0.2, mapping={7: 1})
    with pytest.raises(ValueError, match="sends 1 to itself"):
        make_noisy_labels(y, "asymmetric", 0.2, mapping={1: 1})
    with pytest.raises(ValueError, match="mapping values contains labels"):
        make_noisy_labels(y, "asymmetric", 0.2, mapping={1: 5}, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="superclasses must be a 1-D array of length 100"):
        make_noisy_labels(y, "asymmetric", 0.2, mapping="cifar100", superclasses=[0] * 20)
    with pytest.raises(ValueError, match="superclasses is only used with mapping='cifar100'"):
        make_noisy_labels(y, "asymmetric", 0.2, mapping="cifar10", superclasses=[0] * 100)
    with pytest.raises(ValueError, match="integers 0..99"):
        make_noisy_labels(np.array([0, 100]), "asymmetric", 0.2, mapping="cifar100")


# --------------------------------------------------------------------------- #
# pairflip
# --------------------------------------------------------------------------- #
def test_pairflip_targets_and_counts():
    y = np.array([5] * 10 + [2] * 20 + [9] * 30)  # sorted classes: 2, 5, 9
    y_noisy, is_noisy = make_noisy_labels(y, "pairflip", 0.25, random_state=0)
    assert _flip_pairs(y, y_noisy) == {(2, 5), (5, 9), (9, 2)}
    assert (y[is_noisy] == 5).sum() == round(0.25 * 10)
    assert (y[is_noisy] == 2).sum() == 5
    assert (y[is_noisy] == 9).sum() == round(0.25 * 30)


def test_pairflip_string_labels_and_transition_matrix():
    y = np.repeat(["c", "a", "b"], 40)
    y_noisy, _ = make_noisy_labels(y, "pairflip", 0.25, random_state=0)
    assert _flip_pairs(y, y_noisy) == {("a", "b"), ("b", "c"), ("c", "a")}
    expected = np.array([[0.75, 0.25, 0], [0, 0.75, 0.25], [0.25, 0, 0.75]])
    assert_allclose(noise_transition_matrix(y, y_noisy), expected)


# --------------------------------------------------------------------------- #
# instance-dependent
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("rate", [0.1, 0.3, 0.45, 1.0])
def test_instance_exact_count(rate):
    y = np.arange(500) % 5
    X = np.random.RandomState(1).standard_normal((500, 16))
    y_noisy, is_noisy = make_noisy_labels(y, "instance", rate, features=X, random_state=0)
    assert is_noisy.sum() == round(rate * 500)
    assert_array_equal(is_noisy, y_noisy != y)
    assert set(np.unique(y_noisy)) <= set(range(5))


def test_instance_noise_depends_on_features():
    y = np.arange(400) % 4
    X = np.random.RandomState(1).standard_normal((400, 16))
    a, mask_a = make_noisy_labels(y, "instance", 0.4, features=X, random_state=0)
    b, mask_b = make_noisy_labels(y, "instance", 0.4, features=-X, random_state=0)
    # Which samples flip depends only on the seed; where they go depends on X.
    assert_array_equal(mask_a, mask_b)
    assert not np.array_equal(a, b)


def test_instance_identical_features_share_target():
    # Large, identical features within a class make the softmax one-hot, so every
    # flipped sample of a class goes to the same class.
    y = np.repeat(np.arange(4), 100)
    prototypes = np.random.RandomState(2).standard_normal((4, 8)) * 100
    y_noisy, is_noisy = make_noisy_labels(
        y, "instance", 0.5, features=prototypes[y], random_state=0
    )
    for c in range(4):
        flipped_to = np.unique(y_noisy[is_noisy & (y == c)])
        assert flipped_to.shape == (1,)
        assert flipped_to[0] != c


def test_instance_string_labels_and_list_features():
    y = ["x", "y", "z"] * 10
    X = np.random.RandomState(0).standard_normal((30, 3)).tolist()
    y_noisy, is_noisy = make_noisy_labels(y, "instance", 0.2, features=X, random_state=0)
    assert is_noisy.sum() == 6
    assert set(y_noisy.tolist()) <= {"x", "y", "z"}


def test_instance_feature_errors():
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="kind='instance' needs features"):
        make_noisy_labels(y, "instance", 0.2)
    with pytest.raises(ValueError, match="features has 9 rows but y has 10 labels"):
        make_noisy_labels(y, "instance", 0.2, features=np.zeros((9, 3)))
    with pytest.raises(ValueError, match="features must be 2-D"):
        make_noisy_labels(y, "instance", 0.2, features=np.zeros(10))
    bad = np.zeros((10, 3))
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match="features contains NaN or infinity"):
        make_noisy_labels(y, "instance", 0.2, features=bad)
    bad[4, 1] = np.inf
    with pytest.raises(ValueError, match="features contains NaN or infinity"):
        make_noisy_labels(y, "instance", 0.2, features=bad)
    with pytest.raises(ValueError, match="features must be a numeric array"):
        make_noisy_labels(y, "instance", 0.2, features=[["a"]] * 10)


# --------------------------------------------------------------------------- #
# general validation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"y": np.zeros((4, 2))}, r"y must be a 1-D array of labels; got shape \(4, 2\)"),
        ({"y": []}, "y is empty"),
        ({"y": [3, 3, 3]}, "y has a single class"),
        ({"y": [0.0, np.nan, 1.0]}, "y contains NaN labels"),
        ({"rate": 1.5}, r"rate must be in \[0, 1\]"),
        ({"rate": -0.1}, r"rate must be in \[0, 1\]"),
        ({"rate": float("nan")}, r"rate must be in \[0, 1\]"),
        ({"rate": "0.2"}, "rate must be a number"),
        ({"kind": "uniform"}, "Unknown noise kind 'uniform'"),
        ({"kind": "pairflip", "include_true_class": True},
         "include_true_class=True is only used with kind='symmetric'"),
        ({"mapping": "cifar10"}, "mapping is only used with kind='asymmetric'"),
        ({"features": np.zeros((6, 2))}, "features is only used with kind='instance'"),
        ({"classes": [0, 1]}, r"y contains labels \[2\] that are not in classes"),
        ({"classes": [0, 1, 1, 2]}, "classes contains duplicate labels"),
        ({"y": np.array([1, "a"], dtype=object)}, "cannot be sorted together"),
    ],
)
def test_validation_errors(kwargs, message):
    args = {"y": [0, 1, 2, 0, 1, 2], "kind": "symmetric", "rate": 0.2}
    args.update(kwargs)
    y = args.pop("y")
    with pytest.raises(ValueError, match=message):
        make_noisy_labels(y, **args)


# --------------------------------------------------------------------------- #
# transition matrix
# --------------------------------------------------------------------------- #
def test_transition_matrix_hand_computed():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_noisy = [0, 0, 1, 2, 1, 0, 2, 2, 2, 0]
    T = noise_transition_matrix(y_true, y_noisy)
    assert_allclose(T, [[0.5, 0.25, 0.25], [0.5, 0.5, 0.0], [0.25, 0.0, 0.75]])
    counts = noise_transition_matrix(y_true, y_noisy, normalize=None)
    assert_array_equal(counts, [[2, 1, 1], [1, 1, 0], [1, 0, 3]])
    assert counts.dtype.kind == "i"


def test_transition_matrix_rows_sum_to_one_after_noise():
    y = np.repeat(np.arange(6), 30)
    y_noisy, _ = make_noisy_labels(y, "symmetric", 0.4, random_state=0)
    T = noise_transition_matrix(y, y_noisy)
    assert T.shape == (6, 6)
    assert_allclose(T.sum(axis=1), 1.0)
    assert_allclose(np.diag(T).mean(), 0.6)


def test_transition_matrix_classes_and_absent_row():
    T = noise_transition_matrix(["a", "b"], ["b", "b"], classes=["a", "b", "c"])
    assert_allclose(T, [[0, 1, 0], [0, 1, 0], [0, 0, 0]])


def test_transition_matrix_errors():
    with pytest.raises(ValueError, match="y_true has 3 labels but y_noisy has 2"):
        noise_transition_matrix([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"y_noisy contains labels \[5\] that are not in classes"):
        noise_transition_matrix([0, 1], [0, 5], classes=[0, 1])
    with pytest.raises(ValueError, match="normalize must be 'true' or None"):
        noise_transition_matrix([0, 1], [0, 1], normalize="all")


def test_doctests():
    result = doctest.testmod(noise, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
