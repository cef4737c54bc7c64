"""The CLIP-prompt methods on the aligned offline CLIP, next to the random-text hybrid.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_aligned_clip.py --out benchmarks/results/aligned_clip.md

Protocol
--------
- Models, same real EfficientNet-Lite0 ImageNet trunk in both, ``pretrained="offline"``:
  ``open_clip:skclip-aligned-efficientnet-lite0`` (MiniLM text tower, image and text
  meeting through ImageNet's class names: :mod:`skclip_noise.backbones.aligned`) and
  ``open_clip:skclip-hybrid-efficientnet-lite0`` (random projection, random text tower).
  The best feature-space detector runs on the trunk's own 1280-d pooled features
  (``timm:tf_efficientnet_lite0``).
- Data: ``--n-train`` stratified Fashion-MNIST training images and ``--n-test`` test
  images (seed 0), inverted to dark-on-light (photos are dark objects on light ground;
  the ImageNet trunks read them better so), at 224 px for every model. Noise
  (``make_noisy_labels``, one draw per setting, shared): symmetric, pair-flip and
  instance-dependent 40 %.
- Zero-shot: ``LabelMatchDetector`` accuracy against the clean labels of both splits.
- Detection on each model's cached embeddings: ``DualPromptDetector(tuning="frozen")`` at
  the reference defaults (16 context tokens, 10 epochs, SGD 0.03); ``LabelMatchDetector``;
  ``ConsensusDetector`` on the model's embeddings without and with ``zero_shot=True`` (does
  the zero-shot signal help, hurt, or get weighted away?); and two diagnostics of DEFT's
  loss and rule with free class vectors in place of the prompts (``bench_deft.py``), started
  at random or at the model's own class-prompt text features. On the trunk's features:
  ``ConsensusDetector`` and tuned cleanlab (C by cross-validation, its default filter).
- Classification accuracy (test split): a linear head on the frozen embeddings trained on
  the samples each detector keeps (DEFT's phase 2 with ``tuning="frozen"``, solved by
  L-BFGS with C chosen by 3-fold cross-validation, instead of SGD, for CPU time), and DEFT's
  positive prompts as a classifier (the paper's "w/o adaptation").
- ``--deft-classifier-only``: ``DeftClassifier`` end to end on symmetric 40 % (its
  DualPromptDetector, then phase 2 with ``tuning="frozen"`` for ``--deft-epochs``
  epochs, which re-runs the tower on augmented views every epoch), test accuracy of
  the classifier itself.
- On symmetric 40 % only, CPU time being short: ``DualPromptDetector`` with BitFit
  (``tuning="peft"`` on this CNN tower) at ``--bitfit-side`` px for ``--bitfit-epochs``, and
  ``AVLPrompter`` (defaults but ``prompt_depth=4``, which both 4- and 6-layer text towers
  allow; text-only coupled prompts on a CNN tower) on ``--avl-n`` images
  at ``--avl-side`` px for ``--avl-epochs``.

Markdown to ``--out``, raw numbers to the ``.csv`` beside it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import cleanlab_pred_probs, embed, log, write_csv  # noqa: E402
from bench_deft import detection_row, free_vector_deft  # noqa: E402

MODELS = {
    "aligned": "open_clip:skclip-aligned-efficientnet-lite0",
    "hybrid": "open_clip:skclip-hybrid-efficientnet-lite0",
}
TRUNK = "timm:tf_efficientnet_lite0"
PRETRAINED = "offline"
SIDE = 224
SETTINGS = [("symmetric", 0.4), ("pairflip", 0.4), ("instance", 0.4)]


def head_accuracy(features, labels, keep, test_features, y_test, seed):
    """Test accuracy of a linear head trained on the kept samples (C by 3-fold CV)."""
    import warnings

    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    kept_labels = labels[keep]
    present, counts = np.unique(kept_labels, return_counts=True)
    if len(present) < 2:  # a degenerate selection: the head can only predict that class
        return float(np.mean(y_test == present[0])) if len(present) else float("nan")
    folds = min(3, int(counts.min()))
    model = make_pipeline(StandardScaler(), LogisticRegressionCV(
        Cs=np.logspace(-4, 1, 6), cv=StratifiedKFold(max(folds, 2), shuffle=True, random_state=seed),
        scoring="neg_log_loss", max_iter=500))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(features[keep], kept_labels)
    return float(np.mean(model.predict(test_features) == y_test))


def class_text_features(spec, class_names):
    from skclip_noise.backbones import load_backbone
    from skclip_noise.detectors.label_match import class_text_features as text_features

    backbone = load_backbone(spec, PRETRAINED, device="cpu")
    return text_features(backbone, class_names, ["a photo of a {}."]), float(backbone.model.logit_scale.exp())


def timed(fit):
    t0 = time.perf_counter()
    out = fit()
    return out, time.perf_counter() - t0


def record(rows, setting, model, name, group, is_noisy, clean_mask, noisy_score, seconds, accuracy, note=""):
    row = detection_row(setting, name, group, is_noisy, clean_mask, noisy_score, seconds, note)
    row.update(model=model, test_accuracy=accuracy)
    rows.append(row)
    log(f"{setting} {model} | {name}: clean F1 {row['clean_f1']:.4f} noisy F1 {row['noisy_f1']:.4f} "
        f"AUROC {row['auroc']:.4f} acc {accuracy:.4f} ({seconds:.1f} s) {note}")


def run_model(rows, setting, model, data, y_noisy, is_noisy, class_names, args):
    from skclip_noise import ConsensusDetector, DualPromptDetector, LabelMatchDetector

    spec = MODELS[model]
    features, test_features, y_test = data[model], data[model + "_test"], data["y_test"]
    common = dict(class_names=class_names, device="cpu")

    def accuracy(keep):
        return head_accuracy(features, y_noisy, keep, test_features, y_test, args.seed)

    deft, seconds = timed(lambda: DualPromptDetector(spec, PRETRAINED, tuning="frozen", random_state=args.seed,
                                                     **common).fit(features, y_noisy))
    prompts = float(np.mean(deft.predict(test_features) == y_test))
    record(rows, setting, model, "DualPromptDetector (tuning='frozen', reference defaults)", "deft", is_noisy,
           deft.clean_mask_, 1 - deft.clean_proba_, seconds, accuracy(deft.clean_mask_),
           f"positive prompts as classifier: {prompts:.4f}")
    match, seconds = timed(lambda: LabelMatchDetector(spec, PRETRAINED, **common).fit(features, y_noisy))
    record(rows, setting, model, "LabelMatchDetector (zero-shot)", "zero-shot", is_noisy, match.clean_mask_,
           1 - match.clean_proba_, seconds, accuracy(match.clean_mask_))
    for zero_shot in (False, True):
        detector, seconds = timed(lambda: ConsensusDetector(
            spec, PRETRAINED, zero_shot=zero_shot, random_state=args.seed, **common).fit(features, y_noisy))
        record(rows, setting, model, f"ConsensusDetector on its embeddings (zero_shot={zero_shot})", "feature",
               is_noisy, detector.clean_mask_, 1 - detector.clean_proba_, seconds, accuracy(detector.clean_mask_))
    text, logit_scale = class_text_features(spec, class_names)
    for label, init in (("random", None), ("the class-prompt text features", text)):
        (clean, p_given), seconds = timed(lambda: free_vector_deft(features, y_noisy, len(class_names), args.seed,
                                                                   logit_scale, init=init))
        record(rows, setting, model, f"diagnostic: DEFT loss on free class vectors from {label}", "diagnostic",
               is_noisy, clean, 1 - p_given, seconds, accuracy(clean))


def run_trunk(rows, setting, data, y_noisy, is_noisy, args):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    from skclip_noise import ConsensusDetector

    features, test_features, y_test = data["trunk"], data["trunk_test"], data["y_test"]
    detector, seconds = timed(lambda: ConsensusDetector(random_state=args.seed).fit(features, y_noisy))
    record(rows, setting, "trunk", "ConsensusDetector on the trunk's features", "feature", is_noisy,
           detector.clean_mask_, 1 - detector.clean_proba_, seconds,
           head_accuracy(features, y_noisy, detector.clean_mask_, test_features, y_test, args.seed))
    (pred_probs, C), seconds = timed(lambda: cleanlab_pred_probs(features, y_noisy, args.seed))
    issues = find_label_issues(y_noisy, pred_probs, n_jobs=1)
    margin = get_label_quality_scores(y_noisy, pred_probs, method="normalized_margin")
    record(rows, setting, "trunk", "cleanlab (C by CV, default filter) on the trunk's features", "baseline",
           is_noisy, ~issues, -margin, seconds,
           head_accuracy(features, y_noisy, ~issues, test_features, y_test, args.seed), f"C={C:.0e}")


def run_training_methods(rows, setting, images, y_noisy, is_noisy, data, class_names, args):
    """BitFit DEFT and AVL-Prompter, which train through the image tower: short CPU runs."""
    from skclip_noise import AVLPrompter, DualPromptDetector

    X_test, y_test = data["images_test"], data["y_test"]
    for model, spec in MODELS.items():
        detector, seconds = timed(lambda: DualPromptDetector(
            spec, PRETRAINED, tuning="peft", image_size=args.bitfit_side, epochs=args.bitfit_epochs,
            warmup_epochs=1, class_names=class_names, device="cpu", random_state=args.seed).fit(images, y_noisy))
        prompts = float(np.mean(detector.predict(X_test) == y_test))
        record(rows, setting, model, f"DualPromptDetector BitFit ({args.bitfit_side} px, {args.bitfit_epochs} epochs)",
               "deft", is_noisy, detector.clean_mask_, 1 - detector.clean_proba_, seconds, prompts,
               "accuracy: its positive prompts")
        n = args.avl_n
        avl, seconds = timed(lambda: AVLPrompter(
            spec, PRETRAINED, image_size=args.avl_side, epochs=args.avl_epochs, warmup_epochs=1, prompt_depth=4,
            class_names=class_names, device="cpu", random_state=args.seed).fit(images[:n], y_noisy[:n]))
        record(rows, setting, model, f"AVLPrompter ({n} images, {args.avl_side} px, {args.avl_epochs} epochs)",
               "avl", is_noisy[:n], avl.clean_mask_, 1 - avl.clean_proba_, seconds, float(avl.score(X_test, y_test)),
               "accuracy: the prompter itself")


def run_deft_classifier(rows, setting, data, y_noisy, is_noisy, class_names, args):
    """DeftClassifier end to end (DualPromptDetector, then phase 2 with a frozen tower and a
    linear head re-trained on augmented views every epoch), on both models."""
    from skclip_noise import DeftClassifier, DualPromptDetector

    for model, spec in MODELS.items():
        detector = DualPromptDetector(spec, PRETRAINED, tuning="frozen", image_size=SIDE, class_names=class_names,
                                      cache_dir=args.cache_dir, device="cpu", random_state=args.seed)
        deft = DeftClassifier(detector, tuning="frozen", epochs=args.deft_epochs, image_size=SIDE, device="cpu",
                              random_state=args.seed)
        _, seconds = timed(lambda: deft.fit(data["images"], y_noisy))
        accuracy = float(deft.score(data["images_test"], data["y_test"]))
        record(rows, setting, model, f"DeftClassifier (tuning='frozen', {args.deft_epochs} epochs)", "deft",
               is_noisy, deft.clean_mask_, 1 - deft.clean_proba_, seconds, accuracy,
               "accuracy: the classifier itself")


def load_data(args):
    from skclip_noise.datasets import load_fashion_mnist

    X, y = load_fashion_mnist(n_samples=args.n_train, random_state=args.seed)
    X_test, y_test = load_fashion_mnist(subset="test", n_samples=args.n_test, random_state=args.seed)
    data = {"images": 255 - X, "images_test": 255 - X_test, "y": y, "y_test": y_test, "pixels": X}
    for model, spec in {**MODELS, "trunk": TRUNK}.items():
        (data[model], seconds), _ = timed(lambda: embed(spec, PRETRAINED, SIDE, data["images"], args.cache_dir))
        data[model + "_test"], _ = embed(spec, PRETRAINED, SIDE, data["images_test"], args.cache_dir)
        log(f"embedded {model}: {data[model].shape} in {seconds:.0f} s")
    return data


def zero_shot_rows(data, class_names):
    from skclip_noise import LabelMatchDetector

    out = []
    for model, spec in MODELS.items():
        row = {"model": model}
        for split in ("", "_test"):
            labels = data["y" + split]
            match = LabelMatchDetector(spec, PRETRAINED, class_names=class_names, device="cpu")
            row["train" if not split else "test"] = float(match.fit(data[model + split], labels).clean_mask_.mean())
        out.append(row)
        log(f"zero-shot {model}: {row}")
    return out


def markdown(rows, zero_shot, args, seconds):
    import sklearn
    import torch

    out = ["# CLIP-prompt methods on the aligned offline CLIP vs the random-text hybrid", "",
           f"Command: `python benchmarks/bench_aligned_clip.py {' '.join(sys.argv[1:])}`  ",
           f"Total runtime: {seconds / 60:.1f} min. Machine: {platform.machine()}, {os.cpu_count()} cores, "
           f"torch {torch.__version__} on {torch.get_num_threads()} thread(s), scikit-learn {sklearn.__version__}.  ",
           f"Data: {args.n_train} Fashion-MNIST training images and {args.n_test} test images (seed {args.seed}), "
           f"inverted to dark-on-light, {SIDE} px. Protocol: `benchmarks/bench_aligned_clip.py`.", "",
           "## Zero-shot accuracy (LabelMatchDetector, clean labels; chance 0.10)", "",
           "| model | training split | test split |", "|---|---|---|"]
    out += [f"| {r['model']} | {r['train']:.4f} | {r['test']:.4f} |" for r in zero_shot]
    out += [""]
    for kind, rate in SETTINGS:
        sub = [r for r in rows if r["noise"] == kind and r["rate"] == rate]
        if not sub:
            continue
        out += [f"## {kind} {rate:.0%} (true rate {sub[0]['true_rate']:.3f})", "",
                "| model | method | clean P | clean R | clean F1 | noisy F1 | AUROC | test acc. | fit s | note |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        out += [f"| {r['model']} | {r['method']} | {r['clean_precision']:.4f} | {r['clean_recall']:.4f} | "
                f"{r['clean_f1']:.4f} | {r['noisy_f1']:.4f} | {r['auroc']:.4f} | {r['test_accuracy']:.4f} | "
                f"{r['fit_s']:.1f} | {r['note']} |" for r in sub]
        out += [""]
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--bitfit-side", type=int, default=96)
    parser.add_argument("--bitfit-epochs", type=int, default=3)
    parser.add_argument("--avl-n", type=int, default=1000)
    parser.add_argument("--avl-side", type=int, default=64)
    parser.add_argument("--avl-epochs", type=int, default=4)
    parser.add_argument("--no-training", action="store_true", help="skip BitFit DEFT and AVL-Prompter")
    parser.add_argument("--deft-classifier-only", action="store_true",
                        help="only DeftClassifier end to end, symmetric 40 %% (phase 2 re-runs the tower each epoch)")
    parser.add_argument("--deft-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default="benchmarks/.cache/emb")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import torch

    from skclip_noise import make_noisy_labels
    from skclip_noise.datasets import FASHION_MNIST_CLASSES

    torch.set_num_threads(1)
    start = time.perf_counter()
    class_names = list(FASHION_MNIST_CLASSES)
    data = load_data(args)
    zero_shot = zero_shot_rows(data, class_names)
    pixels = data["pixels"].reshape(len(data["y"]), -1).astype(np.float64) / 255.0
    rows = []
    for kind, rate in SETTINGS[:1] if args.deft_classifier_only else SETTINGS:
        extra = {"features": pixels} if kind == "instance" else {}
        y_noisy, is_noisy = make_noisy_labels(data["y"], kind, rate, random_state=args.seed, **extra)
        if args.deft_classifier_only:
            run_deft_classifier(rows, (kind, rate), data, y_noisy, is_noisy, class_names, args)
        else:
            for model in MODELS:
                run_model(rows, (kind, rate), model, data, y_noisy, is_noisy, class_names, args)
            run_trunk(rows, (kind, rate), data, y_noisy, is_noisy, args)
            if kind == "symmetric" and not args.no_training:
                run_training_methods(rows, (kind, rate), data["images"], y_noisy, is_noisy, data, class_names, args)
        if args.out:  # written as it goes: a run stopped early keeps what it measured
            with open(args.out, "w") as handle:
                handle.write(markdown(rows, zero_shot, args, time.perf_counter() - start))
            write_csv(rows, os.path.splitext(args.out)[0] + ".csv")
    print(markdown(rows, zero_shot, args, time.perf_counter() - start))


if __name__ == "__main__":
    main()
