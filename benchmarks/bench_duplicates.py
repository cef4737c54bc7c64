"""Label-error detection in data sets that hold exact copies of some images.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_duplicates.py --out benchmarks/results/duplicates.md

Crawled and merged data sets give one image more than once, usually with the same
label, so an annotator's mistake is copied with it. A copy's features are identical,
so a probe cross-fitted with the copies in different folds has trained on the pair it
judges, and the copies are each other's nearest neighbours.

Protocol
--------
Noise (symmetric 20 % or pair-flip 30 %) is drawn on the clean labels of the images
first, then copies are added (the copy of a wrongly labelled image is wrongly labelled
too, and counts as a wrong label):

- ``10 % x2``: a tenth of the images, once more each;
- ``2 % x10``: a fiftieth, nine more times each (a burst, like a placeholder image or
  a thumbnail crawled from many pages);
- ``all x2``: every image twice (two merged copies of a data set);
- ``10 % relabelled``: a tenth once more, the copy with a label drawn afresh from the
  same noise (a second annotator: copies that disagree).

Every method runs on the same features and the same draw, as in ``bench_detectors.py``
(``compare_methods``: cleanlab tuned, its best ``filter_by`` per metric picked with the
truth, and Datalab). "consensus before" is ``ConsensusDetector`` with copies judged as
separate samples (the default before 2026-12-05's change: copies not looked for).
Fashion-MNIST uses the first 5,000 of the benchmarks' 10,000 images.

``--near SIGMA``: near-copies instead (a re-encoded or resized image): each copy's
features get Gaussian noise of SIGMA times each feature's standard deviation, so no
copy is exact. "consensus" is then ``ConsensusDetector().fit(X, y, groups=...)`` with
the ids that tie each copy to its original, and "consensus before" the same detector
without them (what a user gets who does not pass them); the ``relabelled`` copies are
left out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # one thread for every method: timings side by side
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import (  # noqa: E402
    add_feature_set_arguments,
    best_in_bold,
    chosen_feature_sets,
    compared_run_line,
    run_and_write,
)
from _features import get_features  # noqa: E402
from _detection_protocol import compare_methods  # noqa: E402

FEATURE_SETS = ("digits_raw", "digits_mobilenetv2", "mnist_mobilenetv2", "fmnist_mobilenetv2")
NOISES = (("symmetric", 0.2), ("pairflip", 0.3))
COPIES = ("10% x2", "2% x10", "all x2", "10% relabelled")
MAX_IMAGES = 5000
METHODS = ("consensus", "consensus_before", "neighbour", "cleanlab", "datalab")


def with_copies(X, y, y_noisy, is_noisy, copies, kind, rate, seed, near=0.0):
    """The draw with copies added: (features, given labels, wrong-label mask, group ids);
    ``near``: the copies' features moved by that many standard deviations' noise."""
    from skclip_noise import make_noisy_labels

    rng = np.random.default_rng(seed + 1000)
    n = len(y)
    share, times = {"10% x2": (0.1, 1), "2% x10": (0.02, 9), "all x2": (1.0, 1), "10% relabelled": (0.1, 1)}[copies]
    chosen = rng.choice(n, int(round(share * n)), replace=False)
    repeat = np.repeat(chosen, times)
    if copies == "10% relabelled":
        second, _ = make_noisy_labels(y, kind, rate, random_state=seed + 1000)
        copy_labels = second[repeat]
    else:
        copy_labels = y_noisy[repeat]
    X_copies = X[repeat]
    if near:
        X_copies = X_copies + near * X.std(axis=0) * rng.standard_normal(X_copies.shape).astype(np.float32)
    return (np.vstack([X, X_copies]), np.r_[y_noisy, copy_labels], np.r_[is_noisy, copy_labels != y[repeat]],
            np.r_[np.arange(n), repeat])


def before_change(X, y_noisy, seed, groups=None):
    """ConsensusDetector with copies judged as separate samples; with ``groups``, the
    detector given them (near-copies, which only they tie together)."""
    from skclip_noise import ConsensusDetector
    from skclip_noise.detectors import _duplicates, consensus

    if groups is None:  # copies not looked for
        consensus.judged_groups = lambda features, codes, groups=None, find_copies=True: _duplicates.judged_groups(
            features, codes, groups, find_copies=False)
    try:
        start = time.perf_counter()
        detector = ConsensusDetector(random_state=seed).fit(X, y_noisy, groups=groups)
        return detector, time.perf_counter() - start
    finally:
        consensus.judged_groups = _duplicates.judged_groups


def evaluate(name, seed, near=0.0):
    from sklearn.metrics import roc_auc_score

    from skclip_noise import detection_report, make_noisy_labels

    X, y, _ = get_features(name)
    X, y = X[:MAX_IMAGES], y[:MAX_IMAGES]
    rows = []
    for kind, rate in NOISES:
        y_noisy, is_noisy = make_noisy_labels(y, kind, rate, random_state=seed)
        for copies in COPIES[:3] if near else COPIES:
            X_all, y_all, noisy_all, groups = with_copies(X, y, y_noisy, is_noisy, copies, kind, rate, seed, near)
            row = {"features": name, "seed": seed, "noise": f"{kind} {rate:.0%}",
                   "copies": f"{copies} near {near:g}" if near else copies,
                   "n_samples": len(y_all), "true_rate": float(noisy_all.mean())}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compare_methods(X_all, y_all, noisy_all, seed, True, row)
                other, seconds = before_change(X_all, y_all, seed, groups if near else None)
            report = detection_report(noisy_all, other.clean_mask_, output_dict=True)
            other_row = {"clean_f1": report["clean_f1"], "noisy_f1": report["noisy_f1"],
                         "auroc": roc_auc_score(noisy_all, 1 - other.clean_proba_), "s": seconds}
            if near:  # compare_methods ran the detector without groups: that is "before"
                for key, value in other_row.items():
                    row[f"consensus_before_{key}"], row[f"consensus_{key}"] = row[f"consensus_{key}"], value
            else:
                row.update({f"consensus_before_{key}": value for key, value in other_row.items()})
            rows.append(row)
    return rows


def markdown(rows, args, seconds):
    near = "near" in rows[0]["copies"]
    ours, other = ("consensus with groups", "without") if near else ("consensus", "consensus before")
    lines = [
        f"# Label-error detection with {'near-' if near else 'exact '}copies of some images",
        "",
        compared_run_line("bench_duplicates.py", args, len(rows), seconds, "five"),
        "",
        f"| features | seed | noise | copies | samples | true rate | clean F1: {ours} / {other} / "
        f"neighbour / cleanlab / Datalab | noisy F1: same order | AUROC: same order | seconds: {ours} / {other} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['features']} | {row['seed']} | {row['noise']} | {row['copies']} | {row['n_samples']} | "
            f"{row['true_rate']:.3f} | {best_in_bold(row, METHODS, 'clean_f1')} | "
            f"{best_in_bold(row, METHODS, 'noisy_f1')} | {best_in_bold(row, METHODS, 'auroc')} | "
            f"{row['consensus_s']:.1f} / {row['consensus_before_s']:.1f} |"
        )
    others = ("neighbour", "cleanlab", "datalab")
    ahead = sum(row["consensus_clean_f1"] >= max(row[f"{m}_clean_f1"] for m in others) for row in rows)
    change = [row["consensus_clean_f1"] - row["consensus_before_clean_f1"] for row in rows]
    name = "ConsensusDetector with groups" if near else "ConsensusDetector"
    lines += ["", f"{name} has the best clean F1 of it, NeighbourDetector, cleanlab and "
              f"Datalab in {ahead} of {len(rows)} settings; against {other}, clean F1 moves by "
              f"{min(change):+.4f} to {max(change):+.4f}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_set_arguments(parser, FEATURE_SETS)
    parser.add_argument("--near", type=float, default=0.0,
                        help="near-copies: noise of this many standard deviations on each copy's features")
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    names, seeds = chosen_feature_sets(args)
    run_and_write(names, seeds, lambda name, seed: evaluate(name, seed, args.near), markdown, argv, args.out)


if __name__ == "__main__":
    main()
