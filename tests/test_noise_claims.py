"""Documented behaviour of ``skclip_noise.noise`` that the code does not keep.

Each test quotes the claim (file:line) and fails today for the reason its docstring
gives. Found by an audit of the noise generators' documented behaviour.
"""

import warnings

import numpy as np
import pytest

from skclip_noise.noise import (
    make_long_tail,
    make_model_noise,
    make_noisy_labels,
    noise_transition_matrix,
)


# --------------------------------------------------------------------------- #
# make_long_tail: the default n_max
# --------------------------------------------------------------------------- #
def test_long_tail_default_n_max_is_the_largest_value_every_class_can_supply():
    """skclip_noise/noise/realistic.py:303-305 (``n_max``): "Defaults to the largest value
    every class can supply"; the error for a too-large ``n_max`` says "lower n_max (at
    most {feasible} here)" (realistic.py:364).

    The default is computed as ``min_c floor(n_c / share_c)`` (realistic.py:353), the
    largest n_max with ``n_max * share_c <= n_c``, not the largest n_max that keeps
    ``floor(n_max * share_c) <= n_c``. With class sizes 200 and 10 and ``imbalance=10``
    the default keeps 100 + 10 samples, yet ``n_max=109`` is accepted (109 + 10, every
    class supplies its floor(...)), while the error for ``n_max=110`` says "at most 100
    here".
    """
    y = np.repeat([0, 1], [200, 10])
    kept_default = make_long_tail(y, imbalance=10, random_state=0)
    kept_109 = make_long_tail(y, imbalance=10, n_max=109, random_state=0)
    assert np.bincount(y[kept_109]).tolist() == [109, 10]  # accepted: every class can supply it
    assert np.bincount(y[kept_default]).tolist() == [109, 10]  # today: [100, 10]
    with pytest.raises(ValueError, match="at most 109 here"):  # today: "at most 100 here"
        make_long_tail(y, imbalance=10, n_max=110, random_state=0)


# --------------------------------------------------------------------------- #
# make_model_noise: a tiny positive temperature
# --------------------------------------------------------------------------- #
def test_model_noise_tiny_positive_temperature_is_not_random():
    """skclip_noise/noise/realistic.py:66-75: "``0``: deterministic ... ``T > 0``: the
    flipped samples ... drawn without replacement with weights ``s_i ** (1 / T)`` ... and
    the new label ``j`` with probability proportional to ``pred_probs[i, j] ** (1 / T)``";
    docs/user_guide/noise.rst:85-88 says the same. As T -> 0+ these weights single out the
    most ambiguous samples and the most probable other class, i.e. the T=0 result.

    The code divides log-probabilities by T (realistic.py:152, 165). For a (subnormal) T
    such as 1e-310, every ``log(p) / T`` overflows to -inf, all candidates tie and the
    tie-break draws samples and targets uniformly at random: a near-zero temperature
    gives near-*symmetric* noise instead of the deterministic T=0 noise (here about half
    of the labels differ from the T=0 result).
    """
    rng = np.random.RandomState(0)
    n, k = 300, 4
    y = np.arange(n) % k
    pred_probs = rng.dirichlet(np.ones(k), size=n)  # no exact ties
    expected, expected_mask = make_model_noise(y, pred_probs, 0.3, temperature=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got, got_mask = make_model_noise(y, pred_probs, 0.3, temperature=1e-310, random_state=0)
    np.testing.assert_array_equal(got_mask, expected_mask)
    np.testing.assert_array_equal(got, expected)


# --------------------------------------------------------------------------- #
# unsigned 64-bit labels next to ordinary int classes / mappings
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"kind": "asymmetric", "mapping": {0: 1}}, id="dict-mapping"),
        pytest.param({"kind": "pairflip", "classes": [0, 1, 2, 3]}, id="classes"),
    ],
)
def test_noisy_labels_of_uint64_y_keep_their_kind(kwargs):
    """skclip_noise/noise/generate.py:103-105 (Returns): "Corrupted labels, of the same
    kind as ``y`` (the dtype may widen to hold a longer string label from ``classes`` or
    ``mapping``)"; skclip_noise/noise/__init__.py:12-14: "return labels of the input's
    kind".

    For ``uint64`` labels with a dict mapping or a ``classes`` list of Python ints (int64),
    generate.py:176 / 193 take ``np.result_type(uint64, int64)``, which is float64: the
    integer labels come back as floats (0. 1. 2.).
    """
    y = np.array([0, 1, 2, 0, 1, 2], dtype=np.uint64)
    y_noisy, _ = make_noisy_labels(y, rate=1.0, random_state=0, **kwargs)
    assert y_noisy.dtype.kind in "iu", y_noisy.dtype


def test_noisy_labels_of_large_uint64_y_with_classes_listing_them():
    """skclip_noise/noise/generate.py:71-74 (``classes``): "The full set of classes ...
    Every label of ``y`` must be in ``classes``."

    With ``uint64`` labels beyond 2**53 and ``classes`` listing exactly those labels as
    Python ints, the int64 classes and the uint64 labels are compared as float64 in
    ``_encode`` (np.searchsorted), neighbouring labels merge, and the call is refused with
    "y contains labels [...] that are not in classes" although every label is listed.
    (noise_transition_matrix keeps such labels apart without ``classes``; see
    docs/changelog.rst:172-174.)
    """
    labels = [2**60, 2**60 + 1, 2**60 + 2]
    y = np.array(labels * 2, dtype=np.uint64)
    y_noisy, is_noisy = make_noisy_labels(y, "pairflip", 0.5, classes=labels, random_state=0)
    assert set(y_noisy.tolist()) <= set(labels)


def test_model_noise_of_uint64_y_with_classes_keeps_integer_labels():
    """skclip_noise/noise/realistic.py:87-88 (Returns): "Labels after the flips, of the
    same kind as ``y``."

    With ``uint64`` labels and ``classes=[0, 1, 2]`` (the sorted ``classes_`` the docstring
    asks for, as Python ints), realistic.py:140 casts to ``np.result_type(uint64, int64)``
    = float64: the labels come back as floats.
    """
    y = np.array([0, 1, 2, 0, 1, 2], dtype=np.uint64)
    pred_probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]] * 2)
    y_noisy, _ = make_model_noise(y, pred_probs, 0.5, classes=[0, 1, 2], random_state=0)
    assert y_noisy.dtype.kind in "iu", y_noisy.dtype


def test_transition_matrix_large_uint64_labels_with_classes():
    """skclip_noise/noise/transition.py:334-337 (``classes``): "Classes indexing the rows
    and columns, in the order given (as in scikit-learn's ``confusion_matrix(labels=...)``)";
    docs/changelog.rst:172-174 says the function "keeps int64 and uint64 labels beyond
    2**53 apart".

    With ``uint64`` labels beyond 2**53 and ``classes`` listing them as Python ints, the
    int64 classes and uint64 labels are compared as float64 (transition.py:379-383 via
    ``_encode``) and the call is refused: "y_true contains labels [...] that are not in
    classes". Without ``classes`` the same labels work.
    """
    labels = [2**60, 2**60 + 1]
    y = np.repeat(np.array(labels, dtype=np.uint64), 5)
    np.testing.assert_array_equal(noise_transition_matrix(y, y), np.eye(2))  # works without classes
    np.testing.assert_array_equal(noise_transition_matrix(y, y, classes=labels), np.eye(2))


def test_long_tail_class_order_of_large_uint64_labels():
    """skclip_noise/noise/realistic.py:306-309 (``class_order``): "... or every class
    listed once, largest first".

    For ``uint64`` labels beyond 2**53, a ``class_order`` listing every class (as Python
    ints, int64) is compared with the classes as float64 (realistic.py:387 via
    ``_encode``) and refused: "class_order contains labels [...] that are not in classes".
    """
    labels = [2**60, 2**60 + 1]
    y = np.repeat(np.array(labels, dtype=np.uint64), 50)
    kept = make_long_tail(y, imbalance=10, class_order=[labels[1], labels[0]], random_state=0)
    values, counts = np.unique(y[kept], return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == {labels[0]: 5, labels[1]: 50}
