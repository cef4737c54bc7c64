"""Regression tests from a bug hunt on the inputs of the label-noise generators.

Covers :mod:`skclip_noise.noise`: :func:`make_noisy_labels` (asymmetric dict mappings),
:func:`make_open_set` (the scale and dtype checks of the outside images) and
:func:`make_long_tail` (its "too few samples" error). Each test pins a wrong refusal,
wrong advice or a self-contradictory error message; its docstring says what a user sees
now and what they should see.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skclip_noise.noise import make_long_tail, make_noisy_labels, make_open_set


# --------------------------------------------------------------------------- #
# make_long_tail
# --------------------------------------------------------------------------- #
def test_long_tail_error_does_not_say_one_sample_is_fewer_than_one():
    """An imbalance a hair above the class size gets a self-contradictory error.

    Now: 50 samples per class with ``imbalance=50.2`` leaves the tail class
    ``floor(50 / 50.2) = 0`` samples, and the error says "the smallest class would keep
    1.00 < 1 samples" (``n_max / imbalance = 0.996`` printed with two decimals).
    Should: still refuse, but say what really happens (e.g. 0.996, or 0 samples), not
    that 1.00 is below 1.
    """
    y = np.repeat([0, 1, 2], 50)
    with pytest.raises(ValueError, match="imbalance") as info:
        make_long_tail(y, imbalance=50.2, random_state=0)
    assert "1.00 < 1" not in str(info.value)


# --------------------------------------------------------------------------- #
# make_open_set
# --------------------------------------------------------------------------- #
def test_open_set_float_outside_with_interpolation_overshoot_stays_on_the_0_1_scale():
    """Outside images on X's 0..1 scale with a small resampling overshoot are refused.

    Bicubic or antialiased resizing of float images (torch ``interpolate``, OpenCV's
    ``INTER_CUBIC``) overshoots 1 by a few percent. Now: X in [0, 1] and X_outside in
    [0, 1.03] are refused as "X_outside up to 1.03 (scale 0..255)", with the advice
    ``X_outside / 255``, which would turn the outside images black. Should: accept them
    (the maxima 1.0 and 1.03 are the same scale; 0..255 images reach far beyond 1).
    """
    rng = np.random.RandomState(0)
    X = rng.uniform(0.0, 1.0, (6, 4, 4))
    X[0, 0, 0] = 1.0
    y = np.repeat([0, 1], 3)
    X_outside = rng.uniform(0.0, 1.0, (4, 4, 4))
    X_outside[0, 0, 0] = 1.03
    X_new, _, is_outlier = make_open_set(X, y, X_outside, 1 / 3, random_state=0)
    assert is_outlier.sum() == 2
    assert_array_equal(X_new[~is_outlier], X[~is_outlier])


def test_open_set_binary_images_accept_zero_one_integer_outside_images():
    """Boolean (binarised) images refuse outside images of 0s and 1s with a false claim.

    Now: X of dtype bool (e.g. binarised MNIST) with X_outside a uint8 array of 0/1
    gets "X_outside holds values in [0, 1], which do not fit X's dtype bool", although
    0 and 1 are exactly what a bool holds. Should: accept them (cast to bool, as a
    uint8 X accepts int64 outside images whose values fit), or refuse with a true reason.
    """
    X = np.zeros((6, 4, 4), dtype=bool)
    y = np.repeat([0, 1], 3)
    X_outside = np.ones((4, 4, 4), dtype=np.uint8)
    X_outside[:, 0, 0] = 0
    X_new, _, is_outlier = make_open_set(X, y, X_outside, 1 / 3, random_state=0)
    assert X_new.dtype == bool
    assert is_outlier.sum() == 2
    assert X_new[is_outlier].sum() == 2 * 15  # the outside images: all True but one pixel


# --------------------------------------------------------------------------- #
# make_noisy_labels, kind="asymmetric"
# --------------------------------------------------------------------------- #
def test_asymmetric_dict_with_a_source_absent_from_y_gives_no_contradictory_advice():
    """A dict mapping whose source class is absent from y: advice to do what was done.

    The "cifar10" preset on a subset of CIFAR-10 keeps the sources present in y; the
    same pairs written as a dict are refused when a source class is absent. Now, with
    ``classes=None``, the error ends "add them to classes or leave classes=None", i.e.
    it advises what the user already did. Should: treat the dict like the preset (an
    absent source has nothing to flip), or refuse without telling the user to leave
    classes=None.
    """
    y = np.array([9, 9, 3, 3])
    mapping = {9: 1, 2: 0, 3: 5}  # 2 (bird) does not occur in y
    try:
        y_noisy, is_noisy = make_noisy_labels(y, "asymmetric", 0.5, mapping=mapping, random_state=0)
    except ValueError as exc:
        assert "leave classes=None" not in str(exc)
        return
    assert set(zip(y[is_noisy].tolist(), y_noisy[is_noisy].tolist())) == {(9, 1), (3, 5)}
    assert is_noisy.sum() == 2


def test_long_tail_class_order_error_names_no_missing_classes_parameter():
    """make_long_tail has no ``classes`` parameter, yet its error advises one.

    Now: ``class_order=["3", "7", "9"]`` for integer labels 3, 7, 9 gets "class_order
    contains labels ['3', '7', '9'] that are not in classes [3, 7, 9]; add them to classes
    or leave classes=None", advice about a parameter the function does not take. Should:
    say the class_order entries must be labels of y (here ints, not strings).
    """
    y = np.repeat([3, 7, 9], 20)
    with pytest.raises(ValueError, match="class_order") as info:
        make_long_tail(y, imbalance=4, class_order=["3", "7", "9"], random_state=0)
    assert "classes=None" not in str(info.value)


def test_open_set_dark_float_images_are_on_the_0_1_scale_too():
    """Review of the scale check: X of dark 0..1 images (all near 0) against outside images
    reaching 1 were called two scales, with advice to divide by 255."""
    rng = np.random.default_rng(0)
    X, y = np.zeros((20, 8, 8), np.float32), np.repeat([0, 1], 10)
    X_new, _, is_outlier = make_open_set(X, y, rng.random((10, 8, 8)).astype(np.float32), 0.2, random_state=0)
    assert is_outlier.sum() == 4 and X_new[is_outlier].max() > 0.5
