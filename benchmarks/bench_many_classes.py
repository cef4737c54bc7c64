"""Label-error detection with many classes of few samples each.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_many_classes.py --out benchmarks/results/many_classes.md

Every other benchmark has 10 classes. Real data sets often have 100 or more, with tens
of samples each, and the noise transition matrix then has 10,000 cells to estimate.

Protocol
--------
Gaussian classes in 64 dimensions (``make_blobs``, centres in [-5, 5]; 30 or 100 classes
of 30 or 50 samples; standard deviation 4, 6 or 8, from well to weakly separated) and 20
real classes (the 5,000 MNIST digits and 5,000 Fashion-MNIST images of ``_features.py``,
both embedded by MobileNetV2; Fashion-MNIST's classes renumbered 10-19), under symmetric
noise 20 % and 40 % and pair-flip noise 30 %, seeds 0 and 1 (``--seeds``). Every method
of ``bench_detectors.py`` (``compare_methods``: cleanlab tuned, its best ``filter_by`` per
metric picked with the truth, and Datalab) on the same features and noise draw, plus
``ConsensusDetector`` with the transition prior of before 2026-12-05 (half a count per
cell at any number of classes; ``jeffreys``). The Markdown table goes to ``--out`` and the
raw numbers beside it (``.csv``).
"""

from __future__ import annotations

import functools
import os
import sys
import warnings

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # one thread for every method: timings side by side
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import best_in_bold, compared_run_line, gaussian_classes, main_over_seeds  # noqa: E402
from _detection_protocol import compare_methods  # noqa: E402

METHODS = ("consensus", "consensus_jeffreys", "neighbour", "cleanlab", "datalab")
GAUSSIAN = ((30, 50, 4.0), (30, 50, 6.0), (30, 50, 8.0), (100, 50, 4.0), (100, 50, 6.0), (100, 50, 8.0),
            (100, 30, 6.0))
NOISES = (("symmetric", 0.2), ("symmetric", 0.4), ("pairflip", 0.3))


def twenty_real_classes():
    """MNIST digits and Fashion-MNIST items (5,000 each), both embedded by MobileNetV2."""
    from _features import get_features

    X_digits, y_digits, _ = get_features("mnist_mobilenetv2", verbose=False)
    X_fashion, y_fashion, _ = get_features("fmnist_mobilenetv2", verbose=False)
    pick = np.random.default_rng(0).choice(len(y_fashion), len(y_digits), replace=False)
    return np.vstack([X_digits, X_fashion[pick]]).astype(np.float32), np.r_[y_digits, y_fashion[pick] + 10]


def draws(seed):
    for n_classes, per_class, std in GAUSSIAN:
        yield f"gaussian {n_classes}x{per_class}/{std:g}", *gaussian_classes(n_classes, per_class, std, seed)
    yield "MNIST + Fashion-MNIST (20)", *twenty_real_classes()


def jeffreys_fit(X, y_noisy, seed):
    """ConsensusDetector with half a count per transition cell at any number of classes."""
    from skclip_noise import ConsensusDetector
    from skclip_noise.detectors import consensus
    from skclip_noise.selection import pooled_noise_transition

    original = consensus.pooled_noise_transition
    consensus.pooled_noise_transition = functools.partial(pooled_noise_transition, pseudo_count=0.5)
    try:
        return ConsensusDetector(random_state=seed).fit(X, y_noisy)
    finally:
        consensus.pooled_noise_transition = original


def evaluate(_, seed):
    from skclip_noise import detection_report, make_noisy_labels

    rows = []
    for setting, X, y in draws(seed):
        for kind, rate in NOISES:
            y_noisy, is_noisy = make_noisy_labels(y, kind, rate, random_state=seed)
            row = {"features": setting, "seed": seed, "noise": f"{kind} {rate:.0%}", "true_rate": float(is_noisy.mean())}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compare_methods(X, y_noisy, is_noisy, seed, True, row)
                detector = jeffreys_fit(X, y_noisy, seed)
            report = detection_report(is_noisy, detector.clean_mask_, output_dict=True)
            row.update({"consensus_jeffreys_clean_f1": report["clean_f1"],
                        "consensus_jeffreys_noisy_f1": report["noisy_f1"],
                        "consensus_jeffreys_rate": detector.noise_rate_})
            rows.append(row)
    return rows


def markdown(rows, args, seconds):
    lines = [
        "# Label-error detection with many classes",
        "",
        compared_run_line("bench_many_classes.py", args, len(rows), seconds, "five"),
        "",
        "| features | seed | noise | clean F1: consensus / jeffreys / neighbour / cleanlab / Datalab | noisy F1: "
        "same order | flagged: consensus / jeffreys (true) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['features']} | {row['seed']} | {row['noise']} | {best_in_bold(row, METHODS, 'clean_f1')} | "
            f"{best_in_bold(row, METHODS, 'noisy_f1')} | {row['consensus_rate']:.3f} / "
            f"{row['consensus_jeffreys_rate']:.3f} ({row['true_rate']:.3f}) |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    main_over_seeds(__doc__.splitlines()[0], evaluate, markdown, argv)


if __name__ == "__main__":
    main()
