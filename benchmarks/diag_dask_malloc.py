"""Diagnostic: torch in Dask workers with and without the nanny's MALLOC_TRIM_THRESHOLD_.

    .venv/bin/python benchmarks/diag_dask_malloc.py

Two Dask workers (separate processes, one thread each) embed the same 1,000 Fashion-MNIST
images at once (MobileNetV2, 96 px), once per configuration; each prints its seconds and
the ``MALLOC_`` variables it saw. ``dask.config.set({"distributed.nanny.pre-spawn-environ":
{}})`` as the first cluster of the process removed Dask's default worker environment
(``MALLOC_TRIM_THRESHOLD_=65536``, ``OMP_NUM_THREADS=1``, ...); the thread limits then
come from this process's environment, which the workers inherit. One plain process
embeds the same images in about 5 s.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def shard(images):
    import time

    from skclip_noise import ImageEmbedder

    embedder = ImageEmbedder("torchvision:mobilenet_v2", "offline", image_size=96, device="cpu")
    embedder.fit_transform(images[:64])
    start = time.perf_counter()
    embedder.fit_transform(images)
    return round(time.perf_counter() - start, 2), {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}


def main():
    import dask
    from distributed import Client, LocalCluster

    from _features import load_images

    images = load_images("fashion")[0][:1000]
    for config in ({"distributed.nanny.pre-spawn-environ": {}}, {}):
        with dask.config.set(config), LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                                   silence_logs=40) as cluster, Client(cluster) as client:
            workers = list(client.scheduler_info()["workers"])
            results = client.gather([client.submit(shard, images, pure=False, workers=[w]) for w in workers])
            print(config or "Dask's default worker environment", results, flush=True)


if __name__ == "__main__":
    main()
