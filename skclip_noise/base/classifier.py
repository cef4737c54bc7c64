"""The base class of the noise-robust classifiers."""

from __future__ import annotations

import re

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ..data.inputs import check_image_input
from ..data.labels import check_labels
from .contract import subset_samples
from .estimator import ImageEstimatorMixin

__all__ = ["BaseNoiseRobustClassifier", "check_validation_data"]


#: How many training samples the end of fit predicts, to catch a model whose outputs overflow.
_FINITE_CHECK_SAMPLES = 8

#: The name the image checks give their input, as a word of their messages.
_INPUT_NAME = re.compile(r"(?<![\w.])X(?!\w)")


def check_validation_data(validation_data, encoding, *, allow_features=False):
    """``(X_val checked, y_val codes)`` for ``fit(..., validation_data=(X_val, y_val))``, or None.

    ``y_val`` is encoded with the training labels' ``encoding``, so a class unseen at fit
    is an error.

    Parameters
    ----------
    validation_data : tuple (X_val, y_val) or None
        As passed to ``fit``.
    encoding : LabelEncoding
        The training labels' encoding.
    allow_features : bool, default=False
        Whether X_val may be a 2-D array of embeddings (``tuning="frozen"``).

    Returns
    -------
    tuple (ImageInput, ndarray of int) or None
    """
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a tuple (X_val, y_val).")
    X_val, y_val = validation_data
    try:
        X_val = check_image_input(X_val, allow_features=allow_features)
    except (TypeError, ValueError) as exc:  # the image checks call their input X: here it is X_val
        raise type(exc)("validation_data: " + _INPUT_NAME.sub("X_val", str(exc))) from None
    return X_val, encoding.encode(check_labels(y_val, X_val.n_samples, name="y_val", samples_name="X_val"),
                                  name="y_val")


class BaseNoiseRobustClassifier(ImageEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Base class of the classifiers that train despite wrong labels; not for direct use.

    ``fit(X, y, validation_data=None)`` validates the parameters, X, the labels and
    the validation data, then calls ``_fit_model(X, y, X_checked, encoding,
    validation)``. ``predict_proba`` asks ``_predict_proba(X_checked)`` (columns in
    ``classes_`` order), ``predict`` takes its argmax. The trained network is rebuilt
    from the fitted state once (``_restore_model``), not on every call.

    Examples
    --------
    >>> from skclip_noise import TurnClassifier
    >>> from skclip_noise.classifiers import BaseNoiseRobustClassifier
    >>> issubclass(TurnClassifier, BaseNoiseRobustClassifier)
    True
    """

    def _fit_model(self, X, y, X_checked, encoding, validation):  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_proba(self, X_checked):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y, validation_data=None):
        """Train on (image, possibly wrong label) pairs.

        Parameters
        ----------
        X : images
            An array ``(N, H, W[, 3])``, image paths, or a torch Dataset.
        y : array-like of shape (n_samples,)
            The given, possibly wrong, labels (ints or strings; at least 2 classes).
        validation_data : tuple (X_val, y_val), default=None
            Clean held-out data (never the test set) to keep the best epoch.

        Returns
        -------
        self
        """
        X_checked, encoding = self._check_fit_inputs(X, y)
        try:
            validation = check_validation_data(validation_data, encoding, allow_features=self._accepts_features)
            self._fit_model(X, y, X_checked, encoding, validation)
            self._check_outputs_finite(X, X_checked.n_samples)
        except BaseException:
            self._forget_fit()
            raise
        return self

    def _check_outputs_finite(self, X, n_samples):
        """A last step that diverged leaves weights whose outputs overflow, which no loss has
        shown: predict a few samples the model trained on (kept ones, where a detector chose;
        an unreadable file it skipped would fail here)."""
        trained = self.__dict__.get("clean_mask_")
        rows = np.flatnonzero(np.ones(n_samples, dtype=bool) if trained is None else trained)[:_FINITE_CHECK_SAMPLES]
        if rows.size:
            self.predict_proba(subset_samples(X, np.isin(np.arange(n_samples), rows)))

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : images

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float64
            Columns in ``classes_`` order.
        """
        check_is_fitted(self)
        return self._finite(np.asarray(self._predict_proba(self._check_X(X, reset=False)), dtype=np.float64))

    #: the parameters a diverged fit's message advises lowering
    _learning_rate_params = ("lr", "weight_decay")

    def _finite(self, proba):
        """``proba``, refused when the model gave NaN or infinite values."""
        if not np.isfinite(proba).all():
            raise FloatingPointError(
                f"{type(self).__name__}'s model gives NaN or infinite probabilities: its training diverged. "
                f"Refit with a lower {' or '.join(self._learning_rate_params)}."
            )
        return proba

    def predict(self, X):
        """Predicted classes (argmax of :meth:`predict_proba`).

        Parameters
        ----------
        X : images

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)  # raises NotFittedError before classes_ is read
        return self.classes_[proba.argmax(axis=1)]
