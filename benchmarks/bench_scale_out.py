"""Scale-out on existing engines: grid search and embedding on 1 and 2 Dask workers.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_scale_out.py --out benchmarks/results/scale_out.md

Protocol
--------
- Every worker is a separate process with one thread (``LocalCluster(n_workers=W,
  threads_per_worker=1)``); the single-process reference runs in this process on one
  thread. The machine's core count bounds what more workers can give.
- Grid search: ``GridSearchCV(n_jobs=-1)`` under ``joblib.parallel_config(backend="dask")``
  over an imbalanced-learn pipeline (``ConsensusDetector`` dropping flagged samples, then a
  ``LogisticRegression``) on the 10,000 Fashion-MNIST MobileNetV2 embeddings of
  ``bench_detectors.py`` with 40 % symmetric noise: ``n_neighbors`` x ``C`` (2 x 2), 3
  folds, 12 fits. Wall time of ``fit``; the scores are checked equal to ``n_jobs=1``.
- Embedding: ``ImageEmbedder("torchvision:mobilenet_v2", "offline", image_size=96)`` on
  ``--n-images`` Fashion-MNIST images without a cache; single process against
  ``n_jobs=-1`` on the cluster (one shard per worker), and against ``n_jobs=W`` on
  joblib's default backend (loky: local worker processes, reused between calls). Reported: images/s overall and per
  worker, against the single process; the first call on a fresh cluster includes each
  worker loading the model, so a second call is timed as well. Rows are checked equal.
  ``--without-nanny-environ`` starts the workers without the environment Dask's nanny
  gives them by default (its ``MALLOC_TRIM_THRESHOLD_=65536`` slows torch down); the
  workers' ``MALLOC_`` variables are recorded either way.
- Decoding: one core decoding 400 x 300 JPEGs (scikit-learn's sample photos, re-encoded
  at quality 90) and preparing them at 224 px with the library's evaluation transform:
  the per-image CPU cost behind ``results/clothing1m_estimate.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import log  # noqa: E402
from _features import get_features, load_images  # noqa: E402


def grid_search(n_jobs):
    from imblearn.pipeline import Pipeline
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from skclip_noise import ConsensusDetector

    pipeline = Pipeline([("detector", ConsensusDetector(random_state=0)),
                         ("classifier", LogisticRegression(max_iter=300))])
    return GridSearchCV(pipeline, {"detector__n_neighbors": [10, 20], "classifier__C": [0.01, 0.1]},
                        cv=StratifiedKFold(3, shuffle=True, random_state=0), n_jobs=n_jobs)


def decode_cost(n=400):
    """Seconds per image to decode a 400 x 300 JPEG and prepare it at 224 px, one core."""
    import io

    from PIL import Image
    from sklearn.datasets import load_sample_images

    from skclip_noise.data.transforms import PreprocessConfig, eval_transform

    blobs = []
    for image in load_sample_images().images:
        buffer = io.BytesIO()
        Image.fromarray(image).resize((400, 300)).save(buffer, format="JPEG", quality=90)
        blobs.append(buffer.getvalue())
    transform = eval_transform(PreprocessConfig(image_size=224, mean=(0.5,) * 3, std=(0.5,) * 3,
                                                interpolation="bicubic"))
    start = time.perf_counter()
    for i in range(n):
        transform(Image.open(io.BytesIO(blobs[i % len(blobs)])).convert("RGB"))
    return (time.perf_counter() - start) / n


def _malloc_environ():
    return {key: value for key, value in os.environ.items() if key.startswith("MALLOC_")}


def timed(call):
    t0 = time.perf_counter()
    out = call()
    return out, time.perf_counter() - t0


def run(args):
    import joblib
    import torch
    from distributed import Client, LocalCluster

    from skclip_noise import ImageEmbedder, make_noisy_labels

    torch.set_num_threads(1)
    X, y, _ = get_features("fmnist_mobilenetv2", verbose=False)
    y_noisy, _ = make_noisy_labels(y, "symmetric", 0.4, random_state=0)
    images = load_images("fashion")[0][: args.n_images]
    embedder = dict(backbone="torchvision:mobilenet_v2", pretrained="offline", image_size=96, device="cpu")

    reference, search_s = timed(lambda: grid_search(1).fit(X, y_noisy))
    ImageEmbedder(**embedder).fit_transform(images[:64])  # load the model before timing
    single, embed_s = timed(lambda: ImageEmbedder(**embedder).fit_transform(images))
    rows = {"decode_s": decode_cost(), "search": [("1 process (n_jobs=1)", 1, search_s, "")],
            "embed": [("1 process", 1, embed_s, len(images) / embed_s, len(images) / embed_s, "")]}
    log(f"single: search {search_s:.1f} s, embedding {len(images) / embed_s:.1f} images/s")
    workers = max(args.workers)
    for call in ("first call (workers start and load the model)", "second call"):
        out, seconds = timed(lambda: ImageEmbedder(**embedder, n_jobs=workers).fit_transform(images))
        rate = len(images) / seconds
        rows["embed"].append((f"joblib's local processes (loky), {workers} jobs, {call}", workers, seconds, rate,
                              rate / workers, f"rows equal: {np.array_equal(out, single)}"))
        log(f"loky {workers} jobs, {call}: {rate:.1f} images/s")
    environ = "without the nanny's" if args.without_nanny_environ else "Dask's default"
    for workers in args.workers:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            malloc = sorted({item for env in client.run(_malloc_environ).values() for item in env.items()})
            log(f"workers' MALLOC_ variables: {malloc or 'none'}")
            rows.setdefault("malloc", malloc)
            with joblib.parallel_config(backend="dask"):
                search, seconds = timed(lambda: grid_search(-1).fit(X, y_noisy))
                same = np.array_equal(search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"])
                rows["search"].append((f"Dask, {workers} worker(s), {environ} environment", workers, seconds,
                                       f"scores equal: {same}"))
                log(f"{workers} workers: search {seconds:.1f} s (equal {same})")
                for call in ("first call (workers load the model)", "second call"):
                    out, seconds = timed(lambda: ImageEmbedder(**embedder, n_jobs=-1).fit_transform(images))
                    rate = len(images) / seconds
                    rows["embed"].append((f"Dask, {workers} worker(s), {environ} environment, {call}", workers,
                                          seconds, rate,
                                          rate / workers, f"rows equal: {np.array_equal(out, single)}"))
                    log(f"{workers} workers, {call}: {rate:.1f} images/s")
    return rows


def markdown(rows, args, seconds):
    import sklearn
    import torch

    single_rate = rows["embed"][0][3]
    out = ["# Scale-out on Dask: grid search and embedding", "",
           f"Command: `python benchmarks/bench_scale_out.py {' '.join(sys.argv[1:])}`  ",
           f"Total runtime: {seconds / 60:.1f} min. Machine: {platform.machine()}, {os.cpu_count()} cores; "
           f"torch {torch.__version__}, scikit-learn {sklearn.__version__}; every worker one process on one "
           "thread. Protocol: `benchmarks/bench_scale_out.py`.", "",
           "## Grid search (12 fits of ConsensusDetector + LogisticRegression, 10,000 x 1,280 features)", "",
           "| run | workers | wall s | speed-up | note |", "|---|---|---|---|---|"]
    base = rows["search"][0][2]
    out += [f"| {name} | {w} | {s:.1f} | {base / s:.2f}x | {note} |" for name, w, s, note in rows["search"]]
    out += ["", f"## Embedding {args.n_images} Fashion-MNIST images (MobileNetV2, 96 px, no cache)", "",
            "| run | workers | wall s | images/s | per worker | per worker / 1 process | note |",
            "|---|---|---|---|---|---|---|"]
    out += [f"| {name} | {w} | {s:.1f} | {rate:.1f} | {per:.1f} | {per / single_rate:.2f} | {note} |"
            for name, w, s, rate, per, note in rows["embed"]]
    out += ["", f"Dask workers' `MALLOC_` variables: {rows.get('malloc') or 'none'}"]
    out += ["", f"## Decoding (one core): {rows['decode_s'] * 1000:.2f} ms per 400 x 300 JPEG prepared at 224 px "
            f"({1 / rows['decode_s']:.0f} images/s)"]
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=None)
    parser.add_argument("--without-nanny-environ", action="store_true",
                        help="start Dask workers without the environment Dask's nanny gives them by default "
                             "(its MALLOC_TRIM_THRESHOLD_ slows torch down); the workers' MALLOC_ variables are "
                             "recorded")
    args = parser.parse_args(argv)
    if args.without_nanny_environ:
        import dask
        import distributed  # noqa: F401  (importing it loads its defaults into dask.config: first)

        # Before the first cluster; a non-empty dict would be merged into Dask's default.
        dask.config.set({"distributed.nanny.pre-spawn-environ": {}})
    start = time.perf_counter()
    rows = run(args)
    text = markdown(rows, args, time.perf_counter() - start)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
