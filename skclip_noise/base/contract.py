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
from sklearn.utils.validation import check_is_fitted

from ..data.fingerprint import input_fingerprint
from ..data.labels import check_labels
from ..selection import transition_from_verdicts

__all__ = ["Scores", "DetectorMixin", "subset_samples", "pandas_index"]


@dataclass
class Scores:
    """What an estimator says about each (sample, given label) pair.

    ``clean_proba`` is the probability that the given label is right, ``clean_mask``
    the verdict, ``predicted`` the class codes the model prefers; optionally
    ``label_quality``, a graded score that ranks the pairs (defaults to
    ``clean_proba``), ``suggested_proba`` (the model's confidence in
    ``predicted``) and ``noise_transition`` (a K x K estimate of
    ``P(given | true)``; by default estimated from the verdicts).
    """

    clean_proba: np.ndarray
    clean_mask: np.ndarray
    predicted: np.ndarray
    label_quality: np.ndarray | None = None
    suggested_proba: np.ndarray | None = None
    noise_transition: np.ndarray | None = None


def subset_samples(X, mask):
    """``X`` restricted to ``mask``, in the same form (array, paths, Series, Dataset).

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
    return np.asarray(X)[indices]


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

    def _set_detection(self, scores, codes, X_checked, index):
        self._fit_codes = codes
        self._fit_fingerprint = input_fingerprint(X_checked)
        self.clean_proba_ = np.asarray(scores.clean_proba, dtype=np.float64)
        self.clean_mask_ = np.asarray(scores.clean_mask, dtype=bool)
        self.predicted_ = np.asarray(scores.predicted)
        self._training_scores = scores
        self.noise_rate_ = float(1.0 - self.clean_mask_.mean())
        self.noise_transition_ = (
            transition_from_verdicts(codes, self.clean_mask_, self.predicted_, len(self.classes_))
            if scores.noise_transition is None else np.asarray(scores.noise_transition, dtype=np.float64)
        )
        self.label_issues_ = self._label_issues_frame(scores, codes, index)

    def _label_issues_frame(self, scores, codes, index):
        quality = scores.clean_proba if scores.label_quality is None else scores.label_quality
        columns = {
            "is_label_issue": ~np.asarray(scores.clean_mask, dtype=bool),
            "label_quality": np.asarray(quality, dtype=np.float64),
            "given_label": self.classes_[codes],
            "predicted_label": self.classes_[np.asarray(scores.predicted)],
        }
        if scores.suggested_proba is not None:
            columns["suggested_label"] = columns["predicted_label"]
            columns["suggested_label_confidence"] = np.asarray(scores.suggested_proba, dtype=np.float64)
        frame = pd.DataFrame(columns)
        if index is not None and len(index) == len(frame):
            frame.index = index
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
        return self._score_pairs(X_checked, codes)

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

    def fit_predict_clean(self, X, y):
        """``fit(X, y)`` then the clean mask of the training pairs."""
        return self.fit(X, y).clean_mask_.copy()

    def fit_resample(self, X, y):
        """Fit, then return the samples judged clean (imbalanced-learn's sampler verb).

        Returns
        -------
        X_clean, y_clean
            In the same forms as the inputs (an array, a list or Series of paths, a
            ``torch.utils.data.Subset``).
        """
        mask = self.fit(X, y).clean_mask_
        y_clean = y.iloc[np.flatnonzero(mask)] if isinstance(y, pd.Series) else np.asarray(y)[mask]
        return subset_samples(X, mask), y_clean
