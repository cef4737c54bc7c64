"""Label validation and encoding: ints or strings in, class codes and names out."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning

from .._warnings import warn_user

__all__ = [
    "LabelEncoding",
    "check_distinct_prompts",
    "check_label_codes",
    "check_labels",
    "check_pred_probs",
    "check_proba_array",
    "is_missing",
    "label_text",
    "labels_from_objects",
    "missing_positions",
]

#: How far a row of probabilities may sum from 1 (float32 softmax outputs).
ROW_SUM_TOLERANCE = 1e-3


def check_labels(y, n_samples=None, *, name="y", samples_name="X", keep_float=False):
    """Return ``y`` as a new 1-D numpy array after checking it.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Integer or string labels (whole-number floats count as integers). A pandas
        Series or a list works.
    n_samples : int, default=None
        When given, the length ``y`` must have.
    name : str, default="y"
        Name used in error messages.
    samples_name : str, default="X"
        Name of what ``n_samples`` counts, in error messages.
    keep_float : bool, default=False
        Return whole-number float labels as floats (the estimators' ``classes_`` keep
        y's type, as scikit-learn's do) instead of int64.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        A copy; the caller's object is never modified.

    Examples
    --------
    >>> check_labels(["cat", "dog"], 2)
    array(['cat', 'dog'], dtype='<U3')
    """
    if y is None:
        raise ValueError(f"{name} is required: pass one label per sample.")
    if isinstance(y, (list, tuple)):
        # numpy would silently turn ["a", 1] into strings: look at the raw types first.
        y = np.array(y, dtype=object)
    y = np.array(y, copy=True)
    if y.dtype.kind == "O" and y.ndim == 1:
        y = labels_from_objects(y, name)
    if y.ndim == 2 and y.shape[1] == 1:
        warn_user(
            f"A column-vector {name} was passed when a 1d array was expected. Please change the shape of "
            f"{name} to (n_samples,), for example using ravel().",
            DataConversionWarning,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one label per sample); got an array of shape {y.shape}."
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains missing (NaN) or infinite values; every sample needs a label.")
        if not np.all(y == np.round(y)):
            raise ValueError(
                f"{name} holds non-integer floats; labels must be class ids or names, "
                "not continuous targets."
            )
        if not keep_float:
            y = y.astype(np.int64)
    elif y.dtype.kind not in "iuUSb":
        raise ValueError(f"{name} must hold integer or string labels; got dtype {y.dtype}.")
    if n_samples is not None and len(y) != n_samples:
        raise ValueError(
            f"{samples_name} and {name} have different lengths: {n_samples} samples but {len(y)} labels."
        )
    return y


def label_text(value):
    """A label (or sample id) as plain text, the form ``decisions.csv`` and the report
    hold: numpy scalars as Python values, byte labels decoded as the detectors read
    them, a missing value as ``""``.

    Examples
    --------
    >>> label_text(b"cat"), label_text(np.int64(3)), label_text(np.float64(3.0)), label_text(None)
    ('cat', '3', '3', '')
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, float) and value.is_integer():  # float class 2.0 is label 2, as the detectors read it
        value = int(value)
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def missing_positions(values):
    """Positions of the missing entries (NaN, None, pandas NA or NaT) of a 1-D array."""
    if values.dtype.kind == "f":
        return np.flatnonzero(np.isnan(values))
    if values.dtype.kind == "O":
        return np.flatnonzero([is_missing(value) for value in values])
    return np.zeros(0, dtype=np.int64)


def is_missing(value):
    """None, NaN, pandas.NA or NaT (any scalar that is not equal to itself)."""
    if value is None:
        return True
    try:
        return bool(np.ndim(value) == 0 and value != value)
    except (TypeError, ValueError):  # pandas.NA refuses bool()
        return True


def labels_from_objects(y, name):
    """A 1-D object array of labels as ints, floats or strings; refused when a label is
    missing or the labels mix types (numpy would silently turn ``[0, "3"]`` into text)."""
    missing = missing_positions(y)
    if missing.size:
        raise ValueError(
            f"{name} contains missing values (None/NaN/pandas NA) at position(s) {missing[:10].tolist()}"
            f"{' ...' if missing.size > 10 else ''}; every sample needs a label. Drop those "
            "samples (from X too) or fill them in."
        )
    kinds = {"str" if isinstance(v, str) else "bool" if isinstance(v, (bool, np.bool_))
             else "number" if isinstance(v, (int, float, np.number)) else type(v).__name__ for v in y}
    if len(kinds) > 1:
        raise ValueError(f"{name} mixes label types {sorted(kinds)}; use all ints or all strings.")
    if kinds == {"str"}:
        return y.astype(str)
    if kinds in ({"number"}, {"bool"}):
        return np.array(y.tolist())
    return y


class LabelEncoding:
    """Maps labels to codes ``0..K-1`` in sorted order and back, with class names.

    The order of ``classes`` is the order of every per-class output
    (``predict_proba`` columns, prompt rows).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Training labels, ints or strings (whole-number floats keep their type in
        ``classes``).
    class_names : sequence of str or mapping, default=None
        Readable class names for the text prompts. With string labels the labels
        themselves are the names and this may be omitted. A sequence is read in
        sorted label order; a mapping goes from label to name.
    min_classes : int, default=2
        Fewer distinct labels raise a ``ValueError``.

    Examples
    --------
    >>> enc = LabelEncoding(["dog", "cat", "dog"])
    >>> enc.classes
    array(['cat', 'dog'], dtype='<U3')
    >>> enc.encode(["dog", "cat"])
    array([1, 0])
    >>> enc.class_names
    ['cat', 'dog']
    """

    def __init__(self, y, class_names=None, *, min_classes=2):
        y = check_labels(y, keep_float=True)
        self.classes, self._codes = np.unique(y, return_inverse=True)
        if len(self.classes) < min_classes:
            raise ValueError(
                f"y has {len(self.classes)} distinct label(s) ({self.classes.tolist()}); "
                f"at least {min_classes} classes are needed to tell right labels from wrong ones."
            )
        self.class_names = _resolve_class_names(self.classes, class_names)
        if self.classes.dtype.kind in "US":
            _warn_about_spelling_variants(self.classes)

    @property
    def codes(self):
        """Codes of the labels the encoding was built from."""
        return self._codes.copy()

    def encode(self, y, *, name="y"):
        """Codes of ``y``; labels not seen at fit raise a clear ``ValueError``."""
        y = check_labels(y, name=name, keep_float=True)
        if y.dtype.kind != self.classes.dtype.kind and not (
            y.dtype.kind in "iuf" and self.classes.dtype.kind in "iuf"
        ):
            raise ValueError(
                f"{name} holds {y.dtype.kind!r}-kind labels but the estimator was fitted on "
                f"labels {self.classes.tolist()[:10]}; use the same label type."
            )
        codes = np.searchsorted(self.classes, y)
        codes = np.clip(codes, 0, len(self.classes) - 1)
        unseen = self.classes[codes] != y
        if unseen.any():
            raise ValueError(
                f"{name} contains labels not seen during fit: {np.unique(y[unseen]).tolist()[:10]}. "
                f"Known classes: {self.classes.tolist()[:20]}."
            )
        return codes

    def decode(self, codes):
        """Labels of integer codes."""
        return self.classes[np.asarray(codes)]


def _spelling(name):
    """``name`` as text with unicode composed (NFC "é" is NFD "e" + accent) and spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", str(name)).split())


def check_distinct_prompts(class_names):
    """Refuse class names that give two classes one text prompt: the prompts write an
    underscore as a space, and CLIP's tokenizer lower-cases and collapses spaces, so
    ``"big_cat"`` and ``"Big cat"`` would get one text embedding and every sample of the two
    an even split between them.

    Examples
    --------
    >>> check_distinct_prompts(["cat", "dog"])
    >>> check_distinct_prompts(["big_cat", "Big cat"])
    Traceback (most recent call last):
    ...
    ValueError: classes 'big_cat' and 'Big cat' get the same text prompt ...
    """
    seen = {}
    for name in class_names:
        prompt_form = _spelling(str(name).replace("_", " ")).lower()  # as CLIP's tokenizer reads it
        if prompt_form in seen:
            raise ValueError(
                f"classes {seen[prompt_form]!r} and {name!r} get the same text prompt (prompts write '_' as a "
                "space, and CLIP reads text in lower case), so they could not be told apart. Give each class "
                "a name of its own with class_names=[...] (or merge the labels first)."
            )
        seen[prompt_form] = name


def _warn_about_spelling_variants(classes):
    """Warn when string classes differ only in case, spaces or unicode composition ("Cat", "cat ",
    "cat"; "Café" typed and "Café" from a macOS file name): merged
    data sets spell one class several ways, and each spelling would be judged a class of
    its own, its members' labels against the others'."""
    spellings = {}
    for label in classes.tolist():
        spellings.setdefault(_spelling(label).casefold(), []).append(label)
    variants = [names for names in spellings.values() if len(names) > 1]
    if variants:
        shown = "; ".join(" and ".join(repr(name) for name in names) for names in variants[:5])
        warn_user(
            f"y has classes that differ only in case or spaces ({shown}{'; ...' if len(variants) > 5 else ''}) "
            "or in how their accents are encoded (unicode composition): each is judged a class of its own. If "
            "they are one class, merge them before fitting, e.g. "
            "y = [unicodedata.normalize('NFC', ' '.join(label.split())).lower() for label in y].",
            UserWarning,
        )


def _resolve_class_names(classes, class_names):
    if class_names is None:
        return [label_text(c) for c in classes.tolist()]
    if isinstance(class_names, Mapping):
        missing = [c for c in classes.tolist() if c not in class_names]
        if missing:
            raise ValueError(
                f"class_names has no entry for label(s) {missing[:10]}; give a name for every class."
            )
        names = [label_text(class_names[c]) for c in classes.tolist()]
    else:
        names = [label_text(n) for n in class_names]
    if len(names) != len(classes):
        raise ValueError(
            f"class_names has {len(names)} entries but y has {len(classes)} classes "
            f"({classes.tolist()[:10]}); give one name per class in sorted label order, "
            "or a mapping from label to name."
        )
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ValueError(
            f"class_names names two classes {repeated[0]!r}: their text prompts would be the same and the "
            "classes could not be told apart. Give each class its own name (or merge the labels first)."
        )
    return names


def check_label_codes(labels, n_classes=None, n_samples=None, name="labels"):
    """``labels`` as a 1-D int64 array of codes in ``[0, n_classes)``.

    Examples
    --------
    >>> from skclip_noise.data.labels import check_label_codes
    >>> check_label_codes([0, 2, 1], n_classes=3).tolist()
    [0, 2, 1]
    """
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of integer class codes; got shape {arr.shape}.")
    missing = missing_positions(arr)
    if missing.size:
        raise ValueError(
            f"{name} contains missing values (NaN/None/pandas NA) at position(s) {missing[:10].tolist()}"
            f"{' ...' if missing.size > 10 else ''}; every sample needs a label. Drop those samples (and their "
            "rows of pred_probs and features) or fill them in."
        )
    integral = arr.dtype.kind in "iu" or (
        arr.dtype.kind == "f" and np.isfinite(arr).all() and np.array_equal(arr, np.round(arr))
    )
    if not integral:
        raise ValueError(
            f"{name} must hold integer class codes 0..K-1; got {arr.dtype} values. "
            "Encode class names first, e.g. codes = np.unique(y, return_inverse=True)[1]."
        )
    codes = arr.astype(np.int64)
    if n_samples is not None and codes.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {codes.shape[0]} entries but there are {n_samples} samples "
            "(rows of pred_probs or features); pass one label per sample."
        )
    upper = np.inf if n_classes is None else n_classes
    bad = (codes < 0) | (codes >= upper)
    if bad.any():
        top = "K-1" if n_classes is None else n_classes - 1
        raise ValueError(f"{name} contains codes {np.unique(codes[bad])[:5].tolist()} outside the range 0..{top}.")
    return codes


def dense_numeric_array(values, name):
    """``values`` as a numpy array, without a copy where it already is one. A table of
    pandas' nullable or pyarrow numbers becomes float64 (NaN where missing), as the
    detectors read such a feature table; a sparse matrix is refused, naming the fix
    (``np.asarray`` would make it a 0-d object array)."""
    if sp.issparse(values):
        raise TypeError(f"{name} is a scipy sparse matrix; pass a dense array instead ({name}.toarray()).")
    if isinstance(values, pd.DataFrame) and any(not isinstance(dtype, np.dtype) for dtype in values.dtypes) \
            and all(pd.api.types.is_numeric_dtype(dtype) for dtype in values.dtypes):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values)


def rows_sum_to_100(probs):
    """Whether every row of ``probs`` sums to 100: percentages, not probabilities."""
    return bool(np.allclose(probs.sum(axis=1), 100, atol=0.1))


def check_proba_array(pred_probs, name="pred_probs"):
    """``pred_probs`` as a 2-D array of class probabilities, refused before any work when
    it is not: not numeric, not (n_samples >= 1, n_classes >= 2), not finite, or outside
    [0, 1] (logits). float32 and float64 arrays are returned as they are (not copied),
    other numbers as float64. Two reductions over the array, no row by row check: the
    selection rules run it on the detector's own (n, K) arrays at every step.

    Examples
    --------
    >>> from skclip_noise.data.labels import check_proba_array
    >>> check_proba_array([[0.9, 0.1], [0.2, 0.8]]).dtype
    dtype('float64')
    """
    probs = dense_numeric_array(pred_probs, name)
    if probs.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a numeric array; got dtype {probs.dtype}.")
    if probs.dtype not in (np.float32, np.float64):  # ints, float16, long double
        probs = probs.astype(np.float64)
    if probs.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_classes); got shape {probs.shape}. Pass the output "
            "of predict_proba, e.g. cross_val_predict(clf, X, y, method='predict_proba')."
        )
    if probs.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 class columns; got shape {probs.shape}.")
    if probs.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {probs.shape}); pass at least one sample.")
    low, high = probs.min(), probs.max()  # NaN propagates through both
    if not (np.isfinite(low) and np.isfinite(high)):
        rows = np.flatnonzero(~np.isfinite(probs).all(axis=1))[:5].tolist()
        raise ValueError(
            f"{name} contains NaN or infinity (rows {rows}); the model diverged. Pass finite probabilities."
        )
    if low < -ROW_SUM_TOLERANCE or high > 1 + ROW_SUM_TOLERANCE:
        if low >= 0 and high <= 100 + ROW_SUM_TOLERANCE and rows_sum_to_100(probs):
            raise ValueError(f"{name} must hold probabilities in [0, 1]; its rows sum to 100, so they look like "
                             "percentages: divide them by 100.")
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; it holds [{low:.3g}, {high:.3g}], "
            "which look like scores or logits: apply a softmax first, e.g. scipy.special.softmax(scores, axis=1)."
        )
    return probs


def _columns_in_class_order(table, classes):
    """A ``pred_probs`` table's columns in the order of ``classes``: by name where they
    name the classes, by position where they are numbered ``0 .. K-1`` (a bare
    ``DataFrame(model.predict_proba(X))``); other names are refused, since reading
    them by position could silently pair a column with the wrong class."""
    columns, wanted = pd.Index(table.columns), pd.Index(list(classes))
    if columns.equals(wanted) or columns.equals(pd.RangeIndex(len(columns))):
        return table
    if columns.is_unique and len(columns) == len(wanted) and wanted.isin(columns).all():
        return table[list(wanted)]
    as_text = pd.Index([label_text(c) for c in wanted.tolist()])  # a CSV's headers: "0", "1", ... for int labels
    if columns.is_unique and len(columns) == len(wanted) and as_text.is_unique and as_text.isin(columns).all():
        return table[list(as_text)]
    shown = ", ".join(map(repr, list(columns)[:10])) + (", ..." if len(columns) > 10 else "")
    raise ValueError(
        f"pred_probs is a table whose columns ({shown}) are not the classes "
        f"({', '.join(map(repr, list(wanted)[:10]))}{', ...' if len(wanted) > 10 else ''}): name one column "
        "after each class (any order), or pass an array whose columns follow the sorted order of the classes."
    )


def check_pred_probs(pred_probs, *, n_samples=None, classes=None):
    """Return out-of-sample class probabilities as a float array after checking them.

    float32 and float64 arrays are returned as they are (not copied); other numbers as
    float64.

    Parameters
    ----------
    pred_probs : array-like of shape (n_samples, n_classes)
        One row of class probabilities per sample (a ``predict_proba`` output).
    n_samples : int, default=None
        When given, the number of rows it must have.
    classes : array-like, default=None
        When given, the classes its columns stand for, in order: one column each. A
        DataFrame whose columns are named by these classes (or by their text, as a CSV's
        header has them) is then read by name, in any order; one with other column names
        than ``0 .. n_classes - 1`` (read by position) is refused.

    Returns
    -------
    pred_probs : ndarray of shape (n_samples, n_classes)

    Examples
    --------
    >>> from skclip_noise.data.labels import check_pred_probs
    >>> check_pred_probs([[0.9, 0.1], [0.2, 0.8]], n_samples=2, classes=["cat", "dog"]).shape
    (2, 2)
    """
    if isinstance(pred_probs, pd.DataFrame) and classes is not None:
        pred_probs = _columns_in_class_order(pred_probs, classes)
    probs = dense_numeric_array(pred_probs, "pred_probs")
    if probs.ndim == 2 and n_samples is not None and probs.shape[0] != n_samples:
        raise ValueError(
            f"pred_probs has {probs.shape[0]} rows but there are {n_samples} labels; pass one row of "
            "class probabilities per sample."
        )
    if probs.ndim == 2 and classes is not None and probs.shape[1] != len(classes):
        shown = ", ".join(map(str, list(classes)[:10])) + (", ..." if len(classes) > 10 else "")
        raise ValueError(
            f"pred_probs has {probs.shape[1]} columns but there are {len(classes)} classes ({shown}); "
            "pass one column per class, in the sorted order of the classes (a classifier's classes_; "
            "where a function takes classes=, list there the classes that never occur in the labels)."
        )
    probs = check_proba_array(probs)
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"pred_probs rows must sum to 1; {int(off.sum())} rows do not (row {row} sums to "
            f"{sums[row]:.4g}). Apply a softmax or divide each row by its sum."
        )
    return probs
