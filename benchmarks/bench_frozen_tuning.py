"""``tuning`` in the classifiers: what a frozen tower costs and gives, on noisy Fashion-MNIST.

Run by hand (not part of the tests), one thread:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_frozen_tuning.py \
        --out benchmarks/results/frozen_tuning.md

To time another version of the library (for a before/after), put its checkout first on
``PYTHONPATH`` and pass ``--methods`` with the names it has, ``--label`` to name the run.

Protocol
--------
- Data: a stratified, seeded subset of the Fashion-MNIST training split (the Debian
  ``dataset-fashion-mnist`` files), ``--n-train`` images, and ``--n-test`` images of the
  test split with their clean labels for the accuracy.
- Backbone: torchvision's MobileNetV2, real ImageNet weights (``pretrained="offline"``),
  images at ``--image-size`` px.
- Noise: ``make_noisy_labels``, symmetric 40 % and pair-flip 40 %, seed ``--seed``.
- Methods, each on the same images, noisy labels and backbone:
  * ``deft_frozen``: ``DeftClassifier(detector, tuning="frozen")`` with
    ``detector = ConsensusDetector`` on the same backbone's embeddings (its defaults;
    with ``cache_dir``, so the detector's embedding pass is paid once per setting);
  * ``turn_full``, ``turn_peft``, ``turn_frozen``: ``TurnClassifier(tuning=...)`` at its
    defaults otherwise (20 probe epochs, 5 fine-tuning epochs).
- Reported: accuracy on the clean test images, fit seconds (one thread), and for DEFT
  the share of training images its detector kept.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from _bench_common import log, write_markdown_and_csv  # noqa: E402

import skclip_noise as skn  # noqa: E402
from skclip_noise.datasets import load_fashion_mnist  # noqa: E402

METHODS = ("deft_frozen", "turn_full", "turn_peft", "turn_frozen")
NOISES = (("symmetric", 0.4), ("pairflip", 0.4))


def _subset(X, y, n, seed):
    rng = np.random.default_rng(seed)
    per_class = n // len(np.unique(y))
    index = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])
    return X[np.sort(index)], y[np.sort(index)]


def _estimator(method, args, cache_dir):
    backbone = dict(backbone="torchvision:mobilenet_v2", pretrained="offline", image_size=args.image_size,
                    device="cpu", random_state=args.seed)
    if method == "deft_frozen":
        detector = skn.ConsensusDetector(backbone="torchvision:mobilenet_v2", pretrained="offline",
                                         image_size=args.image_size, device="cpu", cache_dir=cache_dir,
                                         random_state=args.seed)
        return skn.DeftClassifier(detector, tuning="frozen", **backbone)
    return skn.TurnClassifier(tuning=method.split("_")[1], **backbone)


def evaluate(args):
    X_train, y_train = _subset(*load_fashion_mnist(subset="train"), args.n_train, args.seed)
    X_test, y_test = _subset(*load_fashion_mnist(subset="test"), args.n_test, args.seed)
    rows = []
    for kind, rate in NOISES:
        y_noisy, is_noisy = skn.make_noisy_labels(y_train, kind, rate, random_state=args.seed)
        with tempfile.TemporaryDirectory() as cache_dir:
            for method in args.methods:
                estimator = _estimator(method, args, cache_dir)
                start = time.perf_counter()
                estimator.fit(X_train, y_noisy)
                seconds = time.perf_counter() - start
                accuracy = float(np.mean(estimator.predict(X_test) == y_test))
                kept = float(np.mean(estimator.clean_mask_))
                log(f"{args.label} {kind} {rate} {method}: accuracy {accuracy:.4f}, {seconds:.1f} s, kept {kept:.3f}")
                rows.append(dict(run=args.label, noise=f"{kind} {rate:.0%}", true_rate=float(np.mean(is_noisy)),
                                 method=method, accuracy=accuracy, seconds=seconds, kept=kept))
    return rows


def render(rows, args):
    lines = [
        "# tuning in the classifiers: a frozen tower against the tower that trains",
        "",
        f"`benchmarks/bench_frozen_tuning.py {' '.join(sys.argv[1:])}`: {platform.machine()}, one thread, "
        f"torch {torch.__version__}. Protocol in the script's docstring.",
        "",
        "| run | noise | realised rate | method | test accuracy | kept share | fit seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['run']} | {row['noise']} | {row['true_rate']:.3f} | {row['method']} | "
                     f"{row['accuracy']:.4f} | {row['kept']:.3f} | {row['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--label", default="now")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    args.methods = args.methods.split(",")
    torch.set_num_threads(1)
    rows = evaluate(args)
    write_markdown_and_csv(render(rows, args), rows, args.out)


if __name__ == "__main__":
    main()
