"""Diagnostic: under model-based flips, is ConsensusDetector's transition estimate what it lacks?

    .venv/bin/python benchmarks/diag_transition_oracle.py --out benchmarks/results/transition_oracle.md

On the model-based flips of ``bench_realistic_noise.py`` (the same draws: feature sets,
seeds, rates), fits the default ``ConsensusDetector`` once per draw and applies Bayes'
rule to its own final evidence (``class_proba_``, times ``1 - outlier_proba_`` as the
detector does) with other class-level transition matrices ``T[true, given]``:

- ``estimated``: the detector's own ``noise_transition_`` (its verdicts, recomputed);
- ``true``: the draw's real transition matrix, from the clean and the given labels
  (:func:`skclip_noise.noise.noise_transition_matrix`), an oracle no user has;
- ``argmax counts``: each pair counted at its most probable class under the final
  evidence, rows smoothed as the detector smooths its own (half a sample per cell);
- ``soft joint``: each pair counted at every class with its probability, smoothed alike.

Also the clean F1 of the detector's ranking (``clean_proba_``) cut at the true noise
count, an upper bound on what a better count alone would give, and the best clean F1 of
the other methods in the stored ``detectors_realistic_*.csv``. If Bayes' rule with the
true ``T`` wins where the estimate loses, the estimate is what is missing; if it loses
too, no class-level ``T`` closes the gap. Only the decision changes: the detector's
rounds (its kept samples and refits) are those of its own estimate.
"""

from __future__ import annotations

import argparse
import os
import sys

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import add_feature_set_arguments, chosen_feature_sets, run_and_write  # noqa: E402
from _features import FEATURE_SETS, get_features  # noqa: E402
from bench_flag_disagreement import best_other_clean_f1  # noqa: E402
from bench_realistic_noise import pixel_pred_probs  # noqa: E402

PSEUDO_COUNT = 0.5  # as pooled_noise_transition's default
TRANSITIONS = ("estimated", "true", "argmax_counts", "soft_joint")


def smoothed_rows(joint, codes, pseudo_count=PSEUDO_COUNT):
    """Rows of a joint count matrix as P(given | true), each with ``pseudo_count`` per cell
    over ``n_i`` samples, as ``pooled_noise_transition`` smooths its estimate."""
    rows = joint / np.maximum(joint.sum(axis=1, keepdims=True), 1e-12)
    counts = rows * np.bincount(codes, minlength=joint.shape[0])[:, None] + pseudo_count
    return counts / counts.sum(axis=1, keepdims=True)


def transitions(detector, codes, true_codes):
    from skclip_noise.noise import noise_transition_matrix

    proba = detector.class_proba_
    n_classes = proba.shape[1]
    argmax_joint = np.zeros((n_classes, n_classes))
    np.add.at(argmax_joint, (proba.argmax(axis=1), codes), 1.0)
    soft_joint = np.zeros((n_classes, n_classes))
    np.add.at(soft_joint.T, codes, proba)  # soft_joint[i, y] += proba[x, i] for each pair labelled y
    return {
        "estimated": detector.noise_transition_,
        "true": noise_transition_matrix(true_codes, codes, classes=np.arange(n_classes)),
        "argmax_counts": smoothed_rows(argmax_joint, codes),
        "soft_joint": smoothed_rows(soft_joint, codes),
    }


def evaluate(name, seed, rates, best):
    from skclip_noise import ConsensusDetector, detection_report
    from skclip_noise.noise import make_model_noise
    from skclip_noise.selection import bayes_clean_posterior

    X, y, pixels = get_features(name)
    proba = pixel_pred_probs(pixels, y, seed)
    rows = []
    for rate in rates:
        y_noisy, is_noisy = make_model_noise(y, proba, rate, random_state=seed)
        detector = ConsensusDetector(random_state=seed).fit(X, y_noisy)
        codes = np.searchsorted(detector.classes_, y_noisy)
        true_codes = np.searchsorted(detector.classes_, y)
        noise = f"model {rate:.0%}"
        row = {"features": name, "seed": seed, "noise": noise, "true_rate": float(is_noisy.mean()),
               "best_other_clean_f1": best.get((name, seed, noise), np.nan)}
        for label, transition in transitions(detector, codes, true_codes).items():
            clean = bayes_clean_posterior(codes, detector.class_proba_, transition) * (1 - detector.outlier_proba_)
            report = detection_report(is_noisy, clean > detector.threshold, output_dict=True)
            row[f"{label}_clean_f1"] = report["clean_f1"]
            row[f"{label}_flagged"] = float((clean <= detector.threshold).mean())
        cut = np.quantile(detector.clean_proba_, is_noisy.mean())
        at_true_count = detection_report(is_noisy, detector.clean_proba_ > cut, output_dict=True)
        row["true_count_clean_f1"] = at_true_count["clean_f1"]
        rows.append(row)
    return rows


def markdown(rows, args, seconds):
    lines = [
        "# Model-based flips: Bayes' rule with other transition matrices",
        "",
        f"`benchmarks/diag_transition_oracle.py {' '.join(args)}`: {len(rows)} draws in {seconds / 60:.0f} min. "
        "Protocol in the script's docstring. Clean F1 / share flagged; bold: ahead of the best other method "
        "(tuned cleanlab, Datalab, NeighbourDetector, from the stored realistic tables).",
        "",
        "| features | seed | noise | true rate | estimated T | true T | argmax counts | soft joint | "
        "ranking at the true count | best other |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(value, best, flagged=None):
        text = f"{value:.4f}"
        text = f"**{text}**" if value > best else text
        return text if flagged is None else f"{text} / {flagged:.3f}"

    for r in rows:
        best = r["best_other_clean_f1"]
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | {r['true_rate']:.3f} | "
            + " | ".join(cell(r[f"{t}_clean_f1"], best, r[f"{t}_flagged"]) for t in TRANSITIONS)
            + f" | {cell(r['true_count_clean_f1'], best)} | {best:.4f} |"
        )
    counts = {t: sum(r[f"{t}_clean_f1"] > r["best_other_clean_f1"] for r in rows) for t in TRANSITIONS}
    ahead = ", ".join(f"{t} {c} of {len(rows)}" for t, c in counts.items())
    lines += ["", f"Ahead of every other method: {ahead}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_set_arguments(parser, FEATURE_SETS)
    parser.add_argument("--rates-model", default="0.2,0.3")
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    names, seeds = chosen_feature_sets(args)
    rates = [float(r) for r in args.rates_model.split(",")]
    best = best_other_clean_f1()
    run_and_write(names, seeds, lambda name, seed: evaluate(name, seed, rates, best), markdown, argv, args.out)


if __name__ == "__main__":
    main()
