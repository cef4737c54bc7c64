"""ConsensusDetector with and without ``flag_disagreement``, on every noise of the benchmarks.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_flag_disagreement.py --out benchmarks/results/flag_disagreement.md

The same features and noise draws as ``bench_detectors.py`` (the six class-conditional
settings) and ``bench_realistic_noise.py`` (model-based flips, open set, long tail), seeds
``--seeds``. For each draw ``ConsensusDetector(random_state=seed)`` is fitted with
``flag_disagreement=False`` (the default) and ``True``; the best clean F1 of the other
methods (tuned cleanlab at its best ``filter_by``, Datalab, ``NeighbourDetector``) is read
from the results of those two benchmarks (``detectors_consensus.csv``,
``detectors_realistic_*.csv``), so that a "win" means the same as there. One thread.
"""

from __future__ import annotations

import argparse
import os
import sys

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import add_feature_set_arguments, chosen_feature_sets, run_and_write  # noqa: E402
from _features import FEATURE_SETS, get_features  # noqa: E402
from bench_detectors import SETTINGS, noisy_labels  # noqa: E402
from bench_realistic_noise import noise_draws  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
REALISTIC_RATES = {"model": [0.2, 0.3], "open_set": [0.1, 0.2], "long_tail": [0.2, 0.3]}


def best_other_clean_f1():
    """{(features, seed, noise): the best clean F1 of the other methods} from the stored results."""
    import pandas as pd

    best = {}
    paths = [("detectors_consensus.csv", ("neighbour", "cleanlab"))] + [
        (name, ("neighbour", "cleanlab", "datalab"))
        for name in ("detectors_realistic_digits.csv", "detectors_realistic_fmnist.csv")
    ]
    for name, methods in paths:
        table = pd.read_csv(os.path.join(RESULTS, name))
        for row in table.itertuples():
            best[(row.features, int(row.seed), row.noise)] = max(getattr(row, f"{m}_clean_f1") for m in methods)
    return best


def draws(name, seed):
    X, y, pixels = get_features(name, verbose=False)
    for kind, rate in SETTINGS:
        y_noisy, is_noisy = noisy_labels(name, y, pixels, kind, rate, seed)
        yield "class-conditional", f"{kind} {rate:.0%}", X, y_noisy, is_noisy
    for noise, X_draw, y_noisy, is_noisy in noise_draws(name, seed, REALISTIC_RATES):
        yield "realistic", noise, X_draw, y_noisy, is_noisy


def evaluate(name, seed, best):
    from skclip_noise import ConsensusDetector, detection_report

    rows = []
    for family, noise, X, y_noisy, is_noisy in draws(name, seed):
        row = {"features": name, "seed": seed, "family": family, "noise": noise,
               "best_other_clean_f1": best.get((name, seed, noise), np.nan)}
        for flag in (False, True):
            detector = ConsensusDetector(flag_disagreement=flag, random_state=seed).fit(X, y_noisy)
            report = detection_report(is_noisy, detector.clean_mask_, output_dict=True)
            row[f"{flag}_clean_f1"], row[f"{flag}_noisy_f1"] = report["clean_f1"], report["noisy_f1"]
        print(f"{name} seed {seed} {noise}: clean F1 {row['False_clean_f1']:.4f} -> {row['True_clean_f1']:.4f} "
              f"(best other {row['best_other_clean_f1']:.4f})", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def markdown(rows, args, seconds):
    lines = [
        "# ConsensusDetector with and without flag_disagreement",
        "",
        f"`{' '.join(['benchmarks/bench_flag_disagreement.py'] + args)}`: {len(rows)} draws in "
        f"{seconds / 60:.0f} min, one thread. Protocol in the script's docstring. Best other: the best clean F1 "
        "of tuned cleanlab (best `filter_by`), NeighbourDetector and (realistic noise) Datalab on the same draw.",
        "",
        "| features | seed | noise | clean F1: False / True | noisy F1: False / True | best other clean F1 | ahead: False / True |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ahead = ["yes" if r[f"{flag}_clean_f1"] > r["best_other_clean_f1"] else "no" for flag in (False, True)]
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | {r['False_clean_f1']:.4f} / {r['True_clean_f1']:.4f} | "
            f"{r['False_noisy_f1']:.4f} / {r['True_noisy_f1']:.4f} | {r['best_other_clean_f1']:.4f} | "
            f"{ahead[0]} / {ahead[1]} |"
        )
    lines.append("")
    for family, noises in (("class-conditional", None), ("model", "model"), ("open set", "open set"),
                           ("long tail", "long tail")):
        chosen = [r for r in rows if (r["family"] == family if noises is None else r["noise"].startswith(noises))]
        if not chosen:
            continue
        change = [r["True_clean_f1"] - r["False_clean_f1"] for r in chosen]
        wins = [sum(r[f"{flag}_clean_f1"] > r["best_other_clean_f1"] for r in chosen) for flag in (False, True)]
        lines.append(f"- {family} ({len(chosen)} draws): ahead of every other method in {wins[0]} (False) and "
                     f"{wins[1]} (True); clean-F1 change with True {min(change):+.4f} to {max(change):+.4f}.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_set_arguments(parser, FEATURE_SETS)
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    names, seeds = chosen_feature_sets(args)
    best = best_other_clean_f1()
    run_and_write(names, seeds, lambda name, seed: evaluate(name, seed, best), markdown, argv, args.out)


if __name__ == "__main__":
    main()
