"""Regression tests for inputs users really pass to the label-noise generators.

Each test pins a bug found by feeding :mod:`skclip_noise.noise` realistic (and
realistically wrong) inputs: a silent wrong answer, or a misleading error.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from skclip_noise.noise import make_model_noise, make_noisy_labels


# --------------------------------------------------------------------------- #
# make_model_noise
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_model_noise_tiny_negative_probability_still_flips_to_another_class(temperature):
    # ``1 - p`` with p one ulp above 1 gives -2.2e-16: pred_probs validation accepts it
    # (within its tolerance), but np.log turns it into NaN and the row's target becomes
    # its own class, so is_noisy says "flipped" where the label did not change.
    p = np.nextafter(1.0, 2.0)
    P = np.array([[p, 1.0 - p]] * 3 + [[0.2, 0.8]] * 3)
    y = np.repeat([0, 1], 3)
    y_noisy, is_noisy = make_model_noise(y, P, 1.0, temperature=temperature, random_state=0)
    assert_array_equal(is_noisy, y_noisy != y)
    assert is_noisy.all()  # rate=1: every sample changes, exactly round(rate * n_c) per class


def test_model_noise_unsorted_classes_are_not_silently_reordered():
    # ``classes`` "names the columns of pred_probs": here in the model's (e.g. a CLIP
    # zero-shot prompt list's) order. The function sorts them and reads the columns in
    # sorted order, so the flips follow the wrong columns without a word.
    order = ["dog", "cat", "bird"]
    y = np.array(order * 4)
    P = np.tile([0.6, 0.1, 0.3], (12, 1))  # dog 0.6, cat 0.1, bird 0.3 in `order`
    try:
        y_noisy, is_noisy = make_model_noise(y, P, 0.5, classes=order, random_state=0)
    except ValueError:
        return  # refusing unsorted classes is a fix too
    pairs = set(zip(y[is_noisy].tolist(), y_noisy[is_noisy].tolist()))
    assert pairs == {("dog", "bird"), ("cat", "dog"), ("bird", "dog")}


# --------------------------------------------------------------------------- #
# make_noisy_labels
# --------------------------------------------------------------------------- #
def test_asymmetric_preset_does_not_draw_labels_outside_user_classes():
    # classes=[8, 9] declares the full set of classes. A dict mapping {9: 1} is refused
    # ("mapping values ... not in classes"), but the "cifar10" preset silently relabels
    # trucks as 1 (automobile), a class outside the declared set.
    y = np.array([9, 9, 8, 8])
    try:
        y_noisy, _ = make_noisy_labels(
            y, "asymmetric", 1.0, mapping="cifar10", classes=[8, 9], random_state=0
        )
    except ValueError:
        return  # refusing, like the dict mapping, is a fix too
    assert set(y_noisy.tolist()) <= {8, 9}


@pytest.mark.parametrize(
    "y",
    [
        pd.Series([0, 1, np.nan, 1, 0, 1], dtype=object),
        pd.Series(["cat", "dog", pd.NA, "cat", "dog", "cat"], dtype="string"),
    ],
    ids=["object-with-nan", "pandas-string-with-NA"],
)
def test_missing_labels_in_object_or_string_columns_are_reported_as_missing(y):
    # Float NaN labels get "y contains NaN labels; drop or fill ...". In an object column
    # the same NaN gives "y contains labels [nan] that are not in classes
    # [0.0, 1.0, nan, 1.0]" (self-contradictory), and pandas' <NA> gives "y mixes label
    # types that cannot be sorted together".
    with pytest.raises(ValueError, match="NaN labels|missing"):
        make_noisy_labels(y, "symmetric", 0.5, random_state=0)
