"""find_label_issues(labels, pred_probs) on small and two-class tabular data: a held-out check.

Every other ``--pred-probs`` table has ten classes and 1,797-10,000 samples. A cleanlab
user's first data set is as often two classes, or a few hundred rows of a spreadsheet.
Data (all offline): scikit-learn's bundled breast cancer (569 x 30, two classes), wine
(178 x 13, three) and iris (150 x 4, three) sets, the digits 3 against 8 (357 x 64, two),
and two simulated two-class sets of 3,000 (``make_classification``, 20 features, 8
informative; balanced, and 85 / 15). Noise: symmetric 10 % and 30 %
(``make_noisy_labels``), one-way 30 % (the first class's members get the second class's
label, ``kind="asymmetric"``) and model-based 20 % (``make_model_noise`` from a logistic
regression's out-of-fold probabilities on the true labels: hard samples get their most
plausible wrong label). The caller's model, out of fold (5 stratified folds), on the noisy
labels: a logistic regression on standardised features with ``C`` chosen by
``LogisticRegressionCV`` (log-loss), gradient boosting (``HistGradientBoostingClassifier``)
and a random forest (200 trees), each at scikit-learn's defaults otherwise.

Methods, on the same labels and ``pred_probs``: cleanlab's call
(``cleanlab.filter.find_label_issues(labels, pred_probs)``), ours
(``skclip_noise.find_label_issues(labels, pred_probs)``), and ours with
``ConsensusDetector(calibration="bias_corrected")``, the route's calibration before
2026-12-06 (the evidence fitted to the labels it keeps rather than to every label through
the noise estimate). AUROC: ours ``1 - clean_proba_``, cleanlab's self-confidence. One thread.

    .venv/bin/python benchmarks/bench_find_label_issues_tabular.py --seeds 0,1 \\
        --out benchmarks/results/find_label_issues_tabular.md
"""

from __future__ import annotations

import os
import sys
import time
import warnings

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import log, main_over_seeds, run_line  # noqa: E402

METHODS = ("ours", "ours_kept_calibration", "cleanlab")
CALLERS = ("lr", "hgb", "rf")


def data_sets():
    """{name: (X, y)} of the script's docstring, labels as codes 0 .. K-1."""
    from sklearn import datasets

    sets = {name: getattr(datasets, f"load_{name}")(return_X_y=True) for name in ("breast_cancer", "wine", "iris")}
    X, y = datasets.load_digits(return_X_y=True)
    three_or_eight = (y == 3) | (y == 8)
    sets["digits_3_vs_8"] = X[three_or_eight] / 16.0, (y[three_or_eight] == 8).astype(int)
    sets["simulated_balanced"] = datasets.make_classification(3000, 20, n_informative=8, flip_y=0, random_state=0)
    sets["simulated_85_15"] = datasets.make_classification(
        3000, 20, n_informative=8, weights=[0.85], flip_y=0, random_state=1
    )
    return sets


def caller_model(name, seed):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "lr":
        return make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=10, cv=3, max_iter=1000, scoring="neg_log_loss"))
    if name == "hgb":
        return HistGradientBoostingClassifier(random_state=seed)
    return RandomForestClassifier(200, random_state=seed, n_jobs=1)


def noise_draws(X, y, seed):
    """(label of the noise, noisy labels, noisy mask) for the four noises."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skclip_noise import make_noisy_labels
    from skclip_noise.noise import make_model_noise

    yield ("symmetric 10%", *make_noisy_labels(y, "symmetric", 0.1, random_state=seed))
    yield ("symmetric 30%", *make_noisy_labels(y, "symmetric", 0.3, random_state=seed))
    yield ("one-way 30%", *make_noisy_labels(y, "asymmetric", 0.3, random_state=seed, mapping={0: 1}))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    true_proba = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), X, y,
                                   cv=folds, method="predict_proba")
    yield ("model 20%", *make_model_noise(y, true_proba, 0.2, random_state=seed))


def evaluate(name, X, y, seed):
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from skclip_noise import ConsensusDetector, detection_report
    from skclip_noise.filter import fit_pred_probs_detector

    rows = []
    for noise, y_noisy, is_noisy in noise_draws(X, y, seed):
        for caller in CALLERS:
            folds = StratifiedKFold(5, shuffle=True, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred_probs = cross_val_predict(caller_model(caller, seed), X, y_noisy, cv=folds,
                                               method="predict_proba")
            row = {"data": name, "n": len(y), "classes": len(np.unique(y)), "seed": seed, "noise": noise,
                   "caller": caller, "true_rate": float(is_noisy.mean())}
            start = time.perf_counter()
            clean = ~cleanlab_find_label_issues(y_noisy, pred_probs)
            verdicts = {"cleanlab": (clean, 1 - get_label_quality_scores(y_noisy, pred_probs),
                                     time.perf_counter() - start)}
            for method, calibration in (("ours", "auto"), ("ours_kept_calibration", "bias_corrected")):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a class smaller than the folds (iris, wine) says so
                    fitted = fit_pred_probs_detector(
                        y_noisy, pred_probs, detector=ConsensusDetector(calibration=calibration, random_state=seed)
                    )
                verdicts[method] = (fitted.clean_mask_, 1 - fitted.clean_proba_, time.perf_counter() - start)
            for method, (clean, noisy_score, seconds) in verdicts.items():
                report = detection_report(is_noisy, clean, output_dict=True)
                row.update({f"{method}_clean_f1": report["clean_f1"], f"{method}_noisy_f1": report["noisy_f1"],
                            f"{method}_auroc": roc_auc_score(is_noisy, noisy_score),
                            f"{method}_flagged": float(np.mean(~clean)), f"{method}_s": seconds})
            log(f"{name} seed {seed} {noise} {caller}: clean F1 ours {row['ours_clean_f1']:.4f} "
                f"(kept calibration {row['ours_kept_calibration_clean_f1']:.4f}) cleanlab {row['cleanlab_clean_f1']:.4f}")
            rows.append(row)
    return rows


def evaluate_seed(_, seed):
    return [row for name, (X, y) in data_sets().items() for row in evaluate(name, X, y, seed)]


def _pair(row, metric):
    ours, before, theirs = (row[f"{m}_{metric}"] for m in METHODS)
    mark = "**" if ours >= theirs else ""
    return f"{mark}{ours:.4f}{mark} / {before:.4f} / {theirs:.4f}"


def render(rows, argv, seconds):
    lines = [
        "# find_label_issues on small and two-class tabular data",
        "",
        run_line("bench_find_label_issues_tabular.py", argv, len(rows), seconds, threads="one thread")
        + " Protocol in the script's docstring. Bold: ours at least as good as cleanlab's call.",
        "",
        "## Summary: settings where ours is at least as good as cleanlab's call (clean F1)",
        "",
        "| data | N | classes | class-conditional noise (symmetric, one-way): ours / kept-label calibration "
        "| mean change against cleanlab: ours / kept-label calibration | model-based 20 %: ours / kept-label "
        "calibration | mean change, model-based |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["data"] for r in rows):
        group = [r for r in rows if r["data"] == name]
        cells = []
        for part in ([r for r in group if "model" not in r["noise"]], [r for r in group if "model" in r["noise"]]):
            ahead = [sum(r[f"{m}_clean_f1"] >= r["cleanlab_clean_f1"] for r in part) for m in METHODS[:2]]
            change = [np.mean([r[f"{m}_clean_f1"] - r["cleanlab_clean_f1"] for r in part]) for m in METHODS[:2]]
            cells += [f"{ahead[0]} / {ahead[1]} of {len(part)}", f"{change[0]:+.4f} / {change[1]:+.4f}"]
        lines.append(f"| {name} | {group[0]['n']:,} | {group[0]['classes']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Every setting",
        "",
        "| data | seed | noise | caller | true rate | clean F1: ours / kept-label calibration / cleanlab | noisy F1 "
        "| AUROC | flagged share | seconds: ours / cleanlab |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        flagged = " / ".join(f"{r[f'{m}_flagged']:.3f}" for m in METHODS)
        lines.append(
            f"| {r['data']} | {r['seed']} | {r['noise']} | {r['caller']} | {r['true_rate']:.3f} | "
            f"{_pair(r, 'clean_f1')} | {_pair(r, 'noisy_f1')} | {_pair(r, 'auroc')} | {flagged} | "
            f"{r['ours_s']:.2f} / {r['cleanlab_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    main_over_seeds(__doc__.splitlines()[0], evaluate_seed, render, argv)


if __name__ == "__main__":
    main()
