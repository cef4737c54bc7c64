"""Scale-out on existing engines: embedding shards and grid searches on joblib's local,
Dask (a real LocalCluster of worker processes) and Ray backends, and a shared embedding
cache written by several processes at once."""

from __future__ import annotations

import multiprocessing
import sys

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skclip_noise import ConsensusDetector, ImageEmbedder, make_noisy_labels
from skclip_noise.embedder import shard_indices

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (40, 16, 16), dtype=np.uint8)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed", reason="the Dask tests need dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        yield client


def _searched_pipeline():
    """imbalanced-learn's pipeline: the detector drops flagged samples before the classifier."""
    imblearn = pytest.importorskip("imblearn.pipeline")
    return imblearn.Pipeline([("detector", ConsensusDetector(cv=2, random_state=0)),
                              ("classifier", LogisticRegression(max_iter=200))])


@pytest.fixture(scope="module")
def digits_search_data():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400] / 16.0, y[:400]
    y_noisy, _ = make_noisy_labels(y, "symmetric", 0.3, random_state=0)
    return X, y_noisy


def _search(n_jobs):
    return GridSearchCV(_searched_pipeline(), {"detector__n_neighbors": [5, 10], "classifier__C": [0.1, 1.0]},
                        cv=StratifiedKFold(2, shuffle=True, random_state=0), n_jobs=n_jobs)


def test_shards_are_contiguous_and_cover_the_input():
    shards = shard_indices(11, 4)
    assert [len(s) for s in shards] == [3, 3, 3, 2]
    assert np.array_equal(np.concatenate(shards), np.arange(11))
    assert len(shard_indices(3, 8)) == 3 and len(shard_indices(100, None)) == 1


def test_sharded_embedding_on_local_processes_equals_one_process(images, tmp_path):
    single = ImageEmbedder(**TINY, batch_size=16).fit_transform(images)
    sharded = ImageEmbedder(**TINY, batch_size=16, n_jobs=2).fit_transform(images)
    np.testing.assert_array_equal(sharded, single)


def test_sharded_embedding_on_a_dask_cluster_equals_one_process_and_fills_the_cache(
        images, tmp_path, dask_client, monkeypatch):
    single = ImageEmbedder(**TINY, batch_size=16).fit_transform(images)
    # Shards are cut at multiples of batch_size: 40 images in batches of 16 make two.
    embedder = ImageEmbedder(**TINY, batch_size=16, n_jobs=-1, cache_dir=tmp_path)
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in every worker by default: the client is told.
    with joblib.parallel_config(backend="dask"), pytest.warns(UserWarning, match="MALLOC_TRIM_THRESHOLD_=65536"):
        sharded = embedder.fit_transform(images)
    np.testing.assert_array_equal(sharded, single)
    assert len(list(tmp_path.glob("*/*.keys.npy"))) == 2  # one cache shard written per worker

    def no_embedding(self, backbone, dataset, **kwargs):
        raise AssertionError("every row should come from the cache the workers wrote")

    monkeypatch.setattr(ImageEmbedder, "_embed", no_embedding)
    np.testing.assert_array_equal(clone(embedder).set_params(n_jobs=None).fit_transform(images), single)


def test_a_detector_shards_its_embedding_pass_on_dask(images, dask_client):
    y = np.repeat(np.arange(4), 10)
    plain = ConsensusDetector(**TINY, cv=2, batch_size=16, random_state=0).fit(images, y)
    with joblib.parallel_config(backend="dask"):
        sharded = ConsensusDetector(**TINY, cv=2, batch_size=16, random_state=0, n_jobs=-1).fit(images, y)
    np.testing.assert_array_equal(sharded.clean_proba_, plain.clean_proba_)


def test_grid_search_on_a_dask_cluster_equals_one_process(digits_search_data, dask_client):
    X, y_noisy = digits_search_data
    sequential = _search(n_jobs=1).fit(X, y_noisy)
    with joblib.parallel_config(backend="dask"):
        distributed = _search(n_jobs=-1).fit(X, y_noisy)
    np.testing.assert_array_equal(distributed.cv_results_["mean_test_score"],
                                  sequential.cv_results_["mean_test_score"])
    assert distributed.best_params_ == sequential.best_params_


def test_grid_search_and_embedding_shards_on_ray_equal_one_process(digits_search_data, images):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[default]')")
    from ray.util.joblib import register_ray

    X, y_noisy = digits_search_data
    sequential = _search(n_jobs=1).fit(X, y_noisy)
    single = ImageEmbedder(**TINY, batch_size=16).fit_transform(images)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        register_ray()
        with joblib.parallel_config(backend="ray"):
            distributed = _search(n_jobs=-1).fit(X, y_noisy)
            sharded = ImageEmbedder(**TINY, batch_size=16, n_jobs=2).fit_transform(images)
    finally:
        ray.shutdown()
    np.testing.assert_array_equal(distributed.cv_results_["mean_test_score"],
                                  sequential.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(sharded, single)


def _embed_into(cache_dir, images, queue):
    queue.put(ImageEmbedder(**TINY, cache_dir=cache_dir).fit_transform(images))


def test_two_processes_writing_one_cache_at_once_stay_consistent(images, tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    halves = (images[:25], images[15:])  # overlapping: both write rows 15-24
    workers = [context.Process(target=_embed_into, args=(tmp_path, half, queue)) for half in halves]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    expected = ImageEmbedder(**TINY).fit_transform(images)
    assert sorted(len(r) for r in results) == [25, 25]
    from_cache = ImageEmbedder(**TINY, cache_dir=tmp_path).fit_transform(images)
    np.testing.assert_array_equal(from_cache, expected)


def test_the_slow_worker_environment_is_named_only_inside_a_dask_worker(monkeypatch):
    from types import SimpleNamespace

    from skclip_noise.embedder import _slow_worker_environment

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.setitem(sys.modules, "distributed", SimpleNamespace(get_worker=lambda: object()))
    assert "pre-spawn-environ" in _slow_worker_environment()

    def not_a_worker():
        raise ValueError("No worker found")

    monkeypatch.setitem(sys.modules, "distributed", SimpleNamespace(get_worker=not_a_worker))
    assert _slow_worker_environment() is None
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setitem(sys.modules, "distributed", SimpleNamespace(get_worker=lambda: object()))
    assert _slow_worker_environment() is None
