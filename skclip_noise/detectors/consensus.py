"""ConsensusDetector: a converged probe and the neighbours agree, then Bayes' rule decides."""

from __future__ import annotations

import numpy as np
import torch

from .._param_validation import Integral, Interval, StrOptions, constraints_for, positive_int
from ..backbones.loading import load_backbone
from ..base import BaseNoiseDetector, Scores
from ..selection import (
    bayes_clean_posterior,
    confident_learning_mask,
    estimate_noise_transition,
    fit_temperature,
    nearest_neighbours,
    neighbour_label_distribution,
    query_label_distribution,
    temperature_scale,
)
from ..selection.neighbours import KNN_BACKENDS
from ..training.device import fitted_device, resolve_device, seed_from_random_state
from ._neighbourhood import check_neighbourhood
from ._probe import DEFAULT_CS, CrossFittedProbe
from .label_match import class_text_features

__all__ = ["ConsensusDetector"]

#: ``n_neighbors="auto"``: this many, or fewer for a smaller class.
AUTO_NEIGHBOURS = 20
#: Weights the zero-shot signal may get against the probe and neighbours (1/3: all equal).
ZERO_SHOT_WEIGHTS = (0.0, 0.1, 0.2, 1 / 3, 0.5)


def _kept_neighbour_distribution(distribution_of, indices, codes, keep, n_classes):
    """Label shares among each sample's *kept* neighbours (uniform when none is kept)."""
    weights = keep[indices].astype(np.float64)
    distribution = distribution_of(indices, codes, n_classes, weights=weights)
    distribution[weights.sum(axis=1) == 0] = 1.0 / n_classes
    return distribution


class ConsensusDetector(BaseNoiseDetector):
    """Noisy-label detector that combines a cross-fitted probe, neighbours and Bayes' rule.

    No noise rate is needed, and the structure of the noise (which classes are
    confused with which) is estimated from the data. On the same frozen features it
    beat cleanlab's confident learning (with ``C`` tuned by cross-validation and its
    best ``filter_by``) on both clean-side and noisy-side F1 in every setting
    measured: symmetric, pair-flip, instance-dependent and class-confusable noise, on
    Fashion-MNIST and digits embeddings and on raw pixels
    (``benchmarks/results/detectors_consensus.md``).

    1. **Evidence.** Out-of-fold class probabilities ``P`` of a multinomial logistic
       regression (full batch, L-BFGS) on standardised features, ``C`` chosen by the
       out-of-fold log-loss on the given labels; and ``H``, the label shares among
       each sample's ``n_neighbors`` nearest neighbours (cosine, faiss). The probe
       fits flipped labels where they are dense; the neighbours err where classes are
       sparse: their mean ``Q = (P + H) / 2`` makes far fewer joint mistakes.
    2. **Noise structure.** Confident learning on ``Q``: the calibrated confident
       joint gives the transition matrix ``T[true, given]``, and pruning by noise
       rate the first clean set.
    3. **Clean posterior**, ``n_rounds`` times: refit the probe (each fold, same
       ``C``) on its kept samples only, count only kept neighbours, average, sharpen
       by the temperature that best fits the kept labels, and apply Bayes' rule
       ``P(clean) = T[y, y] R(y | x) / sum_i T[i, y] R(i | x)``. Refitting on the
       kept samples turns the estimate of ``p(given label | x)`` into one of
       ``p(true class | x)``, which is what separates structured flips.

    A pair is clean when ``P(clean)`` exceeds ``threshold`` (0.5, the Bayes decision).
    With ``zero_shot=True`` and a CLIP backbone, CLIP's zero-shot class
    probabilities ``Z`` join as a third signal, ``(1 - w) Q + w Z``, with the weight
    ``w`` (0 to 0.5) under which the mixture best predicts the given labels of the first
    clean set: a poor zero-shot signal is weighted away (``zero_shot_weight_ = 0``)
    rather than averaged in. Leave it off with a random text tower.

    Parameters
    ----------
    backbone : str, default="open_clip:ViT-B-32"
        Backbone spec (see :func:`skclip_noise.backbones.load_backbone`). Ignored when
        X is a feature array (unless ``zero_shot``, which needs its text tower).
    pretrained : str, bool or None, default="openai"
    n_neighbors : int or "auto", default="auto"
        Neighbours per sample, below the size of the smallest class. ``"auto"``: 20, or
        one less than the smallest class when a class is smaller. SimiFeat's 10 was the
        first choice; 20 smooths the label shares where noise is dense (measured in
        ``benchmarks/results/detectors_consensus.md``: better in 9 of 10 settings, and
        the one setting 10 lost to cleanlab).
    cv : int, default=5
        Folds of the cross-fitted probe.
    Cs : sequence of float, default=None
        Regularisation path of the probe; None is ``10 ** arange(-4, 2)``.
    n_rounds : int, default=2
        Rounds of refitting on the kept samples.
    max_samples : int or None, default=100_000
        Training samples per fold model of the probe: larger folds train on a
        stratified random subset of this size, so the probe's cost stops growing with N
        (every sample is still scored out of fold). None: all of them.
    threshold : float in [0, 1], default=0.5
    zero_shot : bool, default=False
        Add CLIP's zero-shot probabilities as a signal (CLIP backbones only;
        integer labels need ``class_names``).
    templates : sequence of str, default=("a photo of a {}.",)
        Zero-shot prompts.
    class_names : sequence of str or mapping, default=None
    knn_backend : {"auto", "faiss", "sklearn"}, default="auto"
    image_size, batch_size, num_workers, n_jobs, device, mixed_precision, cache_dir, verbose
        Of the embedding pass, as in :class:`~skclip_noise.ImageEmbedder`.
    random_state : int, RandomState instance or None, default=None
        Seeds the probe's folds.

    Attributes
    ----------
    classes_, clean_proba_, clean_mask_, noise_rate_, label_issues_
        The detector contract. ``label_issues_["label_quality"]`` is the calibrated
        probability of the given label (a ranking score); ``suggested_label`` is the
        most probable class, with its probability.
    noise_transition_ : ndarray of shape (n_classes, n_classes)
        The confident-learning estimate of ``P(given | true)`` that the Bayes rule uses.
    C_ : float
        The probe's regularisation.
    n_neighbors_ : int
        The neighbours per sample used.
    temperature_ : float
        The last round's temperature.
    zero_shot_weight_ : float
        The zero-shot signal's weight (0 without ``zero_shot``).

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

    _parameter_constraints = {
        **constraints_for(
            "backbone", "pretrained", "threshold", "class_names", "image_size", "batch_size", "num_workers", "n_jobs",
            "device", "mixed_precision", "cache_dir", "random_state", "verbose",
        ),
        "n_neighbors": [positive_int, StrOptions({"auto"})],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "Cs": ["array-like", None],
        "n_rounds": [positive_int],
        "max_samples": [positive_int, None],
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
        max_samples=100_000,
        threshold=0.5,
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
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.pretrained = pretrained
        self.n_neighbors = n_neighbors
        self.cv = cv
        self.Cs = Cs
        self.n_rounds = n_rounds
        self.max_samples = max_samples
        self.threshold = threshold
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
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _needs_class_names(self):
        return bool(self.zero_shot)

    def _check_params(self, X_checked, encoding):
        smallest = int(np.bincount(encoding.codes).min())
        self.n_neighbors_ = min(AUTO_NEIGHBOURS, smallest - 1) if self.n_neighbors == "auto" else self.n_neighbors
        check_neighbourhood(max(self.n_neighbors_, 1), encoding)
        counts = np.bincount(encoding.codes)
        if counts.min() < self.cv:
            smallest = encoding.classes[int(np.argmin(counts))]
            raise ValueError(
                f"cv={self.cv} folds need at least {self.cv} samples of every class; class '{smallest}' has "
                f"{counts.min()}. Lower cv, or drop or merge that class."
            )
        if self.Cs is not None and (len(self.Cs) == 0 or min(self.Cs) <= 0):
            raise ValueError(f"Cs must be a non-empty sequence of positive numbers; got {self.Cs!r}.")

    # --------------------------------------------------------------- signals

    def _zero_shot_proba(self, features):
        """CLIP's zero-shot class probabilities of (CLIP) image embeddings."""
        backbone = load_backbone(self.backbone, self.pretrained, device=fitted_device(self.device_))
        if not backbone.is_clip:
            raise ValueError(f"zero_shot=True needs a CLIP (open_clip) backbone; got {self.backbone!r}.")
        templates = [self.templates] if isinstance(self.templates, str) else list(self.templates)
        text = class_text_features(backbone, self.class_names_, templates)
        if features.shape[1] != text.shape[1]:
            raise ValueError(
                f"X has {features.shape[1]} features but {self.backbone}'s joint space has {text.shape[1]}; "
                "zero_shot=True needs images, or embeddings from the same CLIP."
            )
        unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        logits = float(backbone.model.logit_scale.exp()) * unit @ text.T
        return torch.as_tensor(logits).softmax(dim=1).numpy().astype(np.float64)

    def _signals(self, probe_proba, neighbour_proba, zero_shot_proba):
        combined = (probe_proba + neighbour_proba) / 2
        if zero_shot_proba is None or self.zero_shot_weight_ == 0:
            return combined
        return (1 - self.zero_shot_weight_) * combined + self.zero_shot_weight_ * zero_shot_proba

    def _weigh_zero_shot(self, codes, combined, zero_shot_proba):
        """The zero-shot signal's weight: the one of ZERO_SHOT_WEIGHTS under which the
        mixture best predicts the given labels of the first clean set (0 when unused)."""
        if zero_shot_proba is None:
            return 0.0
        kept = confident_learning_mask(codes, combined, filter_by="prune_by_noise_rate")
        rows, labels = np.flatnonzero(kept), codes[kept]

        def log_loss(weight):
            mixed = (1 - weight) * combined[rows, labels] + weight * zero_shot_proba[rows, labels]
            return float(-np.log(np.clip(mixed, 1e-12, None)).mean())

        return float(min(ZERO_SHOT_WEIGHTS, key=log_loss))

    # ------------------------------------------------------------------ fit

    def _fit_scores(self, X_checked, codes, encoding):
        self.device_ = str(resolve_device(self.device))
        features = np.array(self._features(X_checked), dtype=np.float32)  # a copy: kept as embeddings_
        n_classes = len(encoding.classes)
        self._probe = CrossFittedProbe(
            n_classes, n_folds=self.cv, Cs=DEFAULT_CS if self.Cs is None else tuple(self.Cs),
            max_samples=self.max_samples, random_state=seed_from_random_state(self.random_state), tol=1e-3,
        )
        probe_proba = self._probe.fit(features, codes)
        self.C_ = float(self._probe.C_)
        indices, _ = nearest_neighbours(features, self.n_neighbors_, backend=self.knn_backend)
        zero_shot = self._zero_shot_proba(features) if self.zero_shot else None
        neighbours = neighbour_label_distribution(indices, codes, n_classes)
        self.zero_shot_weight_ = self._weigh_zero_shot(codes, (probe_proba + neighbours) / 2, zero_shot)
        consensus = self._signals(probe_proba, neighbours, zero_shot)
        self._transition = estimate_noise_transition(codes, consensus)
        keep = confident_learning_mask(codes, consensus, filter_by="prune_by_noise_rate")
        for _ in range(self.n_rounds):
            probe_proba = self._probe.refit(features, codes, keep)
            neighbours = _kept_neighbour_distribution(neighbour_label_distribution, indices, codes, keep, n_classes)
            combined = self._signals(probe_proba, neighbours, zero_shot)
            self.temperature_ = fit_temperature(codes, combined, mask=keep)
            scores = self._decide(temperature_scale(combined, self.temperature_), codes)
            keep = scores.clean_mask
        self.embeddings_ = features
        self._kept = keep
        return scores

    def _decide(self, proba, codes):
        clean = bayes_clean_posterior(codes, proba, self._transition)
        rows = np.arange(len(codes))
        return Scores(
            clean, clean > self.threshold, proba.argmax(axis=1),
            label_quality=proba[rows, codes], suggested_proba=proba.max(axis=1),
            noise_transition=self._transition,
        )

    def _score_pairs(self, X_checked, codes):
        device = None if X_checked.kind == "features" else fitted_device(self.device_)
        features = np.asarray(self._features(X_checked, device), dtype=np.float32)
        n_classes = len(self.classes_)
        indices, _ = nearest_neighbours(self.embeddings_, self.n_neighbors_, queries=features, backend=self.knn_backend)
        neighbours = _kept_neighbour_distribution(
            query_label_distribution, indices, self._fit_codes, self._kept, n_classes
        )
        zero_shot = self._zero_shot_proba(features) if self.zero_shot else None
        combined = self._signals(self._probe.predict_proba(features), neighbours, zero_shot)
        return self._decide(temperature_scale(combined, self.temperature_), codes)
