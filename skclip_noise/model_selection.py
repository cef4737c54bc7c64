"""Choosing hyperparameters on noisy labels, with or without the truth.

``GridSearchCV`` rates each candidate by a score on held-out pairs. With real,
imperfectly labelled data there is no answer key, so the scores here need only the
given labels:

- a detector's own :meth:`~skclip_noise.detectors.BaseNoiseDetector.score` (what
  ``GridSearchCV`` uses when ``scoring`` is not given), also available as
  ``make_detection_scorer()``: the mean probability that a logistic regression trained
  on the training pairs the detector kept gives the held-out *given* labels;
- :func:`noise_corrected_accuracy_score` and :func:`make_noise_corrected_scorer` for
  classifiers: their accuracy on noisy labels, corrected by an estimated noise
  transition matrix into an estimate of the accuracy on the true labels;
- :func:`prefer_defaults`, a ``refit`` rule for ``GridSearchCV`` that keeps the default
  parameters unless the best candidate beats them by more than the folds' noise.

Where a small, hand-checked set of samples exists (a *trusted* set), it is the better
judge: ``make_detection_scorer(clean_f1_score)`` rates a detector against the routed
``is_noisy`` of those samples, and for a classifier the trusted samples can be the test
fold of every split (see the user guide, "Choosing hyperparameters without the truth").
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.optimize
from sklearn.utils.metadata_routing import MetadataRequest

from ._param_validation import same_param_value

__all__ = [
    "make_detection_scorer",
    "make_noise_corrected_scorer",
    "noise_corrected_accuracy_score",
    "prefer_defaults",
]

#: A transition matrix worse conditioned than this cannot be inverted reliably.
MAX_CONDITION = 1e8
#: Weight of the equation that makes a row of the estimated joint sum to its total.
_SUM_WEIGHT = 1e3
SOLVERS = ("inverse", "nnls")


def _check_solver(solver):
    if not (isinstance(solver, str) and solver in SOLVERS):
        raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}.")


def _check_transition(noise_transition, n_classes=None):
    transition = np.asarray(noise_transition, dtype=np.float64)
    if transition.ndim != 2 or transition.shape[0] != transition.shape[1]:
        raise ValueError(f"noise_transition must be a square (n_classes, n_classes) matrix; got shape {transition.shape}.")
    if n_classes is not None and transition.shape[0] != n_classes:
        raise ValueError(
            f"noise_transition is {transition.shape[0]} x {transition.shape[0]} but there are {n_classes} classes; "
            "pass the matrix of these classes (rows: true class, columns: given label, in the order of labels)."
        )
    if not np.isfinite(transition).all() or (transition < 0).any() or not np.allclose(transition.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(
            "noise_transition must be row-stochastic: T[i, j] = P(given label j | true class i), each row "
            "non-negative and summing to 1 (a detector's noise_transition_ is)."
        )
    condition = np.linalg.cond(transition)
    if not condition < MAX_CONDITION:
        raise ValueError(
            f"noise_transition is singular or nearly so (condition number {condition:.3g}): with noise that "
            "dense the given labels say nothing about the true accuracy. Use a trusted, hand-checked "
            "validation set instead."
        )
    off_diagonal = np.where(np.eye(len(transition), dtype=bool), -np.inf, transition).max(axis=1)
    unpreferred = np.flatnonzero(np.diag(transition) <= off_diagonal)
    if unpreferred.size:
        raise ValueError(
            f"noise_transition's row {int(unpreferred[0])} does not prefer its own class (T[i, i] is not above "
            "every other entry of its row): with noise that dense the given labels cannot be corrected into "
            "the true accuracy. Use a trusted, hand-checked validation set instead."
        )
    return transition


def noise_corrected_accuracy_score(
    y_noisy, y_pred, noise_transition, *, labels=None, sample_weight=None, solver="inverse"
):
    """Estimated accuracy on the true labels, from predictions and *noisy* labels.

    With ``T[i, j] = P(given label j | true class i)`` and the given label independent
    of the prediction once the true class is known (class-conditional noise), the
    joint of predictions and given labels is ``M = C T``, where ``C`` is the joint of
    predictions and true classes, and the true accuracy is the trace of ``C``.

    - ``solver="inverse"`` (default): ``C = M T^-1``, i.e. ``mean_n T^-1[given_n,
      predicted_n]``. Unbiased with the exact ``T``, and the better judge in a grid
      search, where each fold is small. But it can leave ``[0, 1]``, and where ``T`` is
      nearly singular (pair-flip noise near 50 %) it magnifies any error in the
      estimated ``T``: on MobileNetV2 digits with 40 % pair-flip noise, a classifier of
      true accuracy 0.869 was rated 1.151 with a detector's ``noise_transition_``.
    - ``solver="nnls"``: each row of ``C`` is the non-negative solution of
      ``C[p] T = M[p]`` summing to ``M[p]``'s total (non-negative least squares), a
      joint distribution, so the accuracy stays in ``[0, 1]``; the same classifier was
      rated 0.886. It equals the inverse's answer when that is a distribution already,
      but on a small sample the constraint cuts the sampling noise on one side only and
      rates low. Use it for one estimate on a large set (thousands of samples), not to
      rank candidates on cross-validation folds: as a grid-search scorer it picked worse
      than the inverse (``benchmarks/results/label_free_selection_solvers.md``).

    Where the noise depends on the image (hard images mislabelled), a classifier that
    learned those flips is overrated by either solver.

    Parameters
    ----------
    y_noisy : array-like of shape (n_samples,)
        The given, possibly wrong, labels.
    y_pred : array-like of shape (n_samples,)
        The classifier's predictions.
    noise_transition : array-like of shape (n_classes, n_classes)
        ``P(given | true)``, rows: true class, in the order of ``labels``, e.g. a fitted
        detector's ``noise_transition_`` (estimated without the truth).
    labels : array-like of shape (n_classes,), default=None
        The classes in the order of the matrix; None: the sorted labels of ``y_noisy``
        and ``y_pred`` together.
    sample_weight : array-like of shape (n_samples,), default=None
    solver : {"inverse", "nnls"}, default="inverse"
        How ``M = C T`` is solved for ``C`` (see above).

    Returns
    -------
    accuracy : float

    Examples
    --------
    >>> import numpy as np
    >>> T = np.array([[0.8, 0.2], [0.2, 0.8]])  # 20 % of each class flipped
    >>> y_true = np.array([0] * 50 + [1] * 50)
    >>> y_noisy = y_true.copy(); y_noisy[:10] = 1; y_noisy[50:60] = 0
    >>> float(np.mean(y_true == y_noisy))  # a perfect classifier, judged by noisy labels
    0.8
    >>> round(noise_corrected_accuracy_score(y_noisy, y_true, T), 6)
    1.0
    """
    _check_solver(solver)
    y_noisy, y_pred = np.asarray(y_noisy), np.asarray(y_pred)
    if y_noisy.ndim != 1 or y_pred.shape != y_noisy.shape:
        raise ValueError(f"y_noisy and y_pred must be 1-D of the same length; got {y_noisy.shape} and {y_pred.shape}.")
    try:
        classes = np.unique(np.concatenate([y_noisy, y_pred])) if labels is None else np.asarray(labels)
    except TypeError as exc:  # labels of several types (str and int) do not sort
        raise ValueError(
            "y_noisy and y_pred mix label types that do not sort together (e.g. str and int); pass labels "
            "of one type, or labels=[...] in the order of noise_transition's rows."
        ) from exc
    transition = _check_transition(noise_transition, len(classes))
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]

    def codes(values, name):
        position = np.clip(np.searchsorted(sorted_classes, values), 0, len(classes) - 1)
        unknown = sorted_classes[position] != values
        if unknown.any():
            raise ValueError(f"{name} has labels not in labels: {np.unique(values[unknown])[:5].tolist()}.")
        return order[position]

    weights = np.ones(len(y_noisy)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != y_noisy.shape:
        raise ValueError(f"sample_weight has shape {weights.shape}; pass one weight per sample, shape {y_noisy.shape}.")
    if not np.isfinite(weights).all() or (weights < 0).any() or not weights.sum() > 0:
        raise ValueError("sample_weight must hold finite weights >= 0 with a positive sum.")
    given, predicted = codes(y_noisy, "y_noisy"), codes(y_pred, "y_pred")
    if solver == "inverse":
        per_sample = np.linalg.inv(transition)[given, predicted]
        return float(np.average(per_sample, weights=None if sample_weight is None else weights))
    joint = np.zeros((len(classes), len(classes)))  # M[predicted, given]
    np.add.at(joint, (predicted, given), weights)
    return float(sum(_true_share_of_prediction(joint[p], transition, p) for p in range(len(classes))) / joint.sum())


def _true_share_of_prediction(given_counts, transition, predicted):
    """The mass of ``given_counts`` (one row of ``M``) whose true class is ``predicted``:
    the non-negative ``c`` with ``c T = given_counts`` in least squares and ``sum(c)`` equal
    to the row's total (a heavily weighted extra equation)."""
    total = given_counts.sum()
    if total == 0:
        return 0.0
    n_classes = len(given_counts)
    system = np.vstack([transition.T, np.full((1, n_classes), _SUM_WEIGHT)])
    target = np.concatenate([given_counts / total, [_SUM_WEIGHT]])
    shares, _ = scipy.optimize.nnls(system, target)
    return total * shares[predicted] / max(shares.sum(), 1e-12)


class NoiseCorrectedScorer:
    """A ``scoring=`` object: :func:`noise_corrected_accuracy_score` of ``estimator.predict(X)``
    against the held-out labels ``y``. Built by :func:`make_noise_corrected_scorer`."""

    def __init__(self, noise_transition, labels=None, solver="inverse"):
        self.noise_transition = noise_transition
        self.labels = labels
        self.solver = solver

    def __call__(self, estimator, X, y, sample_weight=None):
        labels = getattr(estimator, "classes_", None) if self.labels is None else self.labels
        return noise_corrected_accuracy_score(
            y, estimator.predict(X), self.noise_transition, labels=labels, sample_weight=sample_weight,
            solver=self.solver,
        )

    def __repr__(self):
        solver = "" if self.solver == "inverse" else f", solver={self.solver!r}"
        return f"make_noise_corrected_scorer(<{np.shape(self.noise_transition)} matrix>{solver})"


def make_noise_corrected_scorer(noise_transition, *, labels=None, solver="inverse"):
    """A scorer for ``GridSearchCV(scoring=...)``: a classifier's noise-corrected accuracy.

    Parameters
    ----------
    noise_transition : array-like of shape (n_classes, n_classes) or fitted detector
        ``P(given | true)`` (rows: true class), or a fitted detector, whose
        ``noise_transition_`` and ``classes_`` are taken. Estimate it once on the whole
        training set (e.g. ``ConsensusDetector().fit(X, y_noisy)``), before the search.
    labels : array-like of shape (n_classes,), default=None
        The classes in the matrix's order; None: the detector's ``classes_``, else the
        estimator's ``classes_`` at scoring time.
    solver : {"inverse", "nnls"}, default="inverse"
        See :func:`noise_corrected_accuracy_score`.

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y)``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV, StratifiedKFold
    >>> from skclip_noise import ConsensusDetector, make_noisy_labels
    >>> from skclip_noise.model_selection import make_noise_corrected_scorer
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 100)
    >>> X = np.eye(3)[y] * 3 + rng.normal(size=(300, 3))
    >>> y_noisy, _ = make_noisy_labels(y, "symmetric", 0.3, random_state=0)
    >>> detector = ConsensusDetector(random_state=0).fit(X, y_noisy)
    >>> folds = StratifiedKFold(5, shuffle=True, random_state=0)  # the samples are sorted by class
    >>> search = GridSearchCV(LogisticRegression(), {"C": [0.01, 1.0]}, cv=folds,
    ...                       scoring=make_noise_corrected_scorer(detector)).fit(X, y_noisy)
    >>> bool(search.best_score_ > 0.8)  # an estimate of the accuracy on the true labels
    True
    """
    if isinstance(noise_transition, type) or (
            hasattr(noise_transition, "fit") and not hasattr(noise_transition, "noise_transition_")):
        raise TypeError(
            f"noise_transition must be a (n_classes, n_classes) matrix or a fitted detector with noise_transition_ "
            f"(e.g. ConsensusDetector().fit(X, y_noisy)); got {noise_transition!r}, which is not fitted or has none."
        )
    if hasattr(noise_transition, "noise_transition_"):
        detector = noise_transition
        labels = detector.classes_ if labels is None else labels
        noise_transition = detector.noise_transition_
    _check_solver(solver)
    transition = _check_transition(noise_transition, None if labels is None else len(labels))
    return NoiseCorrectedScorer(transition, labels, solver)


def _metric_name(metric):
    """A metric's name for messages: a function's own, else its repr (a partial, a callable object)."""
    return getattr(metric, "__name__", repr(metric))


def _varies(name, candidates):
    """Whether a grid's candidates (parameter dicts) do not all hold one value of ``name``:
    it is in some of them, and missing from or other than the first's in some."""
    first = candidates[0].get(name)
    return any(name in params for params in candidates) and any(
        name not in params or not same_param_value(params[name], first) for params in candidates)


def _verdicts(estimator, X, y):
    """``predict_clean(X, y)`` of a detector, or of the detector that ends a Pipeline (X
    passed through the steps before it)."""
    steps = getattr(estimator, "steps", None)
    if not hasattr(estimator, "predict_clean") and steps:
        for _, step in steps[:-1]:
            if step is not None and step != "passthrough" and hasattr(step, "transform"):  # samplers act in fit only
                X = step.transform(X)
        estimator = steps[-1][1]
    if not hasattr(estimator, "predict_clean"):
        raise TypeError(
            f"make_detection_scorer(metric) rates a detector's predict_clean verdicts; {type(estimator).__name__} has "
            "no predict_clean. Search over a detector, or a Pipeline that ends in one."
        )
    return estimator.predict_clean(X, y)


class DetectionScorer:
    """A ``scoring=`` object for detectors. Built by :func:`make_detection_scorer`."""

    def __init__(self, metric=None):
        self.metric = metric

    def __call__(self, estimator, X, y, is_noisy=None, sample_weight=None):
        if self.metric is None:  # as scoring=None: the weights the search routes to score
            return estimator.score(X, y, sample_weight=sample_weight)
        if is_noisy is None:
            raise ValueError(
                f"make_detection_scorer({_metric_name(self.metric)}) rates verdicts against the true noise mask: pass "
                "is_noisy to the search's fit with metadata routing on "
                "(sklearn.config_context(enable_metadata_routing=True)); without the truth use make_detection_scorer()."
            )
        return self.metric(np.asarray(is_noisy, dtype=bool), _verdicts(estimator, X, y))

    def get_metadata_routing(self):
        request = MetadataRequest(owner=type(self).__name__)
        if self.metric is not None:
            request.score.add_request(param="is_noisy", alias=True)
        else:
            request.score.add_request(param="sample_weight", alias=True)
        return request

    def __repr__(self):
        return f"make_detection_scorer({'' if self.metric is None else _metric_name(self.metric)})"


def make_detection_scorer(metric=None):
    """A scorer for ``GridSearchCV(scoring=...)`` over a detector's parameters.

    Parameters
    ----------
    metric : callable ``metric(is_noisy, clean_pred)`` or None, default=None
        None: the detector's label-free :meth:`~skclip_noise.detectors.BaseNoiseDetector.score`
        (no truth needed; the same as leaving ``scoring`` unset, a ``sample_weight``
        routed to the search's ``fit`` included). A metric of
        :mod:`skclip_noise.metrics` (e.g. ``clean_f1_score``): the held-out verdicts
        ``predict_clean(X, y)`` against the true mask ``is_noisy``, which the search's
        ``fit`` must receive with metadata routing on (benchmarks, or a trusted set).

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y, is_noisy=None, sample_weight=None)``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skclip_noise import ConsensusDetector, make_noisy_labels
    >>> from skclip_noise.model_selection import make_detection_scorer
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 100)
    >>> X = np.eye(3)[y] * 3 + rng.normal(size=(300, 3))
    >>> y_noisy, _ = make_noisy_labels(y, "symmetric", 0.3, random_state=0)
    >>> search = GridSearchCV(ConsensusDetector(random_state=0), {"n_rounds": [1, 2]},
    ...                       scoring=make_detection_scorer(), cv=3).fit(X, y_noisy)
    >>> sorted(search.best_params_)
    ['n_rounds']
    """
    if metric is not None and not callable(metric):
        raise TypeError(f"metric must be a callable metric(is_noisy, clean_pred) or None; got {metric!r}.")
    return DetectionScorer(metric)


def prefer_defaults(defaults, *, n_standard_errors=2.0, scoring=None):
    """A ``GridSearchCV(refit=...)`` rule: the best candidate only when it beats the defaults.

    A label-free score is noisy on small held-out folds, and a candidate can top the grid
    by chance. This rule compares the best candidate with the ``defaults`` fold by fold
    (the same folds, so the difference is paired) and keeps the defaults unless the best
    candidate's mean gain exceeds ``n_standard_errors`` standard errors of that paired
    difference: the "one standard error" habit of model selection, aimed at the defaults.

    Two standard errors by default: with five folds the standard error itself rests on
    four degrees of freedom, and one standard error is a one-sided test at about 81 %
    (two: about 94 %). Measured on the 54 settings of the label-free benchmark
    (``benchmarks/results/label_free_rules_class_weight.md``, a
    :class:`~skclip_noise.ConsensusDetector` grid of ``n_neighbors`` x ``cv`` with the
    ``threshold`` at its default): picks worse than the defaults by more than 0.005 in
    1 setting with 2, 2 with 1 and 4 with the plain best mean. For a pipeline
    ``detector -> classifier`` rated by the noise-corrected accuracy, with the
    ``threshold`` searched too, five folds were not enough (regret up to 0.038 under
    pair-flip noise) and ``RepeatedStratifiedKFold(n_splits=5, n_repeats=2)`` met the
    benchmark's goals in all 54 settings (``label_free_rules_repeats2.md``).

    A candidate whose fit failed on some fold (a NaN score, ``error_score=np.nan``) is
    never the best; when it is the defaults, the best candidate that did not fail is
    picked. When every candidate failed, a ValueError says so.

    Parameters
    ----------
    defaults : dict
        The default parameter values, e.g. ``{"n_neighbors": 20, "cv": 5}``; only the
        names the grid varies (more than one value among its candidates) are compared.
        One candidate of the grid must match them.
    n_standard_errors : float, default=2.0
        How many standard errors of the paired per-fold difference the best candidate
        must beat the defaults by; 0 picks the best mean, as ``refit=True`` does, and 1
        is the textbook "one standard error" rule.
    scoring : str or None, default=None
        With several scorers, the name of the one to use (``cv_results_``'s
        ``split{i}_test_<name>``); None for a single score.

    Returns
    -------
    refit : callable ``refit(cv_results) -> int``
        For ``GridSearchCV(..., refit=prefer_defaults(...))``; ``best_index_`` is its answer.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV, StratifiedKFold
    >>> from skclip_noise import ConsensusDetector, make_noisy_labels
    >>> from skclip_noise.model_selection import prefer_defaults
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 100)
    >>> X = np.eye(3)[y] * 3 + rng.normal(size=(300, 3))
    >>> y_noisy, _ = make_noisy_labels(y, "symmetric", 0.3, random_state=0)
    >>> search = GridSearchCV(ConsensusDetector(random_state=0), {"n_neighbors": [10, 20, 40]},
    ...                       cv=StratifiedKFold(5, shuffle=True, random_state=0),
    ...                       refit=prefer_defaults({"n_neighbors": 20})).fit(X, y_noisy)
    >>> int(search.cv_results_["mean_test_score"].argmax())  # 40 tops the grid by 0.0004 ...
    2
    >>> search.best_params_  # ... on one fold of five: within the noise, so the defaults stay
    {'n_neighbors': 20}
    """
    if not isinstance(defaults, dict) or not defaults:
        raise ValueError(f"defaults must be a non-empty dict of parameter values; got {defaults!r}.")
    if isinstance(n_standard_errors, bool) or not isinstance(n_standard_errors, numbers.Real) \
            or not np.isfinite(n_standard_errors) or n_standard_errors < 0:
        raise ValueError(f"n_standard_errors must be a finite number >= 0; got {n_standard_errors!r}.")

    def refit(cv_results):
        suffix = "score" if scoring is None else scoring
        columns = sorted((key for key in cv_results if key.startswith("split") and key.endswith(f"_test_{suffix}")),
                         key=lambda key: int(key[len("split"):key.index("_")]))
        if not columns:
            raise ValueError(f"cv_results_ has no per-split test scores named {suffix!r}; with several scorers, "
                             "pass scoring=<the scorer's name>.")
        folds = np.column_stack([np.asarray(cv_results[key], dtype=float) for key in columns])
        if not any(name in params for params in cv_results["params"] for name in defaults):
            raise ValueError(f"None of the defaults' names {sorted(defaults)} is a parameter of the grid.")
        candidates = list(cv_results["params"])
        varied = [name for name in defaults if _varies(name, candidates)]
        matching = [index for index, params in enumerate(candidates)
                    if all(same_param_value(params[name], defaults[name]) for name in varied if name in params)]
        if not matching:
            raise ValueError(f"No candidate of the grid has the defaults {defaults}; add them to the grid.")
        means = folds.mean(axis=1)  # NaN where a fold's fit failed (error_score=nan)
        if np.isnan(means).all():
            raise ValueError("every candidate's cross-validated score is NaN (its fits failed on some fold); "
                             "look at the search's error messages, or set error_score='raise'.")
        default, best = matching[0], int(np.nanargmax(means))
        if np.isnan(means[default]):  # the defaults failed on some fold: the best that did not
            return best
        difference = folds[best] - folds[default]
        spread = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else 0.0
        return best if difference.mean() > n_standard_errors * spread else default

    return refit
