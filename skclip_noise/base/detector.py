"""The base class of the noisy-label detectors."""

from __future__ import annotations

from sklearn.base import BaseEstimator

from .contract import DetectorMixin, pandas_index
from .estimator import ImageEstimatorMixin

__all__ = ["BaseNoiseDetector"]


class BaseNoiseDetector(DetectorMixin, ImageEstimatorMixin, BaseEstimator):
    """Base class of the detectors; not for direct use.

    Every detector judges pairs (sample, given label) and shares this contract.
    After ``fit(X, y)``:

    - ``classes_``: the sorted labels;
    - ``clean_mask_``: bool, one verdict per training pair (True = label kept);
    - ``clean_proba_``: probability, in [0, 1], that each given label is right;
    - ``noise_rate_``: the share of pairs judged noisy;
    - ``noise_transition_``: a K x K estimate of ``P(given label | true class)``
      (rows: true class), from the detector's verdicts unless it has a better one;
    - ``label_issues_``: a pandas DataFrame with cleanlab's columns
      ``is_label_issue``, ``label_quality`` (a graded score that ranks the pairs,
      lowest first, such as the probability of the given label), ``given_label``
      and ``predicted_label``, indexed like the input, plus ``suggested_label``
      and ``suggested_label_confidence`` where the detector has a model.

    ``predict_clean(X, y=None)`` and ``clean_proba(X, y=None)`` judge new pairs;
    ``y`` may be omitted only for the data ``fit`` saw (checked by a cheap
    fingerprint). ``fit_predict_clean(X, y)`` fits and returns ``clean_mask_``;
    ``fit_resample(X, y)`` returns the clean subset, imbalanced-learn's sampler
    verb, so a detector drops into an imbalanced-learn ``Pipeline`` before any
    classifier.

    Subclasses implement ``_fit_scores(X_checked, codes, encoding)``, returning the
    :class:`~skclip_noise.base.Scores` of the training pairs, and
    ``_score_pairs(X_checked, codes)`` for new pairs.

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
    >>> list(detector.label_issues_.columns)[:4]
    ['is_label_issue', 'label_quality', 'given_label', 'predicted_label']
    >>> detector.noise_transition_.shape
    (2, 2)
    >>> bool(np.array_equal(detector.predict_clean(X), detector.clean_mask_))
    True
    >>> X_clean, y_clean = detector.fit_resample(X, y)
    >>> len(y_clean) == int(detector.clean_mask_.sum())
    True
    >>> detector.predict_clean(X[:2], ["dog", "cat"]).shape  # new pairs need labels
    (2,)
    """

    _accepts_features = True

    def _fit_scores(self, X_checked, codes, encoding):  # pragma: no cover - abstract
        raise NotImplementedError

    def _score_pairs(self, X_checked, codes):  # pragma: no cover - abstract
        raise NotImplementedError

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
        X_checked, encoding = self._check_fit_inputs(X, y)
        scores = self._fit_scores(X_checked, encoding.codes, encoding)
        self._set_detection(scores, encoding.codes, X_checked, pandas_index(y, X))
        return self
