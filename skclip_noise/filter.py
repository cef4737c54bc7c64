"""cleanlab's ``find_label_issues``, backed by :class:`~skclip_noise.ConsensusDetector`.

Users of ``cleanlab.filter.find_label_issues(labels, pred_probs)`` switch with one import::

    from skclip_noise.filter import find_label_issues   # was: from cleanlab.filter import ...

The arguments keep cleanlab's names where their meaning is the same; ``features`` adds the
embeddings the detector's probe and neighbours work on. See the "Coming from cleanlab"
page of the user guide for what maps to what and where the results differ.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
import scipy.special
from sklearn.base import clone

from ._warnings import warn_user
from .detectors import ConsensusDetector
from .detectors._absent_classes import split_absent_classes
from .detectors._pred_probs_features import FEATURE_FLOOR_SHARE, log_proba_features  # noqa: F401 (public here)
from .selection import confident_learning_mask, normalized_margin, self_confidence
from .selection._common import lowest_per_group
from .selection.pruning import (
    COUNT_FILTERS, FILTER_METHODS, check_confident_joint, check_count_options, check_num_to_remove_per_class,
)
from .data.features import check_feature_values
from .data.labels import check_label_codes, check_pred_probs, dense_numeric_array

__all__ = ["find_label_issues", "fit_pred_probs_detector", "log_proba_features"]

RANKINGS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
#: The keys of cleanlab's ``rank_by_kwargs`` that keep their meaning here.
RANK_BY_KWARGS = ("adjust_pred_probs",)
#: cleanlab's threshold for a class no label uses when it adjusts probabilities: above any probability.
ABSENT_CLASS_THRESHOLD = 2.0
#: Probabilities are floored here before a logarithm (as cleanlab clips them).
PROBA_FLOOR = 1e-6
def fit_pred_probs_detector(codes, pred_probs, features=None, detector=None, groups=None):
    """The fitted :class:`~skclip_noise.ConsensusDetector` behind :func:`find_label_issues`,
    for its scores (``clean_proba_``, ``class_proba_``, ``label_issues_``).

    Without ``features`` it works on :func:`log_proba_features`; its first round takes
    ``pred_probs`` themselves as the probe's out-of-fold probabilities of the given
    labels (they are exactly that, from the caller's model, which a probe refitted on
    their logarithms only approximates), the later rounds refit the probe on the samples
    it keeps (unless that probe and the neighbours predict the kept labels worse than
    ``pred_probs`` do: ``pred_probs`` are then the evidence alone,
    ``pred_probs_weight_ = 1``), and it types no outliers (``detect_outliers=False``): the outlier model
    reads the labels of a sample's neighbours in an embedding, and among a model's
    probability vectors a class under heavy noise looks like images of no class. With
    ``features`` it is ``detector.fit(features, codes, pred_probs=pred_probs, groups=groups)``.

    Classes of ``pred_probs`` that no sample is given are not among the detector's
    ``classes_``. One whose samples (those it is most probable for) are given one class
    as consistently as that class's own samples are is a finer part of it (a pretrained
    model's breeds of "dog"): its probability counts for that class. One whose samples'
    labels are spread is *foreign*: its probability, calibrated, enters Bayes' rule as
    evidence that a label is wrong whatever it is, and such samples are typed
    ``"outlier"`` (no suggested label among the given classes). With too few samples to
    tell, its column is dropped.

    Parameters
    ----------
    codes : array-like of shape (n_samples,)
        Given labels as integer codes ``0 .. K-1``.
    pred_probs : array-like of shape (n_samples, K) or None
        Out-of-sample predicted probabilities.
    features : array-like of shape (n_samples, n_features), default=None
        At least one of ``pred_probs`` and ``features`` is needed.
    detector : ConsensusDetector, default=None
        Cloned before fitting (another type raises a TypeError); None is
        ``ConsensusDetector(random_state=0)``.
    groups : array-like of shape (n_samples,), default=None
        Ids of samples that are not independent (see ``ConsensusDetector.fit``).

    Returns
    -------
    detector : ConsensusDetector
        The fitted clone.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise.filter import fit_pred_probs_detector
    >>> labels = np.repeat([0, 1, 2], 50)
    >>> pred_probs = np.full((150, 3), 0.1) + 0.7 * np.eye(3)[labels]
    >>> pred_probs[:5] = [0.8, 0.1, 0.1]   # five samples of class 0 ...
    >>> labels[:5] = 1                      # ... labelled 1
    >>> detector = fit_pred_probs_detector(labels, pred_probs)
    >>> bool((detector.clean_proba_[:5] < 0.5).all() and (detector.clean_proba_[5:] > 0.5).mean() > 0.95)
    True
    """
    codes, pred_probs, features = _check_evidence(codes, pred_probs, features)
    return _fit_checked(codes, pred_probs, features, _cloned_detector(detector), groups)[0]


def _cloned_detector(detector):
    """An unfitted clone of ``detector``, or ``ConsensusDetector(random_state=0)``."""
    if detector is None:
        return ConsensusDetector(random_state=0)
    if not isinstance(detector, ConsensusDetector):
        raise TypeError(f"detector must be a ConsensusDetector; got {type(detector).__name__}.")
    return clone(detector)


def _fit_checked(codes, pred_probs, features, detector, groups=None):
    """(:func:`fit_pred_probs_detector` on checked inputs and a detector of our own, the
    foreign classes of ``pred_probs``).

    Classes of ``pred_probs`` that no sample is given leave the detector's classes
    (``classes_``: the given ones): merged into a given class, or foreign and evidence
    against every label (``_absent_classes``)."""
    signals, foreign = {"groups": groups}, np.zeros(0, dtype=np.int64)
    if pred_probs is not None:
        given_proba, foreign = split_absent_classes(codes, pred_probs)
        absent_proba = np.take(pred_probs, foreign, axis=1).astype(np.float64, copy=False) if len(foreign) else None
        signals.update(pred_probs=given_proba, absent_proba=absent_proba)
    if features is None:
        detector.set_params(detect_outliers=False)
        # X is pred_probs themselves: the detector turns its float32 copy into their log_proba_features.
        detector._fit_with(signals["pred_probs"], codes, first_probe=signals["pred_probs"], **signals)
    else:
        detector._fit_with(features, codes, **signals)
    return detector, foreign


def _caller_class_proba(detector, foreign, n_classes):
    """The detector's calibrated probabilities over all ``n_classes`` of the caller's
    ``pred_probs``: the given classes' (merged classes included), the ``foreign``
    classes' calibrated shares, 0 elsewhere."""
    absent = detector._absent_class_proba
    if absent is None and len(detector.classes_) == n_classes:
        return detector.class_proba_
    proba = np.zeros((len(detector.class_proba_), n_classes))
    if absent is None:
        proba[:, detector.classes_] = detector.class_proba_
        return proba
    proba[:, detector.classes_] = detector.class_proba_ * (1.0 - absent.sum(axis=1))[:, None]
    proba[:, foreign] = absent
    return proba


def _confidence_weighted_entropy(codes, proba):
    """cleanlab's ``confidence_weighted_entropy`` score: lower is more likely an issue.
    The entropy of the probabilities as they are (``0 log 0 = 0``, as cleanlab computes it
    since 2.5); only the self-confidence and the ratio are clipped, as there."""
    n_classes = proba.shape[1]
    entropy = -scipy.special.xlogy(proba, proba).sum(axis=1) / np.log(n_classes)
    confidence = np.clip(proba[np.arange(len(codes)), codes], PROBA_FLOOR, None)
    ratio = entropy / confidence
    return np.log(ratio + 1) / np.clip(ratio, PROBA_FLOOR, None)


def _lifted_for_min_per_class(codes, issues, clean_proba, min_per_class):
    """The flags to lift so that every class keeps ``min(min_per_class, its size)`` samples:
    in each class short of it, its most probably clean flagged samples."""
    counts = np.bincount(codes)
    kept = np.bincount(codes[~issues], minlength=counts.size)
    shortfall = np.clip(np.minimum(min_per_class, counts) - kept, 0, None)
    lifted = np.zeros_like(issues)
    for code in np.flatnonzero(shortfall):  # one pass per short class, not per sample
        flagged = np.flatnonzero(issues & (codes == code))
        lifted[flagged[np.argsort(-clean_proba[flagged], kind="stable")[: shortfall[code]]]] = True
    return lifted


def _adjusted_by_class_thresholds(codes, proba):
    """cleanlab's ``adjust_pred_probs``: each class's mean probability over the samples given
    it (its confident threshold) subtracted from its column, then every row shifted by the
    largest threshold and renormalised, so a class whose samples are all confident is not
    every sample's rival."""
    n_classes = proba.shape[1]
    counts = np.bincount(codes, minlength=n_classes)
    given = np.bincount(codes, weights=proba[np.arange(codes.size), codes], minlength=n_classes)
    thresholds = np.where(counts > 0, given / np.maximum(counts, 1), ABSENT_CLASS_THRESHOLD)
    adjusted = proba - thresholds + thresholds.max()
    return adjusted / adjusted.sum(axis=1, keepdims=True)


def _check_rank_by_kwargs(rank_by_kwargs):
    """``rank_by_kwargs`` as a dict of the keys that keep cleanlab's meaning."""
    if rank_by_kwargs is None:
        return {}
    if not isinstance(rank_by_kwargs, dict):
        raise ValueError(f"rank_by_kwargs must be a dict or None; got {type(rank_by_kwargs).__name__}.")
    unknown = sorted(set(rank_by_kwargs) - set(RANK_BY_KWARGS), key=str)
    if unknown:
        raise ValueError(
            f"rank_by_kwargs takes {RANK_BY_KWARGS} (cleanlab's get_label_quality_scores options that apply to "
            f"the detector's probabilities); got {unknown}. The score itself is return_indices_ranked_by."
        )
    if not isinstance(rank_by_kwargs.get("adjust_pred_probs", False), (bool, np.bool_)):
        raise ValueError(f"rank_by_kwargs['adjust_pred_probs'] must be True or False; "
                         f"got {rank_by_kwargs['adjust_pred_probs']!r}.")
    return dict(rank_by_kwargs)


def _check_options(return_indices_ranked_by, filter_by, frac_noise, min_examples_per_class, multi_label,
                   num_to_remove_per_class=None, confident_joint=None):
    """Every option that needs no data, checked before any work; the warnings cleanlab gives
    for an option a rule does not use."""
    if multi_label:
        raise ValueError(
            "multi_label=True is not supported: skclip_noise judges one label per image. "
            "Use cleanlab.filter.find_label_issues for multi-label data."
        )
    if return_indices_ranked_by is not None and return_indices_ranked_by not in RANKINGS:
        raise ValueError(f"return_indices_ranked_by must be None or one of {RANKINGS}; got {return_indices_ranked_by!r}.")
    if filter_by is not None and filter_by not in FILTER_METHODS:
        raise ValueError(
            f"filter_by must be None (the detector's Bayes rule) or one of {FILTER_METHODS}; got {filter_by!r}."
        )
    if not isinstance(frac_noise, numbers.Real) or not 0 < frac_noise <= 1:
        raise ValueError(f"frac_noise must be a number in (0, 1]; got {frac_noise!r}.")
    if filter_by is None and frac_noise != 1:
        raise ValueError(
            "frac_noise scales confident learning's counts: pass filter_by too (e.g. "
            "filter_by='prune_by_noise_rate'), or leave frac_noise=1 with the default Bayes rule."
        )
    if isinstance(min_examples_per_class, bool) or not isinstance(min_examples_per_class, numbers.Integral) \
            or min_examples_per_class < 0:
        raise ValueError(f"min_examples_per_class must be an integer >= 0; got {min_examples_per_class!r}.")
    if filter_by is None and confident_joint is not None:
        raise ValueError(
            f"confident_joint sets the counts of confident learning's rules (filter_by in {COUNT_FILTERS}); "
            "the default decision (filter_by=None) estimates the noise itself. Pass one of those filter_by "
            "(cleanlab's default is 'prune_by_noise_rate'), or leave confident_joint out."
        )
    if filter_by is not None:
        check_count_options(filter_by, frac_noise, num_to_remove_per_class, confident_joint)
        if frac_noise != 1 and filter_by not in COUNT_FILTERS:
            warn_user(f"frac_noise scales the counts of filter_by in {COUNT_FILTERS}; it is ignored for "
                      f"filter_by={filter_by!r}, as in cleanlab.", UserWarning)


def _check_evidence(labels, pred_probs, features):
    """Labels as codes and the evidence, checked against each other before any work."""
    if pred_probs is None and features is None:
        raise ValueError(
            "find_label_issues needs evidence: pred_probs (out-of-sample class probabilities "
            "of your model), features (an (n_samples, n_features) embedding array), or both."
        )
    if pred_probs is not None:
        # A table's columns are read by name (class codes, or their text), as the detectors read them.
        classes = np.arange(pred_probs.shape[1]) if isinstance(pred_probs, pd.DataFrame) else None
        pred_probs = check_pred_probs(pred_probs, classes=classes)  # float32/64 are read, never written: not copied
        codes = check_label_codes(labels, pred_probs.shape[1], pred_probs.shape[0])
    else:
        codes = check_label_codes(labels)
    if features is not None:
        features = dense_numeric_array(features, "features")
        if features.ndim != 2 or features.dtype.kind not in "iufb":
            raise ValueError(
                f"features must be a 2-D numeric array (n_samples, n_features); got shape {features.shape} "
                f"and dtype {features.dtype}. Embed images first, e.g. with skclip_noise.ImageEmbedder."
            )
        check_feature_values(features, name="features")
        if features.shape[0] != codes.shape[0]:
            raise ValueError(
                f"features has {features.shape[0]} rows but labels has {codes.shape[0]} entries; "
                "pass one row per sample."
            )
    return codes, pred_probs, features


def find_label_issues(
    labels,
    pred_probs=None,
    features=None,
    *,
    return_indices_ranked_by=None,
    rank_by_kwargs=None,
    filter_by=None,
    frac_noise=1.0,
    num_to_remove_per_class=None,
    min_examples_per_class=1,
    confident_joint=None,
    n_jobs=None,
    verbose=False,
    multi_label=False,
    detector=None,
    groups=None,
):
    """Find label issues from your model's ``pred_probs``, from embeddings, or both.

    A drop-in for ``cleanlab.filter.find_label_issues`` backed by
    :class:`~skclip_noise.ConsensusDetector`. With ``pred_probs`` alone, the detector
    works on their (floored) log-probabilities: its first round takes your
    ``pred_probs`` as its probe's, later rounds relearn the classes from your model's
    output on the samples it keeps, and the neighbours compare samples by the shape of
    their predicted distribution. Where those relearned signals predict the labels it
    keeps worse than your ``pred_probs`` (many classes of few samples each), your
    ``pred_probs`` are its evidence alone. With ``features`` too, it works on the
    features and your ``pred_probs`` join as one more signal, weighted by how well they
    predict the labels it trusts (weight 0 when they do not help). Measured in
    ``benchmarks/results/find_label_issues_*.md``, with four kinds of caller model in
    ``find_label_issues_models.md``.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Given labels as integer codes ``0 .. K-1`` (cleanlab's format). A class of one
        sample is judged by ``pred_probs`` alone (nothing else has seen it; without
        ``pred_probs`` it is refused).
    pred_probs : array-like of shape (n_samples, K), default=None
        Out-of-sample predicted probabilities (e.g. from ``cross_val_predict(...,
        method="predict_proba")``); column ``k`` is class ``k``. Classes that no label
        uses may have columns (a model trained on more classes). A finer part of a given
        class (its samples given that class as consistently as the class's own) counts
        for it; a foreign class (its samples' labels spread) is evidence against any
        label of a sample your model places there (typed ``"outlier"`` in the
        detector's ``label_issues_``); see :func:`fit_pred_probs_detector`.
    features : array-like of shape (n_samples, n_features), default=None
        Embeddings of the samples (e.g. from :class:`~skclip_noise.ImageEmbedder`).
    return_indices_ranked_by : {None, "self_confidence", "normalized_margin", \
"confidence_weighted_entropy"}, default=None
        None returns the boolean mask; otherwise the indices of the issues, most
        likely issue first, ranked by cleanlab's score of that name computed on the
        detector's calibrated class probabilities (``class_proba_``).
    rank_by_kwargs : dict, default=None
        As in cleanlab: ``{"adjust_pred_probs": True}`` subtracts each class's
        confident threshold from those probabilities before scoring (a class no label
        uses gets a threshold of 2, as in cleanlab). No other key applies here.
    filter_by : {None, "prune_by_noise_rate", "prune_by_class", "both", \
"confident_learning", "predicted_neq_given", "low_normalized_margin", \
"low_self_confidence"}, default=None
        None: the detector's own decision (Bayes' rule with the estimated noise
        transition, no noise rate needed). A cleanlab filter name applies that
        confident-learning rule to the detector's calibrated probabilities instead
        (over the classes the labels use; a sample most probably of another class of
        ``pred_probs`` is an issue too).
    frac_noise : float in (0, 1], default=1.0
        As in cleanlab; only with a ``filter_by``, and it scales the counts of
        ``"prune_by_noise_rate"``, ``"prune_by_class"`` and ``"both"`` only (for the
        other rules it is ignored with a warning, as cleanlab does).
    num_to_remove_per_class : array-like of int of shape (K,), default=None
        As in cleanlab, the number of issues to flag among the samples given each
        class (0 for a class no label uses). With ``filter_by=None`` exactly that many:
        those the detector finds most likely wrong (lowest ``clean_proba_``). With a
        count rule (``"prune_by_noise_rate"``, ``"prune_by_class"``, ``"both"``) it
        sets that rule's counts, see
        :func:`~skclip_noise.selection.confident_learning_mask`; other rules refuse it
        (as cleanlab does), and ``frac_noise`` is then ignored with a warning.
    min_examples_per_class : int, default=1
        Never leave a class with fewer unflagged samples than this (or than it has).
    confident_joint : array-like of shape (K, K), default=None
        As in cleanlab, a confident joint of your ``pred_probs`` (rows: given label,
        columns: true label; ``cleanlab.count.compute_confident_joint``): the count
        rules prune by its counts instead of those of the detector's probabilities
        (columns of classes no label uses are left out: their samples are issues
        anyway). Other rules ignore it with a warning; with ``filter_by=None`` it is
        refused (the default decision estimates the noise itself).
    n_jobs : int, default=None
        Threads of the neighbour search and the embedding, as in the detector.
    verbose : bool, default=False
    multi_label : bool, default=False
        Not supported (one label per image); True raises a ValueError.
    detector : ConsensusDetector, default=None
        A configured, unfitted detector to use (cloned); None is
        ``ConsensusDetector(random_state=0)``, deterministic like cleanlab's call.
        Without ``features`` its ``detect_outliers`` is set to False (outliers are
        judged among image neighbours, not among a model's probabilities).
    groups : array-like of shape (n_samples,), default=None
        Ids of samples that are not independent (near-copies of one image, frames of
        one video): judged as one, as in ``ConsensusDetector.fit`` (with ``features``,
        exact copies are grouped anyway). Not in cleanlab's call; make your
        ``pred_probs`` with the same groups (``GroupKFold``).

    Returns
    -------
    label_issues : ndarray
        A boolean mask, True for a likely label issue, or (with
        ``return_indices_ranked_by``) the issues' indices, most likely first.

    See Also
    --------
    skclip_noise.ConsensusDetector : the estimator behind it, for Pipelines and
        grid searches (``fit(X, y, pred_probs=...)``).

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise import make_noisy_labels
    >>> from skclip_noise.filter import find_label_issues
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1, 2], 100)
    >>> features = np.eye(3)[labels] * 3 + rng.normal(size=(300, 3))
    >>> noisy, is_noisy = make_noisy_labels(labels, "symmetric", 0.2, random_state=0)
    >>> issues = find_label_issues(noisy, features=features)
    >>> bool((issues == is_noisy).mean() > 0.9)
    True
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_predict
    >>> pred_probs = cross_val_predict(LogisticRegression(), features, noisy, method="predict_proba")
    >>> ranked = find_label_issues(noisy, pred_probs, return_indices_ranked_by="self_confidence")
    >>> bool(np.isin(ranked, np.flatnonzero(is_noisy)).mean() > 0.8)
    True
    """
    _check_options(return_indices_ranked_by, filter_by, frac_noise, min_examples_per_class, multi_label,
                   num_to_remove_per_class, confident_joint)
    rank_by_kwargs = _check_rank_by_kwargs(rank_by_kwargs)
    if rank_by_kwargs.get("adjust_pred_probs") and return_indices_ranked_by == "confidence_weighted_entropy":
        raise ValueError("rank_by_kwargs={'adjust_pred_probs': True} does not apply to "
                         "return_indices_ranked_by='confidence_weighted_entropy' (as in cleanlab).")
    codes, pred_probs, features = _check_evidence(labels, pred_probs, features)
    counts = np.bincount(codes, minlength=int(codes.max()) + 1 if pred_probs is None else pred_probs.shape[1])
    if num_to_remove_per_class is not None:
        num_to_remove_per_class = check_num_to_remove_per_class(num_to_remove_per_class, counts)
    if confident_joint is not None and filter_by in COUNT_FILTERS:
        confident_joint = check_confident_joint(confident_joint, counts)
    else:
        confident_joint = None
    detector = _cloned_detector(detector)
    if n_jobs is not None:
        detector.set_params(n_jobs=n_jobs)
    if verbose:
        detector.set_params(verbose=1)
    detector, foreign = _fit_checked(codes, pred_probs, features, detector, groups)
    if filter_by is not None or return_indices_ranked_by is not None:  # an (n, K) array: only where read
        proba = _caller_class_proba(detector, foreign, counts.size)
    if filter_by is None:
        if num_to_remove_per_class is None:
            issues = ~detector.clean_mask_
        else:
            issues = lowest_per_group(np.ones(codes.size, dtype=bool), codes, detector.clean_proba_,
                                      num_to_remove_per_class)
        issues &= ~_lifted_for_min_per_class(codes, issues, detector.clean_proba_, min_examples_per_class)
    else:  # confident learning over the given classes; a sample most probably of another class is an issue too
        given = detector.classes_
        issues = ~confident_learning_mask(
            np.searchsorted(given, codes), detector.class_proba_, filter_by=filter_by,
            frac_noise=frac_noise if filter_by in COUNT_FILTERS and num_to_remove_per_class is None else 1.0,
            num_to_remove_per_class=None if num_to_remove_per_class is None else num_to_remove_per_class[given],
            confident_joint=None if confident_joint is None else confident_joint[np.ix_(given, given)],
            min_per_class=min_examples_per_class, rank_by="self_confidence",  # cleanlab's order in a class
        )
        issues |= ~np.isin(proba.argmax(axis=1), detector.classes_)
        issues &= ~_lifted_for_min_per_class(codes, issues, detector.clean_proba_, min_examples_per_class)
    if return_indices_ranked_by is None:
        return issues
    score = {
        "self_confidence": self_confidence,
        "normalized_margin": normalized_margin,
        "confidence_weighted_entropy": _confidence_weighted_entropy,
    }[return_indices_ranked_by](
        codes, _adjusted_by_class_thresholds(codes, proba) if rank_by_kwargs.get("adjust_pred_probs") else proba
    )
    flagged = np.flatnonzero(issues)
    return flagged[np.argsort(score[flagged], kind="stable")]
