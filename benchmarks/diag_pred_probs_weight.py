"""Where does ``find_label_issues(labels, pred_probs)`` judge by the caller's ``pred_probs``
alone? Every setting of the ``--pred-probs`` tables, the ``pred_probs``-only route only.

Since 2026-12-06 that route gives the caller's ``pred_probs`` all the weight
(``pred_probs_weight_ = 1``) when the probe refitted on their log-probabilities and the
neighbours among them predict the kept labels worse than they do; elsewhere it is the route
of before, to the last bit. This script lists, for each setting of
``find_label_issues_{digits,digits_knn,digits_rf,digits_svc,mnist,effnetlite0,fmnist,fmnist_knn}.md``
(same features, seeds, noise draws and caller models), the weight the route gave and its
clean F1 beside cleanlab's call, without the tables' slower columns (section 2 and the
other embedding's model). Run it with another library on ``PYTHONPATH`` to compare.

    .venv/bin/python benchmarks/diag_pred_probs_weight.py \\
        --out benchmarks/results/pred_probs_weight.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import run_line, write_markdown_and_csv  # noqa: E402

#: (feature sets, seeds, caller models) of each ``--pred-probs`` table.
TABLES = {
    "find_label_issues_digits": (("digits_raw", "digits_mobilenetv2"), (0, 1), "lr"),
    "find_label_issues_digits_knn": (("digits_raw", "digits_mobilenetv2"), (0, 1), "knn"),
    "find_label_issues_digits_rf": (("digits_raw", "digits_mobilenetv2"), (0, 1), "rf"),
    "find_label_issues_digits_svc": (("digits_raw", "digits_mobilenetv2"), (0, 1), "svc"),
    "find_label_issues_mnist": (("mnist_raw", "mnist_mobilenetv2"), (0, 1), "lr"),
    "find_label_issues_effnetlite0": (("digits_effnetlite0", "mnist_effnetlite0"), (0, 1), "lr"),
    "find_label_issues_fmnist_knn": (("fmnist_mobilenetv2", "fmnist_effnetlite0"), (0,), "knn"),
    "find_label_issues_fmnist": (("fmnist_mobilenetv2", "fmnist_effnetlite0"), (0,), "lr"),
}


def evaluate(table, name, seed, caller):
    from _detection_protocol import SETTINGS, log, noisy_labels
    from _features import get_features
    from _find_label_issues_bench import caller_pred_probs

    from skclip_noise import ConsensusDetector, detection_report
    from skclip_noise.filter import fit_pred_probs_detector

    X, y, pixels = get_features(name)
    rows = []
    for kind, rate in SETTINGS:
        y_noisy, is_noisy = noisy_labels(name, y, pixels, kind, rate, seed)
        proba, kept = caller_pred_probs(caller, X, y_noisy, seed)
        detector = fit_pred_probs_detector(y_noisy, proba, detector=ConsensusDetector(random_state=seed))
        row = {"table": table, "features": name, "seed": seed, "noise": f"{kind} {rate:.0%}",
               "weight": detector.pred_probs_weight_,
               "ours_clean_f1": detection_report(is_noisy, detector.clean_mask_, output_dict=True)["clean_f1"],
               "cleanlab_clean_f1": detection_report(is_noisy, kept["prune_by_noise_rate"][0],
                                                     output_dict=True)["clean_f1"]}
        log(f"{table} {name} seed {seed} {row['noise']}: weight {row['weight']:.2f}, "
            f"clean F1 {row['ours_clean_f1']:.4f} vs cleanlab {row['cleanlab_clean_f1']:.4f}")
        rows.append(row)
    return rows


def render(rows, argv, seconds):
    lines = ["# The weight of the caller's pred_probs in find_label_issues(labels, pred_probs)", "",
             run_line("diag_pred_probs_weight.py", argv, len(rows), seconds) + " Protocol in the script's docstring.",
             "", "| table | settings | weight 1 (judged by the caller's pred_probs alone) | weights seen "
             "| clean F1 at least cleanlab's call |", "|---|---|---|---|---|"]
    for table in dict.fromkeys(r["table"] for r in rows):
        own = [r for r in rows if r["table"] == table]
        weights = sorted({round(r["weight"], 2) for r in own})
        lines.append(f"| {table} | {len(own)} | {sum(r['weight'] == 1.0 for r in own)} | "
                     f"{', '.join(f'{w:g}' for w in weights)} | "
                     f"{sum(r['ours_clean_f1'] >= r['cleanlab_clean_f1'] for r in own)} |")
    fired = [r for r in rows if r["weight"] == 1.0]
    if fired:
        lines += ["", "Settings judged by the caller's pred_probs alone:", "",
                  "| table | features | seed | noise | clean F1 ours / cleanlab |", "|---|---|---|---|---|"]
        lines += [f"| {r['table']} | {r['features']} | {r['seed']} | {r['noise']} | {r['ours_clean_f1']:.4f} / "
                  f"{r['cleanlab_clean_f1']:.4f} |" for r in fired]
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES), help="comma-separated names of TABLES")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = []
    for table in args.tables.split(","):
        names, seeds, caller = TABLES[table]
        for seed in seeds:
            for name in names:
                rows += evaluate(table, name, seed, caller)
    write_markdown_and_csv(render(rows, argv, time.perf_counter() - start), rows, args.out)


if __name__ == "__main__":
    main()
