"""Selection rules: from per-sample scores, probabilities or features to clean verdicts.

Plain functions on arrays (the library's counterpart of cleanlab's ``filter.py``).
Every estimator's decision rule lives here, so the detectors, TURN's per-epoch
selection and AVL-Prompter's co-divide share one implementation. Rules return a
*clean* mask (True = the given label is kept) or a clean probability or score.
"""

from .calibration import (
    BIAS_PENALTY, TEMPERATURES, fit_bias_corrected_temperature, fit_noise_corrected_temperature, fit_temperature,
    scaled_given_proba, temperature_scale,
)
from .confident import (
    confident_joint,
    estimate_joint,
    estimate_noise_rate,
    estimate_noise_transition,
    normalized_margin,
    per_class_thresholds,
    self_confidence,
)
from .pruning import confident_learning_mask
from .mixture import (
    LossMixture,
    estimate_forget_rate,
    fit_loss_mixtures,
    loss_mixture_clean_proba,
    loss_mixture_posterior,
    small_loss_cutoffs,
    small_loss_mask,
)
from .neighbours import NeighbourIndex, nearest_neighbours
from .outliers import MIN_DECIDEDNESS, NeighbourOutlierModel, decidedness, fit_neighbour_outlier_model
from .simifeat import (
    neighbour_label_counts,
    neighbour_label_distribution,
    neighbour_transition_matrix,
    query_label_distribution,
    simifeat_rank,
    simifeat_vote,
)
from .sampling import balanced_clean_sample
from .transition import bayes_clean_posterior, pooled_noise_transition, transition_from_verdicts

__all__ = [
    "BIAS_PENALTY",
    "MIN_DECIDEDNESS",
    "TEMPERATURES",
    "LossMixture",
    "NeighbourIndex",
    "NeighbourOutlierModel",
    "bayes_clean_posterior",
    "balanced_clean_sample",
    "confident_joint",
    "confident_learning_mask",
    "decidedness",
    "estimate_joint",
    "estimate_noise_rate",
    "estimate_noise_transition",
    "fit_bias_corrected_temperature",
    "fit_noise_corrected_temperature",
    "fit_temperature",
    "scaled_given_proba",
    "estimate_forget_rate",
    "fit_loss_mixtures",
    "fit_neighbour_outlier_model",
    "loss_mixture_clean_proba",
    "loss_mixture_posterior",
    "nearest_neighbours",
    "neighbour_label_counts",
    "neighbour_label_distribution",
    "neighbour_transition_matrix",
    "pooled_noise_transition",
    "normalized_margin",
    "per_class_thresholds",
    "self_confidence",
    "query_label_distribution",
    "simifeat_rank",
    "simifeat_vote",
    "small_loss_cutoffs",
    "small_loss_mask",
    "temperature_scale",
    "transition_from_verdicts",
]
