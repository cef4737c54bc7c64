"""find_label_issues when the labels do not use every class of the caller's model, or use one once.

Two situations a cleanlab user meets on real data, which ``find_label_issues`` refused
before (classes of ``pred_probs`` that no sample is given; classes of one sample):

* **absent classes**: the caller's model knows ``K`` classes, the labels use fewer (a
  pretrained model, a larger labelled set, annotators whose list lacked some classes).
  Every sample of an absent class carries a wrong label: "closest" gives it the present
  class the caller's model finds most probable (an annotator picking the nearest class on
  the list), "random" a present class at random. On top, 20 % symmetric noise among the
  present classes (``make_noisy_labels``; a flip into an absent class is redrawn).
* **finer classes**: the caller's model splits each given class into finer ones (a
  pretrained model's breeds of one "dog"), and the labels are right up to 20 % symmetric
  noise: the finer classes' probability must count for their class, not against it.
  Simulated (10 given classes, 3 finer ones each with logits ``scale - gap``, 100 in
  all) and digits (each class's probability split with its twin at a Beta(2, 2) share).
* **long tail with lone classes**: class sizes fall to one sample (a Zipf profile on
  simulated classes; ``make_long_tail`` with the smallest class at one sample on digits),
  then symmetric noise (20 %; 5 % on digits, where more would fill the lone classes with
  flipped labels), which can also empty a class of its only label.

Data: simulated callers (logits ``scale`` on the true class plus standard normal noise, as
``bench_find_label_issues_many_classes.py``), and raw digits (pixels / 16) with a logistic
regression that knows all ten classes: out of fold on the true labels for the absent
classes, trained on the digits outside the long-tailed subsample for the long tail (a
model trained on other data). Methods, on the same labels and ``pred_probs``: ours
(``find_label_issues(labels, pred_probs)``), ours with the pixels as ``features`` too
(digits), cleanlab's default call, cleanlab's best ``filter_by`` (picked with the truth)
and, for absent classes, ours with the absent columns dropped and the rest renormalised
(what the refusal told users to do; with finer classes, the right answer). AUROC: ours
``clean_proba_``, cleanlab's self-confidence. Two threads for every method.

    .venv/bin/python benchmarks/bench_find_label_issues_label_sets.py --seeds 0,1 \\
        --out benchmarks/results/find_label_issues_label_sets.md
"""

from __future__ import annotations

import os
import sys
import time
import warnings

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import best_in_bold, log, main_over_seeds, run_line  # noqa: E402
from bench_find_label_issues_many_classes import simulated_pred_probs  # noqa: E402

CLEANLAB_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given")
NOISE_RATE = 0.2


def _symmetric_noise_among(y, present, seed, rate=NOISE_RATE):
    """Symmetric noise; a flip into a class outside ``present`` is redrawn among them."""
    from skclip_noise import make_noisy_labels

    given, _ = make_noisy_labels(y, "symmetric", rate, random_state=seed)
    outside = ~np.isin(given, present)
    given[outside] = np.random.default_rng(seed).choice(present, outside.sum())
    return given


def absent_class_labels(y, pred_probs, absent, assignment, seed):
    """Labels that use no class of ``absent``: their samples get the closest or a random present class."""
    present = np.setdiff1d(np.arange(pred_probs.shape[1]), absent)
    given = _symmetric_noise_among(y, present, seed)
    of_absent = np.isin(y, absent)
    if assignment == "closest":
        given[of_absent] = present[pred_probs[of_absent][:, present].argmax(axis=1)]
    else:
        given[of_absent] = np.random.default_rng(seed + 1).choice(present, of_absent.sum())
    return given


def finer_classes_simulated(n_samples, n_given, n_finer, gap, scale, seed):
    """A caller whose model knows ``n_finer`` finer classes beside each of the ``n_given``
    classes the labels use (logits ``scale - gap`` on them), and 100 classes in all."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_given, n_samples)
    logits = rng.normal(size=(n_samples, 100))
    logits[np.arange(n_samples), y] += scale
    for finer in range(n_finer):
        logits[np.arange(n_samples), n_given + y * n_finer + finer] += scale - gap
    pred_probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, pred_probs / pred_probs.sum(axis=1, keepdims=True)


def split_in_finer_classes(pred_probs, seed):
    """Each class's probability split between it and a finer twin (column ``K + k``) at a
    share drawn per sample from Beta(2, 2)."""
    share = np.random.default_rng(seed).beta(2.0, 2.0, size=(len(pred_probs), 1))
    return np.hstack([pred_probs * share, pred_probs * (1.0 - share)])


def zipf_simulated(n_classes, largest, exponent, scale, seed):
    rng = np.random.default_rng(seed)
    sizes = np.maximum(1, (largest * np.arange(1, n_classes + 1) ** -exponent).astype(int))
    y = rng.permutation(np.repeat(np.arange(n_classes), sizes))
    logits = rng.normal(size=(len(y), n_classes))
    logits[np.arange(len(y)), y] += scale
    pred_probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, pred_probs / pred_probs.sum(axis=1, keepdims=True)


def digits_caller(seed):
    """Raw digits and a logistic regression's out-of-fold probabilities on the true labels."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return X, y, cross_val_predict(LogisticRegression(max_iter=1000), X, y, cv=folds, method="predict_proba")


def digits_long_tail(seed):
    """A long-tailed digits subsample whose smallest class has one sample, and the
    probabilities of a logistic regression trained on the other digits."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    from skclip_noise.noise import make_long_tail

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    rows = make_long_tail(y, imbalance=100, n_max=100, class_order="random", random_state=seed)
    others = np.setdiff1d(np.arange(len(y)), rows)
    model = LogisticRegression(max_iter=1000).fit(X[others], y[others])
    return X[rows], y[rows], model.predict_proba(X[rows])


def settings(seed):
    """(name, true labels, given labels, pred_probs, features or None, absent columns or None)."""
    for scale in (3.0, 4.0):
        y, pred_probs = simulated_pred_probs(10_000, 100, scale, seed=seed)
        absent = np.arange(90, 100)
        for assignment in ("closest", "random"):
            given = absent_class_labels(y, pred_probs, absent, assignment, seed)
            yield f"simulated 100 classes, scale {scale:g}: 10 absent, {assignment}", y, given, pred_probs, None
    for gap in (1.0, 2.0):
        y, pred_probs = finer_classes_simulated(5_000, 10, 3, gap, 4.0, seed)
        given = _symmetric_noise_among(y, np.arange(10), seed)
        yield f"simulated 10 given of 100 classes, 3 finer each, gap {gap:g}", y, given, pred_probs, None
    y, pred_probs = zipf_simulated(200, 300, 1.1, 4.0, seed)
    given = _symmetric_noise_among(y, np.arange(200), seed)
    yield "simulated 200 classes, scale 4: Zipf sizes 300 to 1", y, given, pred_probs, None
    X, y, pred_probs = digits_caller(seed)
    for absent in ([9], [3, 8]):
        for assignment in ("closest", "random"):
            given = absent_class_labels(y, pred_probs, np.array(absent), assignment, seed)
            name = f"digits: {'no ' + ' or '.join(map(str, absent))}, {assignment}"
            yield name, y, given, pred_probs, X
    given = _symmetric_noise_among(y, np.arange(10), seed)
    yield "digits: each class split in two finer ones", y, given, split_in_finer_classes(pred_probs, seed), X
    X, y, pred_probs = digits_long_tail(seed)
    given = _symmetric_noise_among(y, np.arange(10), seed, rate=0.05)
    yield "digits: long tail 100 to 1, 5 % noise", y, given, pred_probs, X


def _scores(prefix, is_noisy, issues, clean_score, seconds):
    from sklearn.metrics import roc_auc_score

    from skclip_noise import detection_report

    report = detection_report(is_noisy, ~issues, output_dict=True)
    return {f"{prefix}_clean_f1": report["clean_f1"], f"{prefix}_noisy_f1": report["noisy_f1"],
            f"{prefix}_auroc": roc_auc_score(~is_noisy, clean_score), f"{prefix}_s": seconds}


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def evaluate(name, y, given, pred_probs, features, seed):
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues

    from skclip_noise.filter import fit_pred_probs_detector

    is_noisy = given != y
    counts = np.bincount(given, minlength=pred_probs.shape[1])
    rows = np.arange(len(y))
    row = {"setting": name, "seed": seed, "n": len(y), "classes": pred_probs.shape[1],
           "absent_classes": int((counts == 0).sum()), "lone_classes": int((counts == 1).sum()),
           "noise_rate": float(is_noisy.mean()), "of_absent_class": float((counts[y] == 0).mean()),
           "caller_accuracy": float((pred_probs.argmax(axis=1) == y).mean())}
    detector, seconds = _timed(fit_pred_probs_detector, given, pred_probs)
    row.update(_scores("ours", is_noisy, ~detector.clean_mask_, detector.clean_proba_, seconds))
    if features is not None:
        detector, seconds = _timed(fit_pred_probs_detector, given, pred_probs, features)
        row.update(_scores("ours_features", is_noisy, ~detector.clean_mask_, detector.clean_proba_, seconds))
    self_confidence = pred_probs[rows, given]
    issues, seconds = _timed(cleanlab_find_label_issues, given, pred_probs)
    row.update(_scores("cleanlab", is_noisy, issues, self_confidence, seconds))
    by_rule = {}
    for rule in CLEANLAB_FILTERS:
        flagged, _ = _timed(cleanlab_find_label_issues, given, pred_probs, filter_by=rule)
        by_rule[rule] = _scores("x", is_noisy, flagged, self_confidence, 0.0)
    best = max(by_rule, key=lambda rule: by_rule[rule]["x_clean_f1"])
    row.update({"cleanlab_best_filter": best, "cleanlab_best_clean_f1": by_rule[best]["x_clean_f1"],
                "cleanlab_best_noisy_f1": by_rule[best]["x_noisy_f1"]})
    if row["absent_classes"]:
        present = np.flatnonzero(counts)
        kept = pred_probs[:, present] / pred_probs[:, present].sum(axis=1, keepdims=True)
        detector, seconds = _timed(fit_pred_probs_detector, np.searchsorted(present, given), kept)
        row.update(_scores("dropped", is_noisy, ~detector.clean_mask_, detector.clean_proba_, seconds))
    log(row)
    return row


def _cell(row, key):
    return f"{row[key]:.4f}" if key in row and row[key] == row[key] else "-"


def render(rows, argv, seconds):
    methods = ["ours", "ours_features", "cleanlab", "cleanlab_best", "dropped"]
    lines = [
        "# find_label_issues with absent classes and classes of one sample",
        "",
        run_line("bench_find_label_issues_label_sets.py", argv, len(rows), seconds, threads="two threads")
        + " Protocol in the script's docstring. Bold: the best clean F1 of the row.",
        "",
        "| setting | seed | N | absent / lone classes | noise (of an absent class) | clean F1: ours / ours + features "
        "/ cleanlab / cleanlab best filter / absent columns dropped | noisy F1: ours / cleanlab / cleanlab best "
        "| AUROC: ours / cleanlab | seconds: ours / cleanlab |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        present = [m for m in methods if f"{m}_clean_f1" in r and r[f"{m}_clean_f1"] == r[f"{m}_clean_f1"]]
        bold = dict(zip(present, best_in_bold(r, present, "clean_f1").split(" / ")))
        clean = " / ".join(bold.get(m, "-") for m in methods)
        lines.append(
            f"| {r['setting']} | {r['seed']} | {r['n']:,} | {r['absent_classes']} / {r['lone_classes']} | "
            f"{r['noise_rate']:.3f} ({r['of_absent_class']:.3f}) | {clean} | {_cell(r, 'ours_noisy_f1')} / "
            f"{_cell(r, 'cleanlab_noisy_f1')} / {_cell(r, 'cleanlab_best_noisy_f1')} | {_cell(r, 'ours_auroc')} / "
            f"{_cell(r, 'cleanlab_auroc')} | {r['ours_s']:.1f} / {r['cleanlab_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def evaluate_seed(_, seed):
    return [evaluate(*setting, seed) for setting in settings(seed)]


def main(argv=None):
    main_over_seeds(__doc__.splitlines()[0], evaluate_seed, render, argv)


if __name__ == "__main__":
    main()
