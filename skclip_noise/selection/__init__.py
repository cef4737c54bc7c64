"""Selection rules: from per-sample scores, probabilities or features to clean verdicts.

Plain functions on arrays (the library's counterpart of cleanlab's ``filter.py``).
Every estimator's decision rule lives here, so the detectors, TURN's per-epoch
selection and AVL-Prompter's co-divide share one implementation. Rules return a
*clean* mask (True = the given label is kept) or a clean probability or score.
"""

from .mixture import (
    LossMixture,
    estimate_forget_rate,
    fit_loss_mixtures,
    loss_mixture_clean_proba,
    loss_mixture_posterior,
    small_loss_cutoffs,
    small_loss_mask,
)
from .sampling import balanced_clean_sample

__all__ = [
    "LossMixture",
    "balanced_clean_sample",
    "estimate_forget_rate",
    "fit_loss_mixtures",
    "loss_mixture_clean_proba",
    "loss_mixture_posterior",
    "small_loss_cutoffs",
    "small_loss_mask",
]
