"""Does a change to ConsensusDetector cost anything where it used to win? Its clean and noisy
F1 today against a reference run, on the same features and noise draws.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_consensus_changes.py \\
        --reference benchmarks/results/detectors_consensus.csv \\
        --out benchmarks/results/consensus_changes.md

The settings are those of ``bench_detectors.py`` (six class-conditional noises, the feature
sets and seeds of ``--features``/``--seeds``), drawn by the same code, so they match the
reference CSV row for row. Only ConsensusDetector at its defaults is fitted (the other
columns of the reference do not change): a quick check that an improvement for one kind of
noise leaves the others alone. ``--reference`` is any CSV that ``bench_detectors.py`` or this
script wrote (this script's own CSV also gives the fit times before).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import add_feature_set_arguments, chosen_feature_sets, log, run_and_write, run_line  # noqa: E402
from _features import FEATURE_SETS, get_features  # noqa: E402
from _detection_protocol import SETTINGS, noisy_labels  # noqa: E402


def reference_rows(path):
    with open(path, newline="") as handle:
        return {(r["features"], int(r["seed"]), r["noise"]): r for r in csv.DictReader(handle)}


def evaluate(name, seed, reference):
    from skclip_noise import ConsensusDetector, detection_report

    X, y, pixels = get_features(name)
    rows = []
    for kind, rate in SETTINGS:
        noise = f"{kind} {rate:.0%}"
        y_noisy, is_noisy = noisy_labels(name, y, pixels, kind, rate, seed)
        start = time.perf_counter()
        detector = ConsensusDetector(random_state=seed).fit(X, y_noisy)
        seconds = time.perf_counter() - start
        report = detection_report(is_noisy, detector.clean_mask_, output_dict=True)
        before = reference[(name, seed, noise)]
        prefix = "consensus_" if "consensus_clean_f1" in before else ""  # bench_detectors.py's CSV, or this one's
        row = {
            "features": name, "seed": seed, "noise": noise,
            "clean_f1": report["clean_f1"], "clean_f1_before": float(before[prefix + "clean_f1"]),
            "noisy_f1": report["noisy_f1"], "noisy_f1_before": float(before[prefix + "noisy_f1"]),
            "outlier_rate": detector.outlier_rate_, "seconds": seconds,
        }
        if "seconds" in before:
            row["seconds_before"] = float(before["seconds"])
        log(f"{name} seed {seed} {noise}: clean F1 {row['clean_f1']:.4f} (was {row['clean_f1_before']:.4f})")
        rows.append(row)
    return rows


def markdown(rows, args, seconds):
    lines = [
        "# ConsensusDetector today against a reference run",
        "",
        run_line("bench_consensus_changes.py", args, len(rows), seconds, "one thread") + " Same features and noise draws as the reference; protocol in the "
        "script's docstring.",
        "",
        "| features | seed | noise | clean F1 now / before (change) | noisy F1 now / before (change) | "
        "judged outliers | fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | {r['clean_f1']:.4f} / {r['clean_f1_before']:.4f} "
            f"({r['clean_f1'] - r['clean_f1_before']:+.4f}) | {r['noisy_f1']:.4f} / {r['noisy_f1_before']:.4f} "
            f"({r['noisy_f1'] - r['noisy_f1_before']:+.4f}) | {r['outlier_rate']:.4f} | {r['seconds']:.1f}"
            + (f" / {r['seconds_before']:.1f} |" if "seconds_before" in r else " |")
        )
    worst = min(rows, key=lambda r: r["clean_f1"] - r["clean_f1_before"])
    worst_noisy = min(rows, key=lambda r: r["noisy_f1"] - r["noisy_f1_before"])
    lines += [
        "",
        f"Largest clean-F1 loss: {worst['clean_f1'] - worst['clean_f1_before']:+.4f} ({worst['features']}, seed "
        f"{worst['seed']}, {worst['noise']}); largest noisy-F1 loss: "
        f"{worst_noisy['noisy_f1'] - worst_noisy['noisy_f1_before']:+.4f} ({worst_noisy['features']}, seed "
        f"{worst_noisy['seed']}, {worst_noisy['noise']}).",
    ]
    if all("seconds_before" in r for r in rows):
        lines.append(f"Fit time of all settings: {sum(r['seconds'] for r in rows):.0f} s now, "
                     f"{sum(r['seconds_before'] for r in rows):.0f} s in the reference run (fit s: now / before).")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_set_arguments(parser, FEATURE_SETS)
    parser.add_argument("--reference", required=True, help="a CSV written by bench_detectors.py")
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    names, seeds = chosen_feature_sets(args)
    reference = reference_rows(args.reference)
    run_and_write(names, seeds, lambda name, seed: evaluate(name, seed, reference), markdown, argv, args.out)


if __name__ == "__main__":
    main()
