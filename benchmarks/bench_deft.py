"""DEFT on Fashion-MNIST with the offline hybrid CLIP: detection, adaptation and cost.

Run by hand (not part of the tests), after ``pip install cleanlab==2.9.0``:

    .venv/bin/python benchmarks/bench_deft.py --out benchmarks/results/deft_fashion_mnist.md

(``--quick`` is a smoke run: 600 images, symmetric 40 % only, 2 phase-2 epochs.)

Protocol
--------
- Backbone: ``open_clip:skclip-hybrid-mobilenetv2`` with ``pretrained="offline"``: the
  real ImageNet MobileNetV2 trunk, a random projection and a random text tower (no real
  CLIP weights exist offline). Its image tower is a CNN, so DEFT's default visual
  prompts (VPT, ViT only) cannot apply; phase 1 runs the frozen-image-side fast mode
  ``tuning="frozen"`` (features computed once, both contexts train), every other setting at
  the reference defaults (16 context tokens, 10 epochs, 1 warm-up epoch, SGD 0.03,
  batch 64).
- Data: a stratified, seeded subset (``--n-train``) of the Fashion-MNIST training split,
  and ``--n-test`` images of the test split for phase-2 accuracy. Noise:
  ``make_noisy_labels`` symmetric 40/60 %, pair-flip 40 %, instance-dependent 40 %
  (computed on the pixels), one draw per setting shared by every method.
- Phase 1 (detection), all on the same CLIP image embeddings at ``--side`` px:
  ``DualPromptDetector(tuning="frozen")``; ``GMMLossDetector`` and ``SmallLossDetector``
  (linear probes, defaults, and GMM ``per_class=True``); ``LabelMatchDetector`` (zero-shot
  on this CLIP: its text side is random, so it is expected near chance); cleanlab's
  ``find_label_issues`` on 5-fold out-of-fold probabilities of a logistic regression whose
  C is chosen by an inner ``LogisticRegressionCV`` on the noisy labels (the same fair
  tuning as ``bench_detectors.py``). Metrics: precision/recall/F1 of the kept (clean) set
  and F1 of the flagged set, estimated noise rate, AUROC of the score each method
  thresholds, fit time; for DEFT also the accuracy of its positive prompts against the
  true labels on the test images (the paper's "w/o adaptation" classifier).
- Ablation (diagnostic, not a method of the library): DEFT's loss, schedule and rule with
  free per-class vectors in place of the text tower's prompts (``free_vector_deft``), to
  tell the method apart from the offline CLIP's random text tower.
- Phase 2 (adaptation): ``DeftClassifier`` with that detector and full fine-tuning of the
  CLIP image tower (``--phase2-side`` px, ``--epochs`` epochs, cosine) against the same
  fine-tuning on all noisy labels (``DeftClassifier("passthrough")``); test accuracy and
  fit time; and, as a diagnostic, the same phase 2 behind ``GMMLossDetector`` (a linear
  probe on the same embeddings). The optimiser is the paper's Table 11 setting for CNNs (AdamW 1e-3, wd 1e-5),
  not the reference's CLIP-tower setting (SGD 5e-4), because this tower is a MobileNetV2:
  in a 2-epoch smoke run SGD 5e-4 left both methods at 0.14-0.17 test accuracy.
  ``--no-phase2`` skips it (and ``--no-phase1`` the detection part); ``--settings``
  picks noise settings, e.g. ``--settings symmetric:0.4,symmetric:0.6``.

Progress goes to stderr, the Markdown to ``--out`` and the raw numbers to the ``.csv``
next to it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # see bench_detectors.py: 2 cores, no oversubscription

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import cleanlab_pred_probs, embed, log, write_csv  # noqa: E402

SPEC, PRETRAINED = "open_clip:skclip-hybrid-mobilenetv2", "offline"
SETTINGS = [("symmetric", 0.4), ("symmetric", 0.6), ("pairflip", 0.4), ("instance", 0.4)]


def detectors(seed, class_names, spec=SPEC):
    from skclip_noise import DualPromptDetector, GMMLossDetector, LabelMatchDetector, SmallLossDetector

    common = {"device": "cpu", "random_state": seed}
    probe = {"tuning": "frozen", **common}
    return [
        ("DualPromptDetector (tuning='frozen', reference defaults)", "deft",
         lambda: DualPromptDetector(spec, PRETRAINED, tuning="frozen", class_names=class_names, **common)),
        ("GMMLossDetector (default)", "baseline", lambda: GMMLossDetector(**probe)),
        ("GMMLossDetector per_class", "baseline", lambda: GMMLossDetector(per_class=True, **probe)),
        ("SmallLossDetector (rate estimated)", "baseline", lambda: SmallLossDetector(**probe)),
        ("LabelMatchDetector (zero-shot)", "baseline",
         lambda: LabelMatchDetector(spec, PRETRAINED, class_names=class_names, device="cpu")),
    ]


def free_vector_deft(features, y_noisy, n_classes, seed, logit_scale, epochs=10, warmup_epochs=1, lr=0.03,
                     batch_size=64, init=None):
    """Ablation: DEFT's loss, schedule and clean rule with the text tower taken out.

    The positive and negative prompts of each class are replaced by free vectors in the
    joint space (init N(0, 0.02)), trained exactly like the contexts (SGD 0.03, momentum
    0.9, wd 5e-4, cosine, batch 64, 1 warm-up epoch, CLIP's logit scale, the library's
    ``dual_prompt_loss``). It separates the method from the random text tower of the
    offline CLIP. ``init`` (n_classes, dim): start both vectors of each class there
    instead (e.g. the text features of the class prompts). Returns the clean mask and ``p_y``.
    """
    import torch
    from torch.nn import functional as F

    from skclip_noise.detectors.dual_prompt import clean_probabilities, dual_prompt_loss

    generator = torch.Generator().manual_seed(seed)
    images = F.normalize(torch.as_tensor(features, dtype=torch.float32), dim=-1)
    labels = torch.as_tensor(y_noisy, dtype=torch.long)
    start = torch.randn(2, n_classes, images.shape[1], generator=generator) * 0.02
    if init is not None:
        start = torch.as_tensor(init, dtype=torch.float32).unsqueeze(0).repeat(2, 1, 1)
    vectors = torch.nn.Parameter(start)
    optimizer = torch.optim.SGD([vectors], lr=lr, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    for epoch in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(labels), batch_size):
            index = order[start:start + batch_size]
            text = F.normalize(vectors, dim=-1)
            f, y = images[index], labels[index]
            offset = torch.randint(1, n_classes, (len(y),), generator=generator)
            loss, _ = dual_prompt_loss(logit_scale * f @ text[0].T, logit_scale * f.detach() @ text[1].T, y,
                                       (y + offset) % n_classes, warmup=epoch < warmup_epochs, real_world=False,
                                       positive_weight=1.0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
    with torch.no_grad():
        text = F.normalize(vectors, dim=-1)
        p = clean_probabilities(logit_scale * images @ text[0].T, logit_scale * images @ text[1].T)
    p_given = p[torch.arange(len(labels)), labels].numpy()
    return p_given > 0.5, p_given


def detection_row(setting, method, group, is_noisy, clean_mask, score_noisy, seconds, note=""):
    from sklearn.metrics import roc_auc_score

    from skclip_noise.metrics import detection_report

    report = detection_report(is_noisy, clean_mask, output_dict=True)
    return {
        "part": "detection", "noise": setting[0], "rate": setting[1], "true_rate": float(is_noisy.mean()),
        "method": method, "group": group,
        "clean_precision": report["clean_precision"], "clean_recall": report["clean_recall"],
        "clean_f1": report["clean_f1"], "noisy_f1": report["noisy_f1"],
        "estimated_rate": report["estimated_noise_rate"], "auroc": roc_auc_score(is_noisy, score_noisy),
        "test_accuracy": np.nan, "fit_s": seconds, "note": note,
    }


def run_detection(setting, features, test_features, y_test, y_noisy, is_noisy, class_names, seed):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    rows = []
    for name, group, make in detectors(seed, class_names):
        detector = make()
        t0 = time.perf_counter()
        detector.fit(features, y_noisy)
        seconds = time.perf_counter() - t0
        note = ""
        if hasattr(detector, "predict") and group == "deft":
            accuracy = float(np.mean(detector.predict(test_features) == y_test))
            note = f"positive-prompt test accuracy (w/o adaptation) {accuracy:.4f}"
        rows.append(detection_row(setting, name, group, is_noisy, detector.clean_mask_,
                                  1.0 - detector.clean_proba_, seconds, note))
        log(f"{setting} | {name}: clean F1 {rows[-1]['clean_f1']:.4f} noisy F1 {rows[-1]['noisy_f1']:.4f} "
            f"AUROC {rows[-1]['auroc']:.4f} ({seconds:.1f} s) {note}")
    from skclip_noise.backbones.loading import load_backbone

    logit_scale = float(load_backbone(SPEC, PRETRAINED, device="cpu").model.logit_scale.exp())
    t0 = time.perf_counter()
    clean, p_given = free_vector_deft(features, y_noisy, len(class_names), seed, logit_scale)
    rows.append(detection_row(setting, "DEFT loss and rule on free class vectors (no text tower)", "ablation",
                              is_noisy, clean, 1.0 - p_given, time.perf_counter() - t0,
                              "diagnostic: the method without the random text tower"))
    log(f"{setting} | ablation: clean F1 {rows[-1]['clean_f1']:.4f} noisy F1 {rows[-1]['noisy_f1']:.4f}")
    t0 = time.perf_counter()
    pred_probs, C = cleanlab_pred_probs(features, y_noisy, seed)
    issues = find_label_issues(y_noisy, pred_probs, n_jobs=1)
    seconds = time.perf_counter() - t0
    margin = get_label_quality_scores(y_noisy, pred_probs, method="normalized_margin")
    rows.append(detection_row(setting, "cleanlab CL (default)", "baseline", is_noisy, ~issues, -margin,
                              seconds, f"C={C:.0e} chosen by inner CV"))
    log(f"{setting} | cleanlab: clean F1 {rows[-1]['clean_f1']:.4f} noisy F1 {rows[-1]['noisy_f1']:.4f}")
    return rows


def run_adaptation(setting, X, y_noisy, X_test, y_test, class_names, args):
    from skclip_noise import DeftClassifier, DualPromptDetector, GMMLossDetector

    detector = DualPromptDetector(SPEC, PRETRAINED, tuning="frozen", image_size=args.side, class_names=class_names,
                                  cache_dir=args.cache_dir, device="cpu", random_state=args.seed)
    phase2 = dict(backbone=SPEC, pretrained=PRETRAINED, tuning="full", epochs=args.epochs,
                  optimizer="adamw", lr=1e-3, weight_decay=1e-5,
                  image_size=args.phase2_side, device="cpu", random_state=args.seed)
    rows = []
    for name, group, clf in [
        ("DeftClassifier (DualPromptDetector + full fine-tuning)", "deft", DeftClassifier(detector, **phase2)),
        ("full fine-tuning, CE on all labels", "baseline", DeftClassifier("passthrough", **phase2)),
        ("DeftClassifier with GMMLossDetector (phase 2 on a loss-based selection)", "ablation",
         DeftClassifier(GMMLossDetector(backbone=SPEC, pretrained=PRETRAINED, image_size=args.side, cache_dir=args.cache_dir,
                                        device="cpu", random_state=args.seed), **phase2)),
    ]:
        t0 = time.perf_counter()
        clf.fit(X, y_noisy)
        seconds = time.perf_counter() - t0
        accuracy = float(clf.score(X_test, y_test))
        rows.append({
            "part": "adaptation", "noise": setting[0], "rate": setting[1], "true_rate": np.nan,
            "method": name, "group": group, "clean_precision": np.nan, "clean_recall": np.nan,
            "clean_f1": np.nan, "noisy_f1": np.nan, "estimated_rate": np.nan, "auroc": np.nan,
            "test_accuracy": accuracy, "fit_s": seconds,
            "note": f"trained on {int(clf.clean_mask_.sum())} of {len(y_noisy)} samples",
        })
        log(f"{setting} | {name}: test accuracy {accuracy:.4f} ({seconds:.0f} s)")
    return rows


def markdown(rows, args, info, total_seconds):
    import sklearn
    import torch

    out = ["# DEFT on Fashion-MNIST with the offline hybrid CLIP", ""]
    out += [f"Command: `python benchmarks/bench_deft.py {' '.join(sys.argv[1:])}`  ",
            f"Total runtime: {total_seconds / 60:.1f} min.  ",
            (f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs while it ran), "
             f"torch {torch.__version__} with {torch.get_num_threads()} thread(s), scikit-learn {sklearn.__version__}.  "),
            (f"Data: {info['n_train']} training images (stratified subset, seed {args.seed}) and "
             f"{info['n_test']} test images of Fashion-MNIST. Backbone `{SPEC}` (`pretrained=\"offline\"`: real "
             "MobileNetV2 trunk, random projection and text tower). Phase-1 embeddings at "
             f"{args.side} px ({info['embed_s']:.0f} s for train+test, cached)."), ""]
    for part, title in (("detection", "Phase 1: detection"), ("adaptation", "Phase 2: adaptation")):
        block = [r for r in rows if r["part"] == part]
        if not block:
            continue
        out += [f"## {title}", ""]
        for kind, rate in args.settings:
            sub = [r for r in block if r["noise"] == kind and r["rate"] == rate]
            if not sub:
                continue
            if part == "detection":
                out += [f"**{kind} {rate:.0%}** (true rate {sub[0]['true_rate']:.3f})", "",
                        "| method | clean P | clean R | clean F1 | noisy F1 | est. | AUROC | fit s | note |",
                        "|---|---|---|---|---|---|---|---|---|"]
                out += [f"| {r['method']} | {r['clean_precision']:.4f} | {r['clean_recall']:.4f} | "
                        f"{r['clean_f1']:.4f} | {r['noisy_f1']:.4f} | {r['estimated_rate']:.3f} | "
                        f"{r['auroc']:.4f} | {r['fit_s']:.1f} | {r['note']} |" for r in sub]
            else:
                out += [f"**{kind} {rate:.0%}**", "", "| method | test accuracy | fit s | note |", "|---|---|---|---|"]
                out += [f"| {r['method']} | {r['test_accuracy']:.4f} | {r['fit_s']:.0f} | {r['note']} |" for r in sub]
            out += [""]
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--side", type=int, default=96, help="phase-1 input side (px)")
    parser.add_argument("--phase2-side", type=int, default=64, help="phase-2 input side (px)")
    parser.add_argument("--epochs", type=int, default=10, help="phase-2 epochs")
    parser.add_argument("--no-phase2", action="store_true")
    parser.add_argument("--no-phase1", action="store_true")
    parser.add_argument("--settings", default=None,
                        help="comma-separated subset, e.g. symmetric:0.4,pairflip:0.4 (default: all four)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default="/tmp/skclip-bench-cache")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.settings:
        args.settings = [(kind, float(rate)) for kind, rate in (item.split(":") for item in args.settings.split(","))]
    else:
        args.settings = SETTINGS
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.settings = 600, 200, 2, SETTINGS[:1]

    import torch

    from skclip_noise import make_noisy_labels
    from skclip_noise.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist

    torch.set_num_threads(1)
    start = time.perf_counter()
    class_names = list(FASHION_MNIST_CLASSES)
    X, y = load_fashion_mnist(n_samples=args.n_train, random_state=args.seed)
    X_test, y_test = load_fashion_mnist(subset="test", n_samples=args.n_test, random_state=args.seed)
    t0 = time.perf_counter()
    features, _ = embed(SPEC, PRETRAINED, args.side, X, args.cache_dir)
    test_features, _ = embed(SPEC, PRETRAINED, args.side, X_test, args.cache_dir)
    info = {"n_train": len(y), "n_test": len(y_test), "embed_s": time.perf_counter() - t0}
    pixels = X.reshape(len(X), -1).astype(np.float64) / 255.0
    rows = []
    for kind, rate in args.settings:
        extra = {"features": pixels} if kind == "instance" else {}
        y_noisy, is_noisy = make_noisy_labels(y, kind, rate, random_state=args.seed, **extra)
        if not args.no_phase1:
            rows += run_detection((kind, rate), features, test_features, y_test, y_noisy, is_noisy, class_names,
                                  args.seed)
        if not args.no_phase2:
            rows += run_adaptation((kind, rate), X, y_noisy, X_test, y_test, class_names, args)
        if args.out:  # write as we go: a long run that stops early keeps what it measured
            with open(args.out, "w") as handle:
                handle.write(markdown(rows, args, info, time.perf_counter() - start))
            write_csv(rows, os.path.splitext(args.out)[0] + ".csv")
    text = markdown(rows, args, info, time.perf_counter() - start)
    print(text)


if __name__ == "__main__":
    main()
