"""The detector contract shared by every noisy-label detector.

A detector judges pairs (image, given label). After ``fit(X, y)`` it exposes
``classes_``, ``clean_proba_`` (probability that the given label is right),
``clean_mask_`` (bool verdict), ``noise_rate_`` and ``label_issues_`` (cleanlab's
columns, indexed like the input). Subclasses implement two hooks:

- ``_fit_scores(X_checked, codes, encoding)`` fits and returns a :class:`Scores` for
  the training pairs;
- ``_score_pairs(X_checked, codes)`` scores new pairs with the fitted state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_array, check_is_fitted

from ..data.inputs import check_image_input, input_fingerprint
from ..data.labels import LabelEncoding, check_labels
from ..embedder import ImageEmbedder

__all__ = ["BaseNoiseDetector", "Scores", "subset_samples"]


@dataclass
class Scores:
    """What a detector says about each (sample, given label) pair."""

    clean_proba: np.ndarray  # float in [0, 1]
    clean_mask: np.ndarray  # bool
    predicted: np.ndarray  # class codes the model prefers


def subset_samples(X, mask):
    """``X`` restricted to ``mask``, in the same form (array, paths, Series, Dataset)."""
    indices = np.flatnonzero(mask)
    if isinstance(X, torch.utils.data.Dataset):
        return torch.utils.data.Subset(X, indices.tolist())
    if isinstance(X, (pd.Series, pd.DataFrame)):
        return X.iloc[indices]
    if isinstance(X, (list, tuple)):
        return type(X)(X[i] for i in indices)
    return np.asarray(X)[indices]


def _pandas_index(*candidates):
    """The index of the first pandas object among the inputs (label_issues_ keeps it)."""
    for candidate in candidates:
        if isinstance(candidate, (pd.Series, pd.DataFrame)):
            return candidate.index
    return None


def _is_table(X):
    """Whether X is a 2-D table (array, DataFrame, nested list) rather than images or paths."""
    if isinstance(X, (torch.utils.data.Dataset, str, os.PathLike)):
        return False
    ndim = getattr(X, "ndim", None)
    if ndim is None and isinstance(X, (list, tuple)) and X and not isinstance(X[0], (str, os.PathLike)):
        ndim = np.ndim(X[0]) + 1
    return ndim == 2


class BaseNoiseDetector(BaseEstimator):
    """Base class of the detectors; not for direct use.

    Every detector judges pairs (sample, given label) and shares this contract.
    After ``fit(X, y)``:

    - ``classes_``: the sorted labels;
    - ``clean_mask_``: bool, one verdict per training pair (True = label kept);
    - ``clean_proba_``: probability, in [0, 1], that each given label is right;
    - ``noise_rate_``: the share of pairs judged noisy;
    - ``label_issues_``: a pandas DataFrame with cleanlab's columns
      ``is_label_issue``, ``label_quality``, ``given_label`` and
      ``predicted_label``, indexed like the input.

    ``predict_clean(X, y=None)`` and ``clean_proba(X, y=None)`` judge new pairs;
    ``y`` may be omitted only for the data ``fit`` saw (checked by a cheap
    fingerprint). ``fit_predict_clean(X, y)`` fits and returns ``clean_mask_``;
    ``fit_resample(X, y)`` returns the clean subset, imbalanced-learn's sampler
    verb, so a detector drops into an imbalanced-learn ``Pipeline`` before any
    classifier.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise.detectors import BaseNoiseDetector, GMMLossDetector
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(-2, 1, (40, 4)), rng.normal(2, 1, (40, 4))]
    >>> y = np.repeat(["cat", "dog"], 40)
    >>> y[:4] = "dog"  # four wrong labels
    >>> detector = GMMLossDetector(lr=1e-2, device="cpu", random_state=0).fit(X, y)
    >>> isinstance(detector, BaseNoiseDetector), detector.classes_.tolist()
    (True, ['cat', 'dog'])
    >>> list(detector.label_issues_.columns)
    ['is_label_issue', 'label_quality', 'given_label', 'predicted_label']
    >>> bool(np.array_equal(detector.predict_clean(X), detector.clean_mask_))
    True
    >>> X_clean, y_clean = detector.fit_resample(X, y)
    >>> len(y_clean) == int(detector.clean_mask_.sum())
    True
    >>> detector.predict_clean(X[:2], ["dog", "cat"]).shape  # new pairs need labels
    (2,)
    """

    #: whether X may be a 2-D array of precomputed features
    _accepts_features = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.two_d_array = self._accepts_features
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        return tags

    # --------------------------------------------------------------- to implement

    def _fit_scores(self, X_checked, codes, encoding):  # pragma: no cover - abstract
        raise NotImplementedError

    def _score_pairs(self, X_checked, codes):  # pragma: no cover - abstract
        raise NotImplementedError

    # -------------------------------------------------------------------- helpers

    def _check_X(self, X, *, reset):
        if sp.issparse(X) or (self._accepts_features and _is_table(X)):
            # scikit-learn's own errors for sparse, complex and empty tables; object
            # tables of numbers become numeric (NaN is left to check_image_input).
            X = check_array(X, accept_sparse=False, dtype="numeric", ensure_all_finite=False)
        X_checked = check_image_input(X, allow_features=self._accepts_features)
        if X_checked.kind == "features":
            n_features = X_checked.data.shape[1]
            if reset:
                self.n_features_in_ = n_features
            elif hasattr(self, "n_features_in_") and n_features != self.n_features_in_:
                raise ValueError(
                    f"X has {n_features} features, but {type(self).__name__} was fitted with "
                    f"{self.n_features_in_} features."
                )
        elif reset and hasattr(self, "n_features_in_"):
            del self.n_features_in_
        return X_checked

    def _require_class_names(self, encoding):
        """Detectors with text prompts need names for integer labels."""
        if encoding.classes.dtype.kind in "iu" and self.class_names is None:
            raise ValueError(
                f"{type(self).__name__} builds text prompts from class names: pass string labels "
                "or class_names=[...] (one per class, in sorted label order)."
            )

    def _embedder(self, device=None):
        """The frozen feature extractor named by this detector's parameters."""
        return ImageEmbedder(
            self.backbone,
            self.pretrained,
            image_size=getattr(self, "image_size", None),
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            device=self.device if device is None else device,
            mixed_precision=self.mixed_precision,
            cache_dir=self.cache_dir,
            verbose=self.verbose,
        )

    def _features(self, X_checked, device=None):
        """Features of X: X itself when it is a feature array, else frozen embeddings.

        ``device`` overrides the ``device`` parameter: a fitted detector passes the
        device it runs on (its fit-time one, or the CPU on a machine without it).
        """
        if X_checked.kind == "features":
            return X_checked.data
        features = self._embedder(device).fit(None).transform(X_checked.data)
        fitted_width = getattr(self, "n_features_in_", None)  # set when fitted on features
        if fitted_width is not None and features.shape[1] != fitted_width:
            raise ValueError(
                f"{type(self).__name__} was fitted on {fitted_width} features, but {self.backbone} "
                f"embeds these images into {features.shape[1]}; pass features like those of fit, "
                "or images when they were embeddings from this backbone."
            )
        return features

    # -------------------------------------------------------------------- the API

    def fit(self, X, y):
        """Judge every (sample, given label) pair of a training set.

        Parameters
        ----------
        X : images or features
            An image array ``(N, H, W[, 3])``, image paths, a torch Dataset, or (where
            the detector accepts them) a 2-D array of precomputed embeddings.
        y : array-like of shape (n_samples,)
            The given, possibly wrong, labels (ints or strings).

        Returns
        -------
        self
        """
        X_checked = self._check_X(X, reset=True)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "a clean/noisy verdict is about (sample, given label) pairs."
            )
        if X_checked.n_samples < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples of 2 classes; got "
                f"n_samples={X_checked.n_samples}."
            )
        labels = check_labels(y, X_checked.n_samples)
        encoding = LabelEncoding(labels, getattr(self, "class_names", None))
        codes = encoding.codes
        scores = self._fit_scores(X_checked, codes, encoding)
        self.classes_ = encoding.classes
        self.class_names_ = list(encoding.class_names)
        self._encoding = encoding
        self._fit_codes = codes
        self._fit_fingerprint = input_fingerprint(X_checked)
        self._fit_index = _pandas_index(y, X)
        self.clean_proba_ = np.asarray(scores.clean_proba, dtype=np.float64)
        self.clean_mask_ = np.asarray(scores.clean_mask, dtype=bool)
        self.predicted_ = np.asarray(scores.predicted)
        self.noise_rate_ = float(1.0 - self.clean_mask_.mean())
        self.label_issues_ = self._label_issues(scores, codes, self._fit_index)
        return self

    def _label_issues(self, scores, codes, index):
        frame = pd.DataFrame(
            {
                "is_label_issue": ~np.asarray(scores.clean_mask, dtype=bool),
                "label_quality": np.asarray(scores.clean_proba, dtype=np.float64),
                "given_label": self.classes_[codes],
                "predicted_label": self.classes_[np.asarray(scores.predicted)],
            }
        )
        if index is not None and len(index) == len(frame):
            frame.index = index
        return frame

    def _scores_for(self, X, y):
        check_is_fitted(self, "clean_mask_")
        X_checked = self._check_X(X, reset=False)
        if y is None:
            if (
                X_checked.n_samples != len(self.clean_mask_)
                or input_fingerprint(X_checked) != self._fit_fingerprint
            ):
                raise ValueError(
                    "A clean/noisy verdict is about an (image, label) pair: pass y for data "
                    "other than the data this detector was fitted on."
                )
            return Scores(self.clean_proba_, self.clean_mask_, self.predicted_)
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
        return self._scores_for(X, y).clean_mask.copy()

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
