"""Does a change of ConsensusDetector's code leave its answers as they were?

Fits the default detector on fixed draws (digits raw and MobileNetV2, Fashion-MNIST
MobileNetV2: symmetric 20 % and pair-flip 30 %; the digits with a fifth replaced by images
of no class; Gaussian classes of ``_bench_common.gaussian_classes``, 100 of 30 samples and
1,000 of 20) and saves its
``clean_proba_``, ``class_proba_``, ``outlier_proba_`` and ``clean_mask_``. Run it once with
the library before a change (``PYTHONPATH`` pointing at a checkout of it) and once after,
then compare:

    PYTHONPATH=/path/to/old/checkout .venv/bin/python benchmarks/diag_same_verdicts.py --save before.npz
    .venv/bin/python benchmarks/diag_same_verdicts.py --save after.npz
    .venv/bin/python benchmarks/diag_same_verdicts.py --compare before.npz after.npz
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import gaussian_classes  # noqa: E402
from _features import get_features  # noqa: E402


def draws():
    """(name, features, given labels) of every draw."""
    from skclip_noise.noise import make_noisy_labels, make_open_set

    for name in ("digits_raw", "digits_mobilenetv2", "fmnist_mobilenetv2"):
        X, y, _ = get_features(name, verbose=False)
        X = X.astype(np.float32)
        for kind, rate in (("symmetric", 0.2), ("pairflip", 0.3)):
            yield f"{name}.{kind}", X, make_noisy_labels(y, kind, rate, random_state=0)[0]
        if name.startswith("digits"):  # images of no class: reversed pixels, or Fashion-MNIST items
            outside = (np.random.default_rng(0).permutation(X)[:, ::-1].copy() if name == "digits_raw"
                       else get_features("fmnist_mobilenetv2", verbose=False)[0][:len(X)].astype(np.float32))
            X_open, y_open, _ = make_open_set(X, y, outside, 0.2, random_state=0)
            yield f"{name}.open_set", X_open, y_open
    for n_classes, per_class in ((100, 30), (1000, 20)):
        X, y = gaussian_classes(n_classes, per_class, std=4.0, seed=0)
        yield f"gaussian{n_classes}", X, make_noisy_labels(y, "symmetric", 0.2, random_state=0)[0]


def save(path):
    from skclip_noise import ConsensusDetector

    answers = {}
    for name, X, y in draws():
        start = time.perf_counter()
        detector = ConsensusDetector(random_state=0).fit(X, y)
        for attribute in ("clean_proba_", "class_proba_", "outlier_proba_", "clean_mask_"):
            answers[f"{name}.{attribute}"] = getattr(detector, attribute)
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
    np.savez(path, **answers)


def compare(before_path, after_path):
    before, after = np.load(before_path), np.load(after_path)
    for key in before.files:
        old, new = before[key], after[key]
        if old.dtype == bool:
            print(f"{key}: {int((old != new).sum())} verdicts differ")
        else:
            print(f"{key}: largest difference {np.abs(old - new).max():.1e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", metavar="NPZ")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    if args.save:
        save(args.save)
    if args.compare:
        compare(*args.compare)


if __name__ == "__main__":
    main()
