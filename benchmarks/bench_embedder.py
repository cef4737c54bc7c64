"""Import time of skclip_noise and ImageEmbedder throughput on this machine.

Run by hand (not part of the tests):

    .venv/bin/python benchmarks/bench_embedder.py [--n-images 512] [--out benchmarks/results/embedder_cpu.md]

It embeds real Fashion-MNIST images (digits when Fashion-MNIST is absent) with each
backbone, three times: cold (nothing cached on disk), warm in memory (model loaded),
and from the on-disk cache, and writes a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

CONFIGS = [
    # (backbone, pretrained, image_size): image_size None = the backbone's own input side
    ("torchvision:mobilenet_v2", "offline", None),
    ("torchvision:mobilenet_v2", "offline", 64),
    ("timm:tf_efficientnet_lite0", "offline", None),
    ("open_clip:skclip-hybrid-mobilenetv2", "offline", None),
    ("open_clip:ViT-B-32", None, None),
]


def import_seconds(repeats=3):
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", "import time; t=time.perf_counter(); import skclip_noise; print(time.perf_counter()-t)"],
            capture_output=True, text=True, check=True,
        )
        times.append(float(out.stdout.strip()))
    return min(times)


def load_images(n):
    from skclip_noise import datasets

    try:
        X, _ = datasets.load_fashion_mnist(n_samples=n, random_state=0)
        return X, "Fashion-MNIST"
    except FileNotFoundError:
        X, _ = datasets.load_digits_images()
        return X[:n], "digits"


def measure(backbone, pretrained, image_size, X, batch_size):
    from skclip_noise import ImageEmbedder
    from skclip_noise.backbones import clear_backbone_cache

    clear_backbone_cache()
    with tempfile.TemporaryDirectory() as cache:
        embedder = ImageEmbedder(backbone, pretrained, image_size=image_size, batch_size=batch_size,
                                 device="cpu", cache_dir=cache)
        t0 = time.perf_counter()
        embedder.fit(X)
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        embedder.transform(X)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        embedder.transform(X)
        cached = time.perf_counter() - t0
        embedder.set_params(cache_dir=None)
        t0 = time.perf_counter()
        embedder.transform(X)
        warm = time.perf_counter() - t0
    side = image_size or embedder._loaded_backbone().preprocess_config.image_size
    return {
        "backbone": backbone, "pretrained": pretrained, "side": side, "load_s": load,
        "cold_ips": len(X) / cold, "warm_ips": len(X) / warm, "cached_ips": len(X) / cached,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "embedder_cpu.md"))
    args = parser.parse_args()

    import torch

    imp = import_seconds()
    X, name = load_images(args.n_images)
    rows = [measure(b, p, s, X, args.batch_size) for b, p, s in CONFIGS]
    lines = [
        "# ImageEmbedder throughput (CPU)",
        "",
        f"Command: `python benchmarks/bench_embedder.py --n-images {args.n_images} --batch-size {args.batch_size}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}.",
        f"Data: {len(X)} real {name} images ({X.shape[1]}x{X.shape[2]} grey, upsampled by the preprocessing).",
        "",
        f"`import skclip_noise`: {imp:.2f} s (best of 3, fresh interpreters; importing torch and scikit-learn is nearly all of it).",
        "",
        "| backbone | pretrained | input side | load (s) | cold images/s | warm images/s | from disk cache images/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['backbone']}` | {r['pretrained']} | {r['side']} | {r['load_s']:.2f} | "
            f"{r['cold_ips']:.0f} | {r['warm_ips']:.0f} | {r['cached_ips']:.0f} |"
        )
    lines += [
        "",
        "cold: first transform with an empty cache (decode, preprocess, forward, write the cache);",
        "warm: model already loaded, no disk cache; from disk cache: second call, only reads",
        "(hashing the images' content is what remains).",
    ]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
