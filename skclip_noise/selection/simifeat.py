"""SimiFeat: find wrong labels from the labels of nearest neighbours in feature space.

Zhu, Dong & Liu, "Detecting Corrupted Labels Without Training a Model to Predict",
ICML 2022. With features from a frozen pre-trained model, samples close together
usually share their true class, so a label that disagrees with its neighbourhood is
likely wrong; no classifier is trained. :func:`simifeat_vote` and
:func:`simifeat_rank` return *clean* masks (True = label kept). The paper also repeats
detection over several augmented feature sets and takes a majority; with fixed
embeddings that is one run (the caller can combine masks from several feature sets).
"""

from __future__ import annotations

import numpy as np

from ._common import check_bool_mask, check_int, check_label_codes, lowest_per_group
from .neighbours import nearest_neighbours

__all__ = [
    "neighbour_label_counts",
    "neighbour_label_distribution",
    "query_label_distribution",
    "neighbour_transition_matrix",
    "simifeat_rank",
    "simifeat_vote",
]


def _check_neighbour_indices(neighbour_indices, n_samples=None, n_searched=None):
    idx = np.asarray(neighbour_indices)
    if idx.ndim != 2 or idx.shape[1] == 0:
        raise ValueError(f"neighbour_indices must be 2-D (n_samples, n_neighbors); got shape {idx.shape}.")
    if idx.dtype.kind not in "iu":
        raise ValueError(f"neighbour_indices must hold integer sample indices; got dtype {idx.dtype}.")
    n = idx.shape[0] if n_samples is None else n_samples
    if n_searched is None and idx.shape[0] != n:
        raise ValueError(f"neighbour_indices has {idx.shape[0]} rows but labels has {n}; pass one row per sample.")
    n = n if n_searched is None else n_searched
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"neighbour_indices must lie in 0..{n - 1}; got values from {idx.min()} to {idx.max()}.")
    return idx.astype(np.int64, copy=False)


def _neighbour_votes(idx, codes, n_classes, weights, self_weight):
    n_samples, n_neighbors = idx.shape
    rows = np.repeat(np.arange(n_samples), n_neighbors)
    neighbour_codes = codes[idx].ravel()
    if weights is None:
        w = np.ones(rows.shape[0])
    else:
        w = np.clip(weights.ravel().astype(np.float64), 0.0, None)
        starved = np.bincount(rows, weights=w, minlength=n_samples) <= 0
        if starved.any():  # no positive similarity: count the neighbours unweighted
            w = w.reshape(n_samples, n_neighbors)
            w[starved] = 1.0
            w = w.ravel()
    votes = np.bincount(rows * n_classes + neighbour_codes, weights=w, minlength=n_samples * n_classes)
    votes = votes.astype(np.float64, copy=False).reshape(n_samples, n_classes)  # int64 when there are no rows
    if self_weight:
        votes[np.arange(n_samples), codes] += self_weight
    return votes


def neighbour_label_distribution(neighbour_indices, labels, n_classes, *, weights=None, self_weight=0.0):
    """Share of each class among the labels of each sample's neighbours.


    Parameters
    ----------
    neighbour_indices : array-like of int, shape (n_samples, n_neighbors)
        From :func:`nearest_neighbours`.
    labels : array-like of shape (n_samples,)
        Given labels as integer codes ``0 .. n_classes-1``.
    n_classes : int
    weights : array-like of shape (n_samples, n_neighbors), default=None
        Per-neighbour vote weights, e.g. the similarities of
        :func:`nearest_neighbours` (SimiFeat weighs by similarity). Negative weights
        count as 0; a row with no positive weight falls back to equal weights.
    self_weight : float, default=0.0
        Weight of the sample's own label (SimiFeat counts it with weight 1, its
        similarity to itself).

    Returns
    -------
    distribution : ndarray of shape (n_samples, n_classes)
        Rows sum to 1.

    Examples
    --------
    >>> neighbour_label_distribution([[1, 2], [0, 2], [0, 1]], [0, 0, 1], 2)
    array([[0.5, 0.5],
           [0.5, 0.5],
           [1. , 0. ]])
    >>> neighbour_label_distribution([[1, 2], [0, 2], [0, 1]], [0, 0, 1], 2,
    ...                              weights=[[3, 1], [1, 1], [1, 1]])
    array([[0.75, 0.25],
           [0.5 , 0.5 ],
           [1.  , 0.  ]])
    """
    n_classes = check_int(n_classes, "n_classes", 1)
    idx = _check_neighbour_indices(neighbour_indices)
    codes = check_label_codes(labels, n_classes, idx.shape[0])
    return _label_distribution(idx, codes, n_classes, weights, self_weight)


def query_label_distribution(neighbour_indices, labels, n_classes, *, weights=None):
    """Share of each class among the labels of new samples' neighbours in a labelled set.

    Like :func:`neighbour_label_distribution` for queries whose neighbours were
    searched among the labelled samples (``nearest_neighbours(..., queries=...)``):
    ``neighbour_indices`` has one row per query and indexes ``labels``.

    Parameters
    ----------
    neighbour_indices : array-like of int, shape (n_queries, n_neighbors)
        Each query's neighbours, as positions in ``labels``.
    labels : array-like of int, shape (n_labelled,)
        Class codes ``0 .. n_classes-1`` of the labelled samples.
    n_classes : int
    weights : array-like of shape (n_queries, n_neighbors), default=None
        Weights of the neighbours' votes (None: equal).

    Examples
    --------
    >>> query_label_distribution([[0, 1], [2, 2]], [0, 1, 1], 2)
    array([[0.5, 0.5],
           [0. , 1. ]])
    """
    n_classes = check_int(n_classes, "n_classes", 1)
    codes = check_label_codes(labels, n_classes)
    idx = _check_neighbour_indices(neighbour_indices, n_searched=len(codes))
    return _label_distribution(idx, codes, n_classes, weights, 0.0)


def neighbour_label_counts(neighbour_indices, labels, n_classes, *, slots=None):
    """How many of each sample's neighbours carry each label, as a sparse matrix.

    The counts behind :func:`neighbour_label_distribution`, with at most ``n_neighbors``
    non-zero entries per row whatever the number of classes: with a thousand classes a
    dense (n_samples, n_classes) array of them would be almost all zeros.

    Parameters
    ----------
    neighbour_indices : array-like of int, shape (n_samples, n_neighbors)
        Each row indexes ``labels`` (the labelled samples the neighbours were searched among).
    labels : array-like of shape (n_labelled,)
        Given labels as integer codes ``0 .. n_classes-1``.
    n_classes : int
    slots : array-like of bool, shape (n_samples, n_neighbors), default=None
        Which neighbours each sample asks; None: all of them.

    Returns
    -------
    counts : scipy.sparse.csr_matrix of shape (n_samples, n_classes)

    Examples
    --------
    >>> neighbour_label_counts([[1, 2], [0, 2], [0, 1]], [0, 0, 1], 2).toarray()
    array([[1., 1.],
           [1., 1.],
           [2., 0.]])
    """
    from scipy.sparse import csr_matrix

    n_classes = check_int(n_classes, "n_classes", 1)
    codes = check_label_codes(labels, n_classes)
    idx = _check_neighbour_indices(neighbour_indices, n_searched=len(codes))
    n_samples, n_neighbors = idx.shape
    if slots is None:
        asked = np.ones(idx.size)
    else:
        slots = np.asarray(slots)
        if slots.shape != idx.shape:
            raise ValueError(f"slots must have the shape of neighbour_indices {idx.shape}; got {slots.shape}.")
        asked = check_bool_mask(slots.ravel(), "slots").astype(np.float64)
    counts = csr_matrix(
        (asked, codes[idx].ravel(), np.arange(0, idx.size + 1, n_neighbors)), shape=(n_samples, n_classes)
    )
    counts.sum_duplicates()
    counts.eliminate_zeros()
    return counts


def _label_distribution(idx, codes, n_classes, weights, self_weight):
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != idx.shape:
            raise ValueError(f"weights must have the shape of neighbour_indices {idx.shape}; got {weights.shape}.")
        if not np.isfinite(weights).all():
            raise ValueError("weights contains NaN or infinite values.")
    if not np.isfinite(self_weight) or self_weight < 0:
        raise ValueError(f"self_weight must be a finite number >= 0; got {self_weight!r}.")
    votes = _neighbour_votes(idx, codes, n_classes, weights, float(self_weight))
    votes /= votes.sum(axis=1, keepdims=True)
    return votes


def neighbour_transition_matrix(
    neighbour_indices, labels, n_classes, *, n_consensus=3, max_iter=200, tol=1e-7, return_prior=False
):
    """Noise transition matrix ``T[true, given]`` from the label consensus of neighbours.

    HOC's model (Zhu, Song & Liu, ICML 2021, used by SimiFeat's rank rule): a
    sample and its ``n_consensus - 1`` nearest neighbours share one true class,
    drawn from the clean prior ``p``, and each of their given labels is drawn
    independently from row ``T[true]``. HOC fits ``T`` and ``p`` by matching the
    first- to third-order label consensuses with gradient descent; here the same
    latent-class model is fitted by maximum likelihood with EM (as Dawid-Skene
    does for annotators), starting from a diagonally dominant ``T`` so that
    component ``i`` stays class ``i``. Each sample's tuple is treated as
    independent of the others although they overlap. On 1,200 clustered samples
    with 30% noise the estimated diagonal was unbiased over seeds with a spread
    of 0.04 (0.02 with ``n_consensus=5``, as the neighbours were all pure).

    Parameters
    ----------
    neighbour_indices : array-like of int, shape (n_samples, n_neighbors)
        From :func:`nearest_neighbours`, most similar first; the first
        ``n_consensus - 1`` columns are used.
    labels : array-like of shape (n_samples,)
        Given labels as integer codes ``0 .. n_classes-1``.
    n_classes : int
    n_consensus : int, default=3
        Labels per tuple (the sample and its nearest neighbours); 3 is HOC's and
        is enough to identify ``T`` when it is invertible. Larger values use
        farther neighbours, which share the true class less often.
    max_iter : int, default=200
    tol : float, default=1e-7
        Stop when the mean log-likelihood improves by less than this.
    return_prior : bool, default=False
        Also return the estimated clean prior ``p``.

    Returns
    -------
    transition : ndarray of shape (n_classes, n_classes)
        Row-stochastic, ``T[i, j] = P(given = j | true = i)``; a class with no
        estimated mass gets an identity row.
    prior : ndarray of shape (n_classes,)
        Only with ``return_prior=True``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.r_[np.zeros(50, int), np.ones(50, int)]
    >>> neighbours = np.c_[np.r_[np.arange(1, 50), 0], np.r_[np.arange(2, 50), 0, 1]]
    >>> neighbours = np.r_[neighbours, neighbours + 50]
    >>> neighbour_transition_matrix(neighbours, labels, 2).round(3)
    array([[1., 0.],
           [0., 1.]])
    """
    n_classes = check_int(n_classes, "n_classes", 1)
    n_consensus = check_int(n_consensus, "n_consensus", 2)
    max_iter = check_int(max_iter, "max_iter", 1)
    idx = _check_neighbour_indices(neighbour_indices)
    codes = check_label_codes(labels, n_classes, idx.shape[0])
    if n_consensus - 1 > idx.shape[1]:
        raise ValueError(f"n_consensus={n_consensus} needs {n_consensus - 1} neighbours per sample; "
                         f"got {idx.shape[1]}.")
    from scipy.sparse import csr_matrix

    n_samples = codes.shape[0]
    # The likelihood depends on a tuple only through its label multiset: fit on the distinct ones.
    tuples, multiplicity = np.unique(
        np.sort(np.c_[codes, codes[idx[:, : n_consensus - 1]]], axis=1), axis=0, return_counts=True
    )
    weights = multiplicity / n_samples
    counts = csr_matrix(
        (np.ones(tuples.size), tuples.ravel(), np.arange(0, tuples.size + 1, n_consensus)),
        shape=(tuples.shape[0], n_classes),
    )
    prior = np.bincount(codes, minlength=n_classes) / n_samples
    transition = np.full((n_classes, n_classes), 0.2 / max(n_classes - 1, 1))
    np.fill_diagonal(transition, 0.8 if n_classes > 1 else 1.0)
    previous = -np.inf
    for _ in range(max_iter):
        log_lik = np.log(np.maximum(prior, 1e-300)) + counts @ np.log(np.maximum(transition, 1e-300)).T
        top = log_lik.max(axis=1, keepdims=True)
        posterior = np.exp(log_lik - top)
        norm = posterior.sum(axis=1, keepdims=True)
        posterior *= weights[:, None] / norm
        mean_log_lik = float(weights @ (top[:, 0] + np.log(norm[:, 0])))
        prior = posterior.sum(axis=0)
        expected = np.asarray((counts.T @ posterior).T)
        totals = expected.sum(axis=1, keepdims=True)
        transition = np.divide(expected, totals, out=np.zeros_like(expected), where=totals > 0)
        if mean_log_lik - previous < tol:
            break
        previous = mean_log_lik
    empty = prior * n_samples < 1e-6
    transition[empty] = 0.0
    transition[empty, empty] = 1.0
    return (transition, prior) if return_prior else transition


def _check_features_match_labels(features, labels):
    if features is None:
        return
    n_rows, n_labels = np.shape(features)[:1], np.shape(labels)[:1]
    if n_rows and n_labels and n_rows != n_labels:
        raise ValueError(f"features has {n_rows[0]} rows but labels has {n_labels[0]}; pass one label per row.")


def _simifeat_votes(features, labels, n_neighbors, n_classes, weighted, include_self, backend, neighbours):
    _check_features_match_labels(features, labels)
    if neighbours is None:
        if features is None:
            raise ValueError("pass features (or precomputed neighbours=(indices, similarities)).")
        neighbours = nearest_neighbours(features, n_neighbors, backend=backend)
    try:
        idx, sims = neighbours
    except (TypeError, ValueError) as exc:
        raise ValueError("neighbours must be the (indices, similarities) pair of nearest_neighbours.") from exc
    idx = _check_neighbour_indices(idx)
    sims = np.asarray(sims, dtype=np.float64)
    if sims.shape != idx.shape or not np.isfinite(sims).all():
        raise ValueError(f"neighbour similarities must be finite with shape {idx.shape}; got {sims.shape}.")
    n_neighbors = check_int(n_neighbors, "n_neighbors", 1)
    if n_neighbors > idx.shape[1]:
        raise ValueError(f"n_neighbors={n_neighbors} exceeds the {idx.shape[1]} precomputed neighbours.")
    idx, sims = idx[:, :n_neighbors], sims[:, :n_neighbors]
    n_classes = None if n_classes is None else check_int(n_classes, "n_classes", 1)
    codes = check_label_codes(labels, n_classes, idx.shape[0])
    n_classes = int(codes.max()) + 1 if n_classes is None else n_classes
    votes = _neighbour_votes(idx, codes, n_classes, sims if weighted else None, 1.0 if include_self else 0.0)
    return codes, n_classes, idx, votes


def simifeat_vote(
    features,
    labels,
    *,
    n_neighbors=10,
    n_classes=None,
    weighted=True,
    include_self=True,
    backend="auto",
    neighbours=None,
):
    """SimiFeat's local majority vote: keep a label that wins its neighbourhood's vote.

    Each sample's neighbours (and, with ``include_self``, the sample itself with
    weight 1) vote for their given labels, weighted by cosine similarity when
    ``weighted``. The label is kept when it gets the most votes; a tie keeps it.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features) or None
        Embeddings (e.g. CLIP image features); None when ``neighbours`` is given.
    labels : array-like of shape (n_samples,)
        Given labels as integer codes ``0 .. K-1``.
    n_neighbors : int, default=10
        ``k`` of the paper (10 in its experiments).
    n_classes : int, default=None
        Defaults to ``labels.max() + 1``.
    weighted : bool, default=True
        Weigh votes by similarity (the authors' code does); False counts them.
    include_self : bool, default=True
        Count the sample's own label with weight 1.
    backend : {"auto", "faiss", "sklearn"}, default="auto"
        Passed to :func:`nearest_neighbours`.
    neighbours : tuple (indices, similarities), default=None
        Precomputed :func:`nearest_neighbours` output (at least ``n_neighbors`` columns).

    Returns
    -------
    clean : ndarray of bool, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> centres = np.array([[5.0, 0.0], [0.0, 5.0]])
    >>> labels = np.repeat([0, 1], 20)
    >>> features = centres[labels] + rng.normal(size=(40, 2))
    >>> noisy = labels.copy(); noisy[[3, 25]] = 1 - noisy[[3, 25]]
    >>> np.flatnonzero(~simifeat_vote(features, noisy, n_neighbors=5, backend="sklearn")).tolist()
    [3, 25]
    """
    codes, _, _, votes = _simifeat_votes(
        features, labels, n_neighbors, n_classes, weighted, include_self, backend, neighbours
    )
    return votes[np.arange(codes.shape[0]), codes] >= votes.max(axis=1) * (1 - 1e-12)  # a tie keeps the label


def simifeat_rank(
    features,
    labels,
    *,
    n_neighbors=10,
    n_classes=None,
    weighted=True,
    include_self=True,
    transition_matrix=None,
    clean_prior=None,
    backend="auto",
    neighbours=None,
):
    """SimiFeat's ranking rule: in each class, flag the estimated number of wrong labels.

    Each sample's score is the cosine between its neighbourhood's vote vector
    (as in :func:`simifeat_vote`) and the one-hot of its given label. In given
    class ``j``, the ``round(N_j * (1 - P(true = j | given = j)))`` samples with
    the lowest scores are flagged (ties: earlier sample first), where
    ``P(true = j | given = j) = p_j T[j, j] / P(given = j)`` comes from the
    transition matrix and clean prior (:func:`neighbour_transition_matrix` when
    not given) and the share of samples labelled ``j``.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features) or None
        Embeddings; None when ``neighbours`` is given.
    labels : array-like of shape (n_samples,)
        Given labels as integer codes ``0 .. K-1``.
    n_neighbors : int, default=10
    n_classes : int, default=None
        Defaults to ``labels.max() + 1``.
    weighted : bool, default=True
    include_self : bool, default=True
    transition_matrix : array-like of shape (K, K), default=None
        ``T[true, given]``, rows summing to 1. Estimated from the neighbours when None.
    clean_prior : array-like of shape (K,), default=None
        ``P(true = i)``. With a given ``transition_matrix`` and no prior, it is solved
        from ``P(given) = T^T p`` (least squares, clipped to >= 0).
    backend : {"auto", "faiss", "sklearn"}, default="auto"
    neighbours : tuple (indices, similarities), default=None
        Precomputed :func:`nearest_neighbours` output; needs at least
        ``max(n_neighbors, 2)`` columns when ``transition_matrix`` is None.

    Returns
    -------
    clean : ndarray of bool, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> centres = np.array([[5.0, 0.0], [0.0, 5.0]])
    >>> labels = np.repeat([0, 1], 20)
    >>> features = centres[labels] + rng.normal(size=(40, 2))
    >>> noisy = labels.copy(); noisy[[3, 25]] = 1 - noisy[[3, 25]]
    >>> T = np.array([[0.95, 0.05], [0.05, 0.95]])
    >>> clean = simifeat_rank(features, noisy, n_neighbors=5, transition_matrix=T, backend="sklearn")
    >>> np.flatnonzero(~clean).tolist()
    [3, 25]
    """
    _check_features_match_labels(features, labels)
    if neighbours is None and features is not None and transition_matrix is None:
        n_samples = len(features)
        if n_samples <= 2:  # the transition estimate reads two neighbours of every sample
            raise ValueError(
                f"simifeat_rank estimates the noise transition from 2 neighbours of every sample, which "
                f"{n_samples} samples do not have; pass transition_matrix=, or more samples."
            )
        neighbours = nearest_neighbours(features, max(n_neighbors, 2), backend=backend)
    codes, n_classes, _, votes = _simifeat_votes(
        features, labels, n_neighbors, n_classes, weighted, include_self, backend, neighbours
    )
    given_counts = np.bincount(codes, minlength=n_classes)
    noisy_prior = given_counts / codes.shape[0]
    if transition_matrix is None:
        transition, prior = neighbour_transition_matrix(neighbours[0], codes, n_classes, return_prior=True)
    else:
        transition = np.asarray(transition_matrix, dtype=np.float64)
        if transition.shape != (n_classes, n_classes) or not np.isfinite(transition).all() or (
            (transition < 0).any() or not np.allclose(transition.sum(axis=1), 1.0, atol=1e-3)
        ):
            raise ValueError(f"transition_matrix rows must be non-negative and sum to 1, shape ({n_classes}, "
                             f"{n_classes}) (T[true, given]); got shape {transition.shape}.")
        if clean_prior is None:  # solve P(given) = T^T p
            prior = np.clip(np.linalg.lstsq(transition.T, noisy_prior, rcond=None)[0], 0.0, None)
        else:
            prior = np.asarray(clean_prior, dtype=np.float64)
            if prior.shape != (n_classes,) or not np.isfinite(prior).all() or (prior < 0).any():
                raise ValueError(f"clean_prior must be {n_classes} non-negative numbers; got {clean_prior!r}.")
        prior = prior / max(prior.sum(), 1e-12)
    share_clean = np.divide(prior * np.diag(transition), noisy_prior, out=np.ones(n_classes), where=noisy_prior > 0)
    n_flag = np.round(given_counts * (1.0 - np.clip(share_clean, 0.0, 1.0))).astype(np.int64)
    scores = votes[np.arange(codes.shape[0]), codes] / np.linalg.norm(votes, axis=1)
    return ~lowest_per_group(np.ones(codes.shape[0], dtype=bool), codes, scores, n_flag)
