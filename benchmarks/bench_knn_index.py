"""Which neighbour index for which N: time, recall against the exact search, and what it changes in detection.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_knn_index.py --threads 2 --out benchmarks/results/knn_index.md

Embeddings:

- ``fmnist70k``: the whole Fashion-MNIST (60,000 + 10,000 images) through the real
  MobileNetV2 weights at 64 px (1280-d), computed once through the embedding cache (about
  4 minutes on 2 threads) and kept in ``benchmarks/.cache``. The largest real embeddings
  this machine can make offline.
- ``clip100k``: 100,000 synthetic CLIP-like 512-d embeddings (``bench_knn_backends.py``:
  100 clusters in a 32-d latent space, projected, plus noise and a shared direction).
- ``clusters100k``: 100,000 of the 512-d clustered embeddings of
  ``bench_detector_scaling.py``: isotropic noise around 10 centres, so the exact
  neighbours inside a cluster are noise; no index can find them (a low recall there is a
  property of the data), and the detectors do not need them.
- ``clusters1m``: 1,000,000 of them, for the time only (where the IVF index's
  ``N ** 1.5`` search dominates a detector's fit); the HNSW graph is not built there
  (single-threaded construction, over 20 minutes).

For each index of :class:`skclip_noise.selection.NeighbourIndex` (the exact scan, the IVF
index at its defaults and two cheaper settings, the HNSW graph): the time to build it and
search every sample's 20 nearest neighbours among the others, and its recall@20 on 2,000
random samples against the exact search. The exact scan's time is measured on those 2,000
queries and extrapolated (linear in the number of queries). With ``--quality``, the
detectors are also fitted on ``fmnist70k`` (40 % pair-flip and/or symmetric noise, ``--noises``) with
the exact scan and with the default index: the F1 each index gives.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _threads_from_argv(argv):
    return argv[argv.index("--threads") + 1] if "--threads" in argv else "1"


for _variable in THREAD_VARIABLES:
    os.environ[_variable] = _threads_from_argv(sys.argv)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import log, write_markdown  # noqa: E402

CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache")
K = 20
N_QUERIES = 2000
# (label, approximate, IVF nprobe, IVF candidates per wanted neighbour, IVF code bits)
INDEXES = [
    ("exact scan", False, None, None, None),
    ("IVF, defaults (4-bit codes, nprobe 24, 4x candidates)", "ivf", None, None, None),
    ("IVF, 4-bit codes, nprobe 16, 4x candidates", "ivf", 16, 4, 4),
    ("IVF, 4-bit codes, nprobe 32, 4x candidates", "ivf", 32, 4, 4),
    ("IVF, float rows, nprobe 16, 4x candidates (the default before 2026-12-04)", "ivf", 16, 4, None),
    ("HNSW (M 32, efSearch 64)", "hnsw", None, None, None),
]
IVF_SETTINGS = ("IVF_NPROBE", "IVF_K_FACTOR", "IVF_CODE_BITS")


def fashion_mnist_70k():
    """(1280-d MobileNetV2 embeddings at 64 px, labels) of all 70,000 Fashion-MNIST images."""
    path, labels_path = os.path.join(CACHE, "fmnist70k_mobilenetv2_64.npy"), os.path.join(CACHE, "fmnist70k_y.npy")
    if not os.path.exists(path):
        import torch

        from skclip_noise import ImageEmbedder
        from skclip_noise.datasets import load_fashion_mnist

        X_train, y_train = load_fashion_mnist(subset="train")
        X_test, y_test = load_fashion_mnist(subset="test")
        images, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        embedder = ImageEmbedder("torchvision:mobilenet_v2", "offline", image_size=64, device="cpu",
                                 cache_dir=os.path.join(CACHE, "emb"))
        os.makedirs(CACHE, exist_ok=True)
        np.save(path, embedder.fit(images).transform(images).astype(np.float32))
        np.save(labels_path, y)
    return np.load(path), np.load(labels_path)


def embeddings(name):
    if name == "fmnist70k":
        return fashion_mnist_70k()[0]
    if name == "clip100k":
        from bench_knn_backends import make_embeddings

        return make_embeddings(100_000, 512)
    from bench_detector_scaling import clustered_embeddings

    return clustered_embeddings(1_000_000 if name == "clusters1m" else 100_000, 512)[0]


def exact_neighbours(index, rows):
    """Exact 20 nearest neighbours (self excluded) of ``rows`` by the exact faiss scan the
    detectors use below 50,000 samples, and its seconds per query."""
    start = time.perf_counter()
    found, _ = index.search(index.unit_rows(rows), K + 1)
    seconds = (time.perf_counter() - start) / len(rows)
    truth = np.array([[j for j in row if j != own][:K] for row, own in zip(found, rows)])
    return truth, seconds


def index_rows(name, X, threads):
    import skclip_noise.selection.neighbours as neighbours
    from skclip_noise.selection import NeighbourIndex

    rows = np.sort(np.random.default_rng(1).choice(len(X), N_QUERIES, replace=False))
    exact = NeighbourIndex(X, approximate=False, n_jobs=threads)
    start = time.perf_counter()
    exact._built(K + 1)
    exact_build = time.perf_counter() - start
    truth, exact_per_query = exact_neighbours(exact, rows)
    defaults = {setting: getattr(neighbours, setting) for setting in IVF_SETTINGS}
    results = []
    for label, approximate, nprobe, k_factor, code_bits in INDEXES:
        if approximate == "hnsw" and len(X) > 200_000:
            continue
        if approximate is False:
            seconds, recall = exact_build + exact_per_query * len(X), 1.0
            how = f"extrapolated from {N_QUERIES:,} queries"
        else:
            if nprobe:
                for setting, value in zip(IVF_SETTINGS, (nprobe, k_factor, code_bits)):
                    setattr(neighbours, setting, value)
            start = time.perf_counter()
            found, _ = NeighbourIndex(X, approximate=approximate, n_jobs=threads).search(None, K)
            seconds = time.perf_counter() - start
            recall = float(np.mean([np.isin(t, f).mean() for t, f in zip(truth, found[rows])]))
            how = "full run"
        for setting, value in defaults.items():
            setattr(neighbours, setting, value)
        results.append(f"| {name} | {len(X):,} x {X.shape[1]} | {label} | {seconds:.1f} | {recall:.3f} | {how} |")
        log(results[-1])
    return results


def quality_rows(threads, noises):
    import skclip_noise.selection.neighbours as neighbours
    from skclip_noise import ConsensusDetector, NeighbourDetector, detection_report, make_noisy_labels

    X, y = fashion_mnist_70k()
    rows = []
    for noise in noises:
        y_noisy, is_noisy = make_noisy_labels(y, noise, 0.4, random_state=0)
        for label, minimum in [("exact scan", np.iinfo(np.int64).max), ("IVF (default)", neighbours.APPROXIMATE_MIN_SAMPLES)]:
            before, neighbours.APPROXIMATE_MIN_SAMPLES = neighbours.APPROXIMATE_MIN_SAMPLES, minimum
            for name, detector in [("ConsensusDetector", ConsensusDetector(random_state=0, n_jobs=threads)),
                                   ("NeighbourDetector", NeighbourDetector(n_jobs=threads))]:
                start = time.perf_counter()
                clean = detector.fit(X, y_noisy).clean_mask_
                seconds = time.perf_counter() - start
                report = detection_report(is_noisy, clean, output_dict=True)
                rows.append(f"| {noise} 40 % | {name} | {label} | {seconds:.0f} | {report['clean_f1']:.4f} | "
                            f"{report['noisy_f1']:.4f} |")
                log(rows[-1])
            neighbours.APPROXIMATE_MIN_SAMPLES = before
    return rows


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["fmnist70k", "clip100k", "clusters100k"],
                        choices=["fmnist70k", "clip100k", "clusters100k", "clusters1m"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quality", action="store_true", help="also fit the detectors with each index")
    parser.add_argument("--noises", nargs="+", default=["pairflip", "symmetric"], choices=["pairflip", "symmetric"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    lines = [
        "# Neighbour indexes: time, recall and detection quality",
        "",
        f"`benchmarks/bench_knn_index.py {' '.join(argv)}`: {args.threads} thread(s) for faiss, BLAS and "
        f"OpenMP; {K} neighbours per sample, cosine. Recall@{K}: the share of the exact {K} nearest "
        f"neighbours found, on {N_QUERIES:,} random samples. Time: building the index and searching every "
        "sample among the others.",
        "",
        f"| embeddings | N x D | index | seconds | recall@{K} | how |",
        "|---|---|---|---|---|---|",
    ]
    for name in args.data:
        lines += index_rows(name, embeddings(name), args.threads)
    if args.quality:
        lines += ["", "Detection on `fmnist70k` with the exact scan and with the default index (from 50,000 "
                  "samples: IVF), the same noise draws:", "",
                  "| noise | detector | index | fit s | clean F1 | noisy F1 |", "|---|---|---|---|---|---|",
                  *quality_rows(args.threads, args.noises)]
    write_markdown("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
