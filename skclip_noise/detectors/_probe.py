"""A cross-fitted, converged linear probe: out-of-fold class probabilities from features."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils import resample

__all__ = ["CrossFittedProbe", "DEFAULT_CS"]

#: The regularisation path: C = 1e-4 ... 10, walked upwards while the loss improves.
DEFAULT_CS = tuple(10.0 ** np.arange(-4, 2))


def _log_loss(codes, proba):
    return float(-np.log(np.clip(proba[np.arange(len(codes)), codes], 1e-15, None)).mean())


class CrossFittedProbe:
    """Multinomial logistic regression (scikit-learn, L-BFGS, full batch), one model per fold.

    Every sample's probabilities come from the model that did not see it. ``C`` is
    chosen on the noisy labels by the out-of-fold log-loss, walking the grid upwards
    with each fold's model warm-started from the previous ``C`` and stopping at the
    first ``C`` that does worse: cleanlab's choice of ``C`` by cross-validation,
    without the costly fits at large ``C`` and with the out-of-fold predictions of
    the chosen model for free.

    Parameters
    ----------
    n_classes : int
    n_folds : int, default=5
    Cs : sequence of float, default=DEFAULT_CS
    max_iter : int, default=300
    max_samples : int or None, default=None
        Training samples per fold model; a larger fold trains on a stratified random
        subset of this size (every sample still gets out-of-fold probabilities). It
        bounds the cost of a linear model whose fit stops improving long before a
        million samples. None: every training sample.
    random_state : int, default=0
        Seeds the fold split and the subsets.
    """

    def __init__(
        self, n_classes, *, n_folds=5, Cs=DEFAULT_CS, max_iter=300, tol=1e-4, max_samples=None, random_state=0
    ):
        self.n_classes = n_classes
        self.n_folds = n_folds
        self.Cs = Cs
        self.max_iter = max_iter
        self.tol = tol
        self.max_samples = max_samples
        self.random_state = random_state

    def _training_rows(self, rows, codes, fold):
        """``rows``, or a stratified subset of ``max_samples`` of them (the same for every C)."""
        if self.max_samples is None or len(rows) <= self.max_samples:
            return rows
        subset = resample(
            rows, replace=False, n_samples=self.max_samples, stratify=codes[rows],
            random_state=(self._seed + fold) % (2**32),
        )
        return np.sort(subset)

    def _fit_one(self, Z, codes, C, previous=None):
        model = LogisticRegression(C=C, max_iter=self.max_iter, tol=self.tol, warm_start=previous is not None)
        if previous is not None and np.array_equal(previous.classes_, np.unique(codes)):
            model.coef_, model.intercept_ = previous.coef_.copy(), previous.intercept_.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(Z, codes)

    def _full_proba(self, model, Z):
        """Probabilities over all ``n_classes`` (a class absent from a fold's fit gets 0)."""
        proba = np.zeros((len(Z), self.n_classes))
        proba[:, model.classes_] = model.predict_proba(Z)
        return proba

    def fit(self, X, codes):
        """Standardise X, choose C and return the out-of-fold probabilities (n, K)."""
        self._seed = int(self.random_state) % (2**32)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=self._seed)
        self.folds_ = list(splitter.split(Z, codes))
        fitted_rows = [self._training_rows(train, codes, k) for k, (train, _) in enumerate(self.folds_)]
        best = (np.inf, None, None, None)
        models = [None] * self.n_folds
        for C in self.Cs:
            proba = np.zeros((len(codes), self.n_classes))
            for k, (_, test) in enumerate(self.folds_):
                models[k] = self._fit_one(Z[fitted_rows[k]], codes[fitted_rows[k]], C, models[k])
                proba[test] = self._full_proba(models[k], Z[test])
            loss = _log_loss(codes, proba)
            if loss >= best[0]:
                break
            best = (loss, C, proba, list(models))
        _, self.C_, proba, self.models_ = best
        return proba

    def refit(self, X, codes, keep):
        """Refit every fold on its kept training samples (same C, warm-started); return
        the out-of-fold probabilities of every sample."""
        Z = self.scaler_.transform(X)
        proba = np.zeros((len(codes), self.n_classes))
        for k, (train, test) in enumerate(self.folds_):
            kept = self._training_rows(train[keep[train]], codes, k)
            if len(np.unique(codes[kept])) >= 2:
                self.models_[k] = self._fit_one(Z[kept], codes[kept], self.C_, self.models_[k])
            proba[test] = self._full_proba(self.models_[k], Z[test])
        return proba

    def predict_proba(self, X):
        """Probabilities of new samples: the mean over the fold models."""
        Z = self.scaler_.transform(X)
        return np.mean([self._full_proba(model, Z) for model in self.models_], axis=0)
