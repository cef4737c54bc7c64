"""Nearest neighbours in feature space (cosine), exact or approximate, in bounded memory.

The search behind the neighbour rules of :mod:`skclip_noise.selection.simifeat`:
faiss when it is installed (an exact scan, or for large N an inverted-file index over
a PCA projection with exact re-ranking, or an HNSW graph), scikit-learn otherwise.

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

import numbers
from contextlib import contextmanager

import numpy as np

from ._common import block_rows_for, check_int, check_row_positions

__all__ = ["APPROXIMATE_INDEXES", "APPROXIMATE_MIN_SAMPLES", "KNN_BACKENDS", "NeighbourIndex", "nearest_neighbours"]

#: Backends accepted by :func:`nearest_neighbours`.
KNN_BACKENDS = ("auto", "faiss", "sklearn")
#: Approximate faiss indexes: ``approximate=True`` means the first.
APPROXIMATE_INDEXES = ("ivf", "hnsw")
#: From this many samples, ``approximate=None`` switches faiss to the IVF index.
APPROXIMATE_MIN_SAMPLES = 50_000
# HNSW graph settings (faiss IndexHNSWFlat): links per node and build-time beam width.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
# IVF settings: candidates come from an inverted file over the first IVF_PCA_DIMS principal
# components (IVF_LISTS_PER_ROOT_N * sqrt(N) lists, IVF_NPROBE of them searched per query),
# IVF_K_FACTOR times the wanted neighbours, re-ranked by their exact cosine similarity. The
# lists hold IVF_CODE_BITS-bit codes of each projected dimension (faiss's SIMD "fast scan";
# None: the float rows), of the rows themselves rather than of their residuals to the list
# centre, so one lookup table serves every list a query searches: several times faster
# than the float rows, so more lists are searched for a higher recall in less time
# (benchmarks/results/knn_index.md).
IVF_PCA_DIMS = 64
IVF_LISTS_PER_ROOT_N = 2
IVF_NPROBE = 24
IVF_K_FACTOR = 4
IVF_CODE_BITS = 4
# k-means trains on this many samples per list (faiss warns below 39), at least IVF_MIN_TRAIN.
IVF_TRAIN_PER_LIST = 40
IVF_MIN_TRAIN = 20_000
# The PCA is fitted on at most this many of those (randomly drawn) rows.
IVF_PCA_TRAIN = 8192



def _faiss_or_none():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _checked_features(features, min_rows=2):
    """``features`` as a finite 2-D float32 C-contiguous array: the caller's own array when
    it already is one (it is only read), else a float32 copy."""
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
    X = np.ascontiguousarray(X, dtype=np.float32)
    chunk_rows = block_rows_for(X.shape[1])
    for start in range(0, X.shape[0], chunk_rows):  # bounded temporaries
        finite = np.isfinite(X[start:start + chunk_rows]).all(axis=1)
        if not finite.all():
            rows = (start + np.flatnonzero(~finite)[:5]).tolist()
            raise ValueError(f"features contains NaN or infinite values (rows {rows}); drop or re-embed them.")
    return X


def _inverse_norms(X):
    """1 / the L2 norm of each row; 0 for an all-zero row, which has no direction and stays
    at similarity 0 to every sample. Rows whose squared norm leaves float32's range (beyond
    about 1e19 or below 1e-19 in size) are summed again in float64, so that a cosine does
    not depend on the features' scale."""
    squares = np.einsum("ij,ij->i", X, X)
    norms = np.sqrt(squares)
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    redo = np.flatnonzero(~(np.isfinite(squares) & (squares >= np.finfo(np.float32).tiny)))
    if redo.size:
        wide = np.sqrt(np.einsum("ij,ij->i", X[redo], X[redo], dtype=np.float64))
        inverse[redo] = np.minimum(np.divide(1.0, wide, out=np.zeros_like(wide), where=wide > 0),
                                   np.finfo(np.float32).max)
    return inverse


def _normalised_features(features, min_rows=2):
    """A float32 copy of ``features`` with unit rows (all-zero rows stay zero)."""
    X = _checked_features(features, min_rows)
    return X * _inverse_norms(X)[:, None]


def _drop_self(indices, similarities, first_row, n_neighbors, exclude_self=True):
    """Remove each query's own index (or the farthest result when absent) and missing (-1) results."""
    rows = np.arange(first_row, first_row + indices.shape[0])[:, None]
    dropped = ((indices == rows) & exclude_self) | (indices < 0)
    order = np.argsort(dropped, axis=1, kind="stable")[:, :n_neighbors]
    return np.take_along_axis(indices, order, 1), np.take_along_axis(similarities, order, 1)


def _top_columns(values, k):
    """The column indices of each row's ``k`` largest values, largest first (the values of
    a full stable sort; where several columns tie at the ``k``-th value, any of them)."""
    if k < values.shape[1]:
        top = np.argpartition(-values, k - 1, axis=1)[:, :k]
        top.sort(axis=1)  # column order, so that the stable sort below breaks ties by it
    else:
        top = np.broadcast_to(np.arange(values.shape[1]), values.shape)
    order = np.argsort(-np.take_along_axis(values, top, 1), axis=1, kind="stable")
    return np.take_along_axis(top, order, 1)


def _hnsw_index(faiss, index):
    graph = faiss.IndexHNSWFlat(index.n_features, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add_unit_rows_to(graph)
    return graph


def _ivf_index(faiss, index, seed=0):
    """An inverted file of the unit rows of ``index``'s features by Euclidean distance (the
    cosine order) in a PCA projection: it stores only 4-bit codes of the projected rows;
    candidates are re-ranked on the full rows by :meth:`NeighbourIndex._search_chunk`."""
    n_samples, n_features = index.n_samples, index.n_features
    n_lists = max(1, min(int(IVF_LISTS_PER_ROOT_N * np.sqrt(n_samples)), n_samples // IVF_TRAIN_PER_LIST))
    n_train = min(n_samples, max(IVF_MIN_TRAIN, IVF_TRAIN_PER_LIST * n_lists))
    # The principal directions need at least as many rows as they are many.
    projected = n_features > IVF_PCA_DIMS and min(n_train, IVF_PCA_TRAIN) >= IVF_PCA_DIMS
    projection = f"PCA{IVF_PCA_DIMS}," if projected else ""
    # one code per projected dimension, when there are rows enough to learn its 2**bits levels
    coded = IVF_CODE_BITS and n_train >= IVF_TRAIN_PER_LIST * 2**IVF_CODE_BITS
    codes = f"PQ{IVF_PCA_DIMS if projected else n_features}x{IVF_CODE_BITS}fs" if coded else "Flat"
    ivf = faiss.index_factory(n_features, f"{projection}IVF{n_lists},{codes}", faiss.METRIC_L2)
    if coded:
        faiss.extract_index_ivf(ivf).by_residual = False
    rng = np.random.default_rng(seed)
    train = index.unit_rows(np.sort(rng.choice(n_samples, n_train, replace=False)))
    if projection:  # the principal directions need fewer rows than the k-means of the lists
        pca_rows = np.sort(rng.permutation(n_train)[:IVF_PCA_TRAIN])
        faiss.downcast_VectorTransform(ivf.chain.at(0)).train(train[pca_rows])
    ivf.train(train)
    index.add_unit_rows_to(ivf, skip_zero_rows=True)
    faiss.ParameterSpace().set_index_parameter(ivf, "nprobe", IVF_NPROBE)
    return ivf


@contextmanager
def _faiss_threads(faiss, n_jobs):
    """faiss's OpenMP threads set to ``n_jobs`` (None: leave them; negative as joblib reads
    them: -1 every CPU, -2 all but one) for the block."""
    if faiss is None or n_jobs is None:
        yield
        return
    from joblib import effective_n_jobs

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(effective_n_jobs(int(n_jobs)))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class NeighbourIndex:
    """A cosine nearest-neighbour index over fixed features: built once, searched many times.

    A fitted detector keeps one, so new pairs (``predict_clean(X_new, y_new)``) are
    searched without rebuilding it. The faiss index is not pickled: it is rebuilt from the
    features on the first search after unpickling. See :func:`nearest_neighbours` for the
    backends and the approximate search. float32 features in C order are kept by
    reference, not copied (a detector's own ``embeddings_``): they are never modified, and
    must not be modified while the index is in use.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
    rows : array-like of int or bool, or None, default=None
        Index only these rows of ``features`` (positions ``0 .. n - 1``, or a boolean mask
        of the rows; read in place, never gathered into a copy): searches then return
        positions in ``rows``. None: every row.
    backend : {"auto", "faiss", "sklearn"}, default="auto"
    approximate : bool, {"ivf", "hnsw"} or None, default=None
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

    def __init__(self, features, *, rows=None, backend="auto", approximate=None, ef_search=64, n_jobs=None):
        if backend not in KNN_BACKENDS:
            raise ValueError(f"backend must be one of {KNN_BACKENDS}; got {backend!r}.")
        #: The features as given (float32, C order): read, never modified, never copied when
        #: they already are float32 in C order. Unit rows are made block by block.
        self.features = _checked_features(features)
        #: The indexed rows of ``features`` (None: all of them).
        self.rows = None if rows is None else check_row_positions(rows, len(self.features))
        if self.rows is not None and len(self.rows) < 2:
            raise ValueError(f"rows must be at least 2 row indices; got shape {self.rows.shape}.")
        self._inverse_norms = _inverse_norms(self.features)
        if self.rows is not None:
            self._inverse_norms = self._inverse_norms[self.rows]
        self.ef_search = check_int(ef_search, "ef_search", 1)
        if n_jobs is not None and (isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, numbers.Integral)
                                   or n_jobs == 0):
            raise ValueError(f"n_jobs must be None or a nonzero integer (-1: every CPU), as joblib reads it; got {n_jobs!r}.")
        self.n_jobs = n_jobs
        faiss = _faiss_or_none()
        if backend == "faiss" and faiss is None:
            raise ValueError(
                "backend='faiss' needs the faiss package (pip install faiss-cpu); or use backend='sklearn'."
            )
        self.backend = backend
        self.use_faiss = backend == "faiss" or (backend == "auto" and faiss is not None)
        if approximate is not None and approximate not in (True, False) + APPROXIMATE_INDEXES:
            raise ValueError(
                f"approximate must be None, True, False or one of {APPROXIMATE_INDEXES}; got {approximate!r}."
            )
        if approximate and not self.use_faiss:
            raise ValueError(f"approximate={approximate!r} needs the faiss backend (pip install faiss-cpu).")
        if approximate is None:
            approximate = self.use_faiss and self.n_samples >= APPROXIMATE_MIN_SAMPLES
        #: The index: False (an exact scan), "ivf" or "hnsw".
        self.approximate = APPROXIMATE_INDEXES[0] if approximate is True else approximate
        self._index = None

    @property
    def n_samples(self):
        """How many rows are indexed."""
        return self.features.shape[0] if self.rows is None else len(self.rows)

    @property
    def n_features(self):
        return self.features.shape[1]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_index"] = None  # faiss indexes do not pickle; rebuilt on the next search
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.backend = state.get("backend", "auto")
        if self.use_faiss and not self.approximate and self.backend == "auto" and _faiss_or_none() is None:
            self.use_faiss = False  # loaded where faiss is not installed: the same exact search, by scikit-learn

    def indexed_features(self, positions):
        """The features of the indexed rows at ``positions`` (a slice or indices)."""
        return self.features[positions] if self.rows is None else self.features[self.rows[positions]]

    def unit_rows(self, positions):
        """The indexed rows at ``positions`` (a slice or indices), scaled to unit length."""
        return self.indexed_features(positions) * self._inverse_norms[positions, None]

    def add_unit_rows_to(self, index, *, skip_zero_rows=False):
        """Add every unit row to a faiss ``index``, block by block (no full normalised copy).

        ``skip_zero_rows``: leave all-zero rows out and add the others with their
        positions as ids. A Euclidean index puts a zero row at distance 1 from every unit
        row, the place of cosine similarity 0.5, not 0: it would crowd out the truly
        nearest candidates."""
        block = block_rows_for(self.n_features)
        for start in range(0, self.n_samples, block):
            rows = self.unit_rows(slice(start, start + block))
            if not skip_zero_rows:
                index.add(rows)
                continue
            nonzero = np.flatnonzero(self._inverse_norms[start:start + block] > 0)
            if nonzero.size:
                index.add_with_ids(np.ascontiguousarray(rows[nonzero]), (start + nonzero).astype(np.int64))

    def _built(self, n_query):
        index = self._index
        if index is None:
            index = self._new_index()
            # Published only once complete: another thread searching an unpickled index
            # meanwhile builds its own (the same) instead of reading a half-filled one.
            self._index = index
        if self.approximate == "hnsw":
            index.hnsw.efSearch = max(self.ef_search, n_query)
        return index

    def _new_index(self):
        if not self.use_faiss:
            from sklearn.neighbors import NearestNeighbors

            # The cosine distance, not the Euclidean one of unit rows, which puts an
            # all-zero row at cosine similarity 0.5 to everything instead of 0.
            return NearestNeighbors(algorithm="brute", metric="cosine").fit(self.unit_rows(slice(None)))
        faiss = _faiss_or_none()
        if faiss is None:  # a pickle of an index that needs faiss, loaded where it is not installed
            built = f"an approximate {self.approximate!r} index" if self.approximate else "backend='faiss'"
            raise ValueError(f"This neighbour index was built with {built}, which needs the faiss package: "
                             "pip install faiss-cpu (or refit with knn_backend='sklearn').")
        with _faiss_threads(faiss, self.n_jobs):
            if self.approximate == "hnsw":
                return _hnsw_index(faiss, self)
            if self.approximate == "ivf":
                return _ivf_index(faiss, self)
            index = faiss.IndexFlatIP(self.n_features)
            self.add_unit_rows_to(index)
            return index

    def _similarities(self, queries, ids):
        """Cosine similarities of unit ``queries`` to the samples ``ids`` (n_queries, m); -inf
        where an id is -1 (a missing result)."""
        faiss = _faiss_or_none()
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        feature_ids = ids if self.rows is None else np.where(ids >= 0, self.rows[ids], -1)
        if faiss is not None:
            sims = np.empty(ids.shape, dtype=np.float32)
            faiss.fvec_inner_products_by_idx(
                faiss.swig_ptr(sims), faiss.swig_ptr(np.ascontiguousarray(queries, dtype=np.float32)),
                faiss.swig_ptr(self.features), faiss.swig_ptr(feature_ids), self.n_features, *ids.shape,
            )
        else:
            sims = np.stack([np.einsum("ij,ij->i", queries, self.features[feature_ids[:, c]])
                             for c in range(ids.shape[1])], axis=1)
        sims *= self._inverse_norms[ids]
        sims[ids < 0] = -np.inf
        return sims

    def _exact_rows(self, queries, n_query):
        """Exact top ``n_query`` of unit ``queries`` (a fallback for the few rows an approximate
        index leaves short)."""
        if self.rows is None:
            sims = queries @ self.features.T
        else:  # the indexed rows block by block, never all gathered at once
            block = block_rows_for(self.n_features)
            sims = np.hstack([queries @ self.indexed_features(slice(start, start + block)).T
                              for start in range(0, self.n_samples, block)])
        sims *= self._inverse_norms
        top = _top_columns(sims, n_query)
        return top.astype(np.int64), np.take_along_axis(sims, top, 1)

    def _search_chunk(self, index, chunk, n_query):
        if not self.use_faiss:
            ids = index.kneighbors(chunk, n_neighbors=n_query, return_distance=False).astype(np.int64)
            # The inner products themselves (1 - d^2 / 2 holds for unit rows only, not zero rows).
            return ids, self._similarities(chunk, ids)
        if self.approximate != "ivf":
            sims, ids = index.search(chunk, n_query)
            return ids.astype(np.int64), sims
        _, candidates = index.search(chunk, min(n_query * IVF_K_FACTOR, self.n_samples))
        sims = self._similarities(chunk, candidates)
        best = _top_columns(sims, n_query)
        ids, sims = np.take_along_axis(candidates, best, 1), np.take_along_axis(sims, best, 1)  # faiss ids are int64
        ids[~np.isfinite(sims)] = -1
        return ids, sims

    def search(self, queries, n_neighbors, *, batch_size=4096):
        """The ``n_neighbors`` most similar samples of each query row, most similar first.

        ``queries=None`` searches every sample among the others (a sample is never its
        own neighbour). Returns ``(indices, similarities)`` as :func:`nearest_neighbours`.
        """
        n_samples = self.n_samples
        n_neighbors = check_int(n_neighbors, "n_neighbors", 1)
        exclude_self = queries is None
        if exclude_self:
            n_rows, query_rows = n_samples, self.unit_rows
        else:
            Q = _normalised_features(queries, min_rows=1)
            if Q.shape[1] != self.n_features:
                raise ValueError(f"queries have {Q.shape[1]} features but features have {self.n_features}.")
            n_rows, query_rows = Q.shape[0], Q.__getitem__
        if n_neighbors >= n_samples + (not exclude_self):
            raise ValueError(
                f"n_neighbors={n_neighbors} must be below n_samples={n_samples} (a sample is not its own neighbour)."
                if exclude_self else f"n_neighbors={n_neighbors} exceeds the {n_samples} samples to search."
            )
        batch_size = check_int(batch_size, "batch_size", 1)
        n_query = n_neighbors + exclude_self
        indices = np.empty((n_rows, n_neighbors), dtype=np.int64)
        similarities = np.empty((n_rows, n_neighbors), dtype=np.float32)
        with _faiss_threads(_faiss_or_none() if self.use_faiss else None, self.n_jobs):
            index = self._built(n_query)
            for start in range(0, n_rows, batch_size):
                stop = min(start + batch_size, n_rows)
                chunk = query_rows(slice(start, stop))
                ids, sims = _drop_self(*self._search_chunk(index, chunk, n_query), start, n_neighbors, exclude_self)
                indices[start:stop], similarities[start:stop] = ids, sims

        incomplete = np.flatnonzero((indices < 0).any(axis=1))
        fallback_rows = max(1, min(batch_size, 2**24 // n_samples))  # <= 64 MiB of similarities
        for start in range(0, incomplete.size, fallback_rows):
            rows = incomplete[start:start + fallback_rows]
            ids, sims = self._exact_rows(query_rows(rows), n_query)
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

    Similarity is the inner product of L2-normalised rows (the cosine). A sample is
    never its own neighbour; with duplicate rows the duplicate is a neighbour at
    similarity 1. Queries run in chunks of ``batch_size`` rows, so beyond the index
    (faiss keeps its own copy of the unit rows for an exact scan or a graph; the IVF
    index keeps only 4-bit codes of a 64-d projection) memory stays bounded whatever ``n_samples``:
    float32 features in C order are read in place, and unit rows are made block by block.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        One embedding per sample, finite (an all-zero row is at similarity 0 to all).
    n_neighbors : int
        Neighbours per sample, ``1 <= n_neighbors < n_samples``.
    backend : {"auto", "faiss", "sklearn"}, default="auto"
        ``"faiss"``: exact ``IndexFlatIP``, or an approximate index (``approximate``).
        ``"sklearn"``: brute-force :class:`~sklearn.neighbors.NearestNeighbors`
        (Euclidean on the unit vectors, the same order as cosine). ``"auto"``:
        faiss when it can be imported, else scikit-learn.
    approximate : bool, {"ivf", "hnsw"} or None, default=None
        Search an approximate faiss index instead of the exact scan, whose cost grows
        with ``n_samples ** 2``. ``None``: the IVF index from
        :data:`APPROXIMATE_MIN_SAMPLES` samples on (with faiss), the exact scan below;
        ``True`` is ``"ivf"``.

        - ``"ivf"``: an inverted file (``2 sqrt(n_samples)`` k-means lists, 24 searched
          per query) over the rows' first 64 principal components, by Euclidean distance
          between unit rows (the cosine order), the lists holding a 4-bit code of each
          projected dimension (faiss's SIMD "fast scan"); 4 times ``n_neighbors``
          candidates are re-ranked by their exact cosine. On the 70,000 real MobileNetV2
          embeddings of Fashion-MNIST it recalled 0.975 of the exact 20 nearest
          neighbours (``benchmarks/results/knn_index.md``); its cost grows about as
          ``n_samples ** 1.5``; at 1,000,000 x 512 it was built and searched in half the
          time of the same lists holding float rows (66 s against 126 s on 2 threads).
        - ``"hnsw"``: faiss's ``IndexHNSWFlat`` graph (``M=32`` links,
          ``efConstruction=40``, ``efSearch=ef_search``): recall 0.985 (512-d) and 0.978
          (1280-d) of the exact 10 nearest neighbours of synthetic clustered embeddings
          at 100k samples (``benchmarks/results/knn_backends.md``), but slower to build.

        Rows an approximate search leaves short are completed by an exact scan.
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
