"""cleanlab's steering options of find_label_issues, ours against cleanlab's, on the same pred_probs.

A cleanlab user who steers the call keeps their arguments when switching. This measures what
they then get, on the features, noise draws and caller model of ``bench_detectors.py
--pred-probs`` (cleanlab's tuned out-of-fold logistic-regression ``pred_probs``; symmetric
20/40/60 %, pair-flip 40 %, instance-dependent 40 %, class-confusable 40 %):

- ``num_to_remove_per_class`` set to the true number of wrong labels among each given class
  (a budget that is exactly right): ours with the default decision (the k samples of each
  class the detector finds most likely wrong) against cleanlab's call with the same counts
  and ``filter_by="prune_by_class"`` (exactly k, the lowest self-confidence) and with its
  default ``"prune_by_noise_rate"`` (which may flag fewer: never a sample whose given label
  is its most probable class). The share of the flags that are wrong labels (precision;
  for exactly k it is also the recall), and clean F1, which weighs in how many were flagged.
- ``filter_by="low_self_confidence"`` and ``"low_normalized_margin"``: the same rule on the
  detector's calibrated probabilities (ours) and on the ``pred_probs`` (cleanlab's).
- ``return_indices_ranked_by="self_confidence", rank_by_kwargs={"adjust_pred_probs": True}``:
  how well each returned list is ordered: the share of wrong labels among the first m
  entries of each, m the shorter list's length (the lists differ in length and members).

One thread. ``--quick``: the two digits feature sets, seed 0.

    .venv/bin/python benchmarks/bench_cleanlab_options.py --features digits_raw,digits_mobilenetv2 \\
        --seeds 0,1 --out benchmarks/results/cleanlab_options.md
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import add_feature_set_arguments, chosen_feature_sets, log, run_and_write, run_line  # noqa: E402
from _detection_protocol import SETTINGS, cleanlab_best, noisy_labels  # noqa: E402
from _features import FEATURE_SETS, get_features  # noqa: E402

#: (column, what) of the table's parts.
BUDGET = (("ours", "ours, default decision"), ("cleanlab_by_class", "cleanlab prune_by_class"),
          ("cleanlab_by_noise_rate", "cleanlab prune_by_noise_rate"))
LOW_RULES = ("low_self_confidence", "low_normalized_margin")


def evaluate(name, seed):
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues

    from skclip_noise import ConsensusDetector, detection_report
    from skclip_noise.filter import find_label_issues

    X, y, pixels = get_features(name)
    rows = []
    for kind, rate in SETTINGS:
        y_noisy, is_noisy = noisy_labels(name, y, pixels, kind, rate, seed)
        pred_probs, _ = cleanlab_best(X, y_noisy, seed)
        budget = np.bincount(y_noisy[is_noisy], minlength=pred_probs.shape[1])
        row = {"features": name, "seed": seed, "noise": f"{kind} {rate:.0%}", "wrong": int(is_noisy.sum())}

        def ours(**options):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return find_label_issues(y_noisy, pred_probs, detector=ConsensusDetector(random_state=seed), **options)

        def theirs(**options):
            return cleanlab_find_label_issues(y_noisy, pred_probs, n_jobs=1, **options)

        flags = {"ours": ours(num_to_remove_per_class=budget),
                 "cleanlab_by_class": theirs(filter_by="prune_by_class", num_to_remove_per_class=budget),
                 "cleanlab_by_noise_rate": theirs(num_to_remove_per_class=budget)}
        for method, issues in flags.items():
            row[f"budget_{method}_precision"] = float(is_noisy[issues].mean())
            row[f"budget_{method}_clean_f1"] = detection_report(is_noisy, ~issues, output_dict=True)["clean_f1"]
            row[f"budget_{method}_flagged"] = int(issues.sum())
        for rule in LOW_RULES:
            for method, issues in (("ours", ours(filter_by=rule)), ("cleanlab", theirs(filter_by=rule))):
                report = detection_report(is_noisy, ~issues, output_dict=True)
                row[f"{rule}_{method}_clean_f1"] = report["clean_f1"]
                row[f"{rule}_{method}_noisy_f1"] = report["noisy_f1"]
        ranking = {"return_indices_ranked_by": "self_confidence", "rank_by_kwargs": {"adjust_pred_probs": True}}
        lists = {"ours": ours(**ranking), "cleanlab": theirs(**ranking)}
        common = min(len(ranked) for ranked in lists.values())
        for method, ranked in lists.items():
            row[f"ranked_{method}_precision"] = float(is_noisy[ranked[:common]].mean())
            row[f"ranked_{method}_listed"] = int(ranked.size)
        log(f"{name} seed {seed} {row['noise']}: budget precision ours {row['budget_ours_precision']:.4f} "
            f"cleanlab {row['budget_cleanlab_by_class_precision']:.4f}/{row['budget_cleanlab_by_noise_rate_precision']:.4f}")
        rows.append(row)
    return rows


def _bold_if_ahead(ours, theirs):
    return f"**{ours:.4f}**" if ours >= theirs else f"{ours:.4f}"


def render(rows, argv, seconds):
    ahead = {
        "budget": sum(r["budget_ours_precision"] >= r["budget_cleanlab_by_class_precision"] for r in rows),
        "budget_f1": sum(r["budget_ours_clean_f1"] >= max(r["budget_cleanlab_by_class_clean_f1"],
                                                         r["budget_cleanlab_by_noise_rate_clean_f1"]) for r in rows),
        **{rule: sum(r[f"{rule}_ours_clean_f1"] >= r[f"{rule}_cleanlab_clean_f1"] for r in rows) for rule in LOW_RULES},
        "ranked": sum(r["ranked_ours_precision"] >= r["ranked_cleanlab_precision"] for r in rows),
    }
    mean = {key: np.mean([r[key] for r in rows]) for key in rows[0] if key.endswith(("precision", "f1"))}
    lines = [
        "# cleanlab's steering options: ours against cleanlab's call on the same pred_probs",
        "",
        run_line("bench_cleanlab_options.py", argv, len(rows), seconds, threads="one thread")
        + " Protocol in the script's docstring. Bold: ours at least as good as cleanlab's (for the budget's "
        "precision, as its prune_by_class, which flags as many; for its clean F1, as both of its rules).",
        "",
        "## Summary",
        "",
        "| option | ours at least as good | mean: ours / cleanlab |",
        "|---|---|---|",
        f"| `num_to_remove_per_class` = the true counts: precision of the flags, against prune_by_class "
        f"| {ahead['budget']} of {len(rows)} | {mean['budget_ours_precision']:.4f} / "
        f"{mean['budget_cleanlab_by_class_precision']:.4f} (prune_by_class), "
        f"{mean['budget_cleanlab_by_noise_rate_precision']:.4f} (prune_by_noise_rate) |",
        f"| `num_to_remove_per_class` = the true counts: clean F1, against both rules | {ahead['budget_f1']} of "
        f"{len(rows)} | {mean['budget_ours_clean_f1']:.4f} / {mean['budget_cleanlab_by_class_clean_f1']:.4f} "
        f"(prune_by_class), {mean['budget_cleanlab_by_noise_rate_clean_f1']:.4f} (prune_by_noise_rate) |",
    ]
    for rule in LOW_RULES:
        lines.append(f"| `filter_by=\"{rule}\"`: clean F1 | {ahead[rule]} of {len(rows)} | "
                     f"{mean[f'{rule}_ours_clean_f1']:.4f} / {mean[f'{rule}_cleanlab_clean_f1']:.4f} |")
    lines += [
        f"| `rank_by_kwargs={{\"adjust_pred_probs\": True}}`: wrong labels among the first m listed | "
        f"{ahead['ranked']} of {len(rows)} | {mean['ranked_ours_precision']:.4f} / "
        f"{mean['ranked_cleanlab_precision']:.4f} |",
        "",
        "## Every setting",
        "",
        "| features | seed | noise | wrong labels | budget precision: ours / cleanlab by class / by noise rate "
        "(flagged) | budget clean F1 | low_self_confidence clean F1: ours / cleanlab | low_normalized_margin "
        "clean F1 | ranked: wrong among the first m, ours / cleanlab (listed) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        budget = (f"{_bold_if_ahead(r['budget_ours_precision'], r['budget_cleanlab_by_class_precision'])} / "
                  f"{r['budget_cleanlab_by_class_precision']:.4f} / {r['budget_cleanlab_by_noise_rate_precision']:.4f} "
                  f"({r['budget_ours_flagged']} / {r['budget_cleanlab_by_class_flagged']} / "
                  f"{r['budget_cleanlab_by_noise_rate_flagged']})")
        best_f1 = max(r["budget_cleanlab_by_class_clean_f1"], r["budget_cleanlab_by_noise_rate_clean_f1"])
        budget_f1 = (f"{_bold_if_ahead(r['budget_ours_clean_f1'], best_f1)} / "
                     f"{r['budget_cleanlab_by_class_clean_f1']:.4f} / {r['budget_cleanlab_by_noise_rate_clean_f1']:.4f}")
        low = [f"{_bold_if_ahead(r[f'{rule}_ours_clean_f1'], r[f'{rule}_cleanlab_clean_f1'])} / "
               f"{r[f'{rule}_cleanlab_clean_f1']:.4f}" for rule in LOW_RULES]
        ranked = (f"{_bold_if_ahead(r['ranked_ours_precision'], r['ranked_cleanlab_precision'])} / "
                  f"{r['ranked_cleanlab_precision']:.4f} ({r['ranked_ours_listed']} / {r['ranked_cleanlab_listed']})")
        lines.append(f"| {r['features']} | {r['seed']} | {r['noise']} | {r['wrong']} | {budget} | {budget_f1} | "
                     f"{low[0]} | {low[1]} | {ranked} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_set_arguments(parser, FEATURE_SETS)
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    names, seeds = chosen_feature_sets(args)
    run_and_write(names, seeds, evaluate, render, argv, args.out)


if __name__ == "__main__":
    main()
