"""The ``--pred-probs`` comparison of ``bench_detectors.py``: ``find_label_issues`` and
``ConsensusDetector.fit(pred_probs=...)`` against cleanlab's call on the same ``pred_probs``
(protocol in ``bench_detectors.py``'s docstring)."""

from __future__ import annotations

import platform
import warnings

from _detection_protocol import SETTINGS, cleanlab_best, cleanlab_verdicts, log, noisy_labels, timed
from _features import get_features

#: The --pred-probs comparison's second caller model: the tuned probe of the other embedding.
OTHER_FEATURES = {"fmnist_mobilenetv2": "fmnist_effnetlite0", "fmnist_effnetlite0": "fmnist_mobilenetv2",
                  "digits_raw": "digits_mobilenetv2", "digits_mobilenetv2": "digits_raw",
                  "mnist_raw": "mnist_mobilenetv2", "mnist_mobilenetv2": "mnist_raw",
                  "digits_effnetlite0": "digits_mobilenetv2", "mnist_effnetlite0": "mnist_mobilenetv2"}


def _random_forest(seed):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(200, random_state=seed, n_jobs=1)


def _nearest_neighbours(seed):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(10)


def _support_vectors(seed):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    return CalibratedClassifierCV(SVC(random_state=seed), ensemble=False)


def _neural_network(seed):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # A softmax network as a user trains one: one hidden layer, stopped early on a tenth held out.
    return make_pipeline(StandardScaler(), MLPClassifier((128,), early_stopping=True, max_iter=500,
                                                         random_state=seed))


def _gradient_boosting(seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed)


#: The caller's model (None: cleanlab's tuned logistic regression of ``cleanlab_best``).
CALLER_MODELS = {"lr": None, "rf": _random_forest, "knn": _nearest_neighbours, "svc": _support_vectors,
                 "mlp": _neural_network, "hgb": _gradient_boosting}
CALLER_NAMES = {"lr": "cleanlab's tuned out-of-fold logistic-regression probabilities",
                "rf": "out-of-fold probabilities of a random forest (200 trees)",
                "knn": "out-of-fold probabilities of 10 nearest neighbours",
                "svc": "out-of-fold Platt probabilities of an RBF support-vector machine",
                "mlp": "out-of-fold softmax probabilities of a neural network (one hidden layer of 128, "
                       "stopped early)",
                "hgb": "out-of-fold probabilities of histogram gradient boosting (scikit-learn's defaults)"}


def caller_pred_probs(caller, X, y_noisy, seed):
    """The caller's out-of-fold ``pred_probs`` and cleanlab's verdicts on them:
    ``(pred_probs, {filter_by: (kept mask, seconds incl. the model)})``."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if CALLER_MODELS[caller] is None:
        return cleanlab_best(X, y_noisy, seed)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba, seconds = timed(lambda: cross_val_predict(CALLER_MODELS[caller](seed), X, y_noisy, cv=folds,
                                                         method="predict_proba"))
    return proba, cleanlab_verdicts(y_noisy, proba, seconds)


def evaluate_pred_probs(name, seed, caller="lr"):
    """Rows of the --pred-probs comparison for one feature set and seed."""
    from cleanlab.rank import get_label_quality_scores
    from sklearn.metrics import roc_auc_score

    from skclip_noise import ConsensusDetector, detection_report
    from skclip_noise.filter import find_label_issues, fit_pred_probs_detector

    X, y, pixels = get_features(name)
    rows = []
    for kind, rate in SETTINGS:
        y_noisy, is_noisy = noisy_labels(name, y, pixels, kind, rate, seed)
        row = {"features": name, "seed": seed, "noise": f"{kind} {rate:.0%}", "true_rate": float(is_noisy.mean())}
        proba, kept = caller_pred_probs(caller, X, y_noisy, seed)

        def record(method, clean_mask, noisy_score, seconds):
            report = detection_report(is_noisy, clean_mask, output_dict=True)
            row.update({f"{method}_clean_f1": report["clean_f1"], f"{method}_noisy_f1": report["noisy_f1"],
                        f"{method}_auroc": roc_auc_score(is_noisy, noisy_score), f"{method}_s": seconds})

        cleanlab_score = 1 - get_label_quality_scores(y_noisy, proba)
        record("cleanlab_default", kept["prune_by_noise_rate"][0], cleanlab_score, kept["prune_by_noise_rate"][1])
        reports = {f: detection_report(is_noisy, mask, output_dict=True) for f, (mask, _) in kept.items()}
        row["cleanlab_best_clean_f1"] = max(r["clean_f1"] for r in reports.values())
        row["cleanlab_best_noisy_f1"] = max(r["noisy_f1"] for r in reports.values())
        issues, seconds = timed(lambda: find_label_issues(y_noisy, proba, detector=ConsensusDetector(random_state=seed)))
        # The function returns a mask; its ranking is the same detector's clean_proba_.
        ranking = fit_pred_probs_detector(y_noisy, proba, detector=ConsensusDetector(random_state=seed))
        record("ours_pred_probs", ~issues, 1 - ranking.clean_proba_, seconds)
        row["ours_pred_probs_weight"] = ranking.pred_probs_weight_  # 1: judged by the pred_probs alone
        # A model of the caller's own that is not the probe: the other backbone's tuned probe.
        other_proba, _ = cleanlab_best(get_features(OTHER_FEATURES[name])[0], y_noisy, seed)
        for method, extra in (("consensus", None), ("consensus_pred_probs", proba),
                              ("consensus_other_probs", other_proba)):
            detector, seconds = timed(lambda: ConsensusDetector(random_state=seed).fit(X, y_noisy, pred_probs=extra))
            record(method, detector.clean_mask_, 1 - detector.clean_proba_, seconds)
            row[f"{method}_weight"] = detector.pred_probs_weight_
        log(f"{name} seed {seed} {row['noise']}: pred_probs only {row['ours_pred_probs_clean_f1']:.4f}/"
            f"{row['ours_pred_probs_noisy_f1']:.4f} vs cleanlab {row['cleanlab_default_clean_f1']:.4f}/"
            f"{row['cleanlab_default_noisy_f1']:.4f}; with features {row['consensus_pred_probs_clean_f1']:.4f} vs "
            f"{row['consensus_clean_f1']:.4f}")
        rows.append(row)
    return rows


def markdown_pred_probs(rows, args, seconds, caller="lr"):
    import cleanlab

    import skclip_noise

    def pair(r, ours, theirs, metric):
        mark = "**" if r[f"{ours}_{metric}"] >= r[f"{theirs}_{metric}"] else ""
        return f"{mark}{r[f'{ours}_{metric}']:.4f}{mark} / {r[f'{theirs}_{metric}']:.4f}"

    lines = [
        "# find_label_issues: cleanlab's call, and ConsensusDetector with the caller's pred_probs",
        "",
        f"`{' '.join(['benchmarks/bench_detectors.py'] + args)}`: {len(rows)} settings in {seconds / 60:.0f} min on "
        f"{platform.processor() or platform.machine()}, one thread per method; skclip_noise "
        f"{skclip_noise.__version__}, cleanlab {cleanlab.__version__}. Protocol in the script's docstring "
        f"(`--pred-probs`). `pred_probs`: {CALLER_NAMES[caller]}, "
        "the same array for every method. Bold: ours at least as good.",
        "",
        "## 1. `find_label_issues(labels, pred_probs)`: ours against cleanlab's call on the same pred_probs",
        "",
        "| features | seed | noise | clean F1 ours / cleanlab | noisy F1 ours / cleanlab | AUROC ours / cleanlab "
        "| cleanlab best filter clean / noisy F1 | s ours / cleanlab (incl. its model's fit) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | "
            f"{pair(r, 'ours_pred_probs', 'cleanlab_default', 'clean_f1')} | "
            f"{pair(r, 'ours_pred_probs', 'cleanlab_default', 'noisy_f1')} | "
            f"{pair(r, 'ours_pred_probs', 'cleanlab_default', 'auroc')} | "
            f"{r['cleanlab_best_clean_f1']:.4f} / {r['cleanlab_best_noisy_f1']:.4f} | "
            f"{r['ours_pred_probs_s']:.1f} / {r['cleanlab_default_s']:.1f} |"
        )
    count = {metric: sum(r[f"ours_pred_probs_{metric}"] >= r[f"cleanlab_default_{metric}"] for r in rows)
             for metric in ("clean_f1", "noisy_f1", "auroc")}
    best = sum(r["ours_pred_probs_clean_f1"] >= r["cleanlab_best_clean_f1"] for r in rows)
    lines += [
        "",
        f"At least as good as cleanlab's call: clean F1 in {count['clean_f1']} of {len(rows)} settings, noisy F1 in "
        f"{count['noisy_f1']}, AUROC in {count['auroc']}; clean F1 at least cleanlab's best filter (picked with "
        f"the truth) in {best}.",
        "",
        "## 2. `ConsensusDetector().fit(X, y, pred_probs=...)` against `ConsensusDetector().fit(X, y)`",
        "",
        "Two caller models: the same model as above (on these features), and the tuned probe of the "
        f"other embedding of the same images ({', '.join(f'{a} <- {b}' for a, b in OTHER_FEATURES.items())}).",
        "",
        "| features | seed | noise | clean F1 with / without | noisy F1 with / without | AUROC with / without "
        "| weight | clean F1 with other model's / without | noisy F1 with other's / without | AUROC with other's "
        "/ without | weight |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | "
            + " | ".join(pair(r, method, "consensus", metric) for method in ("consensus_pred_probs",)
                         for metric in ("clean_f1", "noisy_f1", "auroc"))
            + f" | {r['consensus_pred_probs_weight']:.2f} | "
            + " | ".join(pair(r, "consensus_other_probs", "consensus", metric)
                         for metric in ("clean_f1", "noisy_f1", "auroc"))
            + f" | {r['consensus_other_probs_weight']:.2f} |"
        )
    for method, what in (("consensus_pred_probs", "the caller model's"), ("consensus_other_probs", "the other model's")):
        count = {metric: sum(r[f"{method}_{metric}"] >= r[f"consensus_{metric}"] for r in rows)
                 for metric in ("clean_f1", "noisy_f1", "auroc")}
        worst = min(r[f"{method}_clean_f1"] - r["consensus_clean_f1"] for r in rows)
        lines.append(
            f"\nWith {what} pred_probs at least as good as without: clean F1 in {count['clean_f1']} of {len(rows)} "
            f"settings, noisy F1 in {count['noisy_f1']}, AUROC in {count['auroc']} (largest clean-F1 change "
            f"against: {worst:+.4f})."
        )
    return "\n".join(lines) + "\n"
