"""SimiFeat's neighbour rules (skclip_noise.selection.neighbours).

Hand-worked neighbourhoods for each function, then separable Gaussian clusters
with known label flips for the detection rules.
"""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest

from skclip_noise.selection import neighbours as nb_mod
from skclip_noise.selection import (
    NeighbourIndex,
    nearest_neighbours,
    neighbour_label_distribution,
    neighbour_transition_matrix,
    simifeat_rank,
    simifeat_vote,
)

try:
    import faiss  # noqa: F401

    HAS_FAISS = True
except ImportError:
    HAS_FAISS = False
BACKENDS = ["sklearn"] + (["faiss"] if HAS_FAISS else [])
needs_faiss = pytest.mark.skipif(not HAS_FAISS, reason="faiss is not installed")

# Four 2-D points on the unit circle (scaled: normalisation must undo it).
# cos(0,1) = 0.6, cos(0,2) = 0, cos(0,3) = -0.8, cos(1,2) = 0.8, cos(1,3) = 0, cos(2,3) = 0.6
POINTS = np.array([[3.0, 0.0], [0.6, 0.8], [0.0, 2.0], [-0.8, 0.6]])
EXPECTED_INDICES = [[1, 2], [2, 0], [1, 3], [2, 1]]
EXPECTED_SIMILARITIES = [[0.6, 0.0], [0.8, 0.6], [0.8, 0.6], [0.6, 0.0]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch_size", [1, 3, 4096])
def test_nearest_neighbours_by_hand(backend, batch_size):
    indices, similarities = nearest_neighbours(POINTS, 2, backend=backend, batch_size=batch_size)
    assert indices.dtype == np.int64 and indices.shape == (4, 2)
    assert similarities.dtype == np.float32
    np.testing.assert_array_equal(indices, EXPECTED_INDICES)
    np.testing.assert_allclose(similarities, EXPECTED_SIMILARITIES, atol=1e-6)


@needs_faiss
@pytest.mark.parametrize("approximate", [True, "ivf", "hnsw"])
def test_approximate_index_on_a_tiny_set_is_exact(approximate):
    indices, similarities = nearest_neighbours(POINTS, 2, backend="faiss", approximate=approximate)
    np.testing.assert_array_equal(indices, EXPECTED_INDICES)
    np.testing.assert_allclose(similarities, EXPECTED_SIMILARITIES, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sample_is_never_its_own_neighbour_even_with_duplicates(backend):
    features = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    indices, similarities = nearest_neighbours(features, 2, backend=backend)
    assert not (indices == np.arange(4)[:, None]).any()
    assert sorted(indices[0].tolist()) == [1, 2]  # the two duplicates, similarity 1
    np.testing.assert_allclose(similarities[:3], 1.0, atol=1e-6)


def _clusters(n_per_class=100, n_classes=4, dim=32, noise=0.35, flip_rate=0.2, seed=0):
    """Separable Gaussian clusters; labels flipped to a random other class with ``flip_rate``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    true = np.repeat(np.arange(n_classes), n_per_class)
    features = centres[true] + noise * rng.normal(size=(true.size, dim))
    flipped = rng.random(true.size) < flip_rate
    given = np.where(flipped, (true + rng.integers(1, n_classes, true.size)) % n_classes, true)
    return features.astype(np.float32), true, given, flipped


@needs_faiss
@pytest.mark.parametrize("approximate, dim", [("hnsw", 64), ("ivf", 64), ("ivf", 160)])
def test_backends_agree_and_approximate_recall_is_high(approximate, dim):
    features, _, _, _ = _clusters(n_per_class=500, n_classes=4, dim=min(dim, 64), noise=1.0)
    if dim > 64:  # the IVF index draws its candidates in a 64-d PCA projection: embeddings
        # vary along fewer directions than they have, so project 64-d clusters into more
        features = features @ np.random.default_rng(1).normal(size=(64, dim)).astype(np.float32)
    exact_faiss = nearest_neighbours(features, 10, backend="faiss")
    exact_sklearn = nearest_neighbours(features, 10, backend="sklearn", batch_size=512)
    np.testing.assert_allclose(exact_faiss[1], exact_sklearn[1], atol=1e-5)
    assert (exact_faiss[0] == exact_sklearn[0]).mean() > 0.99  # only near-ties may swap
    approx = nearest_neighbours(features, 10, backend="faiss", approximate=approximate)
    recall = np.mean([np.isin(a, e).mean() for a, e in zip(approx[0], exact_faiss[0])])
    assert recall > 0.9
    assert (np.diff(approx[1], axis=1) <= 1e-6).all()
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    np.testing.assert_allclose(approx[1], np.einsum("ij,ikj->ik", unit, unit[approx[0]]), atol=1e-5)


def test_rows_the_approximate_index_leaves_short_are_searched_exactly(monkeypatch):
    class ShortIndex:  # stands in for an HNSW graph that finds nothing for odd rows
        hnsw = SimpleNamespace(efSearch=0)

        def search(self, chunk, n_query):
            sims = (chunk @ POINTS_UNIT.T).astype(np.float32)
            ids = np.argsort(-sims, axis=1)[:, :n_query]
            sims = np.take_along_axis(sims, ids, 1)
            ids[1::2] = -1
            return sims, ids

    monkeypatch.setattr(nb_mod, "_faiss_or_none", lambda: object())
    monkeypatch.setattr(nb_mod, "_hnsw_index", lambda *args: ShortIndex())
    indices, similarities = nearest_neighbours(POINTS, 2, backend="faiss", approximate="hnsw", batch_size=2)
    np.testing.assert_array_equal(indices, EXPECTED_INDICES)
    np.testing.assert_allclose(similarities, EXPECTED_SIMILARITIES, atol=1e-6)


POINTS_UNIT = POINTS / np.linalg.norm(POINTS, axis=1, keepdims=True)


def test_auto_falls_back_to_sklearn_without_faiss(monkeypatch):
    monkeypatch.setattr(nb_mod, "_faiss_or_none", lambda: None)
    indices, _ = nearest_neighbours(POINTS, 2)
    np.testing.assert_array_equal(indices, EXPECTED_INDICES)
    with pytest.raises(ValueError, match="needs the faiss package"):
        nearest_neighbours(POINTS, 2, backend="faiss")
    with pytest.raises(ValueError, match="approximate=True needs the faiss backend"):
        nearest_neighbours(POINTS, 2, approximate=True)
    with pytest.raises(ValueError, match="approximate='ivf' needs the faiss backend"):
        nearest_neighbours(POINTS, 2, approximate="ivf")


def test_an_unknown_approximate_index_is_refused():
    with pytest.raises(ValueError, match=r"approximate must be None, True, False or one of \('ivf', 'hnsw'\); got 'lsh'"):
        NeighbourIndex(POINTS, approximate="lsh")


@pytest.mark.parametrize(
    "features, n_neighbors, kwargs, message",
    [
        (POINTS, 4, {}, "n_neighbors=4 must be below n_samples=4"),
        (POINTS, 0, {}, "n_neighbors must be an integer >= 1"),
        (POINTS, 2.0, {}, "n_neighbors must be an integer"),
        (np.where(np.eye(4, 2, dtype=bool), np.nan, POINTS), 2, {}, "NaN or infinite values \\(rows \\[0, 1\\]\\)"),
        (np.r_[POINTS[:3], [[np.inf, 0.0]]], 2, {}, "NaN or infinite"),
        (POINTS[:, 0], 1, {}, "must be 2-D"),
        (POINTS[None], 1, {}, "must be 2-D"),
        (POINTS.astype(str), 2, {}, "numeric"),
        (POINTS, 2, {"backend": "annoy"}, "backend must be one of"),
        (POINTS, 2, {"batch_size": 0}, "batch_size"),
        (POINTS, 2, {"ef_search": 0}, "ef_search"),
    ],
)
def test_nearest_neighbours_bad_inputs(features, n_neighbors, kwargs, message):
    with pytest.raises(ValueError, match=message):
        nearest_neighbours(features, n_neighbors, **kwargs)


# Two triangles of mutual neighbours: {0, 1, 2} and {3, 4, 5}. Sample 2 is labelled 1
# among 0s, sample 5 is labelled 0 among 1s.
TRIANGLES = np.array([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4]])
TRIANGLE_LABELS = np.array([0, 0, 1, 1, 1, 0])
TRIANGLE_SIMS = np.array([[0.9, 0.5], [0.9, 0.7], [0.5, 0.7], [0.8, 0.6], [0.8, 0.4], [0.6, 0.4]])


def test_neighbour_label_distribution_by_hand():
    distribution = neighbour_label_distribution(TRIANGLES, TRIANGLE_LABELS, 2)
    # s0: neighbours 1 (0), 2 (1) -> [1/2, 1/2]; s2: 0 (0), 1 (0) -> [1, 0]; s5: 3 (1), 4 (1) -> [0, 1]
    np.testing.assert_allclose(distribution, [[0.5, 0.5], [0.5, 0.5], [1, 0], [0.5, 0.5], [0.5, 0.5], [0, 1]])
    weighted = neighbour_label_distribution(TRIANGLES, TRIANGLE_LABELS, 2, weights=TRIANGLE_SIMS)
    # s0: 0.9 for class 0, 0.5 for class 1 -> [0.9, 0.5] / 1.4; s3: 0.8 for 1 (s4), 0.6 for 0 (s5)
    np.testing.assert_allclose(weighted[0], [0.9 / 1.4, 0.5 / 1.4])
    np.testing.assert_allclose(weighted[3], [0.6 / 1.4, 0.8 / 1.4])
    with_self = neighbour_label_distribution(TRIANGLES, TRIANGLE_LABELS, 2, self_weight=1.0)
    # s2 votes for its own label 1 once: [2, 1] / 3
    np.testing.assert_allclose(with_self[2], [2 / 3, 1 / 3])
    np.testing.assert_allclose(with_self.sum(axis=1), 1.0)


def test_negative_similarities_count_as_zero_and_an_all_negative_row_counts_equally():
    weights = np.array([[0.5, -0.5], [-0.2, -0.1], [1, 1], [1, 1], [1, 1], [1, 1]])
    distribution = neighbour_label_distribution(TRIANGLES, TRIANGLE_LABELS, 2, weights=weights)
    np.testing.assert_allclose(distribution[0], [1.0, 0.0])  # only s1 (label 0) counts
    np.testing.assert_allclose(distribution[1], [0.5, 0.5])  # no positive weight: s0 (0) and s2 (1) equally


@pytest.mark.parametrize(
    "indices, labels, kwargs, message",
    [
        (TRIANGLES[:, 0], TRIANGLE_LABELS, {}, "must be 2-D"),
        (TRIANGLES, TRIANGLE_LABELS[:-1], {}, "5 entries but there are 6 samples"),
        (TRIANGLES + 1, TRIANGLE_LABELS, {}, "must lie in 0..5"),
        (TRIANGLES.astype(float), TRIANGLE_LABELS, {}, "integer sample indices"),
        (TRIANGLES, TRIANGLE_LABELS + 1, {}, "outside the range 0..1"),
        (TRIANGLES, TRIANGLE_LABELS, {"weights": TRIANGLE_SIMS[:, :1]}, "shape of neighbour_indices"),
        (TRIANGLES, TRIANGLE_LABELS, {"weights": TRIANGLE_SIMS * np.nan}, "NaN"),
        (TRIANGLES, TRIANGLE_LABELS, {"self_weight": -1.0}, "self_weight"),
    ],
)
def test_neighbour_label_distribution_bad_inputs(indices, labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        neighbour_label_distribution(indices, labels, 2, **kwargs)


def test_simifeat_vote_by_hand():
    neighbours = (TRIANGLES, TRIANGLE_SIMS)
    # With itself (weight 1), unweighted: s2 votes [2 (s0, s1), 1 (itself)] for its label 1 -> flagged;
    # s5 votes [1 (itself), 2] for its label 0 -> flagged; s0 votes [2, 1] for label 0 -> kept.
    clean = simifeat_vote(None, TRIANGLE_LABELS, n_neighbors=2, weighted=False, neighbours=neighbours)
    assert clean.tolist() == [True, True, False, True, True, False]
    # Without itself, s0 sees one 0 and one 1: a tie keeps the label. s3 sees 1 (s4) and 0 (s5): tie.
    clean = simifeat_vote(None, TRIANGLE_LABELS, n_neighbors=2, weighted=False, include_self=False,
                          neighbours=neighbours)
    assert clean.tolist() == [True, True, False, True, True, False]
    # Weighted, without itself: s0 = 0.9 (label 0) vs 0.5 (label 1) -> kept; s1 = 0.9 (0) vs 0.7 (1) -> kept;
    # s4 = 0.8 (1) vs 0.4 (0) -> kept; s3 = 0.8 (label 1 from s4) vs 0.6 (0) -> kept.
    clean = simifeat_vote(None, TRIANGLE_LABELS, n_neighbors=2, include_self=False, neighbours=neighbours)
    assert clean.tolist() == [True, True, False, True, True, False]
    # Only the nearest neighbour, no self: s1's nearest is s0 (label 0) -> kept; s2's is s0 -> flagged;
    # s4's nearest is s3 (1) -> kept; s5's is s3 (1) -> flagged.
    clean = simifeat_vote(None, TRIANGLE_LABELS, n_neighbors=1, include_self=False, neighbours=neighbours)
    assert clean.tolist() == [True, True, False, True, True, False]


def test_simifeat_rank_by_hand():
    # T = [[0.8, 0.2], [0.2, 0.8]], p = [0.5, 0.5], P(given = j) = 3/6:
    # P(true = j | given = j) = 0.5 * 0.8 / 0.5 = 0.8 -> flag round(3 * 0.2) = 1 per class.
    # Scores (unweighted, with self): s0, s1 votes [2, 1] -> cos with e_0 = 2 / sqrt(5) = 0.894;
    # s5 votes [1, 2] -> 1 / sqrt(5) = 0.447: the lowest labelled 0. Likewise s2 among the 1s.
    transition = np.array([[0.8, 0.2], [0.2, 0.8]])
    clean = simifeat_rank(None, TRIANGLE_LABELS, n_neighbors=2, weighted=False, transition_matrix=transition,
                          clean_prior=[0.5, 0.5], neighbours=(TRIANGLES, TRIANGLE_SIMS))
    assert clean.tolist() == [True, True, False, True, True, False]
    # The prior solved from P(given) = T^T p is [0.5, 0.5] here too.
    clean = simifeat_rank(None, TRIANGLE_LABELS, n_neighbors=2, weighted=False, transition_matrix=transition,
                          neighbours=(TRIANGLES, TRIANGLE_SIMS))
    assert clean.tolist() == [True, True, False, True, True, False]
    # A noiseless T flags nothing.
    clean = simifeat_rank(None, TRIANGLE_LABELS, n_neighbors=2, transition_matrix=np.eye(2),
                          neighbours=(TRIANGLES, TRIANGLE_SIMS))
    assert clean.all()


def test_neighbour_transition_matrix_recovers_the_noise():
    rng = np.random.default_rng(3)
    true = np.repeat(np.arange(3), 200)
    centres = rng.normal(size=(3, 16))
    features = centres[true] + 0.3 * rng.normal(size=(600, 16))
    pair_flip = np.array([[0.7, 0.3, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 0.9]])
    given = np.array([rng.choice(3, p=pair_flip[c]) for c in true])
    indices, _ = nearest_neighbours(features, 2, backend="sklearn")
    transition, prior = neighbour_transition_matrix(indices, given, 3, return_prior=True)
    realised = np.array([np.bincount(given[true == c], minlength=3) / 200 for c in range(3)])
    np.testing.assert_allclose(transition, realised, atol=0.05)
    np.testing.assert_allclose(prior, [1 / 3] * 3, atol=0.05)
    np.testing.assert_allclose(transition.sum(axis=1), 1.0)


def test_neighbour_transition_matrix_identity_row_for_an_unused_class():
    indices = np.array([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4]])
    transition = neighbour_transition_matrix(indices, [0, 0, 0, 1, 1, 1], 3)
    np.testing.assert_allclose(transition, np.eye(3), atol=1e-6)
    with pytest.raises(ValueError, match="n_consensus=4 needs 3 neighbours"):
        neighbour_transition_matrix(indices, [0, 0, 0, 1, 1, 1], 3, n_consensus=4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_simifeat_rules_find_most_flips_on_gaussian_clusters(backend):
    # 1200 samples, 20% flipped. The rank rule's counts come from the estimated T,
    # whose diagonal is off by about 0.02-0.04 at this size, so it is held to 0.85.
    features, _, given, flipped = _clusters(n_per_class=300)
    for rule, bar in ((simifeat_vote, 0.95), (simifeat_rank, 0.85)):
        clean = rule(features, given, n_neighbors=10, backend=backend)
        caught = (~clean & flipped).sum()
        assert caught / flipped.sum() > bar, rule.__name__
        assert caught / (~clean).sum() > bar, rule.__name__


def test_simifeat_accepts_precomputed_neighbours_and_checks_them():
    features, _, given, _ = _clusters(n_per_class=30)
    neighbours = nearest_neighbours(features, 12, backend="sklearn")
    from_features = simifeat_vote(features, given, n_neighbors=10, backend="sklearn")
    np.testing.assert_array_equal(simifeat_vote(None, given, n_neighbors=10, neighbours=neighbours), from_features)
    with pytest.raises(ValueError, match="exceeds the 12 precomputed"):
        simifeat_vote(None, given, n_neighbors=20, neighbours=neighbours)
    with pytest.raises(ValueError, match="pass features"):
        simifeat_vote(None, given)
    with pytest.raises(ValueError, match="features has 120 rows but labels has 119"):
        simifeat_rank(features, given[:-1], backend="sklearn")
    with pytest.raises(ValueError, match="outside the range 0..1"):
        simifeat_vote(None, given, n_classes=2, neighbours=neighbours)
    with pytest.raises(ValueError, match="transition_matrix rows"):
        simifeat_rank(None, given, neighbours=neighbours, transition_matrix=np.full((4, 4), 0.5))
    with pytest.raises(ValueError, match="clean_prior"):
        simifeat_rank(None, given, neighbours=neighbours, transition_matrix=np.eye(4), clean_prior=[1, 0])


@pytest.mark.parametrize("backend, approximate", [(b, False) for b in BACKENDS] + [("faiss", "ivf")])
def test_an_all_zero_row_is_at_similarity_zero_to_every_sample(backend, approximate):
    if backend == "faiss" and not HAS_FAISS:
        pytest.skip("faiss is not installed")
    features = np.r_[POINTS[:3], [[0.0, 0.0]]]
    indices, similarities = nearest_neighbours(features, 2, backend=backend, approximate=approximate)
    np.testing.assert_allclose(similarities[3], 0.0, atol=1e-6)
    assert 3 not in indices[3]


@needs_faiss
@pytest.mark.parametrize("approximate, builder", [("hnsw", "_hnsw_index"), ("ivf", "_ivf_index")])
def test_an_index_is_built_once_and_searched_many_times(monkeypatch, approximate, builder):
    built = []
    real = getattr(nb_mod, builder)
    monkeypatch.setattr(nb_mod, builder, lambda *args: built.append(1) or real(*args))
    index = NeighbourIndex(POINTS, backend="faiss", approximate=approximate)
    first = index.search(None, 2)
    np.testing.assert_array_equal(first[0], EXPECTED_INDICES)
    np.testing.assert_array_equal(index.search(POINTS[:2], 3)[0][:, 0], [0, 1])  # new rows, a wider search
    assert built == [1]


def test_an_index_pickles_without_faiss_and_rebuilds_on_search():
    index = NeighbourIndex(POINTS, backend="faiss")
    before = index.search(None, 2)
    restored = pickle.loads(pickle.dumps(index))
    assert restored._index is None
    after = restored.search(None, 2)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_allclose(after[1], before[1])


def test_n_jobs_sets_faiss_threads_for_the_search_only():
    faiss = pytest.importorskip("faiss")
    before = faiss.omp_get_max_threads()
    seen = []

    class Spy(NeighbourIndex):
        def _search_chunk(self, index, chunk, n_query):
            seen.append(faiss.omp_get_max_threads())
            return super()._search_chunk(index, chunk, n_query)

    Spy(POINTS, backend="faiss", n_jobs=1).search(None, 2)
    assert seen == [1] and faiss.omp_get_max_threads() == before


@pytest.mark.parametrize("approximate", [False] + (["ivf", "hnsw"] if HAS_FAISS else []))
def test_float32_features_are_read_in_place_and_never_modified(approximate):
    features, _, _, _ = _clusters(n_per_class=60, n_classes=3, dim=80, noise=0.5)
    before = features.copy()
    index = NeighbourIndex(features, approximate=approximate)
    index.search(None, 5)
    index.search(features[:7] * 3.0, 4)
    assert np.shares_memory(index.features, features)
    np.testing.assert_array_equal(features, before)
    float64 = NeighbourIndex(features.astype(np.float64))  # converted once, as float32
    assert float64.features.dtype == np.float32 and not np.shares_memory(float64.features, features)


@needs_faiss
def test_the_ivf_lists_hold_4_bit_codes_once_there_are_rows_enough_to_learn_them():
    import faiss

    def stored(n_samples):
        features, _, _, _ = _clusters(n_per_class=n_samples // 4, n_classes=4, dim=32, noise=1.0)
        index = NeighbourIndex(features, backend="faiss", approximate="ivf")
        index.search(None, 5)
        return faiss.downcast_index(faiss.extract_index_ivf(index._index))

    coded = stored(2000)
    assert isinstance(coded, faiss.IndexIVFPQFastScan) and coded.pq.nbits == 4 and not coded.by_residual
    assert isinstance(stored(400), faiss.IndexIVFFlat)  # too few rows for 16 levels per dimension


@pytest.mark.parametrize("backend, approximate", [("sklearn", None)] + ([("faiss", False), ("faiss", "ivf"),
                                                                          ("faiss", "hnsw")] if HAS_FAISS else []))
def test_an_index_of_some_rows_reads_them_in_place_and_answers_in_their_positions(backend, approximate):
    features, _, _, _ = _clusters(n_per_class=60, n_classes=3, dim=80, noise=0.5)
    rows = np.sort(np.random.default_rng(0).choice(len(features), 120, replace=False))
    subset = NeighbourIndex(features, rows=rows, backend=backend, approximate=approximate)
    gathered = NeighbourIndex(features[rows], backend=backend, approximate=approximate)
    assert subset.n_samples == 120 and subset.features is features
    for queries in (None, features[:9] * 2.0):
        ids, sims = subset.search(queries, 6)
        expected_ids, expected_sims = gathered.search(queries, 6)
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_allclose(sims, expected_sims, atol=1e-6)
    np.testing.assert_array_equal(subset.indexed_features([0, 5]), features[rows[[0, 5]]])
    short = subset._exact_rows(subset.unit_rows(slice(0, 3)), 4)  # the fallback scans the rows block by block
    np.testing.assert_array_equal(short[0], gathered._exact_rows(gathered.unit_rows(slice(0, 3)), 4)[0])
    with pytest.raises(ValueError, match="rows must be at least 2 row indices"):
        NeighbourIndex(features, rows=[3])
