"""The realised label noise as a transition matrix: :func:`noise_transition_matrix`."""

from __future__ import annotations

import numpy as np

from ._checks import _check_classes, _check_label_vector, _encode, _in_dtype_of, _unique_labels

__all__ = ["noise_transition_matrix"]


def noise_transition_matrix(y_true, y_noisy, *, classes=None, normalize="true"):
    """Empirical label-noise transition matrix.

    Entry ``(i, j)`` is the share (or count) of samples of true class ``i``
    whose noisy label is class ``j``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Clean labels.
    y_noisy : array-like of shape (n_samples,)
        Observed (possibly corrupted) labels.
    classes : array-like of shape (n_classes,), default=None
        Classes indexing the rows and columns, in the order given (as in scikit-learn's
        ``confusion_matrix(labels=...)``). Defaults to the sorted union of the labels
        in ``y_true`` and ``y_noisy``.
    normalize : {"true", None}, default="true"
        ``"true"``: each row is divided by its total so it sums to 1 (a row of
        a class absent from ``y_true`` stays all zeros). ``None``: raw counts.

    Returns
    -------
    T : ndarray of shape (n_classes, n_classes)
        Transition matrix, float for ``normalize="true"``, int for counts.

    Examples
    --------
    >>> from skclip_noise.noise import noise_transition_matrix
    >>> noise_transition_matrix([0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0])
    array([[0.75, 0.25],
           [0.5 , 0.5 ]])
    >>> noise_transition_matrix(["a", "a", "b"], ["a", "b", "b"], normalize=None)
    array([[1, 1],
           [0, 1]])
    """
    if normalize not in ("true", None):
        raise ValueError(f"normalize must be 'true' or None; got {normalize!r}.")
    y_true = _check_label_vector(y_true, "y_true")
    y_noisy = _check_label_vector(y_noisy, "y_noisy")
    if y_true.shape[0] != y_noisy.shape[0]:
        raise ValueError(
            f"y_true has {y_true.shape[0]} labels but y_noisy has {y_noisy.shape[0]}; "
            "pass one noisy label per clean label."
        )
    order = None
    if classes is None:
        class_arr = _unique_labels(
            np.concatenate([y_true.astype(object), y_noisy.astype(object)]),
            "y_true and y_noisy",
        )
        common = np.result_type(y_true.dtype, y_noisy.dtype)
        # int64 with uint64 labels share no integer type (numpy picks float64, which merges labels
        # beyond 2**53): the classes then stay Python objects, compared exactly.
        class_arr = class_arr.astype(object if common.kind == "f" and y_true.dtype.kind in "iu" else common)
        if class_arr.dtype == object:
            y_true, y_noisy = y_true.astype(object), y_noisy.astype(object)
    else:
        class_arr = _check_classes(classes, y_true)
        order = np.searchsorted(class_arr, _in_dtype_of(_check_label_vector(classes, "classes"), class_arr.dtype))
    # confusion_matrix silently drops labels outside `labels`; refuse instead.
    true_codes = _encode(y_true, class_arr, "y_true")
    noisy_codes = _encode(y_noisy, class_arr, "y_noisy")
    n_classes = class_arr.shape[0]
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(true_codes, noisy_codes, labels=np.arange(n_classes))
    if order is not None:
        counts = counts[np.ix_(order, order)]
    if normalize is None:
        return counts
    row_totals = counts.sum(axis=1, keepdims=True)
    return np.divide(
        counts, row_totals, out=np.zeros(counts.shape, dtype=np.float64), where=row_totals > 0
    )
