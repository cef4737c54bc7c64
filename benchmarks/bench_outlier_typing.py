"""Which images belong to no class: ConsensusDetector's ``issue_type`` against Datalab's outlier issue.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_outlier_typing.py --out benchmarks/results/outlier_typing.md

The open-set draws of ``bench_realistic_noise.py`` (the same code, features and seeds: 10 % and
20 % of each class replaced by images of the other data set, keeping their labels). For each,
the share of the foreign images each method calls outliers ("found"), the share of the real
images it calls outliers ("false"), and the AUROC of its outlier score against the truth:

- ConsensusDetector at its defaults: ``issue_type == "outlier"`` and ``outlier_proba_``;
- cleanlab's Datalab outlier issue type on the same features: ``is_outlier_issue`` and
  ``1 - outlier_score`` (its default: mean distance to the nearest neighbours).
"""

from __future__ import annotations

import os
import sys
import warnings

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import add_feature_set_arguments, chosen_feature_sets, log, run_and_write, run_line  # noqa: E402
from _features import FEATURE_SETS  # noqa: E402
from bench_realistic_noise import noise_draws  # noqa: E402


def datalab_outliers(X, y):
    from cleanlab import Datalab

    lab = Datalab(data={"label": y}, label_name="label", verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.find_issues(features=np.asarray(X, dtype=np.float32), issue_types={"outlier": {}})
    issues = lab.get_issues("outlier")
    return issues["is_outlier_issue"].to_numpy(dtype=bool), 1 - issues["outlier_score"].to_numpy()


def evaluate(name, seed, rates):
    from sklearn.metrics import roc_auc_score

    from skclip_noise import ConsensusDetector

    rows = []
    for noise, X, y, is_outlier in noise_draws(name, seed, {"model": [], "open_set": rates, "long_tail": []}):
        detector = ConsensusDetector(random_state=seed).fit(X, y)
        ours = (detector.label_issues_["issue_type"] == "outlier").to_numpy()
        theirs, score = datalab_outliers(X, y)
        row = {"features": name, "seed": seed, "noise": noise}
        for method, flagged, ranking in (("ours", ours, detector.outlier_proba_), ("datalab", theirs, score)):
            row.update({f"{method}_found": float(flagged[is_outlier].mean()),
                        f"{method}_false": float(flagged[~is_outlier].mean()),
                        f"{method}_auroc": float(roc_auc_score(is_outlier, ranking))})
        log(f"{name} seed {seed} {noise}: ours found {row['ours_found']:.3f}, Datalab {row['datalab_found']:.3f}")
        rows.append(row)
    return rows


def markdown(rows, args, seconds):
    lines = [
        "# Images of no class: ConsensusDetector's issue_type against Datalab's outlier issue",
        "",
        run_line("bench_outlier_typing.py", args, len(rows), seconds, "one thread") + " Protocol in the "
        "script's docstring.",
        "",
        "| features | seed | noise | found: ours / Datalab | real images called outliers: ours / Datalab | "
        "AUROC: ours / Datalab |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | {r['ours_found']:.3f} / {r['datalab_found']:.3f} | "
            f"{r['ours_false']:.4f} / {r['datalab_false']:.4f} | {r['ours_auroc']:.4f} / {r['datalab_auroc']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_set_arguments(parser, FEATURE_SETS)
    parser.add_argument("--rates", default="0.1,0.2")
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    names, seeds = chosen_feature_sets(args)
    rates = [float(r) for r in args.rates.split(",")]
    run_and_write(names, seeds, lambda name, seed: evaluate(name, seed, rates), markdown, argv, args.out)


if __name__ == "__main__":
    main()
