"""Images of no class: an outlier outcome from the labels of a sample's neighbours.

A sample of some class has neighbours that carry that class's labels (with its
noise), or, on the border of two classes, a blend of two classes' labels. An image
that belongs to none of the classes (a photo scraped into the wrong data set, a
blank frame) sits among other such images whose labels are arbitrary: its
neighbours' labels look like the labels of the whole data set. The two hypotheses
are compared by the likelihood of the neighbours' label counts:

- **outlier**: each neighbour's label is drawn from the label marginal ``pi``;
- **a class**: the labels are drawn from the neighbour-label profile ``G[c]`` of one
  class ``c`` (the label shares around the samples that are labelled ``c`` and judged
  clean, Laplace-smoothed), with prior ``pi[c]``; or from a blend ``w G[c] + (1 - w)
  G[d]`` of two of the sample's most frequent neighbour labels, averaged over ``w``
  (the border of two classes). Both halves weigh one half.

The class hypothesis is a marginal likelihood (a sum over classes, pairs and blend
weights, each with its prior), not a best fit, so its extra freedom is paid for
and it does not explain away a neighbourhood of arbitrary labels. The share of
outliers is fitted by EM on the per-sample likelihood ratios, capped at one half:
outliers are, by definition, the minority. Nothing is tuned and no rate is given.

A fit is rejected (``NeighbourOutlierModel.rejected``: no sample is called an outlier)
when the share reaches its cap or when the posteriors stay undecided
(:func:`decidedness` under one half): on features that barely separate the classes,
most neighbourhoods are mixtures that fit neither hypothesis well, and EM settled on a
large share with posteriors near it instead of near 0 or 1. Measured on Gaussian
classes in 64 dimensions whose true class the detector's evidence reads for 0.24-0.56
of the samples (10, 30 and 100 classes): 26-71 % of the samples came out outliers and
clean F1 fell by up to 0.48; the decidedness of those fits was 0.16-0.32, against
0.97-0.99 on the open-set draws of the benchmarks (``benchmarks/results/weak_features.md``):
the bar of one half sits in the middle of that gap.

Measured in ``benchmarks/results/detectors_realistic_digits.md`` (images of another data
set that keep a label of this one): most of them are found, and in the class-conditional
settings of ``detectors_consensus.md`` almost no sample is called an outlier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import logsumexp

from ._common import check_bool_mask, check_int, check_label_codes

__all__ = ["MIN_DECIDEDNESS", "NeighbourOutlierModel", "decidedness", "fit_neighbour_outlier_model"]

#: Neighbour labels that may share a border with the sample's class (pairs among them).
N_BORDER_CLASSES = 4
#: Blend weights averaged over on a border (midpoints of equal bins of [0, 1]).
N_BLEND_WEIGHTS = 4
#: The outlier share is fitted in [MIN_OUTLIER_SHARE, MAX_OUTLIER_SHARE].
MIN_OUTLIER_SHARE, MAX_OUTLIER_SHARE = 1e-6, 0.5
#: A fit whose posteriors are less decided than this (see ``decidedness``) is rejected.
MIN_DECIDEDNESS = 0.5
#: Entries of a block of rows: bounds the temporary (block, n_classes) arrays.
BLOCK_ENTRIES = 2**21


@dataclass
class NeighbourOutlierModel:
    """A fitted outlier model (see :func:`fit_neighbour_outlier_model`).

    Attributes
    ----------
    profiles : ndarray of shape (n_classes, n_classes)
        ``G[c, j]``: the share of label ``j`` among the neighbours of a sample of class ``c``.
    label_marginal : ndarray of shape (n_classes,)
        The share of each label in the data (the outlier hypothesis's label distribution).
    outlier_share : float
        The fitted prior share of outliers.
    rejected : bool
        True when the fit was rejected (see :func:`fit_neighbour_outlier_model`):
        :meth:`proba` is then 0 for every sample.
    rejected_outliers : int
        How many training samples the rejected fit would have called outliers.

    Examples
    --------
    >>> import numpy as np
    >>> profiles = np.full((5, 5), 0.025) + 0.875 * np.eye(5)   # 90 % of a class's neighbours share it
    >>> model = NeighbourOutlierModel(profiles, np.full(5, 0.2), outlier_share=0.05)
    >>> counts = np.array([[18, 1, 1, 0, 0],    # inside class 0
    ...                    [9, 9, 1, 1, 0],     # on the border of classes 0 and 1
    ...                    [4, 4, 4, 4, 4]])    # labels as arbitrary as the data set's
    >>> (model.proba(counts) > 0.5).tolist()
    [False, False, True]
    """

    profiles: np.ndarray
    label_marginal: np.ndarray
    outlier_share: float
    rejected: bool = False
    rejected_outliers: int = 0

    def log_odds(self, counts):
        """Log-likelihood ratio, outlier against a class, of each row of neighbour label counts
        (an array or a scipy sparse matrix of shape (n_samples, n_classes))."""
        counts = _sparse_counts(counts)
        if counts.shape[1] != len(self.label_marginal):
            raise ValueError(
                f"counts must have one column per class ({len(self.label_marginal)}), as the model was fitted; "
                f"got {counts.shape[1]}."
            )
        log_profiles = np.log(self.profiles)
        log_marginal = np.log(self.label_marginal)
        out = np.empty(counts.shape[0])
        block_rows = max(1, BLOCK_ENTRIES // len(log_marginal))
        for start in range(0, counts.shape[0], block_rows):
            block = counts[start:start + block_rows]
            out[start:start + block_rows] = block @ log_marginal - self._class_log_likelihood(
                block, log_profiles, log_marginal
            )
        return out

    def _class_log_likelihood(self, counts, log_profiles, log_marginal):
        """Of a block of sparse counts: the border blends are summed over each row's
        non-zero counts only (k neighbours, not n_classes columns)."""
        single = logsumexp(counts @ log_profiles.T + log_marginal, axis=1)
        n_border = min(N_BORDER_CLASSES, len(self.label_marginal))
        if n_border < 2:
            return single
        frequent = _most_frequent_labels(counts, n_border)
        rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        labels, values = counts.indices, counts.data
        weights = (np.arange(N_BLEND_WEIGHTS) + 0.5) / N_BLEND_WEIGHTS
        # profile_at[a]: each non-zero count's label share in the profile of the row's a-th label
        profile_at = [self.profiles[frequent[rows, a], labels] for a in range(n_border)]
        border = []
        for a in range(n_border):
            for b in range(a + 1, n_border):
                first, second = profile_at[a], profile_at[b]
                blends = np.stack([
                    np.bincount(rows, weights=values * np.log(w * first + (1 - w) * second), minlength=len(single))
                    for w in weights
                ], axis=1)
                prior = np.log(2.0) + log_marginal[frequent[:, a]] + log_marginal[frequent[:, b]]
                border.append(logsumexp(blends, axis=1) - np.log(len(weights)) + prior)
        border = logsumexp(np.stack(border, axis=1), axis=1)
        return np.logaddexp(single, border) + np.log(0.5)

    def proba(self, counts):
        """Posterior probability that each sample (row of neighbour label counts) is an outlier."""
        if self.rejected:
            return np.zeros(_sparse_counts(counts).shape[0])
        return _posterior(self.log_odds(counts), self.outlier_share)


def _sparse_counts(counts):
    """Counts as a CSR matrix of float64 with sorted, summed, non-zero entries: read as they
    are when they already are one (as :func:`fit_neighbour_outlier_model` passes them on to
    ``log_odds``), otherwise a tidied copy (the caller's matrix is not reordered)."""
    if not (sparse.issparse(counts) and counts.format == "csr" and counts.dtype == np.float64
            and counts.has_canonical_format and counts.data.all()):
        counts = sparse.csr_matrix(counts, dtype=np.float64, copy=True)
        counts.sum_duplicates()
        counts.eliminate_zeros()
    if not np.isfinite(counts.data).all() or (counts.data < 0).any():
        raise ValueError("counts must hold neighbour label counts: finite numbers >= 0 (no NaN, no negatives).")
    return counts


def _most_frequent_labels(counts, n_labels):
    """The ``n_labels`` labels of each row of sparse ``counts`` in order of falling count,
    ties (and the labels no neighbour carries, which follow) in increasing order: the
    first columns of a stable ``argsort(-counts)`` of the dense rows."""
    n_rows, n_classes = counts.shape
    per_row = np.diff(counts.indptr)
    rows = np.repeat(np.arange(n_rows), per_row)
    order = np.lexsort((counts.indices, -counts.data, rows))
    rank = np.arange(len(order)) - counts.indptr[rows[order]]
    frequent = np.empty((n_rows, n_labels), dtype=np.intp)
    top = rank < n_labels
    frequent[rows[order][top], rank[top]] = counts.indices[order][top]
    short = np.flatnonzero(per_row < n_labels)
    if short.size:  # fewer labels than places: the lowest labels absent from the row follow
        n_candidates = min(n_classes, 2 * n_labels - 1)  # a row lacks at least n_labels of these
        present = counts[short][:, :n_candidates].toarray() > 0
        absent = np.argsort(present, axis=1, kind="stable")
        for place in range(n_labels):
            needs = per_row[short] <= place
            frequent[short[needs], place] = absent[needs, place - per_row[short[needs]]]
    return frequent


def _posterior(log_odds, share):
    logit = np.clip(log_odds + np.log(share) - np.log1p(-share), -700, 700)
    return 1.0 / (1.0 + np.exp(-logit))


def fit_neighbour_outlier_model(counts, labels, n_classes, *, reference=None, max_iter=100, tol=1e-6):
    """Fit the outlier model to the neighbour label counts of a training set.

    Parameters
    ----------
    counts : array-like or scipy sparse matrix of shape (n_samples, n_classes)
        How many of each sample's neighbours carry each label (the sample itself not
        counted), e.g. ``k * neighbour_label_distribution(indices, labels, n_classes)``.
        A sample has at most as many labels as neighbours, so with many classes a
        sparse matrix (as :func:`~skclip_noise.selection.neighbour_label_counts` makes)
        saves memory and time: the model's cost grows with the non-zero counts, not
        ``n_samples * n_classes``.
    labels : array-like of shape (n_samples,)
        The given labels as codes ``0 .. n_classes - 1``.
    n_classes : int
    reference : array-like of bool, shape (n_samples,), default=None
        The samples whose labels are trusted (e.g. a first clean set): the class
        profiles are the label shares around them. None: every sample.
    max_iter, tol
        Of the EM fit of the outlier share.

    Returns
    -------
    model : NeighbourOutlierModel
    proba : ndarray of shape (n_samples,)
        The posterior probability that each training sample is an outlier; zeros when
        the fit is rejected: its share reached the cap of one half, or its posteriors
        are less decided than ``MIN_DECIDEDNESS`` (see :func:`decidedness`).

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise.selection import fit_neighbour_outlier_model
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat(np.arange(5), 40)
    >>> counts = np.zeros((200, 5))
    >>> counts[np.arange(200), labels] = 20                       # neighbourhoods of one class ...
    >>> counts[:8] = rng.multinomial(20, [0.2] * 5, size=8)      # ... and eight of arbitrary labels
    >>> model, proba = fit_neighbour_outlier_model(counts, labels, 5)
    >>> np.flatnonzero(proba > 0.5).tolist(), round(model.outlier_share, 2)
    ([0, 1, 2, 3, 4, 5, 6, 7], 0.04)
    """
    n_classes = check_int(n_classes, "n_classes", 1)
    labels = check_label_codes(labels, n_classes)
    shape = counts.shape if sparse.issparse(counts) else np.shape(counts)
    if shape != (len(labels), n_classes):
        raise ValueError(
            f"counts must have shape (n_samples, n_classes) = ({len(labels)}, {n_classes}); got {shape}."
        )
    counts = _sparse_counts(counts)
    reference = np.ones(len(labels), dtype=bool) if reference is None else check_bool_mask(
        reference, "reference", len(labels))
    reference_rows = np.flatnonzero(reference)
    of_class = sparse.csr_matrix(
        (np.ones(reference_rows.size), (labels[reference_rows], np.arange(reference_rows.size))),
        shape=(n_classes, reference_rows.size),
    )
    profiles = (of_class @ counts[reference_rows]).toarray()
    profiles = (profiles + 1.0) / (profiles.sum(axis=1, keepdims=True) + n_classes)
    label_marginal = np.bincount(labels, minlength=n_classes) / len(labels)
    label_marginal = np.clip(label_marginal, 1e-12, None)
    model = NeighbourOutlierModel(profiles, label_marginal / label_marginal.sum(), 0.1)
    log_odds = model.log_odds(counts)
    for _ in range(max_iter):
        proba = _posterior(log_odds, model.outlier_share)
        share = float(np.clip(proba.mean(), MIN_OUTLIER_SHARE, MAX_OUTLIER_SHARE))
        converged = abs(share - model.outlier_share) < tol
        model.outlier_share = share
        if converged:
            break
    proba = _posterior(log_odds, model.outlier_share)
    if model.outlier_share >= MAX_OUTLIER_SHARE or decidedness(proba, model.outlier_share) < MIN_DECIDEDNESS:
        model.rejected, model.rejected_outliers = True, int((proba > 0.5).sum())
        return model, np.zeros(len(labels))
    return model, proba


def decidedness(proba, share):
    """How far the outlier posteriors moved from the prior share towards 0 or 1.

    ``1 - mean H(proba) / H(share)``, with ``H`` the binary entropy: 1 when every
    posterior is 0 or 1, 0 when the neighbourhoods leave every sample at the prior: an
    entropy criterion for whether the two-component mixture separates anything, in the
    spirit of Celeux and Soromenho's normalised entropy criterion.

    Parameters
    ----------
    proba : array-like of shape (n_samples,)
        Outlier posteriors.
    share : float in (0, 1)
        The prior share of outliers.

    Examples
    --------
    >>> from skclip_noise.selection import decidedness
    >>> round(decidedness([0.0, 0.0, 0.0, 1.0], 0.25), 2), round(decidedness([0.25, 0.25, 0.25, 0.25], 0.25), 2)
    (1.0, 0.0)
    """
    def entropy(p):
        p = np.clip(p, 1e-12, 1 - 1e-12)
        return -(p * np.log(p) + (1 - p) * np.log1p(-p))

    proba = np.asarray(proba, dtype=np.float64)
    if not (np.isfinite(proba).all() and np.isfinite(share)) or proba.min(initial=0) < 0 or proba.max(initial=0) > 1 \
            or not 0 < share < 1:
        raise ValueError(f"decidedness needs posteriors in [0, 1] and a share in (0, 1); got share {share!r}.")
    return float(max(0.0, 1.0 - entropy(proba).mean() / entropy(share)))
