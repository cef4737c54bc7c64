"""Grid search without the truth: what the label-free scores pick, against what the truth picks.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_label_free_selection.py --out benchmarks/results/label_free_selection.md

``--quick``: the two digits feature sets, seed 0.

Protocol
--------
For every noise draw of ``bench_detectors.py`` (symmetric 20/40/60 %, pair-flip, instance and
class-confusable 40 %) and of ``bench_realistic_noise.py`` (model-based flips, open set, long
tail + symmetric; ``--rates-*``), on each feature set and seed:

- **The grid** of ``ConsensusDetector`` (``--grid``; default ``n_neighbors`` 10/20/40,
  ``cv`` 3/5, ``threshold`` 0.3/0.5/0.7: 18 candidates, the defaults among them; a
  ``n_neighbors`` at or above the smallest class is left out, as the detector would refuse it).
- **The folds** ``GridSearchCV`` would use: ``StratifiedKFold(5, shuffle=True)`` on the noisy
  labels, seeded. Each candidate is fitted on each training fold once, and that fit is rated
  three ways on the held-out fold, exactly as the scorers do inside ``GridSearchCV``:
  the detector's label-free ``score`` (``make_detection_scorer()``: the mean probability a
  logistic regression trained on the kept pairs gives the held-out given labels); the held-out clean-side F1
  against the true mask (``make_detection_scorer(clean_f1_score)``, the truth-based search);
  and, for the pipeline ``detector -> StandardScaler -> LogisticRegression`` (trained on the kept
  pairs), its accuracy on the held-out *true* labels (the truth), on the held-out noisy labels
  and its noise-corrected accuracy (``make_noise_corrected_scorer`` with the
  ``noise_transition_`` of a default ``ConsensusDetector`` fitted on all noisy labels: no truth),
  with each ``solver``: ``"inverse"`` (the default) and ``"nnls"``. The runs of 2026-12-04 also rated
  ``"auto"`` (the inverse unless it left ``[0, 1]``, then ``"nnls"``), which was not kept.
- **Each candidate refitted on all pairs**, as ``GridSearchCV(refit=True)`` does: its clean F1
  is what a pick is worth. Regret = F1 of the truth-picked candidate minus F1 of the
  label-free pick (goal: <= 0.01 on average, <= 0.03 anywhere); "vs defaults" = F1 of the
  defaults minus that of the label-free pick (goal: <= 0.005). Spearman: the rank correlation
  of the mean label-free score and the refitted F1 over the grid. For the pipeline, the same
  with the cross-validated accuracy on the true labels.

``--combine a.csv b.csv``: one table (and summary) of several runs' CSVs.
``--grid-out grid.csv``: every candidate of every setting (its per-fold label-free scores,
plain and class-balanced, the mean truth score, the refitted F1), to judge other selection
rules (a class-balanced score, a one-standard-error rule) on the same fits afterwards.
``--n-repeats K``: the folds of ``RepeatedStratifiedKFold(5, n_repeats=K)`` instead, every
candidate rated on 5 K held-out folds (more fold differences for ``prefer_defaults``;
their standard error ignores that the repeats share samples, so it is optimistic). The
``*_repeats2`` tables (2026-12-05) used ``--n-repeats 2``; the others 5 folds.
``--n-samples``: a stratified subset of each draw (by noisy label, seeded), for the larger
Fashion-MNIST sets on a small machine. One thread per process. The Markdown table goes to ``--out`` and the raw numbers beside it (.csv).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import add_feature_set_arguments, chosen_feature_sets, log, run_and_write  # noqa: E402
from _features import FEATURE_SETS, get_features  # noqa: E402
from _detection_protocol import SETTINGS, noisy_labels  # noqa: E402

#: The noise-corrected scorer's solvers, the library's default first.
SOLVERS = ("inverse", "nnls")
from bench_realistic_noise import noise_draws  # noqa: E402

DEFAULTS = {"n_neighbors": 20, "cv": 5, "threshold": 0.5}
GRID = {"n_neighbors": [10, 20, 40], "cv": [3, 5], "threshold": [0.3, 0.5, 0.7]}
N_SPLITS = 5
#: With --grid-out: every candidate's row (mean and per-fold scores, refitted F1), so that
#: other selection rules can be judged on the same fits afterwards.
GRID_ROWS = None


def candidates(grid, y_noisy):
    smallest = int(np.bincount(np.unique(y_noisy, return_inverse=True)[1]).min())
    names = sorted(grid)
    for values in itertools.product(*(grid[name] for name in names)):
        params = dict(zip(names, values))
        if params.get("n_neighbors", 0) < smallest:
            yield params


def draws(name, seed, rates):
    """(noise label, X, noisy labels, noisy mask, true labels or None) of every setting."""
    X, y, pixels = get_features(name)
    for kind, rate in SETTINGS:
        y_noisy, is_noisy = noisy_labels(name, y, pixels, kind, rate, seed)
        yield f"{kind} {rate:.0%}", X, y_noisy, is_noisy, y
    for noise, X_noise, y_noisy, is_noisy in noise_draws(name, seed, rates):
        # Model-based flips relabel the same images; open set and long tail change the images,
        # and their true labels are then known for the clean pairs only.
        yield noise, X_noise, y_noisy, is_noisy, y if noise.startswith("model") else None


def rate_fold(params, seed, X, y_noisy, is_noisy, y_true, train, test, scorers):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skclip_noise import ConsensusDetector

    detector = ConsensusDetector(random_state=seed, **params).fit(X[train], y_noisy[train])
    per_class = np.bincount(y_noisy[test])
    balanced = 1.0 / per_class[y_noisy[test]]  # every given class counts the same
    row = {"label_free": scorers["label_free"](detector, X[test], y_noisy[test]),
           "label_free_balanced": detector.score(X[test], y_noisy[test], sample_weight=balanced),
           "truth_f1": scorers["truth"](detector, X[test], y_noisy[test], is_noisy=is_noisy[test])}
    kept = train[detector.clean_mask_]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X[kept], y_noisy[kept])
    row["pipe_noisy_acc"] = pipeline.score(X[test], y_noisy[test])
    for solver in SOLVERS:
        row[f"pipe_corrected_{solver}_acc"] = scorers[f"corrected_{solver}"](pipeline, X[test], y_noisy[test])
    # The truth: accuracy on the true labels of the held-out samples (without y_true: the clean ones).
    judged = test if y_true is not None else test[~is_noisy[test]]
    truth = y_noisy if y_true is None else y_true
    row["pipe_clean_acc"] = float(np.mean(pipeline.predict(X[judged]) == truth[judged]))
    return row


def subsample(n_samples, seed, X, y_noisy, is_noisy, y_true):
    from sklearn.model_selection import train_test_split

    if n_samples is None or n_samples >= len(y_noisy):
        return X, y_noisy, is_noisy, y_true
    rows, _ = train_test_split(np.arange(len(y_noisy)), train_size=n_samples, stratify=y_noisy, random_state=seed)
    rows = np.sort(rows)
    return X[rows], y_noisy[rows], is_noisy[rows], None if y_true is None else y_true[rows]


def split(seed, X, y_noisy, n_repeats=1):
    """The held-out folds ``GridSearchCV`` would use: 5 stratified folds, or 5 x ``n_repeats``."""
    from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

    if n_repeats == 1:
        splitter = StratifiedKFold(N_SPLITS, shuffle=True, random_state=seed)
    else:
        splitter = RepeatedStratifiedKFold(n_splits=N_SPLITS, n_repeats=n_repeats, random_state=seed)
    return list(splitter.split(X, y_noisy))


def select(name, noise, seed, X, y_noisy, is_noisy, y_true, grid, n_repeats=1):
    from skclip_noise import ConsensusDetector, detection_report
    from skclip_noise.metrics import clean_f1_score
    from skclip_noise.model_selection import make_detection_scorer, make_noise_corrected_scorer

    reference = ConsensusDetector(random_state=seed).fit(X, y_noisy)
    scorers = {"label_free": make_detection_scorer(), "truth": make_detection_scorer(clean_f1_score),
               **{f"corrected_{solver}": make_noise_corrected_scorer(reference, solver=solver) for solver in SOLVERS}}
    folds = split(seed, X, y_noisy, n_repeats)
    grid_rows = []
    for params in candidates(grid, y_noisy):
        rated = [rate_fold(params, seed, X, y_noisy, is_noisy, y_true, train, test, scorers) for train, test in folds]
        refit = ConsensusDetector(random_state=seed, **params).fit(X, y_noisy)
        report = detection_report(is_noisy, refit.clean_mask_, output_dict=True)
        grid_rows.append({"params": params, "refit_f1": report["clean_f1"],
                          **{key: float(np.mean([r[key] for r in rated])) for key in rated[0]},
                          "label_free_folds": [r["label_free"] for r in rated],
                          **{f"pipe_corrected_{solver}_acc_folds": [r[f"pipe_corrected_{solver}_acc"] for r in rated]
                             for solver in SOLVERS},
                          "label_free_balanced_folds": [r["label_free_balanced"] for r in rated]})
    if GRID_ROWS is not None:
        GRID_ROWS.extend({"features": name, "seed": seed, "noise": noise, **r, "params": repr(r["params"]),
                          "label_free_folds": repr(r["label_free_folds"]),
                          **{f"pipe_corrected_{solver}_acc_folds": repr(r[f"pipe_corrected_{solver}_acc_folds"])
                             for solver in SOLVERS},
                          "label_free_balanced_folds": repr(r["label_free_balanced_folds"])} for r in grid_rows)
    return summarise(name, noise, seed, grid_rows, grid)


def summarise(name, noise, seed, grid_rows, grid):
    from scipy.stats import spearmanr

    f1 = np.array([r["refit_f1"] for r in grid_rows])
    default = [r for r in grid_rows if all(r["params"].get(k) == v for k, v in DEFAULTS.items() if k in grid)]

    def pick(key):
        return grid_rows[int(np.argmax([r[key] for r in grid_rows]))]

    free, truth = pick("label_free"), pick("truth_f1")
    clean_acc = np.array([r["pipe_clean_acc"] for r in grid_rows])
    row = {
        "features": name, "seed": seed, "noise": noise, "n_candidates": len(grid_rows),
        "f1_label_free_pick": free["refit_f1"], "f1_truth_pick": truth["refit_f1"], "f1_best": float(f1.max()),
        "f1_default": default[0]["refit_f1"] if default else float("nan"),
        "label_free_params": free["params"], "truth_params": truth["params"],
        "spearman": float(spearmanr([r["label_free"] for r in grid_rows], f1)[0]),
    }
    row["regret"] = row["f1_truth_pick"] - row["f1_label_free_pick"]
    row["vs_default"] = row["f1_default"] - row["f1_label_free_pick"]
    row["acc_truth_pick"] = float(clean_acc.max())
    row["acc_default"] = default[0]["pipe_clean_acc"] if default else float("nan")
    row["acc_noisy_acc_pick"] = pick("pipe_noisy_acc")["pipe_clean_acc"]
    for solver in SOLVERS:
        key = f"pipe_corrected_{solver}_acc"
        row[f"acc_{solver}_pick"] = pick(key)["pipe_clean_acc"]
        row[f"acc_regret_{solver}"] = row["acc_truth_pick"] - row[f"acc_{solver}_pick"]
        row[f"acc_spearman_{solver}"] = float(spearmanr([r[key] for r in grid_rows], clean_acc)[0])
    # The library's default solver's pick, under the names of the earlier tables.
    row["acc_corrected_acc_pick"] = row[f"acc_{SOLVERS[0]}_pick"]
    row["acc_regret"] = row[f"acc_regret_{SOLVERS[0]}"]
    row["acc_spearman"] = row[f"acc_spearman_{SOLVERS[0]}"]
    log(f"{name} seed {seed} {noise}: label-free pick {row['f1_label_free_pick']:.4f} truth pick "
        f"{row['f1_truth_pick']:.4f} default {row['f1_default']:.4f} (regret {row['regret']:+.4f}); pipeline "
        f"regret {row['acc_regret']:+.4f}")
    return row


def evaluate(name, seed, rates, grid, n_samples, n_repeats=1):
    return [select(name, noise, seed, *subsample(n_samples, seed, *draw), grid, n_repeats)
            for noise, *draw in draws(name, seed, rates)]


def markdown(rows, args, seconds):
    import skclip_noise

    def fmt(value):
        return f"{value:+.4f}"

    regret = np.array([r["regret"] for r in rows])
    vs_default = np.array([r["vs_default"] for r in rows])
    acc_regret = np.array([r["acc_regret"] for r in rows])
    acc_vs_default = np.array([r["acc_default"] - r["acc_corrected_acc_pick"] for r in rows])

    def solver_summary(solver):
        with_it = [r for r in rows if np.isfinite(r.get(f"acc_regret_{solver}", np.nan))]
        if not with_it:
            return ""
        regrets = np.array([r[f"acc_regret_{solver}"] for r in with_it])
        below = np.array([r["acc_default"] - r[f"acc_{solver}_pick"] for r in with_it])
        return (f" `solver=\"{solver}\"` in the same {len(with_it)} settings: mean {regrets.mean():.4f}, max "
                f"{regrets.max():.4f}; worse than the defaults by more than 0.005 in {(below > 0.005).sum()} "
                f"(largest {below.max():.4f}).")
    lines = [
        "# Grid search without the truth: label-free picks against the truth's",
        "",
        f"`{' '.join(['benchmarks/bench_label_free_selection.py'] + args)}`: {len(rows)} settings in "
        f"{seconds / 60:.0f} min on {platform.machine()}, one thread; skclip_noise {skclip_noise.__version__}. "
        "Protocol in the script's docstring.",
        "",
        "## Summary",
        "",
        f"- Detector (`ConsensusDetector`, clean F1 of the refitted pick): regret (truth pick minus label-free "
        f"pick) mean {regret.mean():.4f}, max {regret.max():.4f} (goals 0.01 and 0.03); label-free pick worse than "
        f"the defaults by more than 0.005 in {(vs_default > 0.005).sum()} of {len(rows)} settings (largest "
        f"{vs_default.max():.4f}).",
        f"- Pipeline (detector -> logistic regression, accuracy on the true labels): regret of the noise-corrected "
        f"pick mean {acc_regret.mean():.4f}, max {acc_regret.max():.4f}; worse than the defaults by more than "
        f"0.005 in {(acc_vs_default > 0.005).sum()} settings (largest {acc_vs_default.max():.4f}), with the "
        f"scorer's default `solver=\"{SOLVERS[0]}\"`." + "".join(solver_summary(solver) for solver in SOLVERS[1:]),
        "",
        "## Detector",
        "",
        "| features | seed | noise | clean F1: label-free pick / truth pick / defaults / best | regret | vs defaults "
        "| Spearman | label-free pick |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in r["label_free_params"].items())
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | {r['f1_label_free_pick']:.4f} / {r['f1_truth_pick']:.4f} / "
            f"{r['f1_default']:.4f} / {r['f1_best']:.4f} | {fmt(r['regret'])} | {fmt(r['vs_default'])} | "
            f"{r['spearman']:+.2f} | {params} |"
        )
    lines += [
        "",
        "## Pipeline",
        "",
        f"| features | seed | noise | accuracy on true labels: noise-corrected pick ({' / '.join(SOLVERS)}) / "
        f"noisy-accuracy pick / truth pick / defaults | regret ({' / '.join(SOLVERS)}) | Spearman "
        f"({' / '.join(SOLVERS)}) |",
        "|---|---|---|---|---|---|",
    ]
    nan = float("nan")
    for r in rows:
        picks = " / ".join(f"{r.get(f'acc_{solver}_pick', nan):.4f}" for solver in SOLVERS)
        regrets = " / ".join(fmt(r.get(f"acc_regret_{solver}", nan)) for solver in SOLVERS)
        spearman = " / ".join(f"{r.get(f'acc_spearman_{solver}', nan):+.2f}" for solver in SOLVERS)
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | {picks} / {r['acc_noisy_acc_pick']:.4f} / "
            f"{r['acc_truth_pick']:.4f} / {r['acc_default']:.4f} | {regrets} | {spearman} |"
        )
    return "\n".join(lines) + "\n"


def combine(paths, out):
    """One table of several runs' CSVs (e.g. one run per feature set), with the summary over all."""
    import ast

    import pandas as pd

    frame = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    rows = frame.to_dict("records")
    for row in rows:
        row["label_free_params"] = ast.literal_eval(row["label_free_params"])
    text = markdown(rows, ["--combine", *paths], 0.0).replace(
        " in 0 min on", f" (the runs {', '.join(f'`{p}`' for p in paths)}, combined) on")
    from _bench_common import write_markdown

    write_markdown(text, out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_feature_set_arguments(parser, list(FEATURE_SETS))
    parser.add_argument("--rates-model", default="0.3")
    parser.add_argument("--rates-open-set", default="0.2")
    parser.add_argument("--rates-long-tail", default="0.3")
    parser.add_argument("--grid", default=None, help="JSON of the grid (default: the docstring's)")
    parser.add_argument("--n-samples", type=int, default=None, help="a stratified subset of each draw")
    parser.add_argument("--n-repeats", type=int, default=1, help="repeat the 5 folds with new shuffles")
    parser.add_argument("--combine", nargs="+", default=None, help="CSVs of earlier runs: render them as one table")
    parser.add_argument("--out", default=None)
    parser.add_argument("--grid-out", default=None,
                        help="CSV of every candidate: per-fold label-free scores (plain and class-balanced), "
                             "the truth's fold scores, the refitted F1")
    args = parser.parse_args(argv)
    if args.combine:
        return combine(args.combine, args.out)
    names, seeds = chosen_feature_sets(args)
    rates = {key: [float(r) for r in getattr(args, f"rates_{key}").split(",") if r]
             for key in ("model", "open_set", "long_tail")}
    import json

    grid = GRID if args.grid is None else json.loads(args.grid)
    global GRID_ROWS
    GRID_ROWS = [] if args.grid_out else None
    run_and_write(names, seeds, lambda name, seed: evaluate(name, seed, rates, grid, args.n_samples, args.n_repeats),
                  markdown, argv, args.out)
    if args.grid_out:
        from _bench_common import write_csv

        write_csv(GRID_ROWS, args.grid_out)


if __name__ == "__main__":
    main()
