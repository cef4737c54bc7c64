"""Label validation and encoding: ints or strings in, class codes and names out."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["LabelEncoding", "check_labels"]


def check_labels(y, n_samples=None, *, name="y"):
    """Return ``y`` as a new 1-D numpy array after checking it.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Integer or string labels. A pandas Series or a list works.
    n_samples : int, default=None
        When given, the length ``y`` must have.
    name : str, default="y"
        Name used in error messages.

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
        y = _from_object_labels(y, name)
    if y.ndim == 2 and y.shape[1] == 1:
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
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iuUSb":
        raise ValueError(f"{name} must hold integer or string labels; got dtype {y.dtype}.")
    if n_samples is not None and len(y) != n_samples:
        raise ValueError(
            f"X and {name} have different lengths: {n_samples} samples but {len(y)} labels."
        )
    return y


def _is_missing(value):
    """None, NaN, pandas.NA or NaT (any scalar that is not equal to itself)."""
    if value is None:
        return True
    try:
        return bool(np.ndim(value) == 0 and value != value)
    except (TypeError, ValueError):  # pandas.NA refuses bool()
        return True


def _from_object_labels(y, name):
    missing = [i for i, v in enumerate(y) if _is_missing(v)]
    if missing:
        raise ValueError(
            f"{name} contains missing values (None/NaN/pandas NA) at position(s) {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}; every sample needs a label. Drop those "
            "samples (from X too) or fill them in."
        )
    kinds = {"str" if isinstance(v, str) else "number" if isinstance(v, (int, float, np.number)) else type(v).__name__ for v in y}
    if len(kinds) > 1:
        raise ValueError(f"{name} mixes label types {sorted(kinds)}; use all ints or all strings.")
    if kinds == {"str"}:
        return y.astype(str)
    if kinds == {"number"}:
        return np.array(y.tolist())
    return y


class LabelEncoding:
    """Maps labels to codes ``0..K-1`` in sorted order and back, with class names.

    The order of ``classes`` is the order of every per-class output
    (``predict_proba`` columns, prompt rows).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Training labels, ints or strings.
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
        y = check_labels(y)
        self.classes, self._codes = np.unique(y, return_inverse=True)
        if len(self.classes) < min_classes:
            raise ValueError(
                f"y has {len(self.classes)} distinct label(s) ({self.classes.tolist()}); "
                f"at least {min_classes} classes are needed to tell right labels from wrong ones."
            )
        self.class_names = _resolve_class_names(self.classes, class_names)

    @property
    def codes(self):
        """Codes of the labels the encoding was built from."""
        return self._codes.copy()

    def encode(self, y, *, name="y"):
        """Codes of ``y``; labels not seen at fit raise a clear ``ValueError``."""
        y = check_labels(y, name=name)
        if y.dtype.kind != self.classes.dtype.kind and not (
            y.dtype.kind in "iu" and self.classes.dtype.kind in "iu"
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


def _resolve_class_names(classes, class_names):
    if class_names is None:
        return [str(c) for c in classes]
    if isinstance(class_names, Mapping):
        missing = [c for c in classes.tolist() if c not in class_names]
        if missing:
            raise ValueError(
                f"class_names has no entry for label(s) {missing[:10]}; give a name for every class."
            )
        return [str(class_names[c]) for c in classes.tolist()]
    names = [str(n) for n in class_names]
    if len(names) != len(classes):
        raise ValueError(
            f"class_names has {len(names)} entries but y has {len(classes)} classes "
            f"({classes.tolist()[:10]}); give one name per class in sorted label order, "
            "or a mapping from label to name."
        )
    return names
