"""New pairs against a fitted detector: searching the kept neighbour index against rebuilding it.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_knn_reuse.py --n 100000 --dim 512 --queries 2000 \\
        --out benchmarks/results/knn_reuse.md

The clustered synthetic embeddings of ``bench_detector_scaling.py`` (float32), one thread.
Three times: building a :class:`~skclip_noise.selection.NeighbourIndex` and searching every
sample among the others (what ``fit`` does), searching ``--queries`` new rows on that kept
index (what ``predict_clean(X_new, y_new)`` does now), and ``nearest_neighbours`` with the
same queries, which builds its own index (what it did before the index was kept). Both
searches must return the same neighbours.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import write_markdown  # noqa: E402
from bench_detector_scaling import clustered_embeddings  # noqa: E402


def main(argv=None):
    from skclip_noise.selection import NeighbourIndex, nearest_neighbours

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    X, _ = clustered_embeddings(args.n, args.dim)
    queries, _ = clustered_embeddings(args.queries, args.dim, seed=1)

    start = time.perf_counter()
    index = NeighbourIndex(X)
    index.search(None, args.k)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    kept = index.search(queries, args.k)
    kept_seconds = time.perf_counter() - start
    start = time.perf_counter()
    rebuilt = nearest_neighbours(X, args.k, queries=queries)
    rebuilt_seconds = time.perf_counter() - start
    same = float((kept[0] == rebuilt[0]).mean())

    text = "\n".join([
        "# New pairs: the kept neighbour index against rebuilding it",
        "",
        f"`{' '.join(['benchmarks/bench_knn_reuse.py'] + (sys.argv[1:] if argv is None else list(argv)))}` on "
        f"{platform.processor() or platform.machine()}, one thread; {args.n:,} x {args.dim} clustered synthetic "
        f"embeddings, {args.k} neighbours, { {'hnsw': 'an HNSW graph', 'ivf': 'an IVF index'}.get(index.approximate, 'an exact index') }.",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| build the index and search every sample (fit) | {fit_seconds:.1f} |",
        f"| {args.queries:,} new rows on the kept index (now) | {kept_seconds:.2f} |",
        f"| {args.queries:,} new rows, index rebuilt (before) | {rebuilt_seconds:.1f} |",
        "",
        f"Same neighbours in {same:.1%} of the places; {rebuilt_seconds / kept_seconds:.0f}x faster.",
        "",
    ])
    write_markdown(text, args.out)


if __name__ == "__main__":
    main()
