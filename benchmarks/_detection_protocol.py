"""The detection benchmarks' shared protocol: the noise settings and draws, tuned cleanlab
(every ``filter_by``), Datalab, our detectors, and every method on one draw
(:func:`compare_methods`). ``bench_detectors.py``'s docstring describes it; the other
benchmarks take their noise draws and comparisons from here so that their tables share them."""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from _features import FEATURE_SETS

FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given")
C_GRID = np.logspace(-4, 1, 6)
FASHION_CONFUSABLE = {6: 0, 0: 6, 2: 4, 4: 2, 7: 5, 5: 9, 9: 7}
DIGITS_CONFUSABLE = {1: 7, 7: 1, 3: 8, 8: 3, 5: 6, 6: 5, 4: 9, 9: 4}
SETTINGS = [("symmetric", 0.2), ("symmetric", 0.4), ("symmetric", 0.6), ("pairflip", 0.4),
            ("instance", 0.4), ("asymmetric", 0.4)]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def noisy_labels(name, y, pixels, kind, rate, seed):
    from skclip_noise import make_noisy_labels

    extra = {}
    if kind == "instance":
        extra["features"] = pixels
    if kind == "asymmetric":
        extra["mapping"] = FASHION_CONFUSABLE if FEATURE_SETS[name][0] == "fashion" else DIGITS_CONFUSABLE
    return make_noisy_labels(y, kind, rate, random_state=seed, **extra)


def timed(fit):
    start = time.perf_counter()
    result = fit()
    return result, time.perf_counter() - start


def cleanlab_best(X, y_noisy, seed):
    """Tuned cleanlab: out-of-fold probabilities (C by cross-validation), every filter_by."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import StandardScaler

    def probabilities():
        Z = StandardScaler().fit_transform(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search = LogisticRegressionCV(Cs=C_GRID, cv=StratifiedKFold(3, shuffle=True, random_state=seed),
                                          scoring="neg_log_loss", max_iter=500, random_state=seed).fit(Z, y_noisy)
            C = float(np.atleast_1d(search.C_)[0])
            return cross_val_predict(LogisticRegression(C=C, max_iter=1000), Z, y_noisy,
                                     cv=StratifiedKFold(5, shuffle=True, random_state=seed), method="predict_proba")

    proba, seconds = timed(probabilities)
    return proba, cleanlab_verdicts(y_noisy, proba, seconds)


def cleanlab_verdicts(y_noisy, proba, seconds):
    """cleanlab's ``find_label_issues`` on ``proba`` with every ``filter_by``:
    ``{filter_by: (kept mask, seconds + the call's)}``, ``seconds`` being what the
    probabilities took."""
    from cleanlab.filter import find_label_issues

    kept = {}
    for filter_by in FILTERS:
        issues, extra = timed(lambda: find_label_issues(y_noisy, proba, filter_by=filter_by))
        kept[filter_by] = (~issues, seconds + extra)
    return kept


def datalab(X, y_noisy):
    from cleanlab import Datalab

    def run():
        lab = Datalab(data={"label": y_noisy}, label_name="label", verbosity=0)
        lab.find_issues(features=np.asarray(X, dtype=np.float32), issue_types={"label": {}})
        return lab.get_issues("label")

    issues, seconds = timed(run)
    return ~issues["is_label_issue"].to_numpy(), 1 - issues["label_score"].to_numpy(), seconds


def ours(X, y_noisy, seed):
    from skclip_noise import ConsensusDetector, GMMLossDetector, NeighbourDetector

    detectors = {
        "consensus": ConsensusDetector(random_state=seed),
        "neighbour": NeighbourDetector(),
        "gmm": GMMLossDetector(device="cpu", random_state=seed),
    }
    return {name: timed(lambda d=detector: d.fit(X, y_noisy)) for name, detector in detectors.items()}


def compare_methods(X, y_noisy, is_noisy, seed, with_datalab, row):
    """Every method on one noise draw: adds clean/noisy F1, AUROC, estimated rate and fit
    time of each to ``row`` (ours, cleanlab at its best filter per metric, Datalab)."""
    from cleanlab.rank import get_label_quality_scores
    from sklearn.metrics import roc_auc_score

    from skclip_noise import detection_report

    for method, (detector, seconds) in ours(X, y_noisy, seed).items():
        report = detection_report(is_noisy, detector.clean_mask_, output_dict=True)
        row.update({
            f"{method}_clean_f1": report["clean_f1"], f"{method}_noisy_f1": report["noisy_f1"],
            f"{method}_auroc": roc_auc_score(is_noisy, 1 - detector.clean_proba_),
            f"{method}_rate": detector.noise_rate_, f"{method}_s": seconds,
        })
        if method == "consensus":
            quality = detector.label_issues_["label_quality"].to_numpy()
            row["consensus_quality_auroc"] = roc_auc_score(is_noisy, 1 - quality)
            outlier = (detector.label_issues_["issue_type"] == "outlier").to_numpy()
            row["consensus_outlier_noisy"] = float(outlier[is_noisy].mean()) if is_noisy.any() else 0.0
            row["consensus_outlier_clean"] = float(outlier[~is_noisy].mean())
    proba, kept = cleanlab_best(X, y_noisy, seed)
    reports = {f: detection_report(is_noisy, mask, output_dict=True) for f, (mask, _) in kept.items()}
    best_clean = max(FILTERS, key=lambda f: reports[f]["clean_f1"])
    best_noisy = max(FILTERS, key=lambda f: reports[f]["noisy_f1"])
    row.update({
        "cleanlab_clean_f1": reports[best_clean]["clean_f1"], "cleanlab_clean_filter": best_clean,
        "cleanlab_noisy_f1": reports[best_noisy]["noisy_f1"], "cleanlab_noisy_filter": best_noisy,
        "cleanlab_auroc": roc_auc_score(is_noisy, 1 - get_label_quality_scores(y_noisy, proba)),
        "cleanlab_rate": reports[best_clean]["estimated_noise_rate"], "cleanlab_s": kept[best_clean][1],
    })
    if with_datalab:
        mask, score, seconds = datalab(X, y_noisy)
        report = detection_report(is_noisy, mask, output_dict=True)
        row.update({"datalab_clean_f1": report["clean_f1"], "datalab_noisy_f1": report["noisy_f1"],
                    "datalab_auroc": roc_auc_score(is_noisy, score), "datalab_rate": report["estimated_noise_rate"],
                    "datalab_s": seconds})
    row["wins"] = (row["consensus_clean_f1"] > row["cleanlab_clean_f1"],
                   row["consensus_noisy_f1"] > row["cleanlab_noisy_f1"])
    log(f"{row['features']} seed {seed} {row['noise']}: consensus {row['consensus_clean_f1']:.4f}/"
        f"{row['consensus_noisy_f1']:.4f} in {row['consensus_s']:.1f} s; cleanlab {row['cleanlab_clean_f1']:.4f}/"
        f"{row['cleanlab_noisy_f1']:.4f} in {row['cleanlab_s']:.1f} s")
    return row
