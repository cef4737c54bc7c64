"""The base class of the noisy-label detectors."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from .._warnings import warn_user
from ..data.labels import LabelEncoding
from .contract import DetectorMixin, pandas_index
from .estimator import ImageEstimatorMixin
from .label_free import LabelFreeScoreMixin

__all__ = ["BaseNoiseDetector"]


class BaseNoiseDetector(LabelFreeScoreMixin, DetectorMixin, ImageEstimatorMixin, BaseEstimator):
    """Base class of the detectors; not for direct use.

    Every detector judges pairs (sample, given label) and shares this contract.
    After ``fit(X, y)``:

    - ``classes_``: the sorted labels; ``class_names_``: their readable names;
    - ``clean_mask_``: bool, one verdict per training pair (True = label kept);
    - ``clean_proba_``: probability, in [0, 1], that each given label is right;
    - ``predicted_``: each training pair's most probable class, as a position in
      ``classes_`` (-1 for an image file that could not be read);
    - ``noise_rate_``: the share of pairs judged noisy;
    - ``noise_transition_``: a K x K estimate of ``P(given label | true class)``
      (rows: true class), from the detector's verdicts unless it has a better one;
    - ``label_issues_``: a pandas DataFrame with cleanlab's columns
      ``is_label_issue``, ``label_quality`` (a graded score that ranks the pairs,
      lowest first, such as the probability of the given label), ``given_label``
      and ``predicted_label``, indexed like the input, plus ``suggested_label``
      and ``suggested_label_confidence`` where the detector has a model;
    - ``device_``: the device the fit ran on.

    With ``skip_unreadable=True`` (a parameter of every detector) and X a list of
    image files, the files that cannot be read are split off before the model is
    fitted on the others; they keep their rows, judged label issues (``clean_mask_``
    False, ``clean_proba_`` 0, no ``predicted_label``), and are listed in
    ``unreadable_`` (indexed by position in X, with ``path`` and ``reason``).

    ``predict_clean(X, y=None)`` and ``clean_proba(X, y=None)`` judge new pairs;
    ``y`` may be omitted only for the data ``fit`` saw (checked by a cheap
    fingerprint). ``fit_predict_clean(X, y)`` fits and returns ``clean_mask_``;
    ``fit_resample(X, y)`` returns the clean subset, imbalanced-learn's sampler
    verb, so a detector drops into an imbalanced-learn ``Pipeline`` before any
    classifier. Detectors that keep their training embeddings (``embeddings_``) also
    have a label-free ``score(X, y)`` (see :class:`~skclip_noise.base.label_free.LabelFreeScoreMixin`),
    so ``GridSearchCV`` can search their parameters without the truth.

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
        return self._fit(X, y)

    def _fit(self, X, y, **signals):
        """``fit`` with a subclass's extra per-sample fit parameters (e.g. ``pred_probs``),
        checked by ``_check_fit_signals`` before any work and passed to ``_fit_scores``.

        With ``skip_unreadable=True`` and image files, the files that cannot be read
        are split off first (:meth:`_skip_unreadable`); the model is fitted on the
        readable ones and :meth:`_set_detection` puts the verdicts back in input order.
        """
        self.__dict__.pop("unreadable_", None)  # fit ignores any previous fit
        X_checked, encoding = self._check_fit_inputs(X, y)
        kept = None
        try:
            signals = self._check_fit_signals(encoding, **signals)
            if self._skips_unreadable:
                X_fit, encoding_fit, signals, kept = self._skip_unreadable(X_checked, encoding, signals)
            else:
                X_fit, encoding_fit = X_checked, encoding
            scores = self._fit_scores(X_fit, encoding_fit.codes, encoding_fit, **signals)
            self._set_detection(scores, encoding.codes, X_checked, pandas_index(y, X), kept=kept)
        except BaseException:
            unreadable = self.__dict__.get("unreadable_")
            self._forget_fit()
            if unreadable is not None:  # what was found unreadable is what the user needs to fix the failure
                self.unreadable_ = unreadable
            raise
        finally:
            self._drop_prefetched()
        return self

    def _check_fit_signals(self, encoding, **signals):
        return signals

    def _skip_unreadable(self, X_checked, encoding, signals):
        """The readable part of the training data: ``(X_readable, encoding, signals, kept)``.

        Sets ``unreadable_`` and warns when files were skipped. The per-sample fit
        signals (arrays of n_samples rows, or None) are cut to the readable rows, and
        the cross-parameter checks run again on the readable samples (a class may have
        become too small for ``cv`` or ``n_neighbors``).
        """
        X_readable, kept, unreadable = self._readable_subset(X_checked)
        self.unreadable_ = unreadable
        n_samples = X_checked.n_samples
        if len(kept) == n_samples:
            return X_checked, encoding, signals, kept
        first = f"e.g. {unreadable['path'].iloc[0]!r}: {unreadable['reason'].iloc[0]}"
        if not len(kept):
            raise ValueError(
                f"None of the {n_samples} images can be read ({first}); they are listed in unreadable_."
            )
        codes = encoding.codes
        lost = np.setdiff1d(np.arange(len(encoding.classes)), codes[kept])
        if len(lost):
            names = ", ".join(repr(str(encoding.classes[code])) for code in lost[:10])
            raise ValueError(
                f"Every image of class {names} is unreadable ({first}); a class needs readable images to be "
                "judged. Fix or replace those files, or drop that class's samples; the unreadable files are "
                "listed in unreadable_."
            )
        warn_user(
            f"{len(unreadable)} of {n_samples} image files could not be read ({first}); {type(self).__name__} "
            "was fitted on the others and judges these label issues (clean_mask_ False). They are listed in "
            "unreadable_.",
            UserWarning,
        )
        encoding_fit = LabelEncoding(encoding.classes[codes[kept]], getattr(self, "class_names", None))
        self._check_params(X_readable, encoding_fit)
        signals = {name: None if value is None else np.asarray(value)[kept] for name, value in signals.items()}
        return X_readable, encoding_fit, signals, kept
