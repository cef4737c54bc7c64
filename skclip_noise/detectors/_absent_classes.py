"""Classes of the caller's model that no sample is given: evidence that a label is wrong.

A model trained on more classes than a data set's labels use (a pretrained classifier, a
larger labelled set, a split that lost its rare classes) gives each sample a probability
of belonging to a class that no sample carries. Every such sample is mislabelled, whatever
its label; dropping those columns and renormalising would hide exactly that evidence.
"""

from __future__ import annotations

import numpy as np

from ..selection import fit_temperature, temperature_scale
from ..selection.transition import (
    TRANSITION_PSEUDO_COUNT,
    TRANSITION_ROW_PRIOR,
    given_label_likelihood,
    smoothed_transition,
)

__all__ = ["absent_class_posterior", "split_absent_classes"]


def split_absent_classes(codes, pred_probs):
    """``(present, pred_probs over them, absent_proba)``: the classes some sample is
    given (in code order), the caller's probabilities renormalised over those classes (a
    row with no mass on them becomes uniform), and its raw probabilities of the other
    classes, shape (n_samples, n_absent); ``absent_proba`` is None when every class is given."""
    present = np.flatnonzero(np.bincount(codes, minlength=pred_probs.shape[1]))
    if len(present) == pred_probs.shape[1]:
        return present, pred_probs, None
    absent = np.setdiff1d(np.arange(pred_probs.shape[1]), present)
    on_present = pred_probs[:, present]
    mass = on_present.sum(axis=1, keepdims=True)
    renormalised = np.where(mass > 0, on_present / np.where(mass > 0, mass, 1.0), 1.0 / len(present))
    return present, renormalised, pred_probs[:, absent]


def absent_class_posterior(codes, class_proba, transition, pred_probs, absent_proba, keep):
    """``(P(true class absent | x, given label), the absent classes' calibrated probabilities)``.

    Bayes' rule over the present classes and the absent ones, which no sample is given:
    ``P = q t(y) / ((1 - q) sum_k p(k | x) T[k, y] + q t(y))``, with ``q`` the caller's
    probability of the absent classes at the temperature that fits the ``keep`` samples'
    labels, ``p = class_proba`` (the detector's calibrated present-class probabilities),
    ``T = transition`` and ``t(y)`` the share of the absent classes' probability carried
    by the other samples given ``y`` (soft counts, the sample itself left out, with the
    transition's pseudo-count per label).
    The detector's clean posterior over the present classes times ``1 - P`` is Bayes'
    rule over all of the caller's classes.

    Parameters
    ----------
    codes : ndarray of shape (n_samples,)
        Given labels as codes of the present classes.
    class_proba : ndarray of shape (n_samples, n_present)
    transition : ndarray of shape (n_present, n_present)
    pred_probs : ndarray of shape (n_samples, n_present)
        The caller's probabilities renormalised over the present classes
        (:func:`split_absent_classes`).
    absent_proba : ndarray of shape (n_samples, n_absent)
        The caller's raw probabilities of the absent classes.
    keep : ndarray of bool, shape (n_samples,)
        The samples judged clean so far.
    """
    n_present = pred_probs.shape[1]
    raw_absent = absent_proba.sum(axis=1)
    full = np.hstack([pred_probs * (1.0 - raw_absent)[:, None], absent_proba])
    scaled_absent = temperature_scale(full, fit_temperature(codes, full, mask=keep))[:, n_present:]
    absent = scaled_absent.sum(axis=1)
    pseudo_count = min(TRANSITION_PSEUDO_COUNT, TRANSITION_ROW_PRIOR / n_present)
    # Leave-one-out: a sample's own probability would set its own label's prior (one sample of
    # a small class with a stray absent-class logit flagged itself; Zipf-sized classes, -0.0024 clean F1).
    label_sums = np.maximum(np.bincount(codes, weights=absent, minlength=n_present)[codes] - absent, 0.0)
    given_share = (label_sums + pseudo_count) / (absent.sum() - absent + pseudo_count * n_present)
    from_absent = absent * given_share
    from_present = (1.0 - absent) * given_label_likelihood(codes, class_proba, smoothed_transition(transition))
    return from_absent / np.maximum(from_absent + from_present, 1e-300), scaled_absent
