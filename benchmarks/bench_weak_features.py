"""Label-error detection on features that separate the classes poorly, or not at all.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_weak_features.py --out benchmarks/results/weak_features.md

A user whose backbone does not suit the images gets features like these: the detector's
evidence reads the true class of a half or less of the samples, where the other
benchmarks' features let it read most of them.

Protocol
--------
Symmetric noise (20 %, and 40 % on the real images) injected into known labels, seeds 0
and 1 (``--seeds``); every method on the same features and the same noise draw, as in
``bench_detectors.py`` (``compare_methods``: cleanlab tuned, its best ``filter_by`` per
metric picked with the truth, and Datalab), plus ``ConsensusDetector(detect_outliers=False)``.

- ``gaussian K/std``: K Gaussian classes in 64 dimensions (``make_blobs``, centres in
  [-5, 5], the given standard deviation): the larger it is, the less the features tell
  the classes apart.
- ``independent K/d``: features drawn independently of the labels (standard normal, d
  dimensions), K classes: no method can find the wrong labels, and keeping every label
  is the best answer there is.
- ``digits 4x4`` / ``2x2``, ``fashion 4x4`` / ``2x2``: real images averaged down to that
  many pixels (scikit-learn's 1,797 digits; the first 3,000 Fashion-MNIST test images,
  which need the Debian ``dataset-fashion-mnist`` and are skipped without it).

"evidence accuracy" is how often the most probable class of ConsensusDetector's
calibrated evidence (``class_proba_``, without the outlier step) is the true class. The Markdown table goes to ``--out`` and the raw numbers beside
it (``.csv``).
"""

from __future__ import annotations

import os
import sys
import warnings

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # one thread for every method: timings side by side
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import best_in_bold, compared_run_line, gaussian_classes, log, main_over_seeds  # noqa: E402
from _detection_protocol import compare_methods  # noqa: E402

METHODS = ("consensus", "consensus_no_outliers", "neighbour", "cleanlab", "datalab")
GAUSSIAN = ((10, 300, 10.0), (10, 300, 12.0), (10, 300, 13.0), (10, 300, 14.0),
            (30, 100, 10.0), (30, 100, 12.0), (100, 50, 8.0), (100, 50, 10.0))
INDEPENDENT = ((10, 3000, 64), (10, 3000, 512), (100, 5000, 64))
POOLED = (("digits", 2), ("digits", 4), ("fashion", 7), ("fashion", 14))
FASHION_SAMPLES = 3000


def independent_features(n_classes, n_samples, n_features, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_samples, n_features)).astype(np.float32), rng.integers(0, n_classes, n_samples)


def pooled_images(source, pool):
    """Images averaged over ``pool`` x ``pool`` blocks, flattened; None where the data set is missing."""
    if source == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images, y = digits.images, digits.target
    else:
        from skclip_noise.datasets import load_fashion_mnist

        try:
            X, y = load_fashion_mnist(subset="test")[:2]
        except (FileNotFoundError, OSError) as error:
            log(f"skipping Fashion-MNIST: {error}")
            return None
        images, y = np.asarray(X, dtype=np.float32)[:FASHION_SAMPLES], np.asarray(y)[:FASHION_SAMPLES]
        images = images.reshape(len(y), 28, 28)
    side = images.shape[1] // pool
    blocks = images[:, :side * pool, :side * pool].reshape(len(y), side, pool, side, pool)
    return blocks.mean(axis=(2, 4)).reshape(len(y), -1).astype(np.float32), y


def draws(seed):
    """(setting, X, clean labels, noise rates) of every feature set."""
    for n_classes, per_class, std in GAUSSIAN:
        yield f"gaussian {n_classes}/{std:g}", *gaussian_classes(n_classes, per_class, std, seed), (0.2,)
    for n_classes, n_samples, n_features in INDEPENDENT:
        yield f"independent {n_classes}/{n_features}", *independent_features(n_classes, n_samples, n_features, seed), (0.2,)
    for source, pool in POOLED:
        loaded = pooled_images(source, pool)
        if loaded is not None:
            side = (8 if source == "digits" else 28) // pool
            yield f"{source} {side}x{side}", *loaded, (0.2, 0.4)


def evaluate(_, seed):
    from skclip_noise import ConsensusDetector, detection_report, make_noisy_labels

    rows = []
    for setting, X, y, rates in draws(seed):
        for rate in rates:
            y_noisy, is_noisy = make_noisy_labels(y, "symmetric", rate, random_state=seed)
            row = {"features": setting, "seed": seed, "noise": f"symmetric {rate:.0%}",
                   "true_rate": float(is_noisy.mean())}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the weak-feature warnings are the point here
                compare_methods(X, y_noisy, is_noisy, seed, True, row)
                detector = ConsensusDetector(random_state=seed, detect_outliers=False).fit(X, y_noisy)
            report = detection_report(is_noisy, detector.clean_mask_, output_dict=True)
            truth = np.searchsorted(detector.classes_, y)
            row.update({"consensus_no_outliers_clean_f1": report["clean_f1"],
                        "consensus_no_outliers_noisy_f1": report["noisy_f1"],
                        "evidence_gain": detector.evidence_gain_,
                        "evidence_accuracy": float((detector.class_proba_.argmax(axis=1) == truth).mean())})
            rows.append(row)
    return rows


def markdown(rows, args, seconds):
    lines = [
        "# Label-error detection on weak features",
        "",
        compared_run_line("bench_weak_features.py", args, len(rows), seconds, "five"),
        "",
        "| features | seed | noise | evidence accuracy | clean F1: consensus / no outlier step / neighbour / cleanlab / "
        "Datalab | noisy F1: same order | typed outliers (consensus) | flagged (consensus) | evidence gain (nats) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        outliers = row["consensus_outlier_noisy"] * row["true_rate"] + row["consensus_outlier_clean"] * (1 - row["true_rate"])
        lines.append(
            f"| {row['features']} | {row['seed']} | {row['noise']} | {row['evidence_accuracy']:.2f} | "
            f"{best_in_bold(row, METHODS, 'clean_f1')} | {best_in_bold(row, METHODS, 'noisy_f1')} | "
            f"{outliers:.3f} | {row['consensus_rate']:.3f} | {row['evidence_gain']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    main_over_seeds(__doc__.splitlines()[0], evaluate, markdown, argv)


if __name__ == "__main__":
    main()
