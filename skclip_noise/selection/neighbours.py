"""Nearest neighbours in feature space (cosine), exact or approximate, in bounded memory.

The search behind the neighbour rules of :mod:`skclip_noise.selection.simifeat`:
faiss when it is installed (exact inner product, or an HNSW graph for large N),
scikit-learn otherwise.

SimiFeat's motivation, for reference:

Zhu, Dong & Liu, "Detecting Corrupted Labels Without Training a Model to Predict",
ICML 2022. With features from a frozen pre-trained model (CLIP image embeddings),
samples close together usually share their true class, so a label that disagrees
with its neighbourhood is likely wrong; no classifier is trained. The rules
:func:`simifeat_vote` and :func:`simifeat_rank` return *clean* masks (True = label
kept). The paper also repeats detection over several augmented feature sets and
takes a majority; with fixed embeddings that is one run (the caller can combine
masks from several feature sets).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np

from ._common import check_int

__all__ = ["APPROXIMATE_MIN_SAMPLES", "KNN_BACKENDS", "NeighbourIndex", "nearest_neighbours"]

#: Backends accepted by :func:`nearest_neighbours`.
KNN_BACKENDS = ("auto", "faiss", "sklearn")
#: From this many samples, ``approximate=None`` switches faiss to an HNSW index.
APPROXIMATE_MIN_SAMPLES = 50_000
# HNSW graph settings (faiss IndexHNSWFlat): links per node and build-time beam width.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40


def _faiss_or_none():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _normalised_features(features, min_rows=2):
    X = np.asarray(features)
    if X.dtype.kind not in "iuf":
        raise ValueError(f"features must be a numeric array; got dtype {X.dtype}.")
    if X.ndim != 2:
        raise ValueError(
            f"features must be 2-D (n_samples, n_features); got shape {X.shape}. "
            "Stack one embedding per row, e.g. features.reshape(len(features), -1)."
        )
    if X.shape[0] < min_rows or X.shape[1] == 0:
        raise ValueError(f"features needs at least {min_rows} rows and 1 column; got shape {X.shape}.")
    X = np.array(X, dtype=np.float32, order="C", copy=True)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)[:5].tolist()
        raise ValueError(f"features contains NaN or infinite values (rows {rows}); drop or re-embed them.")
    # An all-zero row has no direction: it stays zero, at similarity 0 to every sample.
    X /= np.maximum(np.linalg.norm(X, axis=1), np.finfo(np.float32).tiny)[:, None]
    return X


def _drop_self(indices, similarities, first_row, n_neighbors, exclude_self=True):
    """Remove each query's own index (or the farthest result when absent) and missing (-1) results."""
    rows = np.arange(first_row, first_row + indices.shape[0])[:, None]
    dropped = ((indices == rows) & exclude_self) | (indices < 0)
    order = np.argsort(dropped, axis=1, kind="stable")[:, :n_neighbors]
    return np.take_along_axis(indices, order, 1), np.take_along_axis(similarities, order, 1)


def _hnsw_index(faiss, X):
    index = faiss.IndexHNSWFlat(X.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(X)
    return index


def _exact_rows(X, queries, n_query):
    """Exact inner-product top ``n_query`` of ``queries`` in ``X`` (a fallback for the few rows HNSW leaves short)."""
    sims = queries @ X.T
    top = np.argpartition(-sims, n_query - 1, axis=1)[:, :n_query]
    top_sims = np.take_along_axis(sims, top, 1)
    order = np.argsort(-top_sims, axis=1, kind="stable")
    return np.take_along_axis(top, order, 1).astype(np.int64), np.take_along_axis(top_sims, order, 1)


@contextmanager
def _faiss_threads(faiss, n_jobs):
    """faiss's OpenMP threads set to ``n_jobs`` (None: leave them; -1: every CPU) for the block."""
    if faiss is None or n_jobs is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads((os.cpu_count() or 1) if n_jobs < 0 else int(n_jobs))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class NeighbourIndex:
    """A cosine nearest-neighbour index over fixed features: built once, searched many times.

    A fitted detector keeps one, so new pairs (``predict_clean(X_new, y_new)``) are
    searched without rebuilding it. The faiss index is not pickled: it is rebuilt from the
    features on the first search after unpickling. See :func:`nearest_neighbours` for the
    backends and the approximate search.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
    backend : {"auto", "faiss", "sklearn"}, default="auto"
    approximate : bool or None, default=None
    ef_search : int, default=64
    n_jobs : int or None, default=None
        faiss's threads while building and searching (None: faiss's default, the
        machine's OpenMP threads; -1: every CPU). scikit-learn's search runs in the
        calling thread's BLAS.

    Examples
    --------
    >>> import numpy as np
    >>> index = NeighbourIndex(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), backend="sklearn")
    >>> index.search(None, 1)[0].ravel().tolist()          # every sample among the others
    [1, 0, 1]
    >>> index.search([[0.1, 1.0]], 2)[0].tolist()           # new rows among all of them
    [[2, 1]]
    """

    def __init__(self, features, *, backend="auto", approximate=None, ef_search=64, n_jobs=None):
        if backend not in KNN_BACKENDS:
            raise ValueError(f"backend must be one of {KNN_BACKENDS}; got {backend!r}.")
        self.X = _normalised_features(features)
        self.ef_search = check_int(ef_search, "ef_search", 1)
        self.n_jobs = n_jobs
        faiss = _faiss_or_none()
        if backend == "faiss" and faiss is None:
            raise ValueError(
                "backend='faiss' needs the faiss package (pip install faiss-cpu); or use backend='sklearn'."
            )
        self.use_faiss = backend == "faiss" or (backend == "auto" and faiss is not None)
        if approximate is None:
            approximate = self.use_faiss and self.n_samples >= APPROXIMATE_MIN_SAMPLES
        if approximate and not self.use_faiss:
            raise ValueError("approximate=True needs the faiss backend (pip install faiss-cpu).")
        self.approximate = bool(approximate)
        self._index = None

    @property
    def n_samples(self):
        return self.X.shape[0]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_index"] = None  # faiss indexes do not pickle; rebuilt on the next search
        return state

    def _built(self, n_query):
        if self._index is None:
            if self.use_faiss:
                faiss = _faiss_or_none()
                with _faiss_threads(faiss, self.n_jobs):
                    if self.approximate:
                        self._index = _hnsw_index(faiss, self.X)
                    else:
                        self._index = faiss.IndexFlatIP(self.X.shape[1])
                        self._index.add(self.X)
            else:
                from sklearn.neighbors import NearestNeighbors

                self._index = NearestNeighbors(algorithm="brute", metric="euclidean").fit(self.X)
        if self.use_faiss and self.approximate:
            self._index.hnsw.efSearch = max(self.ef_search, n_query)
        return self._index

    def _search_chunk(self, index, chunk, n_query):
        if self.use_faiss:
            sims, ids = index.search(chunk, n_query)
            return ids.astype(np.int64), sims
        ids = index.kneighbors(chunk, n_neighbors=n_query, return_distance=False).astype(np.int64)
        # The inner products themselves (1 - d^2 / 2 holds for unit rows only, not zero rows).
        X = self.X
        sims = np.stack([np.einsum("ij,ij->i", chunk, X[ids[:, c]]) for c in range(ids.shape[1])], axis=1)
        return ids, sims

    def search(self, queries, n_neighbors, *, batch_size=4096):
        """The ``n_neighbors`` most similar samples of each query row, most similar first.

        ``queries=None`` searches every sample among the others (a sample is never its
        own neighbour). Returns ``(indices, similarities)`` as :func:`nearest_neighbours`.
        """
        X = self.X
        n_samples = X.shape[0]
        n_neighbors = check_int(n_neighbors, "n_neighbors", 1)
        exclude_self = queries is None
        Q = X if exclude_self else _normalised_features(queries, min_rows=1)
        if Q.shape[1] != X.shape[1]:
            raise ValueError(f"queries have {Q.shape[1]} features but features have {X.shape[1]}.")
        if n_neighbors >= n_samples + (not exclude_self):
            raise ValueError(
                f"n_neighbors={n_neighbors} must be below n_samples={n_samples} (a sample is not its own neighbour)."
                if exclude_self else f"n_neighbors={n_neighbors} exceeds the {n_samples} samples to search."
            )
        batch_size = check_int(batch_size, "batch_size", 1)
        n_query = n_neighbors + exclude_self
        n_rows = Q.shape[0]
        indices = np.empty((n_rows, n_neighbors), dtype=np.int64)
        similarities = np.empty((n_rows, n_neighbors), dtype=np.float32)
        with _faiss_threads(_faiss_or_none() if self.use_faiss else None, self.n_jobs):
            index = self._built(n_query)
            for start in range(0, n_rows, batch_size):
                stop = min(start + batch_size, n_rows)
                ids, sims = _drop_self(*self._search_chunk(index, Q[start:stop], n_query), start, n_neighbors,
                                       exclude_self)
                indices[start:stop], similarities[start:stop] = ids, sims

        incomplete = np.flatnonzero((indices < 0).any(axis=1))
        fallback_rows = max(1, min(batch_size, 2**24 // n_samples))  # <= 64 MiB of similarities
        for start in range(0, incomplete.size, fallback_rows):
            rows = incomplete[start:start + fallback_rows]
            ids, sims = _exact_rows(X, Q[rows], n_query)
            keep = np.argsort((ids == rows[:, None]) & exclude_self, axis=1, kind="stable")[:, :n_neighbors]
            indices[rows] = np.take_along_axis(ids, keep, 1)
            similarities[rows] = np.take_along_axis(sims, keep, 1)
        np.clip(similarities, -1.0, 1.0, out=similarities)
        return indices, similarities


def nearest_neighbours(
    features,
    n_neighbors,
    *,
    backend="auto",
    approximate=None,
    ef_search=64,
    batch_size=4096,
    queries=None,
    n_jobs=None,
):
    """Cosine nearest neighbours of every sample among the others (or of new queries).

    Features are L2-normalised (a float32 copy), so the inner product is the
    cosine similarity. A sample is never its own neighbour; with duplicate rows
    the duplicate is a neighbour at similarity 1. Queries run in chunks of
    ``batch_size`` rows, so beyond the normalised copy and the index (faiss keeps
    its own copy of the vectors) memory stays bounded by scikit-learn's
    ``working_memory`` chunks or faiss's fixed blocks, whatever ``n_samples``.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        One embedding per sample, finite (an all-zero row is at similarity 0 to all).
    n_neighbors : int
        Neighbours per sample, ``1 <= n_neighbors < n_samples``.
    backend : {"auto", "faiss", "sklearn"}, default="auto"
        ``"faiss"``: exact ``IndexFlatIP``, or HNSW when approximate.
        ``"sklearn"``: brute-force :class:`~sklearn.neighbors.NearestNeighbors`
        (Euclidean on the unit vectors, the same order as cosine). ``"auto"``:
        faiss when it can be imported, else scikit-learn.
    approximate : bool or None, default=None
        Use faiss's ``IndexHNSWFlat`` graph (``M=32`` links, ``efConstruction=40``,
        ``efSearch=ef_search``) instead of the exact scan, whose cost grows with
        ``n_samples ** 2``. ``None``: from :data:`APPROXIMATE_MIN_SAMPLES` samples
        on, with faiss only. With ``ef_search=64`` it recalled 0.985 (512-d) and
        0.978 (1280-d) of the exact 10 nearest neighbours of clustered embeddings
        at 100k samples, 4-5x faster than the exact scan on one thread
        (``benchmarks/results/knn_backends.md``). Rows the graph search leaves
        short are completed by an exact scan.
    ef_search : int, default=64
        HNSW search beam width (at least ``n_neighbors + 1``); higher = better
        recall, slower.
    batch_size : int, default=4096
        Query rows per chunk.
    queries : array-like of shape (n_queries, n_features), default=None
        Find the neighbours of these rows among ``features`` instead (new samples
        against a training set: nothing is excluded, ``n_neighbors <= n_samples``).
    n_jobs : int or None, default=None
        faiss's threads (None: faiss's default, the machine's OpenMP threads; -1: every
        CPU). To search one set many times, build a :class:`NeighbourIndex` once.

    Returns
    -------
    indices : ndarray of int64, shape (n_samples or n_queries, n_neighbors)
        Neighbours of each sample, most similar first.
    similarities : ndarray of float32, shape (n_samples or n_queries, n_neighbors)
        Their cosine similarities, in ``[-1, 1]``, non-increasing along each row.

    Examples
    --------
    >>> import numpy as np
    >>> features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> indices, similarities = nearest_neighbours(features, 1, backend="sklearn")
    >>> indices.ravel().tolist()
    [1, 0, 3, 2]
    >>> print(similarities.ravel().round(3))
    [0.994 0.994 0.994 0.994]
    >>> nearest_neighbours(features, 2, queries=[[1.0, 0.05]], backend="sklearn")[0].tolist()
    [[0, 1]]
    """
    index = NeighbourIndex(features, backend=backend, approximate=approximate, ef_search=ef_search, n_jobs=n_jobs)
    return index.search(queries, n_neighbors, batch_size=batch_size)
