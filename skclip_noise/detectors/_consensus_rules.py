"""ConsensusDetector's data-driven choices: how much an extra signal weighs, and
whether a pair whose most probable class is another is flagged.

Each choice is a test of a gain against its standard error, so that a difference at
noise level changes nothing.
"""

from __future__ import annotations

import numpy as np

from ..base.label_free import MAX_REFERENCE_SAMPLES, fit_reference_classifier

__all__ = [
    "MAX_EXTRA_WEIGHT",
    "SIGNAL_WEIGHTS",
    "SIGNIFICANCE",
    "best_weights",
    "disagreement_gain",
    "rival_share",
    "verdict_weights",
]

#: Weights an extra signal (CLIP's zero-shot probabilities, the caller's ``pred_probs``) may
#: get against the probe and neighbours (1/3: all equal).
SIGNAL_WEIGHTS = (0.0, 0.1, 0.2, 1 / 3, 0.5)
#: The extra signals together weigh at most this much: the features always keep a third.
MAX_EXTRA_WEIGHT = 2 / 3
#: A data-driven choice departs from its default only when its mean per-sample gain
#: exceeds this many standard errors.
SIGNIFICANCE = 3.0


def best_weights(codes, combined, signals, kept, candidates):
    """The candidate weights of ``signals`` under which the mixture with ``combined``
    best predicts (log-loss) the given labels of the ``kept`` samples."""
    rows, labels = np.flatnonzero(kept), codes[kept]
    base = combined[rows, labels]
    given = [signal[rows, labels] for signal in signals]

    def log_loss(weights):
        mixed = (1 - sum(weights)) * base + sum(w * g for w, g in zip(weights, given))
        return float(-np.log(np.clip(mixed, 1e-12, None)).mean())

    return tuple(float(w) for w in min(candidates, key=log_loss))


def _is_significant(gains):
    gain, error = float(gains.mean()), float(gains.std() / np.sqrt(len(gains)))
    return gain > SIGNIFICANCE * error, gain


def verdict_weights(codes, combined, signals, reference, kept, candidates):
    """The candidate weights under which the mixture best agrees with the verdicts so
    far (the given label is right for the ``kept`` samples, wrong for the others),
    scored against mixing in the ``reference`` arrays at the same weights.

    Per sample the loss is ``-log m(y | x)`` if kept, else ``-log(1 - m(y | x))``; a
    candidate counts only when its mean gain over the reference exceeds
    SIGNIFICANCE standard errors. A model that learned the given labels' flips gives
    the flagged samples their given label, and what it shares with the reference
    earns nothing, so such a model keeps weight 0.
    """
    rows = np.arange(len(codes))

    def sample_losses(weights, arrays):
        mixed = (1 - sum(weights)) * combined[rows, codes] + sum(w * a[rows, codes] for w, a in zip(weights, arrays))
        mixed = np.clip(mixed, 1e-12, 1 - 1e-12)
        return -np.where(kept, np.log(mixed), np.log1p(-mixed))

    best, best_gain = tuple(0.0 for _ in signals), 0.0
    for weights in candidates:
        significant, gain = _is_significant(sample_losses(weights, reference) - sample_losses(weights, signals))
        if significant and gain > best_gain:
            best, best_gain = tuple(float(w) for w in weights), gain
    return best


def rival_share(proba, codes):
    """``R(y | x) / (R(y | x) + max_{k != y} R(k | x))``: the given label's probability
    against its strongest rival alone, below 1/2 exactly where another class is the most
    probable."""
    rows = np.arange(len(codes))
    given = proba[rows, codes]
    others = proba.copy()
    others[rows, codes] = -np.inf
    return given / np.maximum(given + others.max(axis=1), 1e-300)


def disagreement_gain(features, codes, kept, alternative, n_classes, random_state=None):
    """Whether the pairs that ``alternative`` drops from ``kept`` harm a classifier
    trained on them, significantly, and the z statistic of the harm.

    The label-free score (:class:`~skclip_noise.base.label_free.LabelFreeScoreMixin`)
    restricted to the *undisputed* pairs, those both sets keep (mostly right labels):
    two-fold cross-fitting on the training pairs, the reference classifier trained on
    the kept pairs of one half, once per kept set, gives the other half's undisputed
    given labels a probability; the per-sample gains of both halves (at most
    ``MAX_REFERENCE_SAMPLES`` held-out pairs per half) are tested against their
    standard error. Scored on every held-out pair instead, dropping hard but right
    pairs looked like a gain too (measured: open set on Fashion-MNIST).
    """
    if np.array_equal(kept, alternative):
        return False, 0.0
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(codes))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    gains = []
    for train, held_out in (halves, halves[::-1]):
        held_out = held_out[:MAX_REFERENCE_SAMPLES]
        probabilities = []
        for mask in (kept, alternative):
            model = fit_reference_classifier(features[train], codes[train], mask[train], n_classes, random_state)
            proba = model.predict_proba(features[held_out])
            given = np.zeros(len(held_out))
            known = np.isin(codes[held_out], model.classes_)
            columns = np.searchsorted(model.classes_, codes[held_out][known])
            given[known] = proba[np.flatnonzero(known), columns]
            probabilities.append(given)
        gains.append(probabilities[1] - probabilities[0])
    gains = np.concatenate(gains)
    if not gains.std() > 0:
        return False, 0.0
    significant, gain = _is_significant(gains)
    return significant, gain / float(gains.std() / np.sqrt(len(gains)))
