"""The two calibrations of ConsensusDetector's step 3, side by side on the same draws.

``calibration="bias_corrected"`` fits the averaged evidence to the labels the detector
keeps; ``"noise_corrected"`` fits it to every given label through the transition
estimate (``fit_noise_corrected_temperature``). ``"auto"`` picks the second on a caller's
``pred_probs`` alone and the first on features; this script measures both routes with
both calibrations.

* ``--route pred_probs``: ``find_label_issues(labels, pred_probs)``'s detector
  (``fit_pred_probs_detector``) with each calibration, beside cleanlab's call on the same
  ``pred_probs``, on the six class-conditional settings of ``bench_detectors.py`` and its
  caller models (``--caller-model``, out of fold, as ``bench_detectors.py --pred-probs``).
  Faster than that script: nothing else is fitted.
* ``--route features``: ``ConsensusDetector`` on the features, each calibration, on the six
  class-conditional settings and the six realistic ones of ``bench_realistic_noise.py``
  (model-based flips 20/30 %, open set 10/20 %, long tail 10 with symmetric 20/30 %).

    .venv/bin/python benchmarks/diag_noise_corrected_calibration.py --route pred_probs --caller-model knn \\
        --features fmnist_mobilenetv2,fmnist_effnetlite0,mnist_raw,mnist_mobilenetv2 --seeds 0 --out ...
    .venv/bin/python benchmarks/diag_noise_corrected_calibration.py --route features \\
        --features digits_raw,digits_mobilenetv2 --seeds 0,1 --out ...
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import log, run_line, write_markdown_and_csv  # noqa: E402

CALIBRATIONS = ("bias_corrected", "noise_corrected")


def _f1s(is_noisy, clean):
    from skclip_noise import detection_report

    report = detection_report(is_noisy, clean, output_dict=True)
    return report["clean_f1"], report["noisy_f1"]


def pred_probs_rows(name, seed, caller):
    from _features import get_features
    from _find_label_issues_bench import caller_pred_probs
    from _detection_protocol import SETTINGS, noisy_labels

    from skclip_noise import ConsensusDetector
    from skclip_noise.filter import fit_pred_probs_detector

    X, y, pixels = get_features(name)
    rows = []
    for kind, rate in SETTINGS:
        y_noisy, is_noisy = noisy_labels(name, y, pixels, kind, rate, seed)
        pred_probs, kept = caller_pred_probs(caller, X, y_noisy, seed)
        row = {"features": name, "seed": seed, "noise": f"{kind} {rate:.0%}", "caller": caller}
        row["cleanlab_clean_f1"], row["cleanlab_noisy_f1"] = _f1s(is_noisy, kept["prune_by_noise_rate"][0])
        for calibration in CALIBRATIONS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = fit_pred_probs_detector(
                    y_noisy, pred_probs, detector=ConsensusDetector(calibration=calibration, random_state=seed)
                )
            row[f"{calibration}_clean_f1"], row[f"{calibration}_noisy_f1"] = _f1s(is_noisy, fitted.clean_mask_)
        log(f"{name} seed {seed} {row['noise']} {caller}: " + " ".join(
            f"{c} {row[f'{c}_clean_f1']:.4f}" for c in (*CALIBRATIONS, "cleanlab")))
        rows.append(row)
    return rows


def features_rows(name, seed):
    from _features import get_features
    from _detection_protocol import SETTINGS, noisy_labels
    from bench_realistic_noise import DEFAULT_RATES, noise_draws

    from skclip_noise import ConsensusDetector

    X, y, pixels = get_features(name)
    draws = [(f"{kind} {rate:.0%}", X, *noisy_labels(name, y, pixels, kind, rate, seed)) for kind, rate in SETTINGS]
    draws += list(noise_draws(name, seed, DEFAULT_RATES))
    rows = []
    for noise, X_drawn, y_noisy, is_noisy in draws:
        row = {"features": name, "seed": seed, "noise": noise, "caller": "-"}
        for calibration in CALIBRATIONS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = ConsensusDetector(calibration=calibration, random_state=seed).fit(X_drawn, y_noisy)
            row[f"{calibration}_clean_f1"], row[f"{calibration}_noisy_f1"] = _f1s(is_noisy, fitted.clean_mask_)
        log(f"{name} seed {seed} {noise}: " + " ".join(f"{c} {row[f'{c}_clean_f1']:.4f}" for c in CALIBRATIONS))
        rows.append(row)
    return rows


def render(rows, argv, seconds, route):
    with_cleanlab = route == "pred_probs"
    where = "on a caller's pred_probs alone" if with_cleanlab else "on features"
    lines = [
        f"# The two calibrations of step 3, {where}",
        "",
        run_line("diag_noise_corrected_calibration.py", argv, len(rows), seconds, threads="one thread")
        + " Protocol in the script's docstring.",
        "",
        "| features | seed | noise | caller | clean F1: bias-corrected / noise-corrected"
        + (" / cleanlab's call" if with_cleanlab else "") + " | change | noisy F1: bias-corrected / noise-corrected"
        + (" / cleanlab's call" if with_cleanlab else "") + " |",
        "|---|---|---|---|---|---|---|",
    ]
    columns = (*CALIBRATIONS, "cleanlab") if with_cleanlab else CALIBRATIONS
    for r in rows:
        clean = " / ".join(f"{r[f'{c}_clean_f1']:.4f}" for c in columns)
        noisy = " / ".join(f"{r[f'{c}_noisy_f1']:.4f}" for c in columns)
        change = r["noise_corrected_clean_f1"] - r["bias_corrected_clean_f1"]
        lines.append(f"| {r['features']} | {r['seed']} | {r['noise']} | {r['caller']} | {clean} | {change:+.4f} | "
                     f"{noisy} |")
    changes = np.array([r["noise_corrected_clean_f1"] - r["bias_corrected_clean_f1"] for r in rows])
    lines += ["", f"Clean-F1 change, noise-corrected against bias-corrected: mean {changes.mean():+.4f}, "
              f"from {changes.min():+.4f} to {changes.max():+.4f}."]
    if with_cleanlab:
        ahead = [sum(r[f"{c}_clean_f1"] >= r["cleanlab_clean_f1"] for r in rows) for c in CALIBRATIONS]
        lines[-1] += (f" At least as good as cleanlab's call on clean F1: {ahead[0]} (bias-corrected) and "
                      f"{ahead[1]} (noise-corrected) of {len(rows)}.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--route", choices=("pred_probs", "features"), required=True)
    parser.add_argument("--caller-model", default="lr", help="as bench_detectors.py --caller-model (pred_probs route)")
    parser.add_argument("--features", default="digits_raw,digits_mobilenetv2")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in args.features.split(","):
            rows += (pred_probs_rows(name, seed, args.caller_model) if args.route == "pred_probs"
                     else features_rows(name, seed))
    text = render(rows, sys.argv[1:] if argv is None else list(argv), time.perf_counter() - start, args.route)
    write_markdown_and_csv(text, rows, args.out)


if __name__ == "__main__":
    main()
