"""The kinds of arrays and labels real users pass: pandas extension dtypes, sparse
matrices, DataFrames with named columns, float / bytes labels, missing values, tiny
feature scales. Each test is a defect found by feeding the same data in another form.
"""

import importlib.util

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from skclip_noise import (
    ConsensusDetector,
    NeighbourDetector,
    apply_decisions,
    find_label_issues,
    make_noisy_labels,
)


NEEDS_PYARROW = pytest.mark.skipif(
    importlib.util.find_spec("pyarrow") is None,
    reason="pyarrow is not installed (pip install pyarrow): pandas' pyarrow dtypes need it",
)


@pytest.fixture(scope="module")
def digits_features():
    """300 digits as (X / 16, noisy labels, out-of-sample pred_probs)."""
    data = load_digits()
    X = data.data[:300] / 16.0
    y_noisy, _ = make_noisy_labels(data.target[:300], "symmetric", 0.2, random_state=0)
    pred_probs = cross_val_predict(LogisticRegression(max_iter=200), X, y_noisy, method="predict_proba", cv=3)
    return X, y_noisy, pred_probs


# ------------------------------------------------------------------ pred_probs tables


def test_find_label_issues_reads_dataframe_pred_probs_columns_by_name():
    """A user whose ``pred_probs`` is a DataFrame with one column named after each class
    code (here ``[1, 0]``, e.g. after ``df[sorted_by_something]``) gets the columns
    read by position: class 1's probabilities are taken for class 0's and the ten wrong
    labels are no longer found (every label is kept). ``ConsensusDetector.fit`` reads
    the same table by name, and ``check_pred_probs`` refuses tables it cannot read by
    name. Expected: the same issues as with the array in class order (or a clear
    ValueError), never a silent column mix-up. Cause: ``filter._check_evidence`` calls
    ``check_pred_probs(pred_probs)`` without ``classes``."""
    labels = np.repeat([0, 1], 100)
    pred_probs = np.where(labels[:, None] == np.arange(2), 0.9, 0.1)
    pred_probs[:10] = pred_probs[:10, ::-1]  # ten samples the model puts in the other class
    expected = find_label_issues(labels, pred_probs)
    assert expected[:10].all()
    table = pd.DataFrame(pred_probs[:, ::-1], columns=[1, 0])  # same probabilities, named columns
    try:
        issues = find_label_issues(labels, table)
    except ValueError:
        return  # refusing a table it cannot read by name is fine too
    np.testing.assert_array_equal(issues, expected)


@pytest.mark.parametrize("dtype", ["Float64", pytest.param("float64[pyarrow]", marks=NEEDS_PYARROW)])
def test_pred_probs_in_pandas_extension_dtype_dataframe(digits_features, dtype):
    """``pred_probs`` as a DataFrame of pandas' nullable ``Float64`` (what
    ``pd.read_csv(..., dtype_backend="numpy_nullable")`` or ``convert_dtypes()`` give)
    or of pyarrow floats, without a single missing value, is refused by
    ``find_label_issues`` and ``ConsensusDetector.fit`` with "pred_probs must be a
    numeric array; got dtype object", although it holds nothing but floats and the
    detectors accept X in those dtypes. Expected: read as floats (same verdicts as the
    numpy array). Cause: ``data.labels.check_proba_array`` reads it with ``np.asarray``."""
    X, y_noisy, pred_probs = digits_features
    table = pd.DataFrame(pred_probs).astype(dtype)
    expected = find_label_issues(y_noisy, pred_probs)
    np.testing.assert_array_equal(find_label_issues(y_noisy, table), expected)
    detector = ConsensusDetector(random_state=0).fit(X, y_noisy, pred_probs=table)
    reference = ConsensusDetector(random_state=0).fit(X, y_noisy, pred_probs=pred_probs)
    np.testing.assert_array_equal(detector.clean_mask_, reference.clean_mask_)


# ------------------------------------------------------------------ features of find_label_issues


@pytest.mark.parametrize("dtype", ["Float64", pytest.param("float64[pyarrow]", marks=NEEDS_PYARROW)])
def test_find_label_issues_features_in_pandas_extension_dtype(digits_features, dtype):
    """``find_label_issues(labels, features=df)`` with a DataFrame of nullable
    ``Float64`` or pyarrow floats (no missing value) raises "features must be a 2-D
    numeric array ... dtype object. Embed images first", while
    ``ConsensusDetector().fit(df, labels)`` (the detector behind it) accepts the same
    table. Expected: the same issues as with the numpy array. Cause:
    ``filter._check_evidence`` checks ``np.asarray(features).dtype`` instead of the
    detectors' input validation."""
    X, y_noisy, _ = digits_features
    expected = find_label_issues(y_noisy, features=X)
    ConsensusDetector(random_state=0).fit(pd.DataFrame(X).astype(dtype), y_noisy)  # the detector accepts it
    np.testing.assert_array_equal(find_label_issues(y_noisy, features=pd.DataFrame(X).astype(dtype)), expected)


@pytest.mark.parametrize("argument", ["features", "pred_probs"])
def test_find_label_issues_sparse_input_error_says_sparse(digits_features, argument):
    """A scipy sparse matrix as ``features`` (or ``pred_probs``) gives "features must be
    a 2-D numeric array (n_samples, n_features); got shape () and dtype object" (or
    "pred_probs must be a numeric array; got dtype object"): the user's (300, 64)
    matrix is described as a 0-d object, and "sparse" is never said. The detectors
    say "Sparse data was passed ... Use '.toarray()'". Expected: a ValueError or
    TypeError that names the sparse matrix and the fix (``.toarray()``). Cause:
    ``filter._check_evidence`` / ``check_proba_array`` call ``np.asarray`` on it."""
    X, y_noisy, pred_probs = digits_features
    kwargs = {"features": scipy.sparse.csr_matrix(X)} if argument == "features" else {
        "pred_probs": scipy.sparse.csr_matrix(pred_probs)}
    with pytest.raises((ValueError, TypeError), match="(?i)sparse|toarray"):
        find_label_issues(y_noisy, **kwargs)


def test_find_label_issues_feature_errors_name_the_features_argument(digits_features):
    """``find_label_issues(labels, features=F)`` with a NaN in ``F`` says "X contains NaN
    or infinite values", naming an argument the function does not have. Expected: the
    message names ``features``. Cause: ``check_features`` runs with its default
    ``name="X"`` inside the detector that ``find_label_issues`` fits."""
    X, y_noisy, _ = digits_features
    features = X.copy()
    features[3, 5] = np.nan
    with pytest.raises(ValueError, match="features") as error:
        find_label_issues(y_noisy, features=features)
    assert "X contains" not in str(error.value)


# ------------------------------------------------------------------ labels


@pytest.mark.parametrize("missing", ["nan", "pandas_NA", "None"])
def test_find_label_issues_missing_label_is_called_missing(digits_features, missing):
    """Labels with one missing entry (NaN in a float column, ``pd.NA`` in an ``Int64``
    column, None in a list) make ``find_label_issues`` say "labels must hold integer
    class codes 0..K-1; got float64 values. Encode class names first, e.g. codes =
    np.unique(y, return_inverse=True)[1]": the advice turns the missing label into a
    class of its own. The detectors' ``fit`` says "contains missing values". Expected:
    the message says the labels hold a missing value (and where). Cause:
    ``data.labels.check_label_codes`` has no missing-value check."""
    _, y_noisy, pred_probs = digits_features
    if missing == "nan":
        labels = y_noisy.astype(float)
        labels[3] = np.nan
    elif missing == "pandas_NA":
        labels = pd.Series(y_noisy, dtype="Int64")
        labels[3] = pd.NA
    else:
        labels = [None if i == 3 else int(v) for i, v in enumerate(y_noisy)]
    with pytest.raises(ValueError, match="(?i)missing") as error:
        find_label_issues(labels, pred_probs)
    assert "np.unique" not in str(error.value)


@pytest.mark.parametrize("kind", ["float", "bytes"])
def test_apply_decisions_accepts_the_labels_the_detector_was_fitted_on(digits_features, kind):
    """A user fits a detector on float labels (a pandas column that held NaN once) or on
    byte-string labels (as h5py returns them), reviews the report and applies its
    ``decisions.csv`` to the same labels: ``apply_decisions`` raises "its given label is
    '2' in the file but '2.0' in y" (or "'c' ... but \"b'c'\""), although the file was
    made from these very labels (the detectors read 2.0 as class 2, and b"c" as "c").
    Expected: the decisions apply. Cause: ``decisions._apply_decision_table`` compares
    ``str(label)`` with the report's text of the label."""
    X, y_noisy, _ = digits_features
    y = y_noisy.astype(float) if kind == "float" else np.array(list("abcdefghij"))[y_noisy].astype("S1")
    detector = ConsensusDetector(random_state=0).fit(X, y)
    flagged = detector.label_issues_[detector.label_issues_["is_label_issue"]].head(2)

    from skclip_noise.data.labels import label_text as text  # how the report writes a label into decisions.csv

    decisions = pd.DataFrame({
        "sample": [str(i) for i in flagged.index],
        "given_label": [text(v) for v in flagged["given_label"]],
        "decision": ["relabel", "drop"],
        "label": [text(flagged["suggested_label"].iloc[0]), ""],
    })
    labels, keep = apply_decisions(y, decisions)
    assert keep.sum() == len(y) - 1
    assert labels[flagged.index[0]] == flagged["suggested_label"].iloc[0]


def test_make_noisy_labels_refuses_a_list_of_mixed_label_types():
    """``make_noisy_labels([0, 1, 2, ..., "3"], ...)`` (one label read as text) silently
    turns every int label into a string: the result is ``'<U21'`` and ``y_noisy != y``
    no longer holds against the user's list. An object array of the same values is
    refused ("y mixes label types that cannot be sorted together"), as the detectors
    refuse the list ("y mixes label types"). Expected: the same ValueError for the list.
    Cause: ``noise._checks._check_label_vector`` calls ``np.asarray`` on the list, which
    casts the ints to strings before the type check."""
    y = [0, 1, 2, 3] * 25
    y[7] = "3"
    with pytest.raises(ValueError, match="(?i)mix"):
        make_noisy_labels(np.array(y, dtype=object), "symmetric", 0.2, random_state=0)  # refused, as it should be
    with pytest.raises(ValueError, match="(?i)mix"):
        make_noisy_labels(y, "symmetric", 0.2, random_state=0)


def test_groups_with_a_missing_string_id_is_called_missing(digits_features):
    """``ConsensusDetector().fit(X, y, groups=ids)`` with ``ids`` a column of string
    group ids with one missing entry (None / NaN) says "groups must be ids of one type
    that sort (ints or strings); '<' not supported between instances of 'NoneType' and
    'str'": the user has one type, and a missing id. A numeric column with a missing id
    gets "groups holds NaN; give every sample an id". Expected: the same message for
    text ids. Cause: ``detectors._duplicates.check_groups`` looks for NaN in float ids only."""
    X, y_noisy, _ = digits_features
    ids = pd.Series([f"video{i // 2}" for i in range(300)], dtype=object)
    ids[3] = None
    with pytest.raises(ValueError, match="(?i)NaN|missing"):
        ConsensusDetector(random_state=0).fit(X, y_noisy, groups=ids)


# ------------------------------------------------------------------ feature scales


def test_consensus_verdicts_do_not_depend_on_the_feature_unit(digits_features):
    """The probe works on "the standardised features", yet features in a tiny unit
    (X * 1e-14: every column's spread below 2.2e-15) are not standardised: its
    ``_Standardiser`` takes any column with a standard deviation under
    ``10 * eps * max(|mean|, 1)`` (an absolute 2.2e-15) for a constant one and leaves it
    unscaled, so the probe sees those columns as near-zero inputs and ``clean_proba_``
    moves by up to 0.5 (one verdict flips; below 1e-15 the probe's C also drops to the
    smallest of the path). scikit-learn's StandardScaler, which it says
    it reproduces, is scale-free. Expected: the same verdicts and probabilities (to
    float32 precision). Cause: ``detectors._probe._Standardiser``'s absolute threshold."""
    X, y_noisy, _ = digits_features
    reference = ConsensusDetector(random_state=0).fit(X, y_noisy)
    tiny = ConsensusDetector(random_state=0).fit(X * 1e-14, y_noisy)
    np.testing.assert_allclose(tiny.clean_proba_, reference.clean_proba_, atol=1e-3)


@pytest.mark.parametrize("detector", [NeighbourDetector(), ConsensusDetector(random_state=0)],
                         ids=["NeighbourDetector", "ConsensusDetector"])
def test_features_below_float32_range_are_not_silently_zeroed(digits_features, detector):
    """Finite float64 features whose values lie below float32's range (X * 1e-50) become
    all zeros in the float32 copy the detectors compare: NeighbourDetector then judges
    300 identical samples and silently returns verdicts that agree with the real ones
    on 80% of the samples; ConsensusDetector fails with "cv=5 folds need at least 5
    distinct samples ... Lower cv", which points at the wrong fix. Values beyond
    float32's range get a clear error ("beyond float32's range ... rescale them
    first"). Expected: the same verdicts as for X (the search and the probe are
    scale-free), or a ValueError that names float32's range. Cause:
    ``data.inputs.check_features`` checks overflow but not underflow."""
    X, y_noisy, _ = digits_features
    reference = type(detector)(**detector.get_params()).fit(X, y_noisy).clean_mask_
    try:
        verdicts = detector.fit(X * 1e-50, y_noisy).clean_mask_
    except ValueError as error:
        assert "float32" in str(error), f"unclear error: {error}"
        return
    np.testing.assert_array_equal(verdicts, reference)
