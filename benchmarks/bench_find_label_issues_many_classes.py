"""find_label_issues with pred_probs alone and many classes, beside cleanlab's call on the same pred_probs.

The caller's model is simulated: its logits are ``scale`` on the true class plus standard
normal noise on every class, so ``scale`` sets how accurate and how peaked its
probabilities are (with 1,000 classes: scale 4, 77 % accurate with a mean true-class
probability of 0.05; scale 8, every sample right and peaked). Labels: uniform classes,
20 % symmetric noise (``make_noisy_labels``, seed 0). Both calls get the same labels and
``pred_probs``; cleanlab's is its default ``find_label_issues(labels, pred_probs)``. Two
threads for both (OpenMP and BLAS).

    .venv/bin/python benchmarks/bench_find_label_issues_many_classes.py \\
        --out benchmarks/results/find_label_issues_many_classes.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import best_in_bold, run_line, write_markdown_and_csv  # noqa: E402

#: (samples, classes, scale) of each setting.
SETTINGS = ((20_000, 100, 3.0), (20_000, 100, 4.0), (20_000, 1000, 4.0), (20_000, 1000, 5.0),
            (20_000, 1000, 6.0), (20_000, 1000, 8.0), (100_000, 1000, 4.0))


def simulated_pred_probs(n_samples, n_classes, scale, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_samples)
    logits = rng.normal(size=(n_samples, n_classes))
    logits[np.arange(n_samples), y] += scale
    logits -= logits.max(axis=1, keepdims=True)
    pred_probs = np.exp(logits)
    pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    return y, pred_probs


def evaluate(n_samples, n_classes, scale):
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues
    from sklearn.metrics import roc_auc_score

    from skclip_noise import detection_report, make_noisy_labels
    from skclip_noise.filter import fit_pred_probs_detector

    y, pred_probs = simulated_pred_probs(n_samples, n_classes, scale)
    given, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    row = {"n": n_samples, "classes": n_classes, "scale": scale,
           "model_accuracy": float((pred_probs.argmax(axis=1) == y).mean()),
           "true_class_proba": float(pred_probs[np.arange(n_samples), y].mean()),
           "given_proba_auroc": roc_auc_score(~is_noisy, pred_probs[np.arange(n_samples), given])}
    start = time.perf_counter()
    issues = cleanlab_find_label_issues(given, pred_probs)
    row["cleanlab_s"] = time.perf_counter() - start
    row["cleanlab_clean_f1"] = detection_report(is_noisy, ~issues, output_dict=True)["clean_f1"]
    start = time.perf_counter()
    detector = fit_pred_probs_detector(given, pred_probs)  # what find_label_issues(given, pred_probs) fits
    row["ours_s"] = time.perf_counter() - start
    row["ours_clean_f1"] = detection_report(is_noisy, detector.clean_mask_, output_dict=True)["clean_f1"]
    row["ours_auroc"] = roc_auc_score(~is_noisy, detector.clean_proba_)
    row["ours_class_accuracy"] = float((detector.class_proba_.argmax(axis=1) == y).mean())
    print(row, file=sys.stderr, flush=True)
    return row


def render(rows, argv, seconds):
    lines = [
        "# find_label_issues with pred_probs alone and many classes",
        "",
        run_line("bench_find_label_issues_many_classes.py", argv, len(rows), seconds, threads="two threads")
        + " Protocol in the script's docstring. Bold: the better clean F1.",
        "",
        "| N | classes | scale | caller's accuracy / mean true-class probability | clean F1: ours / cleanlab "
        "| AUROC: ours / the given label's pred_probs | accuracy of ours `class_proba_` | seconds: ours / cleanlab |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['classes']:,} | {r['scale']:g} | {r['model_accuracy']:.3f} / "
            f"{r['true_class_proba']:.3f} | {best_in_bold(r, ('ours', 'cleanlab'), 'clean_f1')} | {r['ours_auroc']:.4f} / {r['given_proba_auroc']:.4f} | "
            f"{r['ours_class_accuracy']:.3f} | {r['ours_s']:.1f} / {r['cleanlab_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = [evaluate(*setting) for setting in SETTINGS]
    write_markdown_and_csv(render(rows, argv, time.perf_counter() - start), rows, args.out)


if __name__ == "__main__":
    main()
