"""A detector's label-free score: how well what it keeps teaches a fixed reference classifier.

``GridSearchCV`` needs a score for each candidate on held-out pairs, and real data
have no answer key. The score here needs only the given labels: a logistic regression
(the *reference*, the same for every candidate, so candidates differ only by what they
keep) is trained on the training pairs the detector kept, and the score is the mean
probability it gives the held-out *given* labels (its expected accuracy on them). With
class-conditional noise, agreement with noisy labels is an increasing function of
agreement with the true ones (for symmetric noise ``(1 - r) a + r (1 - a) / (K - 1)``),
so the candidate whose kept set trains the best classifier wins; keeping wrong labels or
dropping informative clean ones both cost. The probability rather than the 0/1 accuracy:
measured as a selection rule on digits, it ranked the grid closer to the truth (mean
Spearman 0.58 against 0.43) and strayed less from the defaults; the log-likelihood
instead rewards kept wrong labels (a reference trained on cleaner labels is confidently
wrong about noisy held-out ones). ``benchmarks/results/label_free_selection.md``.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ..data.labels import check_labels
from ..training.device import seed_from_random_state

__all__ = ["LabelFreeScoreMixin", "MAX_REFERENCE_SAMPLES", "REFERENCE_C"]

#: The reference classifier trains on at most this many kept pairs (a random subset).
MAX_REFERENCE_SAMPLES = 20_000
#: The reference's inverse regularisation, on standardised features: fixed, not tuned,
#: so that every candidate of a search is judged by the same classifier.
REFERENCE_C = 1.0


class _FixedClassifier:
    """The reference when the detector kept fewer than two classes: it gives the kept
    class probability 1, or, when nothing was kept, every class the same probability
    (what a classifier learns from no data: chance)."""

    def __init__(self, classes):
        self.classes_ = np.asarray(classes)

    def predict_proba(self, features):
        return np.full((len(features), len(self.classes_)), 1.0 / len(self.classes_))


def fit_reference_classifier(features, codes, kept, n_classes, random_state=None):
    """The reference classifier trained on the ``kept`` rows of ``features`` (codes out)."""
    rows = np.flatnonzero(kept)
    if len(rows) > MAX_REFERENCE_SAMPLES:
        rng = np.random.default_rng(seed_from_random_state(random_state))
        rows = np.sort(rng.choice(rows, MAX_REFERENCE_SAMPLES, replace=False))
    labels = codes[rows]
    if np.unique(labels).size < 2:
        return _FixedClassifier(np.unique(labels) if len(labels) else np.arange(n_classes))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=REFERENCE_C, max_iter=500))
    return model.fit(features[rows], labels)


class LabelFreeScoreMixin:
    """``score(X, y)`` for detectors that keep their training embeddings in ``embeddings_``.

    A detector opts in with ``_has_label_free_score`` (True, or a property of its
    parameters) and by setting ``embeddings_`` (float32, one row per judged training
    pair) in ``fit``.
    """

    _has_label_free_score = False

    def _readable_features(self, X_checked):
        """(features, positions) of the image files that can be read, with a warning naming
        the others: with ``skip_unreadable=True`` the score goes on without them."""
        X_readable, kept, unreadable = self._fitted_readable_subset(X_checked)
        try:
            if not len(kept):
                raise ValueError("none of the image files could be read; there is nothing to score.")
            features = self._fitted_features(X_readable)
        finally:
            self._drop_prefetched()
        self._warn_unreadable(unreadable, X_checked.n_samples, "the score leaves them out")
        return features, kept

    def _reference_classifier(self):
        """The reference classifier of this fit, trained once and kept until the next fit."""
        fitted = self.__dict__.get("_reference")
        if fitted is not None and fitted[0] is self.clean_mask_:
            return fitted[1]
        judged = self.predicted_ >= 0  # the pairs with embeddings: all but unreadable image files
        model = fit_reference_classifier(
            self.embeddings_, self._fit_codes, self.clean_mask_[judged], len(self.classes_),
            getattr(self, "random_state", 0),  # a detector without random_state draws its subset alike every time
        )
        self._reference = (self.clean_mask_, model)
        return model

    @available_if(lambda self: self._has_label_free_score)
    def score(self, X, y, sample_weight=None):
        """Label-free score of the detector: how well the pairs it kept teach a classifier.

        A logistic regression (standardised features, ``C=1``: a fixed reference, the
        same for every candidate of a search) is trained on the training pairs the
        detector kept (at most 20,000, a random subset); the score is the mean
        probability it gives the *given* labels ``y`` of ``X`` (its expected accuracy on
        them). No true labels are needed: it is what ``GridSearchCV`` uses when
        ``scoring`` is not given. Under class-conditional noise, agreement with the noisy
        labels rises with agreement with the true ones, so a candidate that keeps wrong
        labels, or drops clean ones the classifier needs, scores lower. See the user guide, "Choosing hyperparameters without the
        truth", for what it was measured to pick and where it does not apply.

        Parameters
        ----------
        X : images or features
            Held-out samples, in the form the detector was fitted on.
        y : array-like of shape (n_samples,)
            Their given, possibly wrong, labels.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float in [0, 1]
            Higher is better.

        Examples
        --------
        >>> import numpy as np
        >>> from skclip_noise import ConsensusDetector, make_noisy_labels
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1, 2], 100)
        >>> X = np.eye(3)[y] * 3 + rng.normal(size=(300, 3))
        >>> y_noisy, _ = make_noisy_labels(y, "symmetric", 0.3, random_state=0)
        >>> detector = ConsensusDetector(random_state=0).fit(X[::2], y_noisy[::2])
        >>> score = detector.score(X[1::2], y_noisy[1::2])  # 30 % of these labels are wrong
        >>> bool(0.5 < score < 0.8)
        True
        """
        check_is_fitted(self, "clean_mask_")
        X_checked = self._check_X(X, reset=False)
        codes = self._encoding.encode(check_labels(y, X_checked.n_samples))
        if sample_weight is not None:  # one finite weight >= 0 per sample, before any work
            sample_weight = _check_sample_weight(sample_weight, codes, ensure_non_negative=True)
            if not sample_weight.sum() > 0:
                raise ValueError("sample_weight sums to 0: give at least one sample a positive weight.")
        model = self._reference_classifier()
        if self._skips_unreadable and X_checked.kind == "paths":
            features, kept = self._readable_features(X_checked)
            codes = codes[kept]
            sample_weight = None if sample_weight is None else sample_weight[kept]
        else:
            features = self._fitted_features(X_checked)
        proba = model.predict_proba(features)
        given = np.zeros(len(codes))
        known = np.isin(codes, model.classes_)  # a class the detector dropped entirely has probability 0
        given[known] = proba[np.flatnonzero(known), np.searchsorted(model.classes_, codes[known])]
        return float(np.average(given, weights=sample_weight))
