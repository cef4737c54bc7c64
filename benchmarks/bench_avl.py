"""AVLPrompter against DeftClassifier and TurnClassifier on noisy Fashion-MNIST, on a CPU.

Run by hand (not part of the tests), e.g. in the background:

    OMP_NUM_THREADS=1 nohup .venv/bin/python benchmarks/bench_avl.py \
        --out benchmarks/results/avl_fashion_mnist.md > /tmp/bench_avl.log 2>&1 &

(``--quick``: 300 training images, one noise setting, two epochs: a smoke run.)

Protocol
--------
- Data: stratified, seeded subsets of Fashion-MNIST (the Debian
  ``dataset-fashion-mnist`` files): ``--n-train`` images of the training split get
  the label noise, ``--n-test`` images of the test split (clean labels) measure
  accuracy. String labels (the class names), so the text prompts have names.
- Noise: ``make_noisy_labels(kind="symmetric", include_true_class=True)``, DivideMix's
  and AVL-Prompter's convention (the new label may be the true one, so the realised
  share of wrong labels is about ``rate * 9 / 10``); 50 % and 80 %. One draw per
  rate (seed ``--seed``), shared by every method.
- Model: the hybrid CLIP ``open_clip:skclip-hybrid-mobilenetv2`` with
  ``pretrained="offline"``: the real ImageNet MobileNetV2 as image trunk, a random
  projection and a *random text tower*. No real CLIP weights exist offline, so the
  zero-shot start AVL-Prompter relies on is absent here: its prompts and text
  tower must learn the classes from scratch, so it gets ``--warmup`` warm-up epochs
  (plain cross-entropy on all samples; 2 by default) before the first co-divide.
  The image trunk is a CNN, so AVLPrompter uses text-side deep prompts only (no
  coupled vision prompts: see its docstring) and fine-tunes the trunk. Every method
  gets the same input side ``--image-size`` (the 28-pixel images upscaled to 64;
  224 is too slow on a CPU).
- Methods, with the same number of fine-tuning epochs ``--epochs`` (4) over the
  data: ``AVLPrompter`` (two peers, its defaults otherwise except ``prompt_depth=4``,
  the text tower's depth; and, at the rates in ``--one-network-rates``, one network,
  ``n_networks=1``, the cheaper variant); ``DeftClassifier`` (its phase 1,
  ``DualPromptDetector`` with ``tuning="frozen"`` on frozen image features of the same
  CLIP, 10 epochs; then full fine-tuning of the image tower with a linear head on
  the kept samples); ``TurnClassifier`` (linear probing with GCE on frozen
  features, then full fine-tuning on the per-class GMM clean subset). Each with its
  defaults otherwise (``random_state=0``, CPU, fp32).
- Reference row: AVLPrompter's network trained with plain cross-entropy on the
  *clean* labels for the same epochs (``warmup_epochs=epochs``, one network): what
  the architecture reaches on this test bed in this budget without any noise.
- Measured: clean test accuracy of the final model (no epoch picked on the test
  set); fit time; time per fine-tuning epoch (from ``history_`` where the estimator
  records it); and for AVLPrompter, the precision/recall of the labelled (clean)
  set of its last co-divide against the true noise mask.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

import skclip_noise
from skclip_noise import (
    AVLPrompter,
    DeftClassifier,
    DualPromptDetector,
    make_noisy_labels,
)
from skclip_noise.datasets import load_fashion_mnist
from skclip_noise.metrics import detection_report

BACKBONE = dict(backbone="open_clip:skclip-hybrid-mobilenetv2", pretrained="offline")


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def methods(args, rate):
    common = dict(device="cpu", random_state=0)
    avl = dict(**BACKBONE, **common, prompt_depth=4, epochs=args.epochs, warmup_epochs=args.warmup,
               image_size=args.image_size, batch_size=64)
    found = {"AVLPrompter (2 peers)": lambda: AVLPrompter(**avl)}
    if rate in args.one_network_rates:
        found["AVLPrompter (1 network)"] = lambda: AVLPrompter(**avl, n_networks=1)
    found["DeftClassifier"] = lambda: DeftClassifier(
        DualPromptDetector(**BACKBONE, **common, tuning="frozen", epochs=10, batch_size=64),
        **BACKBONE, **common, tuning="full", epochs=args.epochs, image_size=args.image_size, batch_size=64,
    )
    turn = getattr(skclip_noise, "TurnClassifier", None)
    if turn is not None:
        found["TurnClassifier"] = lambda: turn(**BACKBONE, **common, ft_epochs=args.epochs,
                                               image_size=args.image_size)
    return found


def ceiling(args):
    """AVLPrompter's network trained with plain cross-entropy on the *clean* labels for the
    same number of epochs (every epoch a warm-up epoch, one network): what this test bed
    lets the architecture reach in this budget without any noise."""
    return AVLPrompter(**BACKBONE, device="cpu", random_state=0, prompt_depth=4, epochs=args.epochs,
                       warmup_epochs=args.epochs, image_size=args.image_size, batch_size=64, n_networks=1)


def epoch_times(clf):
    history = getattr(clf, "history_", None)
    if not history or not isinstance(history, list) or "time" not in history[0]:
        return None
    times = [h["time"] for h in history if not h.get("warmup", False)]
    return times or [h["time"] for h in history]  # all warm-up (the reference row)


def run(args):
    X_train, y_train = load_fashion_mnist(subset="train", n_samples=args.n_train, random_state=args.seed,
                                          as_strings=True)
    X_test, y_test = load_fashion_mnist(subset="test", n_samples=args.n_test, random_state=args.seed,
                                        as_strings=True)
    rows = []
    settings = [(0.0, "ceiling")] if args.ceiling else []
    settings += [(rate, "noisy") for rate in args.rates]
    for rate, what in settings:
        if what == "ceiling":
            y_noisy, is_noisy = y_train, np.zeros(len(y_train), dtype=bool)
            todo = {"AVLPrompter network, CE on clean labels (reference)": lambda: ceiling(args)}
        else:
            y_noisy, is_noisy = make_noisy_labels(y_train, "symmetric", rate, random_state=args.seed,
                                                  include_true_class=True)
            todo = methods(args, rate)
        log(f"symmetric {rate:.0%}: realised wrong labels {is_noisy.mean():.3f}")
        for name, make in todo.items():
            if args.only and not any(o.lower() in name.lower() for o in args.only):
                continue
            clf = make()
            log(f"  {name} ...")
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                clf.fit(X_train, y_noisy)
            fit_time = time.perf_counter() - start
            accuracy = float((clf.predict(X_test) == y_test).mean())
            row = {"rate": rate, "realised": float(is_noisy.mean()), "method": name, "accuracy": accuracy,
                   "fit_s": fit_time, "epoch_s": None, "clean_precision": None, "clean_recall": None,
                   "labelled": None}
            times = epoch_times(clf)
            if times:
                row["epoch_s"] = float(np.mean(times))
            if isinstance(clf, AVLPrompter) and what == "noisy":
                rep = detection_report(is_noisy, clf.clean_mask_, output_dict=True)
                row["clean_precision"], row["clean_recall"] = rep["clean_precision"], rep["clean_recall"]
            if isinstance(clf, AVLPrompter):
                row["labelled"] = [h["n_labelled"] for h in clf.history_]
                row["history"] = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items()}
                                  for h in clf.history_]
            log(f"  {name}: accuracy {accuracy:.4f}, fit {fit_time:.0f} s, epoch {row['epoch_s']}")
            rows.append(row)
            write(args, rows)
    return rows


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def write(args, rows):
    lines = [
        "# AVLPrompter on noisy Fashion-MNIST (CPU, hybrid CLIP)",
        "",
        f"Command: `{' '.join(['.venv/bin/python'] + sys.argv)}`",
        "",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), shared with other jobs (times are indicative). "
        f"Data: {args.n_train} training images (stratified), {args.n_test} clean test images, "
        f"input side {args.image_size}. Backbone: `{BACKBONE['backbone']}`, pretrained=\"offline\" "
        "(real MobileNetV2 trunk, random text tower). Fine-tuning epochs: "
        f"{args.epochs} for every method (AVLPrompter: the first {args.warmup} of them warm-up). See the protocol in "
        "`benchmarks/bench_avl.py`.",
        "",
        "| noise (realised) | method | test accuracy | fit time (s) | time / epoch (s) | clean precision | clean recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {'none' if r['rate'] == 0 else format(r['rate'], '.0%') + ' sym'} ({r['realised']:.1%}) | {r['method']} | {r['accuracy']:.4f} | {r['fit_s']:.0f} | "
            f"{fmt(r['epoch_s'], '.0f')} | {fmt(r['clean_precision'], '.3f')} | {fmt(r['clean_recall'], '.3f')} |"
        )
    lines += ["", "AVLPrompter per-epoch history (labelled count per peer, loss terms, mask rate):", ""]
    for r in rows:
        if r.get("history"):
            lines.append(f"- noise {r['rate']:.0%}, {r['method']}:")
            for h in r["history"]:
                lines.append(
                    f"  - epoch {h['epoch']}{' (warm-up)' if h.get('warmup') else ''}: labelled {h['n_labelled']}, "
                    f"loss {h['loss']}, L_x {h.get('loss_x', '-')}, L_u {h.get('loss_u', '-')}, "
                    f"L_r {h.get('loss_r', '-')}, mask rate {h.get('mask_rate', '-')}, {h['time']:.0f} s"
                )
    if args.out:
        with open(args.out, "w") as handle:
            handle.write("\n".join(lines) + "\n")
    else:
        print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=600)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs of every method")
    parser.add_argument("--warmup", type=int, default=2, help="AVLPrompter's warm-up epochs (within --epochs)")
    parser.add_argument("--one-network-rates", type=float, nargs="*", default=[0.5])
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.5, 0.8])
    parser.add_argument("--only", nargs="*", default=None, help="run only methods whose name contains one of these")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.warmup, args.rates = 300, 200, 2, 1, [0.5]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    run(args)


if __name__ == "__main__":
    main()
