"""ConsensusDetector: a converged probe and the neighbours agree, then Bayes' rule decides."""

from __future__ import annotations

from functools import partial

import numpy as np

from .._param_validation import Integral, Interval, StrOptions, constraints_for, positive_int
from ..base import BaseNoiseDetector
from ..data.labels import check_pred_probs
from ..selection import NeighbourIndex, confident_learning_mask, pooled_noise_transition, temperature_scale
from ..selection.neighbours import KNN_BACKENDS
from ..training.device import fitted_device, resolve_device, seed_from_random_state
from ._consensus_rules import (
    calibrate, evidence_gain, mix_signals, own_evidence, resolve_calibration, warn_rejected_outliers,
    warn_without_evidence, weigh_pred_probs, weigh_zero_shot, weighs_everything,
)
from ._duplicates import check_groups, copied_samples, judged_groups
from ._absent_classes import absent_class_posterior
from ._consensus_verdicts import ConsensusVerdicts
from ._kept_neighbours import KeptNeighbourhoods
from ._neighbourhood import check_neighbourhood
from ._pred_probs_features import log_proba_features
from ._probe import DEFAULT_CS, CrossFittedProbe, check_Cs, check_folds
from .label_match import check_templates, class_prompt_tokens, clip_zero_shot_proba, zero_shot_backbone

__all__ = ["ConsensusDetector"]

#: ``n_neighbors="auto"``: this many, or one fewer than its given class has for a pair of a smaller class.
AUTO_NEIGHBOURS = 20
#: How to let a class of one sample be judged: it has no neighbour of its class, and the probe
#: that judges it never saw that class; the caller's pred_probs (or CLIP's zero-shot) can back it.
LONE_CLASS_FIX = (
    "Pass pred_probs from a model that knows that class (fit(X, y, pred_probs=...)), or drop or merge that class."
)


class ConsensusDetector(ConsensusVerdicts, BaseNoiseDetector):
    """Noisy-label detector that combines a cross-fitted probe, neighbours and Bayes' rule.

    No noise rate is needed, and the structure of the noise (which classes are
    confused with which) is estimated from the data. On the same frozen features it
    beat cleanlab's confident learning (with ``C`` tuned by cross-validation and its
    best ``filter_by``) on both clean-side and noisy-side F1 in all 48 settings it was
    designed on (symmetric, pair-flip, instance-dependent and class-confusable noise, on
    Fashion-MNIST and digits embeddings and on raw pixels;
    ``benchmarks/results/detectors_consensus.md``) and in 47 of 48 held out (MNIST; the
    one miss by 0.0011 clean F1). Read more in the
    :ref:`User Guide <consensus>`.

    1. **Evidence.** ``P``, out-of-fold class probabilities of a logistic-regression
       probe on the standardised features (``C`` chosen by the out-of-fold log-loss), and
       ``H``, the label shares among each sample's ``n_neighbors`` nearest neighbours.
       They fail differently (the probe fits dense flips, the neighbours err where a
       class is sparse); their mean ``Q`` is the consensus.
    2. **Noise structure.** Confident learning on ``Q`` gives a first clean set and the
       transition matrix ``T[true, given]``
       (:func:`~skclip_noise.selection.pooled_noise_transition`).
    3. **Clean posterior**, ``n_rounds`` times: refit the probe on the kept samples
       (classes weighted by ``class_weight``), count only kept neighbours, average,
       calibrate (``calibration``) and apply Bayes' rule
       ``P(clean) = T[y, y] R(y | x) / sum_i T[i, y] R(i | x)``. Refitting on the kept
       samples turns an estimate of ``p(given label | x)`` into one of
       ``p(true class | x)``, which is what separates structured flips.
    4. **Images of no class** (``detect_outliers``): the labels of each sample's
       neighbours, under a class (or the border of two) against labels as arbitrary as
       the data set's (:func:`~skclip_noise.selection.fit_neighbour_outlier_model`),
       multiply ``P(clean)`` by ``1 - P(outlier)``.
    5. **Hard images with a plausible wrong label** (``flag_disagreement``, off by
       default): ``P(clean)`` is capped by the given label's share against its
       strongest rival, ``R(y | x) / (R(y | x) + max_{k != y} R(k | x))``; at the
       default ``threshold`` of 0.5 that flags the pairs whose most probable class is
       another.

    A pair is clean when ``P(clean)`` exceeds ``threshold`` (0.5, the Bayes decision).
    Features that predict the given labels no better than the labels' frequencies do
    (``evidence_gain_`` not above zero) give nothing to judge a label by: every pair is
    then clean, with a warning (``benchmarks/results/weak_features.md``).
    ``label_issues_["issue_type"]`` says what is wrong with a flagged pair:
    ``"outlier"`` when the image more likely than not belongs to none of the classes
    (no ``suggested_label``; its probability is ``outlier_score``), else ``"label"``
    (a wrong label, ``suggested_label`` the likely right one); kept pairs are ``"ok"``.
    Exact copies of one image (identical features) given the same label, and such
    members of one ``groups`` id, are judged as one, and a neighbour image's copies take
    one place of a neighbourhood (:ref:`User Guide <duplicates>`).
    ``fit(X, y, pred_probs=...)`` adds the out-of-sample probabilities of the caller's
    own model as one more signal (see :meth:`fit`; :func:`skclip_noise.find_label_issues`
    is cleanlab's function on top of it).

    Parameters
    ----------
    backbone : str, default="open_clip:ViT-B-32"
        Backbone spec (see :func:`skclip_noise.backbones.load_backbone`). Ignored when
        X is a feature array (unless ``zero_shot``, which needs its text tower).
    pretrained : str, bool or None, default="openai"
    n_neighbors : int or "auto", default="auto"
        Neighbours per sample. An int must be below the size of the smallest class.
        ``"auto"``: 20 (SimiFeat's 10 lost where noise is dense,
        ``benchmarks/results/detectors_consensus.md``), and a pair given a class of
        ``m <= 20`` samples asks its ``m - 1`` nearest, so one small class leaves every
        other neighbourhood whole (``benchmarks/results/small_classes.md``). A class of
        one sample has no neighbour to ask and no fold of the probe to learn it: it is
        accepted only with another model to judge it (``fit``'s ``pred_probs``, or
        ``zero_shot``), whose probabilities alone then make its row.
    cv : int, default=5
        Folds of the cross-fitted probe. A class of fewer samples is judged with a
        warning (each of its samples by a probe that saw the others only).
    Cs : sequence of float, default=None
        Regularisation path of the probe; None is ``10 ** arange(-4, 2)``.
    n_rounds : int, default=2
        Rounds of refitting on the kept samples.
    class_weight : {"balanced"} or None, default="balanced"
        Class weights of the probe refitted on the kept samples (scikit-learn's
        meaning; ``C`` is still chosen unweighted): under a long tail an unweighted,
        strongly regularised probe flags a rare class's clean members (step 3).
    calibration : {"auto", "bias_corrected", "noise_corrected", "temperature"}, default="auto"
        How the averaged evidence is calibrated (step 3): a temperature and a bias per
        class fitted to the kept labels
        (``"bias_corrected"``, :func:`~skclip_noise.selection.fit_bias_corrected_temperature`),
        the temperature alone (``"temperature"``, as before 2026-12-05), or both fitted
        to every given label through ``T`` (``"noise_corrected"``,
        :func:`~skclip_noise.selection.fit_noise_corrected_temperature`), which no
        verdict biases. ``"auto"``: ``"noise_corrected"`` when the detector judges a
        caller's ``pred_probs`` alone (:func:`~skclip_noise.find_label_issues`),
        ``"bias_corrected"`` on features, as measured
        (``benchmarks/results/noise_corrected_calibration.md``).
    max_samples : int or None, default=20_000
        Training samples per fold model of the probe: larger folds train on a
        stratified random subset of this size, so the probe's cost stops growing with N
        (every sample is still scored out of fold; ``C`` is chosen on these subsets).
        None: all of them. At least the number of classes.
    threshold : float in [0, 1], default=0.5
    detect_outliers : bool, default=True
        Judge images of none of the classes as issues (step 4). False: every image is
        assumed to belong to one of the classes (steps 1 to 3 only, as measured in
        ``detectors_consensus.md`` before this step existed).
    flag_disagreement : bool, default=False
        Also flag the pairs whose given label's share against its strongest rival is
        at most ``threshold`` (step 5; at the default 0.5, those whose most probable
        class is another). To decide, check 30 of those pairs by hand (kept by the default, though
        another class is more probable: :func:`~skclip_noise.disputed_pairs`), and turn
        it on when more than half are wrong.
    zero_shot : bool, default=False
        Add CLIP's zero-shot class probabilities ``Z`` as a third signal (CLIP backbones
        only; integer labels need ``class_names``): ``(1 - w) Q + w Z``, the weight ``w``
        (0 to 0.5, ``zero_shot_weight_``) the one under which the mixture best predicts
        the first clean set's labels, so a poor zero-shot signal is weighted away rather
        than averaged in. Leave it off with a random text tower.
    templates : sequence of str, default=("a photo of a {}.",)
        Zero-shot prompts.
    class_names : sequence of str or mapping, default=None
    knn_backend : {"auto", "faiss", "sklearn"}, default="auto"
    image_size, batch_size, num_workers, device, mixed_precision, cache_dir, verbose
        Of the embedding pass, as in :class:`~skclip_noise.ImageEmbedder`.
    n_jobs : int, default=None
        The embedding pass's shards, as in :class:`~skclip_noise.ImageEmbedder`, and the
        neighbour search's threads (faiss; None: the machine's OpenMP threads).
    skip_unreadable : bool, default=False
        Image files (X a list of paths) that cannot be read: False raises, naming the
        file; True fits on the readable images, judges each unreadable one a label
        issue and lists it in ``unreadable_`` (see :ref:`unreadable-files`).
    random_state : int, RandomState instance or None, default=None
        Seeds the probe's folds.

    Attributes
    ----------
    classes_, class_names_, clean_proba_, clean_mask_, predicted_, noise_rate_, label_issues_, device_
        The detector contract. ``label_issues_["label_quality"]`` is the calibrated
        probability of the given label (a ranking score); ``suggested_label`` is the
        most probable class, with its probability.
    noise_transition_ : ndarray of shape (n_classes, n_classes)
        The estimate of ``P(given | true)`` that the Bayes rule uses (step 2:
        :func:`~skclip_noise.selection.pooled_noise_transition`).
    n_features_in_ : int
        The width of X when ``fit`` got a feature array (absent after a fit on images).
    C_ : float
        The probe's regularisation.
    n_neighbors_ : int
        The neighbours searched per sample (with ``"auto"``, a pair given a class of
        at most this many samples asks one fewer than its class has).
    calibration_ : str
        The calibration used: ``calibration`` with ``"auto"`` resolved.
    temperature_ : float
        The last round's temperature.
    class_bias_ : ndarray of shape (n_classes,)
        The last round's class biases (zeros with ``calibration="temperature"``).
    zero_shot_weight_ : float
        The zero-shot signal's weight (0 without ``zero_shot``).
    class_proba_ : ndarray of shape (n_samples, n_classes)
        The calibrated class probabilities of the training samples (the last round's
        mixture of signals): the evidence behind ``label_quality`` and the Bayes rule.
    pred_probs_weight_ : float
        The weight of the ``pred_probs`` passed to :meth:`fit` (0 without them; at most
        1/3, or 1 in :func:`~skclip_noise.find_label_issues` without ``features`` when
        they predict the kept labels better than the probe refitted on them).
    outlier_proba_ : ndarray of shape (n_samples,)
        The probability that each training image belongs to none of the classes (0
        with ``detect_outliers=False``; NaN for an image file that could not be read).
    outlier_rate_ : float
        The share of training pairs whose ``issue_type`` is ``"outlier"``.
    evidence_gain_ : float
        How much better the first round's evidence (``Q``, at the temperature that fits
        every given label, or mixed with the frequencies where that gains significantly
        more) predicts the given labels than their frequencies do, in nats per sample.
        Not above zero: every pair is judged clean.
    n_duplicates_ : int
        How many training samples have an exact copy among the others (identical
        features; 0 with ``pred_probs`` alone in :func:`~skclip_noise.find_label_issues`).
    embeddings_ : ndarray of shape (n_samples, n_features), float32
        The training features; new pairs are searched among them, and :meth:`score`
        (label-free, for ``GridSearchCV``) trains its reference classifier on the kept ones.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise import ConsensusDetector, make_noisy_labels
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 100)
    >>> X = np.eye(3)[y] * 3 + rng.normal(size=(300, 3))
    >>> y_noisy, is_noisy = make_noisy_labels(y, "pairflip", 0.3, random_state=0)
    >>> detector = ConsensusDetector(random_state=0).fit(X, y_noisy)
    >>> bool((detector.clean_mask_ == ~is_noisy).mean() > 0.9)
    True
    """

    _has_label_free_score = True

    _model_params = ("zero_shot", "templates", "class_names")
    _parameter_constraints = {
        **constraints_for(
            "backbone", "pretrained", "threshold", "class_names", "image_size", "batch_size", "num_workers", "n_jobs",
            "device", "mixed_precision", "cache_dir", "skip_unreadable", "random_state", "verbose",
        ),
        "n_neighbors": [positive_int, StrOptions({"auto"})],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "Cs": ["array-like", None],
        "n_rounds": [positive_int],
        "class_weight": [StrOptions({"balanced"}), None],
        "calibration": [StrOptions({"auto", "bias_corrected", "noise_corrected", "temperature"})],
        "max_samples": [positive_int, None],
        "detect_outliers": ["boolean"],
        "flag_disagreement": ["boolean"],
        "zero_shot": ["boolean"],
        "templates": [str, list, tuple],
        "knn_backend": [StrOptions(set(KNN_BACKENDS))],
    }

    def __init__(
        self,
        backbone="open_clip:ViT-B-32",
        pretrained="openai",
        *,
        n_neighbors="auto",
        cv=5,
        Cs=None,
        n_rounds=2,
        class_weight="balanced",
        calibration="auto",
        max_samples=20_000,
        threshold=0.5,
        detect_outliers=True,
        flag_disagreement=False,
        zero_shot=False,
        templates=("a photo of a {}.",),
        class_names=None,
        knn_backend="auto",
        image_size=None,
        batch_size=64,
        num_workers=0,
        n_jobs=None,
        device="auto",
        mixed_precision="auto",
        cache_dir=None,
        skip_unreadable=False,
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.pretrained = pretrained
        self.n_neighbors = n_neighbors
        self.cv = cv
        self.Cs = Cs
        self.n_rounds = n_rounds
        self.class_weight = class_weight
        self.calibration = calibration
        self.max_samples = max_samples
        self.threshold = threshold
        self.detect_outliers = detect_outliers
        self.flag_disagreement = flag_disagreement
        self.zero_shot = zero_shot
        self.templates = templates
        self.class_names = class_names
        self.knn_backend = knn_backend
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.n_jobs = n_jobs
        self.device = device
        self.mixed_precision = mixed_precision
        self.cache_dir = cache_dir
        self.skip_unreadable = skip_unreadable
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _needs_class_names(self):
        return bool(self.zero_shot)

    def _check_params(self, X_checked, encoding):
        auto = self.n_neighbors == "auto"  # each pair's neighbourhood then fits its class (_slots)
        if not auto:
            check_neighbourhood(self.n_neighbors, encoding)
        self.n_neighbors_ = min(AUTO_NEIGHBOURS, len(encoding.codes) - 1) if auto else self.n_neighbors
        check_folds(encoding.codes, encoding.classes, self.cv)
        if self.Cs is not None:
            check_Cs(self.Cs)
        if self.max_samples is not None and self.max_samples < len(encoding.classes):
            raise ValueError(
                f"max_samples={self.max_samples} is below the {len(encoding.classes)} classes: each fold's probe "
                "trains on at most max_samples samples and needs samples of every class. Pass at least "
                f"{len(encoding.classes)}, or None (every sample)."
            )
        if self.zero_shot:  # the prompts, before any image is embedded
            backbone = zero_shot_backbone(self.backbone, self.pretrained, resolve_device(self.device))
            class_prompt_tokens(backbone, encoding.class_names, check_templates(self.templates))

    # --------------------------------------------------------------- signals

    def _zero_shot_proba(self, features):
        """CLIP's zero-shot class probabilities of (CLIP) image embeddings."""
        return clip_zero_shot_proba(
            features, self.backbone, self.pretrained, fitted_device(self.device_), self.class_names_, self.templates
        )

    def _signals(self, own, extra=(), blind=None):
        return mix_signals(own, self._extra_weights, extra, blind)

    # ------------------------------------------------------------------ fit

    def fit(self, X, y, pred_probs=None, groups=None):
        """Judge every (sample, given label) pair of a training set.

        Parameters
        ----------
        X : images or features
            An image array ``(N, H, W[, 3])``, image paths, a torch Dataset, or a 2-D
            array of precomputed embeddings.
        y : array-like of shape (n_samples,)
            The given, possibly wrong, labels (ints or strings).
        pred_probs : array-like of shape (n_samples, n_classes), default=None
            Out-of-sample class probabilities from the caller's own model (cleanlab's
            ``pred_probs``: columns in the order of the sorted labels, ``classes_``, or a
            DataFrame with one column named after each class, in any order),
            e.g. from ``cross_val_predict(..., method="predict_proba")``. They join the
            probe and the neighbours as one more signal after the first refit, with the
            weight (``pred_probs_weight_``, 0 to 1/3) under which the mixture agrees best
            with the verdicts so far, beyond what mixing in the detector's own first
            probe would give, both at the temperature that fits the kept labels: what
            the caller's model shares with that probe (such as flips learned from the
            given labels), or a mere sharpness, earns nothing. In-sample
            probabilities (a model scored on its own training labels) have memorised
            the flips: do not pass them. A fit parameter, so it is routed through
            ``Pipeline`` and ``GridSearchCV`` with scikit-learn's metadata routing
            (``set_fit_request(pred_probs=True)``). New pairs
            (``predict_clean(X_new, y_new)``) are judged without it.
        groups : array-like of shape (n_samples,), default=None
            Ids of samples that are not independent (near-copies of one image, frames
            of one video), as ``GroupKFold`` takes them: its members given the same label
            share a fold of the probe and never ask each other as neighbours. Exact
            copies are grouped anyway. Routed like ``pred_probs``.

        Returns
        -------
        self
        """
        return self._fit_with(X, y, pred_probs=pred_probs, groups=groups)

    def _fit_with(self, X, y, **signals):
        """:meth:`fit` with the private signals too: ``first_probe``, out-of-fold
        probabilities of the given labels that replace the cross-fitted probe's in the
        first round (``skclip_noise.filter``'s ``pred_probs``-only route, where ``X`` is
        those probabilities and the features their :func:`log_proba_features`), and
        ``absent_proba``, the caller's probabilities of classes no sample is given
        (``pred_probs`` then renormalised over the given ones; see ``_absent_classes``)."""
        self._fit(X, y, **signals)
        issues = self.label_issues_  # every sample of X, unreadable image files included
        self.outlier_proba_ = (
            issues["outlier_score"].to_numpy(dtype=np.float64) if "outlier_score" in issues else np.zeros(len(issues))
        )
        self.outlier_rate_ = float((issues["issue_type"] == "outlier").mean())
        return self

    def _check_fit_signals(self, encoding, pred_probs=None, first_probe=None, groups=None, absent_proba=None):
        def checked(proba):
            if proba is None:
                return None
            # Read, never written: a float32 or float64 array is not copied (with many classes each is the
            # memory); each step reads it in float64, a block of rows at a time where it is large.
            return check_pred_probs(proba, n_samples=len(encoding.codes), classes=encoding.classes)

        pred_probs_checked = checked(pred_probs)
        # The pred_probs-only route passes one array as both: checked once.
        first_probe_checked = pred_probs_checked if first_probe is pred_probs else checked(first_probe)
        return {"pred_probs": pred_probs_checked, "first_probe": first_probe_checked,
                "groups": None if groups is None else check_groups(groups, len(encoding.codes)),
                "absent_proba": absent_proba}

    def _fit_scores(self, X_checked, codes, encoding, pred_probs=None, first_probe=None, groups=None,
                    absent_proba=None):
        if self.n_neighbors == "auto" and pred_probs is None and first_probe is None and not self.zero_shot:
            check_neighbourhood(1, encoding, LONE_CLASS_FIX)  # only another model can back a lone label
        self.device_ = str(resolve_device(self.device))
        # Input validation's own float32 copy (or fresh embeddings): kept as embeddings_, not copied again.
        features = np.asarray(self._features(X_checked), dtype=np.float32)
        if first_probe is not None:  # X is the route's pred_probs: their features, in the validated copy's place
            log_proba_features(first_probe, out=features)
        n_classes = len(encoding.classes)
        self._probe = CrossFittedProbe(
            n_classes, n_folds=self.cv, Cs=DEFAULT_CS if self.Cs is None else check_Cs(self.Cs),
            max_samples=self.max_samples, random_state=seed_from_random_state(self.random_state), tol=1e-3,
            refit_class_weight=self.class_weight,
        )
        # Copies of one image vote and train as one (the pred_probs-only route's features are
        # the caller's probabilities, whose equal rows are different images).
        copies, units, groups = judged_groups(features, codes, groups, find_copies=first_probe is None)
        self.n_duplicates_ = copied_samples(copies)
        if groups is not None:  # the probe's folds hold one sample per group
            check_folds(codes[np.unique(groups, return_index=True)[1]], encoding.classes, self.cv, distinct=True)
        # Also C and the fold models of the refits. With the caller's first probe, its given labels'
        # probabilities are all weigh_pred_probs reads of it (its reference): not (n, K).
        own_first_probe = self._probe.fit(features, codes, groups, given_only=first_probe is not None)
        probe_proba = own_first_probe if first_probe is None else first_probe
        self.C_ = float(self._probe.C_)
        self._neighbourhoods = KeptNeighbourhoods(
            partial(NeighbourIndex, backend=self.knn_backend, n_jobs=self.n_jobs), self.n_neighbors_, n_classes,
            fit_to_class=self.n_neighbors == "auto",
        ).fit(features, codes, units=units, groups=groups)
        # A sample that asks no neighbour is the one sample of its class: nothing else trains or votes
        # for it, and its neighbour shares are uniform.
        blind = self._neighbourhoods.blind
        neighbours = self._neighbourhoods.shares(np.ones(len(codes), dtype=bool))
        label_counts = self._neighbourhoods.label_counts()  # the outlier evidence
        # Zero-shot first: new pairs have it but not the caller's pred_probs (see _signals).
        extra = [self._zero_shot_proba(features)] if self.zero_shot else []
        # The probe's probabilities may be the caller's pred_probs or the reference of weigh_pred_probs.
        consensus = own_evidence(probe_proba, neighbours)
        # Each (n, K) array goes once no step needs it: with many classes they are the memory.
        del probe_proba, neighbours
        self._extra_weights = weigh_zero_shot(codes, consensus, extra[0]) if extra else ()
        self.zero_shot_weight_ = self._extra_weights[0] if extra else 0.0
        self.pred_probs_weight_ = 0.0
        self.calibration_ = resolve_calibration(self.calibration, fitted_on_pred_probs=first_probe is not None)
        self._absent_class_proba = None
        consensus = self._signals(consensus, extra)
        if pred_probs is None:
            own_first_probe = None
        self.evidence_gain_ = evidence_gain(codes, consensus)
        if not self._informative:
            warn_without_evidence(self.evidence_gain_)
        keep = confident_learning_mask(codes, consensus, filter_by="prune_by_noise_rate")
        self._transition = pooled_noise_transition(codes, consensus, keep)
        del consensus
        for round_ in range(self.n_rounds):
            own = None  # the probe and the neighbours weigh nothing (see weigh_pred_probs)
            if not weighs_everything(self._extra_weights):
                own = own_evidence(self._probe.refit(codes, keep), self._neighbourhoods.shares(keep), in_place=True)
            if round_ == 0 and pred_probs is not None:  # the caller's pred_probs join, weighed once
                self._extra_weights, signal = weigh_pred_probs(
                    codes, own, extra, self._extra_weights, pred_probs, own_first_probe, keep,
                    calibrated=first_probe is None,
                )
                self.pred_probs_weight_ = self._extra_weights[-1]
                extra.append(signal)
                if weighs_everything(self._extra_weights):  # own weighs nothing: its (n, K) array goes first
                    own = None
            # After the first round, the extra signals alone are the last round's evidence, and a
            # calibration through the noise reads no verdict: its last fit stands.
            if not (round_ and own is None and self.calibration_ == "noise_corrected"):
                combined = self._signals(own, extra, blind)  # in own's place, or a signal itself: read only
                del own
                self.temperature_, self.class_bias_ = calibrate(self.calibration_, codes, combined, keep,
                                                                self._transition)
                self.class_proba_ = temperature_scale(combined, self.temperature_, bias=self.class_bias_)
                del combined
            outlier = self._fit_outliers(label_counts, codes, keep, n_classes)
            if absent_proba is not None:  # a sample of a class no sample is given fits none of the given ones
                absent, self._absent_class_proba = absent_class_posterior(
                    codes, self.class_proba_, self._transition, pred_probs, absent_proba, keep
                )
                outlier = absent if outlier is None else 1.0 - (1.0 - outlier) * (1.0 - absent)
            scores = self._decide(self.class_proba_, codes, outlier)
            keep = scores.clean_mask
        if self._outlier_model is not None and self._outlier_model.rejected_outliers:
            warn_rejected_outliers(self._outlier_model.rejected_outliers, len(codes))
        if self.flag_disagreement:  # step 5 on the final verdicts; the rounds and kept neighbours keep Bayes'
            scores = self._decide(self.class_proba_, codes, outlier, flag_disagreement=True)
        self._probe.release()
        self._neighbourhoods.release()
        self.embeddings_ = features
        self._kept = keep
        return scores

    def _score_pairs(self, X_checked, codes):
        features = self._fitted_features(X_checked)
        neighbours, counts = self._neighbourhoods.query(
            features, codes, self._fit_codes, self._kept, with_counts=self._outlier_model is not None
        )  # the counts are the outlier model's evidence only
        extra = [self._zero_shot_proba(features)] if self.zero_shot else []
        combined = self._signals(own_evidence(self._probe.predict_proba(features), neighbours, in_place=True), extra)
        outlier = None if self._outlier_model is None else self._outlier_model.proba(counts)
        return self._decide(
            temperature_scale(combined, self.temperature_, bias=self.class_bias_), codes, outlier,
            flag_disagreement=self.flag_disagreement,
        )
