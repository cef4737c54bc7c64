"""Time, peak memory and recall of the k-NN backends behind SimiFeat's neighbour rules.

Run by hand (not part of the tests), single-threaded on purpose:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_knn_backends.py \\
        [--sizes 10000 100000] [--dims 512 1280] [--k 10] [--queries 2000] \\
        [--out benchmarks/results/knn_backends.md]

Data: synthetic CLIP-like embeddings, float32, L2-normalised: 100 clusters in a
32-d latent space, projected to ``dim`` dimensions, plus isotropic noise and a
direction shared by all vectors (CLIP embeddings are anisotropic).

Backends (``skclip_noise.selection.neighbours.nearest_neighbours``): faiss exact
(``IndexFlatIP``), faiss approximate (``IndexHNSWFlat``, M=32, efConstruction=40,
efSearch=64) and scikit-learn's brute-force ``NearestNeighbors``.

Each measurement runs in a fresh worker process (so its peak RSS is its own) with
OpenMP/BLAS/torch/faiss threads capped at 1. Runs that would take minutes are
shortened: from ``--full-limit`` samples on, the exact backends build their index
on all vectors but search only the first ``--queries`` rows, and the full time is
extrapolated linearly (search time is linear in the number of queries). The
approximate backend always runs in full through ``nearest_neighbours``; its
recall@k is measured on the first ``--queries`` rows against an exact search.
1M samples are run for the approximate backend only, and only when the 100k
time scaled by ``N log N`` predicts under ``--max-million-seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS")
N_CLUSTERS, LATENT_DIM = 100, 32


def make_embeddings(n_samples, dim, seed=0, chunk=10_000):
    """Clustered, anisotropic, L2-normalised float32 embeddings, generated in chunks."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((N_CLUSTERS, LATENT_DIM), dtype=np.float32)
    projection = rng.standard_normal((LATENT_DIM, dim), dtype=np.float32) / np.float32(np.sqrt(LATENT_DIM))
    shared = rng.standard_normal(dim, dtype=np.float32)
    shared /= np.linalg.norm(shared)
    out = np.empty((n_samples, dim), dtype=np.float32)
    for start in range(0, n_samples, chunk):
        n = min(chunk, n_samples - start)
        latent = centres[rng.integers(0, N_CLUSTERS, n)]
        latent += np.float32(0.6) * rng.standard_normal((n, LATENT_DIM), dtype=np.float32)
        x = latent @ projection + np.float32(0.3) * rng.standard_normal((n, dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x += np.float32(0.8) * shared
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start:start + n] = x
    return out


def _rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _exact_top(X, rows, k, chunk=256):
    """Exact top-k neighbours (self excluded) of ``X[rows]`` by chunked numpy products."""
    import numpy as np

    result = np.empty((len(rows), k), dtype=np.int64)
    for start in range(0, len(rows), chunk):
        block = rows[start:start + chunk]
        sims = X[block] @ X.T
        sims[np.arange(len(block)), block] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        result[start:start + len(block)] = top
    return result


def worker(config):
    """Run one measurement and print one JSON line."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import faiss

    faiss.omp_set_num_threads(1)
    from skclip_noise.selection.neighbours import _drop_self, _normalised_features, nearest_neighbours

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    n, dim, k, backend = config["n"], config["dim"], config["k"], config["backend"]
    X = make_embeddings(n, dim)
    rss_before = _rss_mib()
    result = dict(config)
    if config["mode"] == "full":
        start = time.perf_counter()
        approximate = "hnsw" if backend == "faiss-hnsw" else False
        indices, _ = nearest_neighbours(X, k, backend=backend.split("-")[0], approximate=approximate)
        result["total_s"] = time.perf_counter() - start
        result["peak_rss_mib"] = _peak_rss_mib()
        query_rows = np.arange(min(config["queries"], n))
        if backend == "faiss-hnsw":
            Xn = _normalised_features(X)
            exact = _exact_top(Xn, query_rows, k)
            result["recall"] = float(np.mean([np.isin(a, e).mean() for a, e in zip(indices[query_rows], exact)]))
    else:  # exact backends on a query subset, as nearest_neighbours runs them chunk by chunk
        start = time.perf_counter()
        Xn = _normalised_features(X)
        if backend == "faiss":
            index = faiss.IndexFlatIP(dim)
            index.add(Xn)

            def search(chunk):
                sims, ids = index.search(chunk, k + 1)
                return ids.astype(np.int64), sims
        else:
            from sklearn.neighbors import NearestNeighbors

            model = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="euclidean").fit(Xn)

            def search(chunk):
                distances, ids = model.kneighbors(chunk)
                return ids.astype(np.int64), 1.0 - 0.5 * distances.astype(np.float32) ** 2

        build = time.perf_counter() - start
        n_queries = config["queries"]
        start = time.perf_counter()
        for first in range(0, n_queries, 4096):
            _drop_self(*search(Xn[first:min(first + 4096, n_queries)]), first, k)
        searched = time.perf_counter() - start
        result["total_s"] = build + searched * n / n_queries
        result["peak_rss_mib"] = _peak_rss_mib()
    result["rss_before_mib"] = rss_before
    print(json.dumps(result), flush=True)


def run_worker(config):
    env = dict(os.environ, HF_HUB_OFFLINE="1", **{name: "1" for name in THREAD_VARS})
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(config)], capture_output=True, text=True, env=env,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"worker {config} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt_row(r):
    mode = "full run" if r["mode"] == "full" else f"extrapolated from {r['queries']:,} queries"
    recall = f"{r['recall']:.3f}" if "recall" in r else "1 (exact)"
    extra = r["peak_rss_mib"] - r["rss_before_mib"]
    return (f"| {r['n']:,} | {r['dim']} | {r['label']} | {r['total_s']:.1f} | {r['peak_rss_mib']:.0f} | "
            f"{extra:.0f} | {recall} | {mode} |")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


LABELS = {"faiss": "faiss exact (IndexFlatIP)", "faiss-hnsw": "faiss HNSW (M=32, efSearch=64)",
          "sklearn": "sklearn NearestNeighbors (brute)"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[512, 1280])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--full-limit", type=int, default=20_000)
    parser.add_argument("--max-million-seconds", type=float, default=180.0)
    parser.add_argument("--out", default="benchmarks/results/knn_backends.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return

    import faiss
    import numpy as np
    import sklearn

    rows, notes = [], []
    load_start = os.getloadavg()[0]
    for n in args.sizes:
        for dim in args.dims:
            for backend in ("faiss", "sklearn", "faiss-hnsw"):
                mode = "full" if backend == "faiss-hnsw" or n < args.full_limit else "subset"
                config = {"n": n, "dim": dim, "k": args.k, "backend": backend, "mode": mode,
                          "queries": min(args.queries, n), "label": LABELS[backend]}
                result = run_worker(config)
                rows.append(result)
                print(fmt_row(result), flush=True)
    for dim in args.dims:
        done = [r for r in rows if r["backend"] == "faiss-hnsw" and r["dim"] == dim]
        if not done:
            continue
        largest = max(done, key=lambda r: r["n"])
        n_big = 1_000_000
        predicted = largest["total_s"] * (n_big * np.log(n_big)) / (largest["n"] * np.log(largest["n"]))
        if predicted < args.max_million_seconds:
            result = run_worker({"n": n_big, "dim": dim, "k": args.k, "backend": "faiss-hnsw", "mode": "full",
                                 "queries": args.queries, "label": LABELS["faiss-hnsw"]})
            rows.append(result)
            print(fmt_row(result), flush=True)
        else:
            notes.append(f"- 1,000,000 x {dim}: not run; faiss HNSW would take about {predicted / 60:.0f} min on "
                         f"one thread (the {largest['n']:,}-sample time scaled by N log N), above the "
                         f"{args.max_million_seconds / 60:.0f}-min budget.")

    load_end = os.getloadavg()[0]
    sample = make_embeddings(5000, args.dims[0])
    sims = sample[:2500] @ sample[2500:].T
    exact = np.sort(sample @ sample.T, axis=1)[:, ::-1]
    command = (
        "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_knn_backends.py "
        f"--sizes {' '.join(map(str, args.sizes))} --dims {' '.join(map(str, args.dims))} --k {args.k} "
        f"--queries {args.queries}"
    )
    lines = [
        "# k-NN backends for SimiFeat (cosine, k = %d)" % args.k,
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores shared with other work; "
        "every run is **single-threaded** (OpenMP, BLAS, faiss and torch capped at 1 thread), so the times "
        "are per core. Python %s, numpy %s, faiss %s, scikit-learn %s."
        % (platform.python_version(), np.__version__, faiss.__version__, sklearn.__version__),
        f"The 1-min load average was {load_start:.1f} at the start and {load_end:.1f} at the end: with other "
        "work on the machine, absolute times are inflated; compare the rows with each other.",
        "",
        "Data: synthetic CLIP-like float32 embeddings, L2-normalised (100 clusters in a 32-d latent space, "
        "projected, plus isotropic noise and a shared direction). At %d-d, mean cosine of random pairs %.2f, "
        "of the 1st / 10th nearest neighbour %.2f / %.2f." % (args.dims[0], sims.mean(), exact[:, 1].mean(),
                                                               exact[:, args.k].mean()),
        "",
        "Peak RSS is the worker process's maximum resident memory (it includes ~0.45 GB for importing "
        "skclip_noise with torch); *extra* is peak minus the RSS once the embeddings exist, i.e. what the "
        "search itself adds (normalised copy, index, chunk buffers). Recall@k: share of the exact k nearest "
        f"neighbours found, on the first {args.queries:,} samples.",
        "",
        "| N | dim | backend | time (s) | peak RSS (MiB) | extra (MiB) | recall@%d | how |" % args.k,
        "|---:|---:|---|---:|---:|---:|---:|---|",
        *[fmt_row(r) for r in rows],
        "",
        "Rows marked *extrapolated* built the index on all N vectors but searched only the first queries; "
        "time = build + search x N / queries (exact search is linear in the number of queries). Peak memory of "
        "those rows is that of the full run: queries go in fixed chunks of 4096 either way.",
        *([""] + notes if notes else []),
        "",
    ]
    with open(args.out, "w") as handle:
        handle.write("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
