"""ConsensusDetector's rules: how its signals mix, how much an extra signal weighs (a gain
tested against its standard error, so that a difference at noise level changes nothing),
the given label's share against its strongest rival, the calibration of the evidence, and
the warnings when the evidence cannot judge."""

from __future__ import annotations


import numpy as np
from scipy import sparse

from .._warnings import warn_user
from ..selection import (
    confident_learning_mask, fit_bias_corrected_temperature, fit_noise_corrected_temperature, fit_temperature,
    scaled_given_proba, temperature_scale,
)
from ..selection.confident import given_and_rival

__all__ = [
    "FREQUENCY_SHARES",
    "MAX_EXTRA_WEIGHT",
    "MAX_PRED_PROBS_WEIGHT",
    "SIGNAL_WEIGHTS",
    "SIGNIFICANCE",
    "best_weights",
    "calibrate",
    "calibrated_to_verdicts",
    "evidence_gain",
    "kept_log_loss",
    "mix_signals",
    "own_evidence",
    "pred_probs_candidates",
    "resolve_calibration",
    "rival_share",
    "significant_gain",
    "verdict_weights",
    "weighs_everything",
    "warn_rejected_outliers",
    "warn_without_evidence",
    "weigh_pred_probs",
    "weigh_zero_shot",
]

#: Weights an extra signal (CLIP's zero-shot probabilities, the caller's ``pred_probs``) may
#: get against the probe and neighbours (1/3: all equal).
SIGNAL_WEIGHTS = (0.0, 0.1, 0.2, 1 / 3, 0.5)
#: The extra signals together weigh at most this much: the features always keep a third.
MAX_EXTRA_WEIGHT = 2 / 3
#: The caller's pred_probs weigh at most as much as each of the detector's own signals (the
#: probe, the neighbours): a model that knows the noise's own inputs (instance-dependent
#: flips on the pixels it was trained on) passes the significance test and at weight 0.5
#: outvoted them (digits: -0.007 clean F1; at 1/3 +0.002 to +0.008 where 0.5 was chosen).
MAX_PRED_PROBS_WEIGHT = 1 / 3
#: The shares of the labels' frequencies mixed into the evidence by :func:`evidence_gain`.
FREQUENCY_SHARES = (0.25, 0.5, 0.75, 0.9)
#: A gain counts only above this many standard errors of its per-sample gains: the caller's
#: pred_probs' over the detector's own first probe, and :func:`evidence_gain`'s mixtures.
SIGNIFICANCE = 3.0


def own_evidence(probe_proba, neighbour_proba, *, in_place=False):
    """``(P + H) / 2``: the probe's and the neighbours' equal shares, ``H`` dense or a
    sparse matrix. ``in_place``: in ``probe_proba``'s place (an array of the detector's own
    that nothing reads later; with many classes each (n, K) array is the memory)."""
    own = probe_proba if in_place else np.array(probe_proba, dtype=np.float64)  # float32 pred_probs too
    if sparse.issparse(neighbour_proba):
        shares = neighbour_proba.tocsr()
        own[np.repeat(np.arange(shares.shape[0]), np.diff(shares.indptr)), shares.indices] += shares.data
    else:
        own += neighbour_proba
    own /= 2
    return own


def weighs_everything(weights):
    """Whether the extra signals' ``weights`` leave the probe and the neighbours nothing."""
    return sum(weights) >= 1 - 1e-9


def mix_signals(own, weights=(), extra=(), blind=None):
    """``(1 - sum w) own + sum w_s S_s``: the probe's and the neighbours' evidence
    (:func:`own_evidence`), with each extra signal ``S_s`` at its weight ``w_s``, written
    in ``own``'s place (so ``own`` must be an array that nothing reads later). ``own`` may
    be None when the weights sum to 1 (it would weigh 0); a signal of weight 1 is then
    returned itself, to be read only.

    The rows of the ``blind`` samples (boolean mask: the one sample of its class, which
    neither the probe's other folds nor any neighbour carries) come from the extra signals
    alone (at their weights renormalised; equal when all weigh 0): only those can back a
    label that the probe and the neighbours have never seen. Without extra signals they
    stay as mixed."""
    weighted = [(weight, signal) for weight, signal in zip(weights, extra) if weight > 0]
    own_weight = 1 - sum(weight for weight, _ in weighted)
    if own is None:
        if not weighs_everything([weight for weight, _ in weighted]):
            raise ValueError(f"the probe and the neighbours weigh {own_weight:.3g}: pass their probabilities.")
        (weight, signal), weighted = weighted[0], weighted[1:]
        if weight == 1:  # the one signal is the mixture (its blind rows too): itself, never written, not a copy
            return signal
        mixed = np.multiply(signal, weight, dtype=np.float64)  # float32 pred_probs too
    else:
        mixed = own
        if weighted:
            mixed *= own_weight
    for weight, signal in weighted:
        mixed += signal if weight == 1 else np.multiply(signal, weight, dtype=np.float64)  # no copy at weight 1
    if blind is not None and len(extra) and blind.any():
        shares = np.asarray(weights, dtype=np.float64) if sum(weights) > 0 else np.ones(len(extra))
        mixed[blind] = sum(np.multiply(signal[blind], share, dtype=np.float64)
                           for share, signal in zip(shares, extra)) / shares.sum()
    return mixed


def pred_probs_candidates(fixed):
    """The weight tuples the caller's ``pred_probs`` may take after the ``fixed`` ones."""
    return [
        fixed + (weight,) for weight in SIGNAL_WEIGHTS
        if weight <= MAX_PRED_PROBS_WEIGHT + 1e-9 and sum(fixed) + weight <= MAX_EXTRA_WEIGHT + 1e-9
    ]


def weigh_pred_probs(codes, refitted, extra, fixed, pred_probs, own_first_probe, kept, calibrated):
    """(the weights of ``extra`` and the caller's ``pred_probs``, the signal to mix in):
    the weight :func:`verdict_weights` gives ``pred_probs`` against the *refitted*
    mixture, after the ``fixed`` weights of ``extra``, the reference being the
    detector's own first probe (it learned the given labels' structured flips as the
    caller's model did; weighed by the kept labels alone, such a model took 0.5 and cost
    0.016-0.07 clean F1 on digits). With features both are ``calibrated``
    (:func:`calibrated_to_verdicts`).

    In the ``pred_probs``-only route (not ``calibrated``) the reference is the probe
    fitted on their log-probabilities (``own_first_probe``: its given labels'
    probabilities, shape (n,), all the rule reads) and both enter as they are (calibrated, 10 nearest
    neighbours' lost the weight they need under symmetric noise at 60 % on
    Fashion-MNIST, -0.04 clean F1). There the refitted mixture is read from the
    caller's own outputs: when it predicts the kept labels worse than ``pred_probs`` do
    (:func:`kept_log_loss`), its refit learned nothing the caller's model did not know
    better, and ``pred_probs`` take all the weight left. Measured with 1,000 classes of
    20 samples, where the probe and the neighbours read 5 % and 0.4 % of the true classes
    and the caller's model 77 %: clean F1 0.8387 with the weight at 1/3, 0.9851 at 1
    (cleanlab's call 0.9531). On the 24 raw-digits settings of four caller models the
    refitted mixture predicted the kept labels better in every one, by 0.004 to 0.34 nats
    (``benchmarks/results/find_label_issues_many_classes.md``, ``find_label_issues_models.md``)."""
    if not calibrated and kept.any() and (
            kept_log_loss(codes, pred_probs, kept) < kept_log_loss(codes, refitted, kept)):
        return fixed + (1.0 - sum(fixed),), pred_probs
    signal, reference = pred_probs, own_first_probe
    if calibrated:  # the reference is read only at the given labels: not a calibrated (n, K) copy
        signal = calibrated_to_verdicts(codes, pred_probs, kept)
        reference = scaled_given_proba(codes, own_first_probe, fit_temperature(codes, own_first_probe, mask=kept))
    weights = verdict_weights(
        codes, refitted, extra + [signal], extra + [reference], kept, pred_probs_candidates(fixed)
    )
    return weights, signal


def kept_log_loss(codes, proba, kept):
    """The mean log-loss of the ``kept`` samples' given labels under ``proba`` at the
    temperature that fits them best (so that a merely flatter signal is not the worse)."""
    temperature = fit_temperature(codes, proba, mask=kept)
    return float(-np.log(scaled_given_proba(codes, proba, temperature, rows=np.flatnonzero(kept))).mean())


def weigh_zero_shot(codes, unweighted, zero_shot):
    """The weight of CLIP's ``zero_shot`` probabilities (a 1-tuple): the one of
    SIGNAL_WEIGHTS under which the mixture best predicts the given labels that
    confident learning keeps on the probe's and neighbours' equal mixture
    (``unweighted``, :func:`own_evidence`)."""
    first_clean = confident_learning_mask(codes, unweighted, filter_by="prune_by_noise_rate")
    return best_weights(codes, unweighted, [zero_shot], first_clean, [(weight,) for weight in SIGNAL_WEIGHTS])


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


def significant_gain(gains):
    """The mean of the per-sample ``gains`` where it exceeds SIGNIFICANCE standard errors
    of them, else ``-inf`` (a gain at noise level counts as none)."""
    gain = float(gains.mean())
    return gain if gain > SIGNIFICANCE * float(gains.std() / np.sqrt(len(gains))) else -np.inf


def verdict_weights(codes, combined, signals, reference, kept, candidates):
    """The candidate weights under which the mixture best agrees with the verdicts so
    far (the given label is right for the ``kept`` samples, wrong for the others),
    scored against mixing in the ``reference`` arrays at the same weights.

    Each array is (n, K) probabilities, or the given labels' probabilities (n,) alone:
    only those are read. Per sample the loss is ``-log m(y | x)`` if kept, else
    ``-log(1 - m(y | x))``; a candidate counts only when its mean gain over the reference exceeds
    SIGNIFICANCE standard errors. A model that learned the given labels' flips gives
    the flagged samples their given label, and what it shares with the reference
    earns nothing, so such a model keeps weight 0.
    """
    rows = np.arange(len(codes))

    def given(proba):
        return proba if proba.ndim == 1 else proba[rows, codes].astype(np.float64, copy=False)

    base, signals, reference = given(combined), [given(a) for a in signals], [given(a) for a in reference]

    def sample_losses(weights, arrays):
        mixed = (1 - sum(weights)) * base + sum(w * a for w, a in zip(weights, arrays))
        mixed = np.clip(mixed, 1e-12, 1 - 1e-12)
        return -np.where(kept, np.log(mixed), np.log1p(-mixed))

    best, best_gain = tuple(0.0 for _ in signals), 0.0
    for weights in candidates:
        gain = significant_gain(sample_losses(weights, reference) - sample_losses(weights, signals))
        if gain > best_gain:
            best, best_gain = tuple(float(w) for w in weights), gain
    return best


def calibrated_to_verdicts(codes, proba, kept):
    """``proba`` at the temperature that fits the ``kept`` samples' labels best.

    :func:`verdict_weights` compares two signals mixed in at the same weight, so one that is
    merely flatter loses log-loss on the kept samples and gains it on the flagged ones
    whatever it knows: measured on MNIST embedded by MobileNetV2 under pair-flip noise,
    the detector's strongly regularised first probe (``C_`` 0.001, temperature 0.30 to fit
    the kept labels) made a tuned logistic regression of the same features (0.78) look
    better by 16 standard errors, though it predicts the true labels worse (0.60
    against 0.70); it took weight 1/3 and cost 0.014 clean F1. Both at their own
    temperature, its gain is -19 standard errors."""
    return temperature_scale(proba, fit_temperature(codes, proba, mask=kept))


def evidence_gain(codes, evidence):
    """How much better the ``evidence``, at the temperature that fits every given label,
    predicts those labels than their frequencies do: the mean log-likelihood ratio, in
    nats per sample; or, where more, that of the evidence mixed with the frequencies in
    one of :data:`FREQUENCY_SHARES`, when it exceeds SIGNIFICANCE standard errors of its
    per-sample gains.

    Not above zero, the evidence says nothing a detector could judge a label by, and
    confident learning reads that as noise everywhere: on features drawn independently of
    the labels (64-512 dimensions, 10 or 100 classes) Bayes' rule through its transition
    estimate flagged 67-95 % of the labels (99.6-100 % with the outlier step), cleanlab's
    default call on a logistic regression's out-of-fold probabilities 52-68 %.
    On such features the gain came out negative in 40 draws of 40-5,000 samples (the
    temperature cannot flatten noise all the way to the frequencies, and out-of-fold
    probabilities are anti-correlated with the labels they did not see), so no margin
    is needed.

    The mixture is the model of a label drawn, with the frequencies' share, at random.
    Without it, evidence with exact zeros (10 nearest neighbours' votes, the
    ``pred_probs``-only route) under symmetric noise at 60 % gained -0.059 nats though it
    ranks the labels well, and every label was kept (raw digits: clean F1 0.57 against
    cleanlab's 0.84); mixed, +0.065 at 10.6 standard errors. The significance keeps
    features drawn independently of the labels without a verdict (``weak_features.md``,
    10 classes in 64 dimensions: -0.006 nats, +0.000007 mixed, which alone flagged 66 %).
    """
    given = scaled_given_proba(codes, evidence, fit_temperature(codes, evidence))
    chance = (np.bincount(codes, minlength=evidence.shape[1]) / len(codes))[codes]
    best = float(np.mean(np.log(given) - np.log(chance)))
    for share in FREQUENCY_SHARES:
        best = max(best, significant_gain(np.log((1 - share) * given + share * chance) - np.log(chance)))
    return best


def rival_share(proba, codes):
    """``R(y | x) / (R(y | x) + max_{k != y} R(k | x))``: the given label's probability
    against its strongest rival alone, below 1/2 exactly where another class is the most
    probable."""
    given, rival = given_and_rival(codes, proba)
    return given / np.maximum(given + rival, 1e-300)


def calibrate(method, codes, combined, keep, transition):
    """(temperature, class biases) fitting ``combined``: to the kept labels, both
    (``"bias_corrected"``) or the temperature alone (``"temperature"``, biases zero); or
    to every given label through ``transition`` (``"noise_corrected"``)."""
    if method == "noise_corrected":
        return fit_noise_corrected_temperature(codes, combined, transition)
    if method == "bias_corrected":
        return fit_bias_corrected_temperature(codes, combined, mask=keep)
    return fit_temperature(codes, combined, mask=keep), np.zeros(combined.shape[1])


def resolve_calibration(calibration, fitted_on_pred_probs):
    """``calibration``, with ``"auto"`` read as ``"noise_corrected"`` for a detector that
    judges a caller's ``pred_probs`` alone (``find_label_issues``) and ``"bias_corrected"``
    otherwise: measured in ``benchmarks/results/noise_corrected_calibration.md``."""
    if calibration != "auto":
        return calibration
    return "noise_corrected" if fitted_on_pred_probs else "bias_corrected"


def warn_without_evidence(gain):
    """Say that the evidence (``evidence_gain`` not above zero) leaves every label kept."""
    warn_user(
        f"the evidence (the features, or pred_probs alone) predicts the given labels no better than the "
        f"labels' frequencies do (a gain of {gain:.4f} nats per sample): there is nothing to judge a label by, so "
        "every label is kept. Use a backbone (or a model) that suits these images.",
        UserWarning,
    )


def warn_rejected_outliers(n_rejected, n_samples):
    """Say that a rejected outlier fit (``NeighbourOutlierModel.rejected``) typed no outlier."""
    warn_user(
        f"the outlier model would call {n_rejected} of {n_samples} samples images of no class, but their "
        "neighbourhoods barely tell a class member from an outlier (the features separate these classes poorly), "
        "so none is typed 'outlier'. Check that the backbone suits these images.",
        UserWarning,
    )
