"""User-like and wrong inputs to the detectors that take feature arrays.

ConsensusDetector, NeighbourDetector, LabelMatchDetector and the loss detectors
(GMMLossDetector, SmallLossDetector with ``tuning="frozen"``) fed pandas tables,
callers' ``pred_probs`` tables, out-of-range parameters and features of extreme
scale. Each test pins one bug: the comment above it says what goes wrong today and
what the right behaviour is. Tiny data (90 samples, 3 features), so the whole file
runs in seconds.
"""

import numpy as np
import pandas as pd
import pytest

from skclip_noise import (
    ConsensusDetector,
    GMMLossDetector,
    LabelMatchDetector,
    NeighbourDetector,
    SmallLossDetector,
)

FEATURE_DETECTORS = [
    pytest.param(lambda: ConsensusDetector(random_state=0), id="consensus"),
    pytest.param(lambda: NeighbourDetector(), id="neighbour"),
    pytest.param(lambda: GMMLossDetector(device="cpu", epochs=2, random_state=0), id="gmm_loss"),
    pytest.param(lambda: SmallLossDetector(device="cpu", epochs=2, random_state=0), id="small_loss"),
]


def _blobs(n_per_class=30, n_classes=3, scale=4.0, seed=0):
    """Well separated classes: one feature per class, plus unit noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = np.eye(n_classes)[y] * scale + rng.normal(size=(len(y), n_classes))
    return X, y


def _refuse_work(detector, monkeypatch):
    """Make any work past input validation fail the test."""
    monkeypatch.setattr(detector, "_fit_scores", lambda *a, **k: pytest.fail("fit started work before refusing"))
    return detector


# Today: fitting on a DataFrame with column names sets no feature_names_in_, and
# predict_clean(X_new, y_new) on a table with the same columns in another order is
# judged silently, column by position (other verdicts than the same table in the fit's
# order). Right: as in scikit-learn, feature_names_in_ holds the fit's column names and
# a table whose names differ from them raises a ValueError about the feature names.
@pytest.mark.parametrize("make", FEATURE_DETECTORS)
def test_dataframe_feature_names_are_recorded_and_checked(make):
    X, y = _blobs()
    table = pd.DataFrame(X, columns=["a", "b", "c"])
    detector = make().fit(table, y)
    assert list(getattr(detector, "feature_names_in_", [])) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="feature names"):
        detector.predict_clean(table[["c", "b", "a"]], y)


# Today: pred_probs given as a DataFrame whose columns are named by the classes, in
# another order than classes_, is read by position: the lone label 'cat' (sample 0),
# which the caller's model backs, is flagged, against the verdict on the same
# probabilities passed as an array in classes_ order. Right: the columns are matched to
# classes_ by name (same verdicts as the array), or the table is refused with a
# ValueError that names the column order.
def test_pred_probs_dataframe_columns_are_matched_to_classes_by_name():
    rng = np.random.default_rng(0)
    true = np.repeat([0, 1], 40)
    X = np.eye(2)[true] * 4 + rng.normal(size=(80, 2))
    codes = true.copy()
    codes[[0, 40]] = [2, 3]  # two lone labels: only the caller's model can back them
    y = np.array(["ant", "bee", "cat", "dog"])[codes]
    proba = np.full((80, 4), 0.02)
    proba[np.arange(80), true] = 0.94
    proba[0] = [0.02, 0.02, 0.94, 0.02]  # backs the lone label "cat"
    proba[40] = [0.02, 0.94, 0.02, 0.02]  # not the lone label "dog"
    with pytest.warns(UserWarning):
        expected = ConsensusDetector(random_state=0).fit(X, y, pred_probs=proba).clean_mask_
    assert expected[0] and not expected[40]
    frame = pd.DataFrame(proba[:, ::-1], columns=["dog", "cat", "bee", "ant"])  # same numbers, named
    try:
        with pytest.warns(UserWarning):
            got = ConsensusDetector(random_state=0).fit(X, y, pred_probs=frame).clean_mask_
    except ValueError as exc:
        assert "column" in str(exc)
        return
    np.testing.assert_array_equal(got, expected)


# Today: Cs=[nan] passes the detector's own check (min(Cs) <= 0 is False for NaN) and
# fails inside scikit-learn's LogisticRegression ("The 'C' parameter of
# LogisticRegression ..."), after the work has started; Cs=["a"] fails with Python's
# bare "'<=' not supported between instances of 'str' and 'int'". Right: a ValueError
# (or TypeError) naming Cs, before any work.
@pytest.mark.parametrize("Cs", [[np.nan], [1.0, np.nan], ["a"], [None]], ids=["nan", "one_nan", "str", "none"])
def test_consensus_refuses_non_numeric_or_nan_Cs_before_work(Cs, monkeypatch):
    X, y = _blobs()
    detector = _refuse_work(ConsensusDetector(Cs=Cs, random_state=0), monkeypatch)
    with pytest.raises((ValueError, TypeError), match="Cs"):
        detector.fit(X, y)


# Today: max_samples=1 (allowed by the parameter's constraint, an int >= 1) fails deep in
# scikit-learn: "This solver needs samples of at least 2 classes in the data, but the data
# contains only one class". Right: a ValueError that names max_samples (a fold model
# needs samples of at least two classes), raised before the work, or a fit that works.
def test_consensus_max_samples_too_small_for_the_classes_is_refused_clearly():
    X, y = _blobs()
    try:
        ConsensusDetector(max_samples=1, random_state=0).fit(X, y)
    except ValueError as exc:
        assert "max_samples" in str(exc), str(exc)


# Today: ConsensusDetector(zero_shot=True) never checks templates (LabelMatchDetector
# does): [] fails inside torch ("cannot reshape tensor of 0 elements") after the probe and
# the neighbours ran, "{x}" with a bare KeyError, [1] with an AttributeError, and a
# template without "{}" is used silently (every class gets the same prompt, so the
# zero-shot signal is void). Right: the ValueError LabelMatchDetector gives ("templates
# must be a non-empty sequence of strings containing '{}'"), before any work.
@pytest.mark.parametrize("templates", [[], ["{x}"], [1], ["a photo"]], ids=["empty", "named_field", "int", "no_field"])
def test_consensus_zero_shot_templates_are_checked_before_work(templates, monkeypatch):
    X, y = _blobs()
    labels = np.array(["cat", "dog", "emu"])[y]
    detector = ConsensusDetector("open_clip:skclip-tiny", pretrained=None, zero_shot=True, templates=templates,
                                 device="cpu", random_state=0)
    _refuse_work(detector, monkeypatch)
    with pytest.raises(ValueError, match="templates"):
        detector.fit(X, labels)


# Today: a template that is not a string gives Python's bare "TypeError: argument of type
# 'int' is not iterable" (from the check `"{}" not in t`). Right: the detector's own
# error naming templates (the one it gives for a template without "{}").
def test_label_match_non_string_template_is_refused_clearly(monkeypatch):
    X = np.random.default_rng(0).normal(size=(6, 48))
    labels = np.array(["cat", "dog"] * 3)
    detector = LabelMatchDetector("open_clip:skclip-tiny", pretrained=None, templates=[1], device="cpu")
    _refuse_work(detector, monkeypatch)
    with pytest.raises((ValueError, TypeError), match="templates"):
        detector.fit(X, labels)


# Today: score(X, y, sample_weight=...) passes sample_weight straight to np.average: a
# wrong length gives numpy's "TypeError: Axis must be specified when shapes of a and
# weights differ", and a NaN weight returns a NaN score silently (GridSearchCV would then
# rank that candidate arbitrarily). Right: scikit-learn's check of sample_weight (one
# finite weight per sample), a ValueError naming sample_weight.
@pytest.mark.parametrize("make", FEATURE_DETECTORS[:2])
@pytest.mark.parametrize(
    "sample_weight", [np.ones(89), np.r_[np.nan, np.ones(89)]], ids=["wrong_length", "nan"],
)
def test_score_checks_sample_weight(make, sample_weight):
    X, y = _blobs()
    detector = make().fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        detector.score(X, y, sample_weight=sample_weight)


# Today: NeighbourDetector's cosine similarity computes row norms in float32, which
# overflow for features of magnitude ~1e19 (and underflow to zero near 1e-25): on
# perfectly separable data it then flags two thirds of the (correct) labels, silently.
# Right: cosine similarity does not depend on the scale of a row, so the verdicts are
# those on the unscaled features (or, failing that, a clear error).
@pytest.mark.parametrize("scale", [1e20, 1e-25])
def test_neighbour_verdicts_do_not_depend_on_the_feature_scale(scale):
    X, y = _blobs()
    expected = NeighbourDetector().fit(X, y).clean_mask_
    assert expected.mean() > 0.95
    np.testing.assert_array_equal(NeighbourDetector().fit(X * scale, y).clean_mask_, expected)


# Today: finite float64 features beyond float32's range (e.g. 1e39) are refused with
# "X contains NaN or infinite values; remove or impute them", which is false: the
# values became infinite in the detector's own float32 copy. Right: an error that says
# the values are too large for float32 (or a fit that works).
def test_features_beyond_float32_range_are_not_reported_as_nan():
    X, y = _blobs()
    try:
        NeighbourDetector().fit(X * 1e39, y)
    except ValueError as exc:
        message = str(exc)
        assert "NaN" not in message and "float32" in message, message


# Today: a feature table with a categorical (string) column passes scikit-learn's
# check_array as an object array and is then refused as an image input: "TypeError:
# Cannot read X of element type float. Pass images as a numpy array ...", which names
# neither the column nor the problem (scikit-learn itself says "could not convert string
# to float: 'u'"). Right: an error saying that X holds non-numeric values (naming the
# column or the value), e.g. that the column must be encoded as numbers first.
def test_feature_table_with_a_categorical_column_is_refused_clearly():
    X, y = _blobs()
    table = pd.DataFrame(X, columns=["a", "b", "c"]).assign(d=pd.Categorical(["u", "v"] * 45))
    with pytest.raises((ValueError, TypeError), match=r"categor|numeric|'u'|'d'"):
        NeighbourDetector().fit(table, y)


# Today: a list of feature rows of different lengths fails inside numpy, through
# scikit-learn's check_array ("setting an array element with a sequence. The requested
# array has an inhomogeneous shape after 1 dimensions ..."), not with the library's own
# message (it has one for images of different shapes). Right: a ValueError saying that
# the rows of X have different lengths (e.g. 3 and 2 features).
def test_ragged_feature_rows_are_refused_clearly():
    X, y = _blobs()
    rows = X.tolist()
    rows[-1] = rows[-1][:2]
    with pytest.raises(ValueError, match=r"different|lengths"):
        NeighbourDetector().fit(rows, y)
