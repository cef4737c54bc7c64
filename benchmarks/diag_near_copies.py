"""Can near-copies be found from the features? Real near-copies of Fashion-MNIST images
(JPEG re-encoding, resizing, a one-pixel crop) against each image's nearest other image.

    .venv/bin/python benchmarks/diag_near_copies.py --out benchmarks/results/near_copies_similarity.md

The first ``--n-images`` test images are embedded by MobileNetV2 (offline weights, 96 px,
as ``bench_detectors.py``); each is altered, embedded again, and its cosine similarity to
the original compared with the original's similarity to its nearest other image among
them. A threshold on similarity can find the copies only where the first is above the
second for (nearly) every image.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import write_markdown  # noqa: E402
from _features import load_images  # noqa: E402


def _jpeg(image, quality):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


def _resized(image, factor):
    height, width = image.shape[:2]
    small = Image.fromarray(image).resize((int(width * factor), int(height * factor)), Image.BILINEAR)
    return np.asarray(small.resize((width, height), Image.BILINEAR))


def _cropped(image, pixels):
    height, width = image.shape[:2]
    return np.asarray(Image.fromarray(image[pixels:height - pixels, pixels:width - pixels]).resize(
        (width, height), Image.BILINEAR))


ALTERATIONS = {
    "JPEG, quality 75": lambda image: _jpeg(image, 75),
    "resized to 3/4 and back": lambda image: _resized(image, 0.75),
    "one pixel cropped off each side": lambda image: _cropped(image, 1),
    "resized, then JPEG quality 50": lambda image: _jpeg(_resized(image, 0.75), 50),
}


def unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def main(argv=None):
    import torch

    from skclip_noise import ImageEmbedder
    from skclip_noise.selection import NeighbourIndex

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=600)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    images = load_images("fashion")[0][:args.n_images]
    embedder = ImageEmbedder("torchvision:mobilenet_v2", "offline", image_size=96, device="cpu")
    originals = unit(embedder.fit_transform(images))
    nearest_other = NeighbourIndex(originals, backend="sklearn").search(None, 1)[1][:, 0]
    lines = [
        "# Near-copies against the nearest other image (Fashion-MNIST, MobileNetV2)", "",
        f"`benchmarks/diag_near_copies.py{' ' + ' '.join(argv or sys.argv[1:])}`: the first {len(images)} test "
        "images; cosine similarities. Nearest other image: quantiles "
        + ", ".join(f"{q:.0%} {v:.4f}" for q, v in zip((0.5, 0.9, 0.99), np.quantile(nearest_other, [0.5, 0.9, 0.99])))
        + ".", "",
        "| alteration | similarity to the original: 1 % / 10 % / 50 % quantile | share less similar to its original "
        "than the original's nearest other image |",
        "|---|---|---|",
    ]
    for name, alter in ALTERATIONS.items():
        altered = unit(embedder.transform(np.stack([alter(image) for image in images])))
        similarity = (originals * altered).sum(axis=1)
        quantiles = " / ".join(f"{v:.4f}" for v in np.quantile(similarity, [0.01, 0.1, 0.5]))
        lines.append(f"| {name} | {quantiles} | {np.mean(similarity <= nearest_other):.3f} |")
    text = "\n".join(lines) + "\n"
    write_markdown(text, args.out)


if __name__ == "__main__":
    main()
