"""TurnClassifier against full fine-tuning and linear probing, on noisy Fashion-MNIST.

Run by hand (not part of the tests):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_turn.py \
        --out benchmarks/results/turn_fashion_mnist.md

(``--quick`` is a smoke run: 400 + 200 images, one noise setting, 2 + 1 epochs.)

Protocol
--------
- Data: a stratified, seeded subset of the Fashion-MNIST training split (the Debian
  ``dataset-fashion-mnist`` files), ``--n-train`` images to train on, and
  ``--n-test`` images of the *test* split to measure accuracy (clean labels, never
  seen in training or in any choice of setting).
- Backbone: torchvision's MobileNetV2 with its real ImageNet weights
  (``pretrained="offline"``), every image resized to ``--image-size`` px (28 px
  images; full fine-tuning at 224 px does not fit a CPU budget).
- Noise (``make_noisy_labels``, one draw per setting, seed ``--seed``): symmetric
  60 % and 90 % with the noisy label drawn from *all* classes (DivideMix's and, we
  assume, TURN's convention: with 10 classes, 90 % drawn from the other classes
  leaves the right label no more frequent than each wrong one, and nothing can be
  learnt); pair-flip 40 %; instance-dependent 40 % (Xia et al., on the flattened
  pixels). The realised share of wrong labels is reported.
- Methods, all on the same backbone, input side, images, noisy labels and budget:
  * ``TURN``: ``TurnClassifier`` with its defaults (20 epochs of GCE linear probing,
    5 epochs of full fine-tuning on balanced clean subsets);
  * ``FFT CE``: full fine-tuning with cross-entropy on all the noisy labels, a new
    head, 5 epochs (TURN's fine-tuning epochs, each on all the data rather than a
    subset), TURN's phase-2 optimiser (AdamW 3e-5), schedule, augmentation, batch
    size and frozen BatchNorm statistics; and ordinary fine-tuning with AdamW 1e-3
    (DEFT's CNN preset) and BatchNorm in train mode, since a new head may need a
    larger rate than a probed one;
  * ablation ``LP-FFT CE``: TURN without its selection: the same probe (LP GCE),
    then 5 epochs of TURN's fine-tuning with cross-entropy on *all* the labels;
  * ``LP CE`` / ``LP GCE``: linear probing on the frozen features, 20 epochs, the
    same optimiser as TURN's phase 1 (AdamW 3e-4, batch 256, cosine); ``LP GCE``
    *is* TURN's phase 1 (``TurnClassifier(ft_epochs=0)``).
- Metric: accuracy on the clean test images (last epoch; no validation data). For
  TURN also the precision and recall of the clean selection at every epoch.

Progress goes to stderr; the Markdown table to ``--out`` (rewritten after every
setting) and the raw numbers to the same path with ``.csv``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np

SETTINGS = [("symmetric", 0.6), ("symmetric", 0.9), ("pairflip", 0.4), ("instance", 0.4)]
BACKBONE, PRETRAINED = "torchvision:mobilenet_v2", "offline"


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


def noisy_labels(y, X, kind, rate, seed):
    from skclip_noise import make_noisy_labels

    extra = {}
    if kind == "symmetric":
        extra["include_true_class"] = True
    if kind == "instance":
        extra["features"] = X.reshape(len(X), -1).astype(np.float64) / 255.0
    return make_noisy_labels(y, kind, rate, random_state=seed, **extra)


def fft_ce(X, y, X_test, args, seed, lr=None, freeze_bn=True, start=None):
    """Full fine-tuning with cross-entropy on every (noisy) label: TURN's phase-2 recipe
    without the probe and without the selection."""
    import torch
    from torch.nn import functional as F

    from skclip_noise.backbones.heads import ImageClassifierNet
    from skclip_noise.backbones.loading import load_backbone
    from skclip_noise.data.inputs import ImageDataset, check_image_input
    from skclip_noise.data.transforms import eval_transform, weak_transform
    from skclip_noise.training.loop import Trainer, evaluate, make_loader

    backbone = load_backbone(BACKBONE, PRETRAINED, device="cpu")
    config = backbone.preprocess_config.resized(args.image_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ImageClassifierNet.from_backbone(backbone, 10, tuning="full")
    if start is not None:  # a fitted TurnClassifier's net (the probe on the tower)
        net.load_state_dict(start.net_state_)
    from skclip_noise.classifiers._turn_modules import FrozenBatchNorm
    from skclip_noise.training.optim import optimizer_preset

    kind, preset_lr, wd = optimizer_preset(backbone.tower_kind, recipe="turn")
    assert kind == "adamw"
    optimizer = torch.optim.AdamW(net.parameters(), lr=preset_lr if lr is None else lr, weight_decay=wd)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.ft_epochs)
    trainer = Trainer(FrozenBatchNorm(net) if freeze_bn else net, optimizer, scheduler=scheduler, device="cpu", seed=seed + 1,
                      description="FFT CE")
    data = ImageDataset(check_image_input(X), weak_transform(config))
    targets = torch.as_tensor(y, dtype=torch.long)

    def batches(epoch):
        return make_loader(data, batch_size=64, shuffle=True, generator=trainer.generator)

    def step(batch, epoch):
        images, index = batch
        return F.cross_entropy(net(images).float(), targets[index])

    trainer.fit(args.ft_epochs, batches, step)
    loader = make_loader(ImageDataset(check_image_input(X_test), eval_transform(config)), batch_size=64)
    logits = evaluate(net, loader, lambda batch: net(batch[0]), device=torch.device("cpu"))
    return logits.argmax(1).numpy()


def lp_ce(Z, y, Z_test, args, seed):
    """Linear probe with cross-entropy, TURN's phase-1 optimiser (AdamW 3e-4, batch 256,
    cosine, standardised features)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from skclip_noise.classifiers._turn_modules import Probe
    from skclip_noise.training.loop import Trainer, make_loader

    Z, Z_test = torch.as_tensor(Z), torch.as_tensor(Z_test)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Linear(Z.shape[1], 10)
        nn.init.zeros_(head.bias)
    probe = Probe(Z.mean(0), Z.std(0).mean(), head)
    optimizer = torch.optim.AdamW(probe.parameters(), lr=3e-4, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.lp_epochs)
    trainer = Trainer(probe, optimizer, scheduler=scheduler, device="cpu", seed=seed, description="LP CE")
    data = torch.utils.data.TensorDataset(Z, torch.arange(len(Z)))
    targets = torch.as_tensor(y, dtype=torch.long)
    trainer.fit(
        args.lp_epochs,
        lambda epoch: make_loader(data, batch_size=256, shuffle=True, generator=trainer.generator),
        lambda batch, epoch: F.cross_entropy(probe(batch[0]), targets[batch[1]]),
    )
    with torch.no_grad():
        return probe(Z_test).argmax(1).numpy()


def turn(args, seed, **params):
    from skclip_noise import TurnClassifier

    settings = {"image_size": args.image_size, "lp_epochs": args.lp_epochs, "ft_epochs": args.ft_epochs,
                "cache_dir": args.cache_dir, "device": "cpu", "random_state": seed}
    return TurnClassifier(BACKBONE, PRETRAINED, **{**settings, **params})


def selection_quality(history, is_noisy, n_classes=10):
    rows = []
    for record in history:
        if record["phase"] != "ft":
            continue
        chosen = record["selected"]
        rows.append(
            f"{record['n_selected']} / {1 - is_noisy[chosen].mean():.3f}"
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--lp-epochs", type=int, default=20)
    parser.add_argument("--ft-epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "skclip_noise_bench_turn"))
    parser.add_argument("--settings", default=None, help="e.g. symmetric:0.6,pairflip:0.4")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results", "turn_fashion_mnist.md"))
    args = parser.parse_args(argv)
    settings = SETTINGS
    if args.settings:
        settings = [(s.split(":")[0], float(s.split(":")[1])) for s in args.settings.split(",")]
    if args.quick:
        args.n_train, args.n_test, args.lp_epochs, args.ft_epochs = 400, 200, 2, 1
        settings = settings[:1]

    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    from skclip_noise import ImageEmbedder
    from skclip_noise.datasets import load_fashion_mnist

    X, y = load_fashion_mnist(subset="train", n_samples=args.n_train, random_state=args.seed)
    X_test, y_test = load_fashion_mnist(subset="test", n_samples=args.n_test, random_state=args.seed)
    log(f"{len(X)} train / {len(X_test)} test images at {args.image_size} px")

    t0 = time.perf_counter()
    embedder = ImageEmbedder(BACKBONE, PRETRAINED, normalize=False, image_size=args.image_size,
                             device="cpu", cache_dir=args.cache_dir)
    Z, Z_test = embedder.fit_transform(X), embedder.transform(X_test)
    embed_time = time.perf_counter() - t0
    log(f"features {Z.shape} in {embed_time:.1f}s (cached for TURN's phase 1)")

    results, selections = [], {}
    for kind, rate in settings:
        y_noisy, is_noisy = noisy_labels(y, X, kind, rate, args.seed)
        name = f"{kind} {rate:.0%}"
        log(f"== {name}: realised noise {is_noisy.mean():.3f}")
        row = {"setting": name, "realised_noise": float(is_noisy.mean())}

        t = time.perf_counter()
        row["LP CE"] = float((lp_ce(Z, y_noisy, Z_test, args, args.seed) == y_test).mean())
        row["LP CE time"] = time.perf_counter() - t
        log(f"LP CE {row['LP CE']:.4f}")

        t = time.perf_counter()
        lp = turn(args, args.seed, ft_epochs=0).fit(X, y_noisy)
        row["LP GCE"] = float(lp.score(X_test, y_test))
        row["LP GCE time"] = time.perf_counter() - t
        row["LP GCE selection precision"] = float(1 - is_noisy[lp.clean_mask_].mean())
        row["LP GCE selection recall"] = float(lp.clean_mask_[~is_noisy].mean())
        log(f"LP GCE {row['LP GCE']:.4f}; its GMM selection precision {row['LP GCE selection precision']:.3f}")

        t = time.perf_counter()
        clf = turn(args, args.seed).fit(X, y_noisy)
        row["TURN"] = float(clf.score(X_test, y_test))
        row["TURN time"] = time.perf_counter() - t
        row["TURN clean precision (last)"] = float(1 - is_noisy[clf.clean_mask_].mean())
        row["TURN clean recall (last)"] = float(clf.clean_mask_[~is_noisy].mean())
        selections[name] = selection_quality(clf.history_, is_noisy)
        log(f"TURN {row['TURN']:.4f}; selections (n / precision) {selections[name]}")

        t = time.perf_counter()
        row["FFT CE"] = float((fft_ce(X, y_noisy, X_test, args, args.seed) == y_test).mean())
        row["FFT CE time"] = time.perf_counter() - t
        log(f"FFT CE {row['FFT CE']:.4f}")

        t = time.perf_counter()
        row["FFT CE lr 1e-3"] = float(
            (fft_ce(X, y_noisy, X_test, args, args.seed, lr=1e-3, freeze_bn=False) == y_test).mean()
        )
        row["FFT CE lr 1e-3 time"] = time.perf_counter() - t
        log(f"FFT CE lr 1e-3, BatchNorm in train mode {row['FFT CE lr 1e-3']:.4f}")

        t = time.perf_counter()
        row["LP-FFT CE (no selection)"] = float(
            (fft_ce(X, y_noisy, X_test, args, args.seed, start=lp) == y_test).mean()
        )
        row["LP-FFT time"] = time.perf_counter() - t
        log(f"ablation: LP GCE then FFT CE on all labels {row['LP-FFT CE (no selection)']:.4f}")
        results.append(row)
        write(args, results, selections, embed_time)
    log("done")


def write(args, results, selections, embed_time):
    import pandas as pd

    frame = pd.DataFrame(results)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    frame.to_csv(os.path.splitext(args.out)[0] + ".csv", index=False, float_format="%.4f")
    lines = [
        "# TurnClassifier on noisy Fashion-MNIST (MobileNetV2, real ImageNet weights)",
        "",
        (
            f"`benchmarks/bench_turn.py`, {args.n_train} training images (stratified subset of the "
            f"training split), {args.n_test} clean test images (test split), {args.image_size} px, "
            f"seed {args.seed}, one noise draw and one run per setting, CPU "
            f"({platform.processor() or platform.machine()}, 1 thread). Epochs: LP {args.lp_epochs}, "
            f"FFT {args.ft_epochs}. Frozen features: {embed_time:.0f} s, once (through the embedding "
            "cache: near 0 when an earlier run filled it)."
        ),
        "",
        "Test accuracy (clean test labels, last epoch):",
        "",
        "| noise | realised | LP CE | LP GCE (TURN phase 1) | FFT CE (TURN's phase-2 recipe: AdamW 3e-5, frozen BN) | FFT CE (AdamW 1e-3, BN train mode) | TURN | ablation: LP GCE then FFT CE on all labels |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        keys = ("LP CE", "LP GCE", "FFT CE", "FFT CE lr 1e-3", "TURN")
        best = max(r[k] for k in keys)
        cells = [f"**{r[k]:.4f}**" if r[k] == best else f"{r[k]:.4f}" for k in keys]
        lines.append(f"| {r['setting']} | {r['realised_noise']:.3f} | " + " | ".join(cells)
                     + f" | {r['LP-FFT CE (no selection)']:.4f} |")
    lines += [
        "",
        "Fit time in seconds (TURN and LP GCE include reading the cached features):",
        "",
        "| noise | LP CE | LP GCE | FFT CE | FFT CE lr 1e-3 | TURN | LP-FFT |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['setting']} | {r['LP CE time']:.0f} | {r['LP GCE time']:.0f} | {r['FFT CE time']:.0f} | "
            f"{r['FFT CE lr 1e-3 time']:.0f} | {r['TURN time']:.0f} | {r['LP-FFT time']:.0f} |"
        )
    lines += [
        "",
        (
            "TURN's selections: per fine-tuning epoch, the size of the balanced subset it trained on "
            "and the share of right labels in it (the noisy set's share is 1 - realised):"
        ),
        "",
        "| noise | " + " | ".join(f"epoch {i + 1}" for i in range(args.ft_epochs)) + " | GMM clean set of the last selection: precision / recall |",
        "|---|" + "---|" * args.ft_epochs + "---|",
    ]
    for r in results:
        sel = selections[r["setting"]]
        lines.append(
            f"| {r['setting']} | " + " | ".join(sel) + f" | {r['TURN clean precision (last)']:.3f} / "
            f"{r['TURN clean recall (last)']:.3f} |"
        )
    lines += ["", "<!-- analysis -->", ""]
    path = args.out
    analysis = ""
    if os.path.exists(path):
        with open(path) as handle:
            text = handle.read()
        if "<!-- analysis -->" in text:
            analysis = text.split("<!-- analysis -->", 1)[1].strip()
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + (analysis + "\n" if analysis else ""))


if __name__ == "__main__":
    main()
