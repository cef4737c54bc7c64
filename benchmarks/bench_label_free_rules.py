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

The truth's own pick is listed as a reference row: its regret is 0 by definition, and its
"below defaults" column says where a search *with* the truth misses the goal too (a
candidate's cross-validated F1 is not its F1 refitted on all pairs).

Every rule is judged twice: on the whole grid, and on the part of it with the decision
``threshold`` at its default (``n_neighbors`` x ``cv``), where the truth's pick and the
defaults are taken from that part too.

Where the tables hold the pipeline's per-fold noise-corrected accuracies (runs since
2026-12-04, one column per ``solver``), the pipeline ``detector -> logistic regression``
is judged the same way: a pick is worth its cross-validated accuracy on the true labels,
the truth's pick is the best of those.
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
from bench_label_free_selection import DEFAULTS, SOLVERS  # noqa: E402

from skclip_noise.model_selection import prefer_defaults  # noqa: E402


def _cv_results(group, column):
    folds = np.stack(group[column].to_numpy())
    results = {f"split{i}_test_score": folds[:, i] for i in range(folds.shape[1])}
    results["params"] = list(group["params"])
    return results, folds.mean(axis=1)


def _best(column):
    return lambda group: int(np.argmax(_cv_results(group, column)[1]))


def _preferring(column, k):
    return lambda group: prefer_defaults(DEFAULTS, n_standard_errors=k)(_cv_results(group, column)[0])


def rules():
    """``name: pick(group) -> row position`` for every detector rule compared."""
    found = {"plain score, best mean (refit=True)": _best("label_free_folds"),
             "class-balanced score, best mean": _best("label_free_balanced_folds")}
    for k in (0.5, 1.0, 2.0):
        found[f"plain score, prefer_defaults(n_standard_errors={k:g})"] = _preferring("label_free_folds", k)
    found["class-balanced score, prefer_defaults(n_standard_errors=1)"] = _preferring("label_free_balanced_folds", 1.0)
    # Not a label-free rule: how far below the defaults the truth's own cross-validated pick lands once refitted.
    found["reference: the truth's pick (cross-validated clean F1)"] = lambda group: int(np.argmax(group["truth_f1"]))
    return found


def pipeline_rules():
    """The same for the pipeline: each solver's noise-corrected accuracy, best mean or
    ``prefer_defaults``."""
    found = {}
    for solver in SOLVERS:
        column = f"pipe_corrected_{solver}_acc_folds"
        found[f"solver={solver}, best mean"] = _best(column)
        for k in (1.0, 2.0):
            found[f"solver={solver}, prefer_defaults(n_standard_errors={k:g})"] = _preferring(column, k)
    return found


#: What a pick is worth and what the truth picks by, for each thing selected.
TARGETS = {"detector": ("refit_f1", "truth_f1", rules), "pipeline": ("pipe_clean_acc", "pipe_clean_acc", pipeline_rules)}


#: The grids every rule is judged on: a name and which candidates of the stored grid it keeps.
GRIDS = {
    "whole grid": lambda params: True,
    "threshold at its default": lambda params: params.get("threshold", DEFAULTS["threshold"]) == DEFAULTS["threshold"],
}


def evaluate(frame, target="detector"):
    return pd.concat([_evaluate(frame[frame["params"].map(keeps)], grid, *TARGETS[target])
                      for grid, keeps in GRIDS.items()], ignore_index=True)


def _evaluate(frame, grid, value_column, truth_column, rules_of_target):
    rows = []
    for (features, seed, noise), group in frame.groupby(["features", "seed", "noise"], sort=False):
        group = group.reset_index(drop=True)
        value = group[value_column].to_numpy()
        truth = value[int(np.argmax(group[truth_column]))]
        is_default = [all(params.get(k) == v for k, v in DEFAULTS.items() if k in params) for params in group["params"]]
        default = value[is_default.index(True)]
        for rule, pick in rules_of_target().items():
            chosen = value[pick(group)]
            rows.append({"features": features, "seed": seed, "noise": noise, "rule": f"{grid}: {rule}",
                         "regret": truth - chosen, "below_default": default - chosen})
    return pd.DataFrame(rows)


def markdown(results, paths, pipeline=None):
    lines = ["# Grid search without the truth: selection rules on the same fits", "",
             f"`benchmarks/bench_label_free_rules.py {' '.join(paths)}`: "
             f"{results.groupby(['features', 'seed', 'noise']).ngroups} settings. Protocol in the script's "
             "docstring; the fits are those of `label_free_selection*.md`.", ""]
    lines += _rule_tables(results, "Detector (clean F1 of the refitted pick)" if pipeline is not None else None)
    if pipeline is not None:
        lines += [""] + _rule_tables(pipeline, "Pipeline (cross-validated accuracy on the true labels)")
    return "\n".join(lines) + "\n"


def _rule_tables(results, title):
    lines = [f"## {title}", ""] if title else []
    lines += ["| rule | regret mean | regret max | settings > 0.03 | below defaults by > 0.005 | largest | "
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
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("grids", nargs="+", help="CSVs of bench_label_free_selection.py --grid-out")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    frame = pd.concat([pd.read_csv(path) for path in args.grids], ignore_index=True)
    frame["params"] = frame["params"].map(ast.literal_eval)
    fold_columns = [column for column in frame.columns if column.endswith("_folds")]
    for column in fold_columns:
        frame[column] = frame[column].map(lambda text: np.array(ast.literal_eval(text)) if isinstance(text, str) else text)
    pipeline_folds = [f"pipe_corrected_{solver}_acc_folds" for solver in SOLVERS]
    has_pipeline_folds = set(pipeline_folds) <= set(fold_columns) and frame[pipeline_folds].notna().all(axis=None)
    pipeline = evaluate(frame, "pipeline") if has_pipeline_folds else None
    write_markdown(markdown(evaluate(frame), args.grids, pipeline), args.out)


if __name__ == "__main__":
    main()
