"""One small class in the data: does it cost the detection of every other class?

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_small_classes.py --out benchmarks/results/small_classes.md

Protocol
--------
The features, methods and metrics of ``bench_detectors.py`` (``compare_methods``: every
method on the same matrix and the same noise draw, cleanlab tuned and at its best
``filter_by`` per metric, picked with the truth, and Datalab). The last class keeps
``--sizes`` of its samples (drawn with the seed), then symmetric noise at 20 % or
pair-flip noise at 30 % (:func:`~skclip_noise.noise.make_noisy_labels`); the flips *into*
the small class are undone, so that it stays small (web data's rare classes attract few
wrong labels). One more column: ``ConsensusDetector`` with every neighbourhood one
smaller than the smallest class (``n_neighbors=m - 1``), what ``n_neighbors="auto"`` did
before each pair's neighbourhood was fitted to its own class.

Seeds 0 and 1 (``--seeds``). The Markdown table goes to ``--out`` and the raw numbers
beside it (``.csv``).
"""

from __future__ import annotations

import argparse
import os
import sys

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # one thread for every method: timings side by side
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import add_feature_set_arguments, best_in_bold, chosen_feature_sets, run_and_write, run_line  # noqa: E402
from _features import FEATURE_SETS, get_features  # noqa: E402
from _detection_protocol import compare_methods, timed  # noqa: E402

METHODS = ("consensus", "consensus_shrunk", "neighbour", "cleanlab", "datalab")
NOISES = (("symmetric", 0.2), ("pairflip", 0.3))


def small_class_draws(name, seed, sizes):
    """(label, X, noisy labels, noisy mask) for each size and noise."""
    from skclip_noise.noise import make_noisy_labels

    X, y, _ = get_features(name, verbose=False)
    small = int(y.max())
    members = np.random.default_rng(seed).permutation(np.flatnonzero(y == small))
    for size in sizes:
        rows = np.sort(np.r_[np.flatnonzero(y != small), members[:size]])
        for kind, rate in NOISES:
            y_noisy, is_noisy = make_noisy_labels(y[rows], kind, rate, random_state=seed)
            into_small = (y_noisy == small) & (y[rows] != small)
            y_noisy[into_small], is_noisy[into_small] = y[rows][into_small], False
            yield f"class of {size} + {kind} {rate:.0%}", X[rows], y_noisy, is_noisy


def evaluate(name, seed, sizes):
    from sklearn.metrics import roc_auc_score

    from skclip_noise import ConsensusDetector, detection_report

    rows = []
    for noise, X, y_noisy, is_noisy in small_class_draws(name, seed, sizes):
        smallest = int(np.bincount(y_noisy).min())
        row = {"features": name, "seed": seed, "noise": noise, "true_rate": float(is_noisy.mean()),
               "smallest_given": smallest}
        compare_methods(X, y_noisy, is_noisy, seed, True, row)
        shrunk, seconds = timed(
            lambda: ConsensusDetector(n_neighbors=smallest - 1, random_state=seed).fit(X, y_noisy)
        )
        report = detection_report(is_noisy, shrunk.clean_mask_, output_dict=True)
        row.update({"consensus_shrunk_clean_f1": report["clean_f1"], "consensus_shrunk_noisy_f1": report["noisy_f1"],
                    "consensus_shrunk_auroc": roc_auc_score(is_noisy, 1 - shrunk.clean_proba_),
                    "consensus_shrunk_s": seconds})
        rows.append(row)
    return rows


def markdown(rows, args, seconds):
    lines = [
        "# One small class: the detection of every other class",
        "",
        run_line("bench_small_classes.py", args, len(rows), seconds) + " Protocol in the script's "
        "docstring. `consensus`: the default (each pair's neighbourhood fits inside its own class); `shrunk`: "
        "every neighbourhood one smaller than the smallest class (the default before); cleanlab's columns are "
        "its best `filter_by` per metric (picked with the truth). Bold: the best of the five.",
        "",
        "| features | seed | noise | smallest given class | clean F1: consensus / shrunk / neighbour / cleanlab / "
        "Datalab | noisy F1: consensus / shrunk / neighbour / cleanlab / Datalab | AUROC: consensus / shrunk / "
        "neighbour / cleanlab / Datalab |",
        "|---|---|---|---|---|---|---|",
    ]

    for r in rows:
        metrics = " | ".join(best_in_bold(r, METHODS, metric) for metric in ("clean_f1", "noisy_f1", "auroc"))
        lines.append(f"| {r['features']} | {r['seed']} | {r['noise']} | {r['smallest_given']} | {metrics} |")
    changes = [r["consensus_clean_f1"] - r["consensus_shrunk_clean_f1"] for r in rows]
    ahead = sum(r["consensus_clean_f1"] > max(r[f"{m}_clean_f1"] for m in METHODS[2:]) for r in rows)
    lines += [
        "",
        f"Clean F1 of the default against every neighbourhood shrunk: {min(changes):+.4f} to {max(changes):+.4f} "
        f"(better in {sum(c > 0 for c in changes)}, worse in {sum(c < 0 for c in changes)} of {len(rows)}). "
        f"The default has the best clean F1 of the default, NeighbourDetector, cleanlab and Datalab in "
        f"{ahead} of {len(rows)} settings.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_set_arguments(parser, FEATURE_SETS)
    parser.add_argument("--sizes", default="7,12", help="samples the last class keeps, comma-separated")
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    names, seeds = chosen_feature_sets(args)
    sizes = [int(s) for s in args.sizes.split(",")]
    run_and_write(names, seeds, lambda name, seed: evaluate(name, seed, sizes), markdown, argv, args.out)


if __name__ == "__main__":
    main()
