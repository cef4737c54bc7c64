"""Classes of the caller's model that no sample is given.

A model trained on more classes than a data set's labels use (a pretrained classifier, a
larger labelled set, annotators whose list lacked a class) gives each sample a
probability of belonging to a class that no sample carries. Such a class is either a
part of a given one (a pretrained model's finer classes: its images are labelled as
that class, as consistently as the class's own images are) or a foreign one (its images
carry labels that are all wrong, spread over several classes). The first is merged
into the given class; the second is evidence that a label is wrong whatever it is:
dropping its column would hide it, merging it would call its images right.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom, norm

from ..selection import fit_temperature, temperature_scale
from ..selection.transition import (
    TRANSITION_PSEUDO_COUNT,
    TRANSITION_ROW_PRIOR,
    given_label_likelihood,
    smoothed_transition,
)
from ._consensus_rules import SIGNIFICANCE

__all__ = ["absent_class_posterior", "split_absent_classes"]


def split_absent_classes(codes, pred_probs):
    """``(pred_probs over the given classes, the foreign classes)``.

    The given classes are those some sample carries, in code order. A class that none
    carries has a *host*, the given class most of its samples carry (a sample is "of" the
    class it most probably belongs to). When its samples carry the host's label
    significantly less often than the host's own samples do, it is *foreign*: its column
    index is in the second array (empty when there is none). When they carry it
    significantly more often than the host's share of all labels, it is a part of the
    host (a finer class of a pretrained model): its column is added to the host's.
    Otherwise (too few samples to tell, or none) its column is dropped. SIGNIFICANCE
    standard errors each.
    The result is renormalised over the given classes (a row with no mass on them
    becomes uniform).

    Examples
    --------
    >>> import numpy as np
    >>> codes = np.r_[np.repeat([0, 1], 50), np.tile([0, 1], 10)]
    >>> proba = np.repeat([[0.1, 0.1, 0.8, 0.0],   # class 2: a finer class 0, labelled 0
    ...                    [0.1, 0.8, 0.1, 0.0],
    ...                    [0.05, 0.05, 0.0, 0.9]], [50, 50, 20], axis=0)  # class 3: labels spread
    >>> given, foreign = split_absent_classes(codes, proba)
    >>> given[0].round(2).tolist(), given[50].round(2).tolist(), foreign.tolist()
    ([0.9, 0.1], [0.2, 0.8], [3])
    """
    n_classes = pred_probs.shape[1]
    present = np.flatnonzero(np.bincount(codes, minlength=n_classes))
    if len(present) == n_classes:
        return pred_probs, np.zeros(0, dtype=np.int64)
    # One C-ordered copy (x[:, idx] is F-ordered; .copy() made a second), float64 for float32 pred_probs too.
    merged = np.take(pred_probs, present, axis=1).astype(np.float64, copy=False)
    most_probable = pred_probs.argmax(axis=1)
    label_rates = np.bincount(codes, minlength=n_classes) / len(codes)
    foreign = []
    for column in np.setdiff1d(np.arange(n_classes), present):
        members = codes[most_probable == column]
        if not len(members):
            continue  # nothing to tell its role by: dropped
        host = present[int(np.argmax(np.bincount(members, minlength=n_classes)[present]))]
        role = _absent_class_role(members, codes[most_probable == host], host, label_rates[host], len(present))
        if role == "foreign":
            foreign.append(column)
        elif role == "part":
            merged[:, np.searchsorted(present, host)] += pred_probs[:, column]
    total = merged.sum(axis=1, keepdims=True)
    renormalised = np.where(total > 0, merged / np.where(total > 0, total, 1.0), 1.0 / len(present))
    return renormalised, np.asarray(foreign, dtype=np.int64)


def _absent_class_role(member_labels, host_member_labels, host, host_rate, n_hosts):
    """``"foreign"`` when the samples most probably of an absent class (``member_labels``)
    carry the ``host`` label significantly less often than the host's own samples do
    (two proportions);
    ``"part"`` (of the host) when significantly more often than the host's share of all
    labels would give (a binomial tail, times the ``n_hosts`` classes the host was
    chosen among); else ``"unknown"`` (too few to tell). SIGNIFICANCE standard errors,
    or the normal tail beyond them."""
    n_members, n_host = len(member_labels), max(len(host_member_labels), 1)
    carried = int(np.sum(member_labels == host))
    share = carried / n_members
    host_share = float(np.mean(host_member_labels == host)) if len(host_member_labels) else 1.0
    error = np.sqrt(share * (1.0 - share) / n_members + host_share * (1.0 - host_share) / n_host)
    if share < host_share - SIGNIFICANCE * error:
        return "foreign"
    if binom.sf(carried - 1, n_members, host_rate) * n_hosts < norm.sf(SIGNIFICANCE):
        return "part"
    return "unknown"


def absent_class_posterior(codes, class_proba, transition, pred_probs, absent_proba, keep):
    """``(P(true class absent | x, given label), the absent classes' calibrated probabilities)``,
    the absent classes being the foreign ones of :func:`split_absent_classes`.

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
