"""Detection quality of the noisy-label detectors against cleanlab, on frozen embeddings.

Run by hand (not part of the tests):

    .venv/bin/python benchmarks/bench_detectors.py --n-samples 10000 \
        --out benchmarks/results/detectors_fashion_mnist.md

(``--quick`` is a smoke run: 1000 samples, one noise setting, one backbone.)

Protocol
--------
- Data: a stratified, seeded subset of the Fashion-MNIST training split (the Debian
  ``dataset-fashion-mnist`` files), ``--n-samples`` images.
- Features: L2-normalised embeddings of the real ImageNet weights of MobileNetV2
  (torchvision) and EfficientNet-Lite0 (timm), ``pretrained="offline"``, at a reduced
  input side per backbone (see ``BACKBONES`` and ``--size-check``), computed once per
  backbone through the embedding cache. Every method sees the same feature matrix.
- Noise: ``make_noisy_labels`` with symmetric 20/40/60 %, pair-flip 40 % and
  instance-dependent 40 % noise. The instance-dependent kind gets the flattened pixels
  scaled to [0, 1] as ``features`` (so the corrupted labels do not depend on the
  backbone). One noise draw per setting (seed ``--seed``), shared by all methods and
  both backbones.
- Our detectors (``tuning="frozen"``, X = the embeddings): ``GMMLossDetector`` and
  ``SmallLossDetector`` with their defaults and a few variants; the SmallLoss variant
  told the true noise rate is an *oracle* and is kept out of the comparison.
- cleanlab 2.9 ``cleanlab.filter.find_label_issues(labels, pred_probs)`` with
  out-of-fold ``pred_probs`` from ``cross_val_predict(..., cv=5,
  method="predict_proba")`` of a ``LogisticRegression`` on the standardised embeddings,
  whose ``C`` is chosen by ``LogisticRegressionCV`` (3-fold inner CV, log-loss, a log
  grid of C) on the noisy labels: the only labels a user has. Its fit time includes
  the C search.
- Metrics: :func:`skclip_noise.metrics.detection_report`: precision/recall/F1 of the
  selected clean set (the papers' convention) and of the flagged set, the estimated
  noise rate (share flagged) and the fit time (embedding time excluded; it is
  reported once per backbone); plus the AUROC of the score each method thresholds,
  which rates the scores apart from the threshold.
- Diagnostics (rows marked *ablation*, never in the comparison): our GMM decision rule
  applied to cleanlab's out-of-fold losses (scores vs rule), and with ``--lr-sweep``
  the GMM detector with larger probe learning rates on the first backbone.

Progress goes to stderr; the Markdown table to ``--out`` and the raw numbers to the
same path with ``.csv``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings


def _threads_from_argv(default=1):
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return str(default)


# One thread for every BLAS/OpenMP pool, set before numpy, scipy, scikit-learn and torch
# load theirs: with two cores and two pools of two threads each (torch's OpenMP, numpy's,
# scipy's and scikit-learn's), spin-waiting threads made LogisticRegression ~100x and the
# probe ~30x slower here, and timings depended on whatever else ran on the machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _threads_from_argv())

import numpy as np

BACKBONES = [
    # (spec, pretrained, image_size). The sides were chosen with --size-check
    # (linear-probe accuracy vs embedding speed on 2000 + 1000 images).
    ("torchvision:mobilenet_v2", "offline", 96),
    ("timm:tf_efficientnet_lite0", "offline", 96),
]

SETTINGS = [("symmetric", 0.2), ("symmetric", 0.4), ("symmetric", 0.6), ("pairflip", 0.4), ("instance", 0.4)]

C_GRID = np.logspace(-4, 1, 6)  # for standardised 1280-d embeddings


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- methods


def our_methods(true_rate, seed, lr_sweep=False):
    """(name, group, factory) for our detectors; factory builds a fresh detector.

    group is "ours", "oracle" (told the true noise rate) or "ablation" (the probe's
    learning rate swept, to see whether the default under- or over-fits)."""
    from skclip_noise import GMMLossDetector, SmallLossDetector

    common = {"tuning": "frozen", "device": "cpu", "random_state": seed}
    methods = [
        ("GMM (default)", "ours", lambda: GMMLossDetector(**common)),
        ("GMM per_class", "ours", lambda: GMMLossDetector(per_class=True, **common)),
        ("GMM cv=5", "ours", lambda: GMMLossDetector(cv=5, **common)),
        ("GMM cv=5 per_class avg_last=3", "ours",
         lambda: GMMLossDetector(cv=5, per_class=True, average_last=3, **common)),
        ("SmallLoss (default, rate estimated)", "ours", lambda: SmallLossDetector(**common)),
        ("SmallLoss cv=5 (rate estimated)", "ours", lambda: SmallLossDetector(cv=5, **common)),
        ("SmallLoss oracle rate", "oracle", lambda: SmallLossDetector(forget_rate=true_rate, **common)),
        ("SmallLoss cv=5 oracle rate", "oracle",
         lambda: SmallLossDetector(cv=5, forget_rate=true_rate, **common)),
    ]
    if lr_sweep:
        methods += [(f"GMM lr={lr:g} (default 3e-4)", "ablation", lambda lr=lr: GMMLossDetector(lr=lr, **common))
                    for lr in LR_SWEEP]
    return methods


LR_SWEEP = (1e-3, 3e-3, 1e-2)


CLEANLAB_FILTERS = ["prune_by_noise_rate", "both", "confident_learning"]


def cleanlab_pred_probs(features, labels, seed):
    """Out-of-fold probabilities of a fairly tuned logistic regression, and its C."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import StandardScaler

    # Standardising is label-free, so doing it on all samples leaks nothing.
    Z = StandardScaler().fit_transform(features)
    inner = StratifiedKFold(3, shuffle=True, random_state=seed)
    search = LogisticRegressionCV(Cs=C_GRID, cv=inner, scoring="neg_log_loss", max_iter=500,
                                  n_jobs=None, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(Z, labels)
    C = float(np.atleast_1d(search.C_)[0])
    outer = StratifiedKFold(5, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred_probs = cross_val_predict(LogisticRegression(C=C, max_iter=1000), Z, labels, cv=outer,
                                       method="predict_proba")
    return pred_probs, C


# ---------------------------------------------------------------------- the run


def embed(spec, pretrained, image_size, X, cache_dir):
    from skclip_noise import ImageEmbedder

    embedder = ImageEmbedder(spec, pretrained, image_size=image_size, device="cpu", cache_dir=cache_dir)
    t0 = time.perf_counter()
    features = embedder.fit(X).transform(X)
    return features, time.perf_counter() - t0


def row(backbone, side, kind, rate, true_rate, method, group, report, seconds, auroc, extra=""):
    return {
        "backbone": backbone, "image_size": side, "noise": kind, "rate": rate, "true_rate": true_rate,
        "method": method, "group": group,
        "clean_precision": report["clean_precision"], "clean_recall": report["clean_recall"],
        "clean_f1": report["clean_f1"], "noisy_precision": report["noisy_precision"],
        "noisy_recall": report["noisy_recall"], "noisy_f1": report["noisy_f1"],
        "accuracy": report["accuracy"], "estimated_rate": report["estimated_noise_rate"],
        "auroc": auroc, "fit_s": seconds, "note": extra,
    }


def run(args):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.metrics import roc_auc_score

    from skclip_noise import make_noisy_labels
    from skclip_noise.datasets import load_fashion_mnist
    from skclip_noise.selection import LossMixture
    from skclip_noise.metrics import detection_report

    X, y = load_fashion_mnist(n_samples=args.n_samples, random_state=args.seed)
    log(f"Fashion-MNIST train subset: {len(y)} images, class counts {np.bincount(y).tolist()}")
    pixels = X.reshape(len(X), -1).astype(np.float64) / 255.0
    noise = {}
    for kind, rate in args.settings:
        kw = {"features": pixels} if kind == "instance" else {}
        y_noisy, is_noisy = make_noisy_labels(y, kind, rate, random_state=args.seed, **kw)
        noise[kind, rate] = (y_noisy, is_noisy)
        log(f"noise {kind} {rate:.0%}: realised rate {is_noisy.mean():.4f}")

    rows, embed_info = [], []
    for spec, pretrained, side in args.backbones:
        features, seconds = embed(spec, pretrained, side, X, args.cache_dir)
        embed_info.append((spec, side, features.shape[1], seconds))
        log(f"{spec} @ {side}px: embeddings {features.shape} in {seconds:.1f} s")
        for kind, rate in args.settings:
            y_noisy, is_noisy = noise[kind, rate]
            true_rate = float(is_noisy.mean())
            tag = f"{spec} {kind} {rate:.0%}"
            sweep = args.lr_sweep and spec == args.backbones[0][0]
            for name, group, make in our_methods(true_rate, args.seed, lr_sweep=sweep):
                detector = make()
                t0 = time.perf_counter()
                detector.fit(features, y_noisy)
                seconds = time.perf_counter() - t0
                report = detection_report(is_noisy, detector.clean_mask_, output_dict=True)
                predicted = detector.classes_[detector.predicted_]
                note = (f"probe acc. vs true labels {np.mean(predicted == y):.3f}; "
                        f"predicts the wrong given label on {np.mean(predicted[is_noisy] == y_noisy[is_noisy]):.0%} "
                        "of noisy samples")
                auroc = roc_auc_score(is_noisy, detector.loss_)
                rows.append(row(spec, side, kind, rate, true_rate, name, group, report, seconds, auroc, note))
                log(f"{tag} | {name}: clean F1 {report['clean_f1']:.4f} noisy F1 {report['noisy_f1']:.4f} "
                    f"est {report['estimated_noise_rate']:.3f} AUROC {auroc:.4f} ({seconds:.1f} s)")
            t0 = time.perf_counter()
            pred_probs, C = cleanlab_pred_probs(features, y_noisy, args.seed)
            probe_seconds = time.perf_counter() - t0
            predicted = pred_probs.argmax(1)
            margin = get_label_quality_scores(y_noisy, pred_probs, method="normalized_margin")
            auroc = roc_auc_score(is_noisy, -margin)
            base_note = (f"C={C:.0e}; out-of-fold acc. vs true labels {np.mean(predicted == y):.3f}; "
                         f"predicts the wrong given label on {np.mean(predicted[is_noisy] == y_noisy[is_noisy]):.0%} "
                         "of noisy samples")
            for filter_by in CLEANLAB_FILTERS:
                t0 = time.perf_counter()
                issues = find_label_issues(y_noisy, pred_probs, filter_by=filter_by, n_jobs=1)
                seconds = probe_seconds + time.perf_counter() - t0
                report = detection_report(is_noisy, ~issues, output_dict=True)
                name = "cleanlab CL" + (" (default)" if filter_by == "prune_by_noise_rate" else f" {filter_by}")
                rows.append(row(spec, side, kind, rate, true_rate, name, "cleanlab", report, seconds, auroc,
                                base_note))
                log(f"{tag} | {name}: clean F1 {report['clean_f1']:.4f} noisy F1 {report['noisy_f1']:.4f} "
                    f"est {report['estimated_noise_rate']:.3f} AUROC {auroc:.4f} ({seconds:.1f} s, {base_note})")
            # Ablation: our decision rule (DivideMix's GMM on min-max normalised losses) on
            # cleanlab's out-of-fold probabilities: separates the scores from the rule.
            loss = -np.log(np.clip(pred_probs[np.arange(len(y_noisy)), y_noisy], 1e-12, None))
            t0 = time.perf_counter()
            clean = LossMixture(loss, args.seed).clean_posterior(loss) > 0.5
            seconds = probe_seconds + time.perf_counter() - t0
            report = detection_report(is_noisy, clean, output_dict=True)
            name = "GMM rule on cleanlab's out-of-fold losses"
            rows.append(row(spec, side, kind, rate, true_rate, name, "ablation", report, seconds,
                            roc_auc_score(is_noisy, loss), "same pred_probs as the cleanlab rows"))
            log(f"{tag} | {name}: clean F1 {report['clean_f1']:.4f} noisy F1 {report['noisy_f1']:.4f} "
                f"est {report['estimated_noise_rate']:.3f}")
    import torch

    return rows, embed_info, len(y), torch.__version__, torch.get_num_threads()


# ---------------------------------------------------------------------- size check


def size_check(args, sides=(64, 96, 112)):
    """Linear-probe accuracy (clean labels) and embedding speed per input side."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skclip_noise.datasets import load_fashion_mnist

    X_train, y_train = load_fashion_mnist(n_samples=2000, random_state=args.seed + 1)
    X_test, y_test = load_fashion_mnist(subset="test", n_samples=1000, random_state=args.seed + 1)
    lines = []
    for spec, pretrained, _ in args.backbones:
        for side in sides:
            train, seconds = embed(spec, pretrained, side, X_train, None)
            test, _ = embed(spec, pretrained, side, X_test, None)
            probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=500)).fit(train, y_train)
            acc = probe.score(test, y_test)
            lines.append((spec, side, len(X_train) / seconds, acc))
            log(f"size check {spec} @ {side}px: {len(X_train) / seconds:.0f} images/s, probe accuracy {acc:.4f}")
    return lines


# ---------------------------------------------------------------------- output


def markdown(rows, embed_info, n, torch_version, threads, args, total_seconds, size_lines):
    import cleanlab
    import sklearn

    import skclip_noise

    out = ["# Noisy-label detection on Fashion-MNIST: our detectors vs cleanlab", ""]
    command = "python benchmarks/bench_detectors.py " + " ".join(sys.argv[1:])
    out += [f"Command: `{command}`  ", f"Total runtime: {total_seconds / 60:.1f} min.  "]
    out += [
        (f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs while it ran), "
        f"torch {torch_version}, torch threads {threads}, BLAS/OpenMP threads {args.threads}, Python {platform.python_version()}, scikit-learn {sklearn.__version__}, cleanlab {cleanlab.__version__}, "
        f"skclip_noise {skclip_noise.__version__}.  "),
        (f"Data: {n} images, a stratified subset (seed {args.seed}) of the Fashion-MNIST training split "
        "(Debian `dataset-fashion-mnist`). Noise: one draw per setting (seed "
        f"{args.seed}), shared by all methods and both backbones; instance-dependent noise (Xia et al. 2020) "
        "uses the flattened pixels scaled to [0, 1] as its features."),
        "",
        ("Methods: our detectors use `model=\"linear\"` on the embeddings (X = embeddings) with their defaults "
        "(10 epochs, AdamW 3e-4, batch 64) unless the name says otherwise; `cv=5` cross-fits the probe "
        "(each sample scored by a model that did not train on it); `avg_last=3` averages the loss over the "
        "last 3 epochs. *Oracle* rows are told the true noise rate, *ablation* rows are diagnostics; neither "
        "is used in the comparison. "
        "cleanlab: `find_label_issues(labels, pred_probs, filter_by=...)` with 5-fold out-of-fold "
        "`pred_probs` of a `LogisticRegression` on the standardised embeddings whose C is picked by "
        f"`LogisticRegressionCV` (3-fold, log-loss, C in {', '.join(f'{c:g}' for c in C_GRID)}) on the noisy "
        "labels; its fit time includes that search."),
        "",
        ("Columns: P/R/F1 of the *selected clean set* (clean side, the papers' convention) and F1 of the "
        "*flagged set* (noisy side); est. = share flagged (estimated noise rate; the true rate is in the "
        "block title); AUROC = how well the score the method thresholds ranks the truly noisy samples first "
        "(ours: the per-sample loss; cleanlab: 1 - normalized margin, the ranking its default filter uses; "
        "the GMM-rule ablation: the out-of-fold loss), a measure of the scores independent of the threshold; "
        "fit s = seconds to fit, embeddings excluded; note: the classifier's accuracy against the true labels "
        "and how often it predicts the *wrong* given label of a noisy sample (memorisation or learnt flips)."),
        "",
    ]
    if size_lines:
        out += ["## Input side per backbone", "",
                ("Linear probe (standardised, C=0.01) trained on 2000 clean training images (not the benchmark's "
                "subset), accuracy on 1000 test-split images; embedding speed on this CPU (1 thread)."), "",
                "| backbone | side | images/s | probe accuracy |", "|---|---|---|---|"]
        out += [f"| `{s}` | {side} | {ips:.0f} | {acc:.4f} |" for s, side, ips, acc in size_lines]
        out += [""]
    out += ["## Embeddings", "", "| backbone | pretrained | input side | dim | embedding time (s; ~0 when read from the on-disk cache) |",
            "|---|---|---|---|---|"]
    out += [f"| `{s}` | offline (ImageNet) | {side} | {d} | {sec:.1f} |" for s, side, d, sec in embed_info]
    out += [""]
    for spec, side, _, _ in embed_info:
        out += [f"## `{spec}` @ {side} px", ""]
        for kind, rate in args.settings:
            block = [r for r in rows if r["backbone"] == spec and r["noise"] == kind and r["rate"] == rate]
            if not block:
                continue
            out += [f"**{kind} {rate:.0%}** (true noise rate {block[0]['true_rate']:.3f})", "",
                    "| method | clean P | clean R | clean F1 | noisy F1 | est. | AUROC | fit s | note |",
                    "|---|---|---|---|---|---|---|---|---|"]
            compared = [r for r in block if r["group"] in ("ours", "cleanlab")]
            best_clean = max(r["clean_f1"] for r in compared)
            best_noisy = max(r["noisy_f1"] for r in compared)
            for r in block:
                cf = f"{r['clean_f1']:.4f}"
                nf = f"{r['noisy_f1']:.4f}"
                if r in compared and r["clean_f1"] == best_clean:
                    cf = f"**{cf}**"
                if r in compared and r["noisy_f1"] == best_noisy:
                    nf = f"**{nf}**"
                name = r["method"] + (f" *({r['group']})*" if r["group"] in ("oracle", "ablation") else "")
                out.append(f"| {name} | {r['clean_precision']:.4f} | {r['clean_recall']:.4f} | {cf} | {nf} | "
                           f"{r['estimated_rate']:.3f} | {r['auroc']:.4f} | {r['fit_s']:.1f} | {r['note']} |")
            out += [""]
    out += comparison(rows, embed_info, args)
    return "\n".join(out) + "\n"


def comparison(rows, embed_info, args):
    """Best non-oracle detector of ours vs cleanlab, per setting, on both F1s."""
    out = ["## Ours vs cleanlab", "",
           ("Per setting: the best of our non-oracle variants (chosen per setting, i.e. with hindsight), our "
           "default `GMMLossDetector()`, cleanlab's default and the best cleanlab filter. "
           "Δ = best ours − cleanlab default; Δbest = best ours − best cleanlab filter."), "",
           "| backbone | noise | side | best ours | GMM default | cleanlab default | best cleanlab | Δ | Δbest |",
           "|---|---|---|---|---|---|---|---|---|"]
    for spec, _, _, _ in embed_info:
        for kind, rate in args.settings:
            block = [r for r in rows if r["backbone"] == spec and r["noise"] == kind and r["rate"] == rate]
            if not block:
                continue
            ours = [r for r in block if r["group"] == "ours"]
            cl = [r for r in block if r["group"] == "cleanlab"]
            cl_default = next(r for r in cl if "default" in r["method"])
            fixed = next(r for r in ours if r["method"] == "GMM (default)")
            for key, side in (("clean_f1", "clean F1"), ("noisy_f1", "noisy F1")):
                best = max(ours, key=lambda r: r[key])
                best_cl = max(cl, key=lambda r: r[key])
                cells = [f"`{spec.split(':')[1]}`", f"{kind} {rate:.0%}", side,
                         f"{best[key]:.4f} ({best['method']})", f"{fixed[key]:.4f}",
                         f"{cl_default[key]:.4f}", f"{best_cl[key]:.4f} ({best_cl['method'].replace('cleanlab CL ', '').strip('()')})",
                         f"{best[key] - cl_default[key]:+.4f}", f"{best[key] - best_cl[key]:+.4f}"]
                out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def write_csv(rows, path):
    import csv

    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=10000)
    parser.add_argument("--out", default=None, help="Markdown output (the CSV goes next to it)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1000 samples, symmetric 40%% only, MobileNetV2 only")
    parser.add_argument("--size-check", action="store_true",
                        help="also measure probe accuracy and speed at 64/96/112 px per backbone")
    parser.add_argument("--lr-sweep", action="store_true",
                        help="also run GMMLossDetector with lr in 1e-3/3e-3/1e-2 (first backbone only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default="/tmp/skclip-bench-cache")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and BLAS threads (1: see the note on oversubscription in the README)")
    args = parser.parse_args(argv)
    import cleanlab.filter  # noqa: F401  (load every thread pool before limiting them)
    import scipy.linalg  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    args.backbones = BACKBONES
    args.settings = SETTINGS
    if args.quick:
        args.n_samples = min(args.n_samples, 1000)
        args.settings = [("symmetric", 0.4)]
        args.backbones = BACKBONES[:1]
    t0 = time.perf_counter()
    size_lines = size_check(args) if args.size_check else []
    rows, embed_info, n, torch_version, threads = run(args)
    total = time.perf_counter() - t0
    text = markdown(rows, embed_info, n, torch_version, threads, args, total, size_lines)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:
            handle.write(text)
        write_csv(rows, os.path.splitext(args.out)[0] + ".csv")
        log(f"wrote {args.out} and {os.path.splitext(args.out)[0] + '.csv'}")
    else:
        print(text)
    log(f"total {total / 60:.1f} min")


if __name__ == "__main__":
    main()
