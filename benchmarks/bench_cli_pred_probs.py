"""``skclip-noise detect FOLDER`` with and without ``--pred-probs``: a user's own model joins the images' evidence.

The 1,797 scikit-learn digits are written as a class-subfolder image folder under
their *noisy* labels (symmetric, pair-flip and class-confusable noise at 40 %, seeds
0 and 1; the draws of ``bench_detectors.py``). The user's model is a tuned logistic regression on the raw pixels
(``cleanlab_pred_probs``: C chosen by inner cross-validation, out-of-fold
probabilities), saved as ``pred_probs.csv`` (a ``path`` column and one column per
class). The command line runs the consensus detector on MobileNetV2 at 64 px, with
the offline ImageNet weights (the demo's backbone) and with random weights (a
backbone that suits the images badly), once without and once with ``--pred-probs``, and
cleanlab's ``find_label_issues`` runs on the same ``pred_probs``. Clean and noisy F1
against the injected noise; ``weight`` is ``pred_probs_weight_`` as the command line
prints it; seconds are the command's wall time (embeddings cached after the first run).

    .venv/bin/python benchmarks/bench_cli_pred_probs.py --out benchmarks/results/cli_pred_probs.md
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import cleanlab_pred_probs, log, run_line, write_markdown_and_csv  # noqa: E402
from _detection_protocol import noisy_labels  # noqa: E402  (the tables' noise draws)

NOISES = (("symmetric", 0.4), ("pairflip", 0.4), ("asymmetric", 0.4))
#: The images' backbone: the demo's (ImageNet weights, offline) and the same network with random
#: weights, a backbone that suits the images badly (where a user's own model should earn weight).
BACKBONES = {"offline": ["--backbone", "torchvision:mobilenet_v2", "--pretrained", "offline", "--image-size", "64"],
             "random": ["--backbone", "torchvision:mobilenet_v2", "--pretrained", "none", "--image-size", "64"],
             "tiny-random": ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none"]}


def run_cli(argv):
    """(exit status, seconds, stderr) of ``skclip-noise`` run in this process."""
    from skclip_noise import cli

    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err):
        status = cli.main(argv)
    return status, time.perf_counter() - start, err.getvalue()


def setting(images, y, names, kind, rate, seed, work, backbones):
    import pandas as pd
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues

    from skclip_noise import detection_report
    from skclip_noise.datasets import load_image_folder, make_image_folder

    pixels = images.reshape(len(images), -1).astype(np.float64)
    y_noisy, is_noisy = noisy_labels("digits_raw", y, pixels, kind, rate, seed)
    folder = make_image_folder(images, names[y_noisy], os.path.join(work, f"{kind}_{seed}", "images"))
    paths, _ = load_image_folder(folder)
    position = np.array([int(os.path.splitext(os.path.basename(p))[0]) for p in paths])  # image i is <i>.png
    pred_probs, _ = cleanlab_pred_probs(pixels, y_noisy, seed)
    table = pd.DataFrame(pred_probs[position], columns=names)
    table.insert(0, "path", paths)
    csv = os.path.join(work, f"{kind}_{seed}", "pred_probs.csv")
    table.to_csv(csv, index=False)
    issues = cleanlab_find_label_issues(y_noisy, pred_probs)
    cleanlab = detection_report(is_noisy, ~issues, output_dict=True)
    rows = []
    for backbone in backbones:
        row = {"backbone": backbone, "noise": f"{kind} {rate:.0%}", "seed": seed,
               "cleanlab_clean_f1": cleanlab["clean_f1"], "cleanlab_noisy_f1": cleanlab["noisy_f1"]}
        cache = os.path.join(work, f"embeddings_{backbone}")
        for method, extra in (("images", []), ("images + pred_probs", ["--pred-probs", csv])):
            out = os.path.join(work, f"{kind}_{seed}", backbone + method.replace(" ", ""))
            status, seconds, err = run_cli(["detect", folder, "--output-dir", out, "--cache-dir", cache,
                                            "--random-state", str(seed), *BACKBONES[backbone], *extra])
            if status != 0:
                raise RuntimeError(err)
            issues = pd.read_csv(os.path.join(out, "label_issues.csv")).sort_values("sample")
            report = detection_report(is_noisy[position], ~issues["is_label_issue"].to_numpy(), output_dict=True)
            weight = re.search(r"pred_probs weigh ([0-9]+(?:\.[0-9]+)?(?:e-?[0-9]+)?)", err)
            row.update({f"{method}_clean_f1": report["clean_f1"], f"{method}_noisy_f1": report["noisy_f1"],
                        f"{method}_s": seconds, f"{method}_weight": float(weight.group(1)) if weight else 0.0})
        log(row)
        rows.append(row)
    return rows


def render(rows, argv, seconds):
    lines = [
        "# `skclip-noise detect --pred-probs`: a user's model joins the images' evidence",
        "",
        run_line("bench_cli_pred_probs.py", argv, len(rows), seconds, threads="two threads"),
        "",
        "Digits written as an image folder under their noisy labels; the user's model: a tuned logistic "
        "regression on the raw pixels (out-of-fold); the command line's consensus detector on "
        "MobileNetV2 at 64 px (offline ImageNet weights, or random weights). Protocol in the script's docstring.",
        "",
        "| backbone | noise | seed | clean F1: images / images + pred_probs / cleanlab's call | noisy F1: images / "
        "images + pred_probs / cleanlab's call | pred_probs weight | seconds: images / images + pred_probs |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backbone']} | {r['noise']} | {r['seed']} | {r['images_clean_f1']:.4f} / {r['images + pred_probs_clean_f1']:.4f} / "
            f"{r['cleanlab_clean_f1']:.4f} | {r['images_noisy_f1']:.4f} / {r['images + pred_probs_noisy_f1']:.4f} / "
            f"{r['cleanlab_noisy_f1']:.4f} | {r['images + pred_probs_weight']:.2g} | "
            f"{r['images_s']:.0f} / {r['images + pred_probs_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--backbones", default=",".join(BACKBONES), help="of: " + ", ".join(BACKBONES))
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from skclip_noise.datasets import DIGITS_CLASSES, load_digits_images

    images, y = load_digits_images()
    names = np.asarray(DIGITS_CLASSES)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        rows = [row for seed in args.seeds.split(",") for kind, rate in NOISES
                for row in setting(images, y, names, kind, rate, int(seed), work, args.backbones.split(","))]
    write_markdown_and_csv(render(rows, sys.argv[1:] if argv is None else argv, time.perf_counter() - start),
                           rows, args.out)


if __name__ == "__main__":
    main()
