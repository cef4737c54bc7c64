"""The detector contract: what every estimator that judges labels exposes after ``fit``.

A verdict is about a pair (sample, given label). After ``fit(X, y)`` such an
estimator has ``classes_``, ``clean_mask_`` (bool, one per training pair),
``clean_proba_`` (probability, in [0, 1], that the given label is right),
``noise_rate_`` and ``label_issues_`` (a pandas DataFrame with cleanlab's columns,
indexed like the input). :class:`DetectorMixin` turns that state into the
contract's methods, the same way for detectors and classifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.utils._metadata_requests import SIMPLE_METHODS, MethodMetadataRequest
from sklearn.utils.validation import check_is_fitted

from ..data.fingerprint import input_fingerprint
from ..data.sequences import is_lazy_sequence
from ..data.labels import check_labels
from ..selection import transition_from_verdicts

__all__ = ["ISSUE_TYPES", "Scores", "DetectorMixin", "issue_types", "subset_samples", "pandas_index",
           "unreadable_scores"]


@dataclass
class Scores:
    """What an estimator says about each (sample, given label) pair.

    Attributes
    ----------
    clean_proba : ndarray of shape (n_samples,)
        The probability that the given label is right.
    clean_mask : ndarray of bool, shape (n_samples,)
        The verdict.
    predicted : ndarray of int, shape (n_samples,)
        The class codes the model prefers; -1 means no prediction: the sample's image
        file could not be read (see :func:`unreadable_scores`).
    label_quality : ndarray or None, default=None
        A graded score that ranks the pairs (None: ``clean_proba``).
    suggested_proba : ndarray or None, default=None
        The model's confidence in ``predicted``.
    noise_transition : ndarray of shape (n_classes, n_classes) or None, default=None
        An estimate of ``P(given | true)`` (None: estimated from the verdicts).
    outlier_proba : ndarray or None, default=None
        The probability that the image belongs to none of the classes, from a
        detector with an outlier outcome.
    """

    clean_proba: np.ndarray
    clean_mask: np.ndarray
    predicted: np.ndarray
    label_quality: np.ndarray | None = None
    suggested_proba: np.ndarray | None = None
    noise_transition: np.ndarray | None = None
    outlier_proba: np.ndarray | None = None


#: ``label_issues_["issue_type"]``: the label is kept; a wrong label; an image of none of
#: the classes; an image file that could not be read.
ISSUE_TYPES = ("ok", "label", "outlier", "unreadable")


def issue_types(clean_mask, predicted, outlier_proba=None):
    """``label_issues_["issue_type"]`` of each pair: ``"ok"`` (kept), ``"outlier"``
    (flagged, and more likely than not an image of none of the classes),
    ``"unreadable"`` (no prediction: the image file could not be read) or ``"label"``
    (any other flagged pair: a wrong label).

    Parameters
    ----------
    clean_mask : array-like of bool, shape (n_samples,)
    predicted : array-like of int, shape (n_samples,)
        -1 where the image file could not be read.
    outlier_proba : array-like of shape (n_samples,), default=None
        The probability that each image is of none of the classes.

    Examples
    --------
    >>> import numpy as np
    >>> issue_types(np.array([True, False, False, False]), np.array([0, 1, 1, -1]),
    ...             np.array([0.0, 0.1, 0.9, 0.0])).tolist()
    ['ok', 'label', 'outlier', 'unreadable']
    """
    clean_mask = np.asarray(clean_mask, dtype=bool)
    types = np.where(clean_mask, "ok", "label").astype(object)
    if outlier_proba is not None:
        types[~clean_mask & (np.asarray(outlier_proba) > 0.5)] = "outlier"
    types[~clean_mask & (np.asarray(predicted) < 0)] = "unreadable"
    return types


def subset_samples(X, mask):
    """``X`` restricted to ``mask``, in the same form (array, paths, Series, Dataset).

    Parameters
    ----------
    X : array, list or Series of paths, or torch Dataset
    mask : array-like of bool, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> subset_samples(["a.png", "b.png", "c.png"], np.array([True, False, True]))
    ['a.png', 'c.png']
    """
    indices = np.flatnonzero(mask)
    if isinstance(X, torch.utils.data.Dataset):
        return torch.utils.data.Subset(X, indices.tolist())
    if isinstance(X, (pd.Series, pd.DataFrame)):
        return X.iloc[indices]
    if isinstance(X, (list, tuple)):
        return type(X)(X[i] for i in indices)
    if is_lazy_sequence(X):  # a Hugging Face image column: read one image at a time, as before
        return torch.utils.data.Subset(X, indices.tolist())
    return np.asarray(X)[indices]


def unreadable_scores(scores, kept, n_samples):
    """The :class:`Scores` of ``n_samples`` pairs from those of the pairs at positions
    ``kept``; the others are pairs whose image file could not be read
    (``skip_unreadable=True``): label issues (``clean_mask`` False, ``clean_proba``
    and ``label_quality`` 0) with no prediction (``predicted`` -1,
    ``suggested_proba`` NaN).

    Examples
    --------
    >>> import numpy as np
    >>> scores = Scores(np.array([0.9, 0.2]), np.array([True, False]), np.array([1, 0]))
    >>> full = unreadable_scores(scores, np.array([0, 2]), 3)
    >>> full.clean_mask.tolist(), full.clean_proba.tolist(), full.predicted.tolist()
    ([True, False, False], [0.9, 0.0, 0.2], [1, -1, 0])
    """
    kept = np.asarray(kept, dtype=np.int64)
    if len(kept) == n_samples:
        return scores

    def full(values, fill, dtype):
        if values is None:
            return None
        out = np.full(n_samples, fill, dtype=dtype)
        out[kept] = np.asarray(values)
        return out

    return Scores(
        full(scores.clean_proba, 0.0, np.float64),
        full(scores.clean_mask, False, bool),
        full(scores.predicted, -1, np.int64),
        label_quality=full(scores.label_quality, 0.0, np.float64),
        suggested_proba=full(scores.suggested_proba, np.nan, np.float64),
        noise_transition=scores.noise_transition,
        outlier_proba=full(scores.outlier_proba, np.nan, np.float64),
    )


#: The ``attrs`` key of a ``label_issues_`` whose index is a shuffled ``0 .. n-1`` (a
#: shuffled data frame's): that index in fit order, since the report would otherwise read
#: it as the positions of a table sorted after the fit (``label_issues.csv`` read back).
FIT_ORDER_ATTR = "fit_order_index"


def reorders_positions(index):
    """Whether ``index`` is an integer reordering of ``0 .. n-1`` other than the identity."""
    values = np.asarray(index)
    return (values.dtype.kind in "iu" and not np.array_equal(values, np.arange(len(values)))
            and np.array_equal(np.sort(values), np.arange(len(values))))


def pandas_index(*candidates):
    """The index of the first pandas object among the inputs (``label_issues_`` keeps it)."""
    for candidate in candidates:
        if isinstance(candidate, (pd.Series, pd.DataFrame)):
            return candidate.index
    return None


class DetectorMixin:
    """The post-fit detector contract, for every estimator that judges its labels.

    The estimator's ``fit`` calls :meth:`_set_detection` with the :class:`Scores`
    of the training pairs; it implements ``_score_pairs(X_checked, codes)`` for new
    pairs and ``_check_X(X, reset=False)`` for inputs. Then ``predict_clean(X, y=None)``
    and ``clean_proba(X, y=None)`` judge pairs (``y`` may be omitted only for the
    data ``fit`` saw, checked by a fingerprint), ``fit_predict_clean(X, y)`` fits
    and returns ``clean_mask_``, and ``fit_resample(X, y)`` returns the clean subset
    (imbalanced-learn's sampler verb).
    """

    def _set_detection(self, scores, codes, X_checked, index, *, kept=None):
        """The contract's fitted state from the :class:`Scores` of the training pairs.

        ``kept``: when the model was fitted on some samples only (the readable image
        files, ``skip_unreadable=True``), their positions; ``scores`` are theirs and
        the other samples are judged as unreadable (:func:`unreadable_scores`). The
        fingerprint is always the full X's, so ``predict_clean(X)`` covers every sample.
        """
        codes = np.asarray(codes)
        self._fit_codes = codes if kept is None else codes[kept]  # the codes the model fitted
        if kept is not None:
            scores = unreadable_scores(scores, kept, len(codes))
        self._fit_fingerprint = input_fingerprint(X_checked)
        self.clean_proba_ = np.asarray(scores.clean_proba, dtype=np.float64)
        self.clean_mask_ = np.asarray(scores.clean_mask, dtype=bool)
        self.predicted_ = np.asarray(scores.predicted)
        self._training_scores = scores
        judged = self.predicted_ >= 0  # all but unreadable image files
        self.noise_rate_ = float(1.0 - self.clean_mask_[judged].mean()) if judged.any() else 1.0
        self.noise_transition_ = (
            transition_from_verdicts(codes[judged], self.clean_mask_[judged], self.predicted_[judged],
                                     len(self.classes_))
            if scores.noise_transition is None else np.asarray(scores.noise_transition, dtype=np.float64)
        )
        self.label_issues_ = self._label_issues_frame(scores, codes, index)

    def _label_issues_frame(self, scores, codes, index):
        quality = scores.clean_proba if scores.label_quality is None else scores.label_quality
        predicted = np.asarray(scores.predicted)
        types = issue_types(scores.clean_mask, predicted, scores.outlier_proba)
        columns = {
            "is_label_issue": ~np.asarray(scores.clean_mask, dtype=bool),
            "label_quality": np.asarray(quality, dtype=np.float64),
            "given_label": self.classes_[codes],
            "predicted_label": _labels_or_missing(self.classes_, predicted),
            "issue_type": pd.Categorical(types, categories=ISSUE_TYPES),
        }
        if scores.outlier_proba is not None:
            columns["outlier_score"] = np.asarray(scores.outlier_proba, dtype=np.float64)
        if scores.suggested_proba is not None:
            # An image of no class has no right label to suggest.
            suggested = np.where(types == "outlier", -1, predicted)
            confidence = np.where(types == "outlier", np.nan, np.asarray(scores.suggested_proba, dtype=np.float64))
            columns["suggested_label"] = _labels_or_missing(self.classes_, suggested)
            columns["suggested_label_confidence"] = confidence
        frame = pd.DataFrame(columns)
        if index is not None and len(index) == len(frame):
            frame.index = index
            if reorders_positions(index):  # would read as a sorted table of positions: say which row is which
                frame.attrs[FIT_ORDER_ATTR] = tuple(index.tolist())  # a tuple: pandas compares attrs
        return frame

    def _scores_for(self, X, y):
        check_is_fitted(self, "clean_mask_")
        X_checked = self._check_X(X, reset=False)
        if y is None:
            # The fingerprint hashes all of an array or feature table, and every path with
            # its file's size and modification time (see input_fingerprint).
            if X_checked.n_samples != len(self.clean_mask_):
                raise ValueError(
                    "A clean/noisy verdict is about an (image, label) pair: pass y for data "
                    f"other than the data this estimator was fitted on (X has "
                    f"{X_checked.n_samples} samples, fit saw {len(self.clean_mask_)})."
                )
            if input_fingerprint(X_checked) != self._fit_fingerprint:
                raise ValueError(
                    "A clean/noisy verdict is about an (image, label) pair: pass y for data "
                    "other than the data this estimator was fitted on. X has as many samples "
                    "as the training data but its content (or, for paths, a file's size or "
                    "modification time) changed since fit; pass y, or refit on the new data."
                )
            return self._training_scores
        codes = self._encoding.encode(check_labels(y, X_checked.n_samples))
        if self._skips_unreadable and X_checked.kind == "paths":
            return self._score_readable_pairs(X_checked, codes)
        return self._score_pairs(X_checked, codes)

    def _score_readable_pairs(self, X_checked, codes):
        """New pairs with ``skip_unreadable=True``: the pairs whose image file cannot be
        read are label issues (:func:`unreadable_scores`), with a warning."""
        X_readable, kept, unreadable = self._fitted_readable_subset(X_checked)
        try:
            scores = self._score_pairs(X_readable, codes[kept]) if len(kept) else None
        finally:
            self._drop_prefetched()
        self._warn_unreadable(unreadable, X_checked.n_samples,
                              "their pairs are judged label issues (not clean, clean probability 0)")
        if scores is None:
            n_samples = X_checked.n_samples
            return Scores(np.zeros(n_samples), np.zeros(n_samples, dtype=bool), np.full(n_samples, -1))
        return unreadable_scores(scores, kept, X_checked.n_samples)

    def predict_clean(self, X, y=None):
        """Whether each given label is judged right.

        Parameters
        ----------
        X : images or features
        y : array-like of shape (n_samples,), default=None
            The labels to judge. Omit it only for the data ``fit`` saw.

        Returns
        -------
        clean : ndarray of bool, shape (n_samples,)
        """
        return np.asarray(self._scores_for(X, y).clean_mask, dtype=bool).copy()

    def clean_proba(self, X, y=None):
        """Probability that each given label is right (see :meth:`predict_clean`)."""
        return np.asarray(self._scores_for(X, y).clean_proba, dtype=np.float64).copy()

    def fit_predict_clean(self, X, y, **fit_params):
        """``fit(X, y, **fit_params)`` then the clean mask of the training pairs; ``fit_params``
        go to :meth:`fit` as :meth:`fit_resample`'s do (e.g. ``pred_probs``, ``groups``)."""
        return self.fit(X, y, **fit_params).clean_mask_.copy()

    def _get_metadata_request(self):
        """scikit-learn's metadata requests, with ``fit_resample`` asking for what ``fit``
        asks for: imbalanced-learn adds that method to the routing when it is imported, and
        its Pipeline routes a sampler's ``fit`` parameters to it."""
        requests = super()._get_metadata_request()
        if "fit_resample" in SIMPLE_METHODS:
            requests.fit_resample = MethodMetadataRequest(owner=self, method="fit_resample",
                                                          requests=dict(requests.fit.requests))
        return requests

    def fit_resample(self, X, y, **fit_params):
        """Fit, then return the samples judged clean (imbalanced-learn's sampler verb).

        ``fit_params`` go to :meth:`fit` (e.g. ``pred_probs``, ``groups``); with metadata
        routing on, imbalanced-learn's Pipeline routes to this method what the detector
        requests for ``fit`` (``set_fit_request(pred_probs=True)``).

        Returns
        -------
        X_clean, y_clean
            In the same forms as the inputs (an array, a list or Series of paths, a
            ``torch.utils.data.Subset``).
        """
        mask = self.fit(X, y, **fit_params).clean_mask_
        y_clean = y.iloc[np.flatnonzero(mask)] if isinstance(y, pd.Series) else np.asarray(y)[mask]
        return subset_samples(X, mask), y_clean


def _labels_or_missing(classes, codes):
    """``classes[codes]``, missing where ``codes`` is -1 (no prediction): ``pd.NA`` in a
    nullable integer array for integer classes, else None in an object array."""
    missing = codes < 0
    labels = classes[np.where(missing, 0, codes)]
    if not missing.any():
        return labels
    if labels.dtype.kind in "iu":
        labels = pd.array(labels, dtype="UInt64" if labels.dtype == np.uint64 else "Int64")
        labels[missing] = pd.NA
        return labels
    labels = labels.astype(object)
    labels[missing] = None
    return labels
