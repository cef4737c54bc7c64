"""Selection rules on the same fits: the label-free search's plain pick against
``prefer_defaults`` and a class-balanced score.

Run by hand, on the candidate tables ``bench_label_free_selection.py --grid-out`` writes:

    .venv/bin/python benchmarks/bench_label_free_rules.py benchmarks/results/label_free_grid_*.csv \\
        --out benchmarks/results/label_free_rules.md

Every rule sees what ``GridSearchCV`` would have: each candidate's label-free score on
each of the 5 held-out folds (plain, or weighted so that every given class counts the
same). The plain pick is ``refit=True`` (the best mean); ``prefer_defaults`` is applied
as the library ships it, on a ``cv_results_`` built from those fold scores. A pick is
worth the clean F1 of its candidate refitted on all pairs; regret is the truth's pick
minus it, "below defaults" counts the settings where it is worse than the defaults by
more than 0.005 (the goals of issue "Grid search without the truth": regret at most 0.01
on average and 0.03 anywhere, never more than 0.005 below the defaults).

Every rule is judged twice: on the whole grid, and on the part of it with the decision
``threshold`` at its default (``n_neighbors`` x ``cv``), where the truth's pick and the
defaults are taken from that part too.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import write_markdown  # noqa: E402
from bench_label_free_selection import DEFAULTS  # noqa: E402

from skclip_noise.model_selection import prefer_defaults  # noqa: E402


def _cv_results(group, column):
    folds = np.stack(group[column].to_numpy())
    results = {f"split{i}_test_score": folds[:, i] for i in range(folds.shape[1])}
    results["params"] = list(group["params"])
    return results, folds.mean(axis=1)


def rules():
    """``name: pick(group) -> row position`` for every rule compared."""
    def best(column):
        return lambda group: int(np.argmax(_cv_results(group, column)[1]))

    def preferring(column, k):
        return lambda group: prefer_defaults(DEFAULTS, n_standard_errors=k)(_cv_results(group, column)[0])

    found = {"plain score, best mean (refit=True)": best("label_free_folds"),
             "class-balanced score, best mean": best("label_free_balanced_folds")}
    for k in (0.5, 1.0, 2.0):
        found[f"plain score, prefer_defaults(n_standard_errors={k:g})"] = preferring("label_free_folds", k)
    found["class-balanced score, prefer_defaults(n_standard_errors=1)"] = preferring("label_free_balanced_folds", 1.0)
    return found


#: The grids every rule is judged on: a name and which candidates of the stored grid it keeps.
GRIDS = {
    "whole grid": lambda params: True,
    "threshold at its default": lambda params: params.get("threshold", DEFAULTS["threshold"]) == DEFAULTS["threshold"],
}


def evaluate(frame):
    return pd.concat([_evaluate(frame[frame["params"].map(keeps)], grid) for grid, keeps in GRIDS.items()],
                     ignore_index=True)


def _evaluate(frame, grid):
    rows = []
    for (features, seed, noise), group in frame.groupby(["features", "seed", "noise"], sort=False):
        group = group.reset_index(drop=True)
        f1 = group["refit_f1"].to_numpy()
        truth = f1[int(np.argmax(group["truth_f1"]))]
        is_default = [all(params.get(k) == v for k, v in DEFAULTS.items() if k in params) for params in group["params"]]
        default = f1[is_default.index(True)]
        for rule, pick in rules().items():
            chosen = f1[pick(group)]
            rows.append({"features": features, "seed": seed, "noise": noise, "rule": f"{grid}: {rule}",
                         "regret": truth - chosen, "below_default": default - chosen})
    return pd.DataFrame(rows)


def markdown(results, paths):
    lines = ["# Grid search without the truth: selection rules on the same fits", "",
             f"`benchmarks/bench_label_free_rules.py {' '.join(paths)}`: "
             f"{results.groupby(['features', 'seed', 'noise']).ngroups} settings. Protocol in the script's "
             "docstring; the fits are those of `label_free_selection*.md`.", "",
             "| rule | regret mean | regret max | settings > 0.03 | below defaults by > 0.005 | largest | "
             "mean gain over defaults |", "|---|---|---|---|---|---|---|"]
    for rule, group in results.groupby("rule", sort=False):
        lines.append(
            f"| {rule} | {group['regret'].mean():.4f} | {group['regret'].max():.4f} | {(group['regret'] > 0.03).sum()} | "
            f"{(group['below_default'] > 0.005).sum()} of {len(group)} | {group['below_default'].max():.4f} | "
            f"{-group['below_default'].mean():+.4f} |")
    lines += ["", "Per feature set (regret mean / max / below defaults):", "",
              "| rule | " + " | ".join(sorted(results["features"].unique())) + " |",
              "|---|" + "---|" * results["features"].nunique()]
    for rule, group in results.groupby("rule", sort=False):
        cells = [f"{g['regret'].mean():.4f} / {g['regret'].max():.4f} / {(g['below_default'] > 0.005).sum()}"
                 for _, g in sorted(group.groupby("features"))]
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("grids", nargs="+", help="CSVs of bench_label_free_selection.py --grid-out")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    frame = pd.concat([pd.read_csv(path) for path in args.grids], ignore_index=True)
    frame["params"] = frame["params"].map(ast.literal_eval)
    for column in ("label_free_folds", "label_free_balanced_folds"):
        frame[column] = frame[column].map(lambda text: np.array(ast.literal_eval(text)))
    write_markdown(markdown(evaluate(frame), args.grids), args.out)


if __name__ == "__main__":
    main()
