"""Selection rules: from per-sample scores, probabilities or features to clean verdicts.

Plain functions on arrays (the library's counterpart of cleanlab's ``filter.py``).
Every estimator's decision rule lives here, so the detectors, TURN's per-epoch
selection and AVL-Prompter's co-divide share one implementation. Rules return a
*clean* mask (True = the given label is kept) or a clean probability or score.
"""

from .confident import (
    confident_joint,
    confident_learning_mask,
    estimate_joint,
    estimate_noise_rate,
    estimate_noise_transition,
    normalized_margin,
    per_class_thresholds,
    self_confidence,
)
from .mixture import (
    LossMixture,
    estimate_forget_rate,
    fit_loss_mixtures,
    loss_mixture_clean_proba,
    loss_mixture_posterior,
    small_loss_cutoffs,
    small_loss_mask,
)
from .neighbours import nearest_neighbours
from .simifeat import (
    neighbour_label_distribution,
    neighbour_transition_matrix,
    simifeat_rank,
    simifeat_vote,
)
from .sampling import balanced_clean_sample

__all__ = [
    "LossMixture",
    "balanced_clean_sample",
    "confident_joint",
    "confident_learning_mask",
    "estimate_joint",
    "estimate_noise_rate",
    "estimate_noise_transition",
    "estimate_forget_rate",
    "fit_loss_mixtures",
    "loss_mixture_clean_proba",
    "loss_mixture_posterior",
    "nearest_neighbours",
    "neighbour_label_distribution",
    "neighbour_transition_matrix",
    "normalized_margin",
    "per_class_thresholds",
    "self_confidence",
    "simifeat_rank",
    "simifeat_vote",
    "small_loss_cutoffs",
    "small_loss_mask",
]
