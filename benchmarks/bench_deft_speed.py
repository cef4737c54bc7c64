"""Cost of a DEFT training step against a bare step of the same model.

Run by hand; on a GPU when there is one (mixed precision), else on the CPU:

    .venv/bin/python benchmarks/bench_deft_speed.py --backbone open_clip:ViT-B-16 --batch-size 64 \
        --out benchmarks/results/deft_speed.md

Random weights (``pretrained=None``): the cost does not depend on the weights. Images
are random tensors already on the device, so the figures are the training step alone
(data loading excluded).

- Phase 1: ``DualPromptDetector``'s step (``tuning="peft"`` and the fast ``tuning="frozen"``
  mode, which starts from cached image features) against a *bare* step of the same
  model with the same trainable parameters: forward, plain cross-entropy on both sets
  of logits, backward, optimiser step. The ratio is what DEFT's loss (complementary
  labels, clean probabilities, pseudo-labels, the two stop-gradients) adds.
- Phase 2: ``DeftClassifier``'s full fine-tuning step (the network it builds: on a CLIP
  ViT its transformer blocks and a linear head) against a bare forward/backward/step of
  the same network.

"Ours" runs the library's ``Trainer`` (autocast, gradient scaler, finiteness check,
per-step metrics) with the estimator's step function; "bare" is a hand-written loop with
the same model, inputs, optimiser and autocast. Each figure is the mean over ``--steps``
steps after 3 warm-up steps; peak memory is CUDA's ``max_memory_allocated`` (GPU only).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import torch

ARGS = DTYPE = None  # set by main()
from torch.nn import functional as F


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(run, device, steps):
    """Seconds per step of ``run(n)`` (which runs n steps) and peak memory, after a warm-up."""
    run(3)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    run(steps)
    _sync(device)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return (time.perf_counter() - t0) / steps, peak


def _compare(model, params, lr, step, bare_loss, batch, device):
    """(library s/step, peak), (bare s/step, peak): the library's Trainer running the
    estimator's step function against a hand-written loop with the same model, inputs,
    optimiser and autocast."""
    from skclip_noise.training.loop import Trainer

    def library(n):
        optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
        trainer = Trainer(model, optimizer, device=device, seed=0)
        trainer.fit(1, lambda epoch: [batch] * n, step)

    def bare(n):
        optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
        scaler = torch.amp.GradScaler(device.type, enabled=DTYPE == torch.float16)
        model.train()
        for _ in range(n):
            with torch.autocast(device.type, dtype=DTYPE, enabled=DTYPE is not None):
                loss = bare_loss(*batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    return _timed(library, device, ARGS.steps), _timed(bare, device, ARGS.steps)


def phase1(device, peft):
    """DualPromptDetector's step (as in its ``fit``) against cross-entropy on both logits."""
    from skclip_noise.backbones.loading import load_backbone
    from skclip_noise.detectors.dual_prompt import _DualPromptModel, dual_prompt_loss

    backbone = load_backbone(ARGS.backbone, None, device=device)
    k = ARGS.n_classes
    names = [f"class {i}" for i in range(k)]
    model = _DualPromptModel(backbone.model, names, backbone.tokenizer, n_ctx=16, n_vpt=20, image_side=peft).to(device)
    side = backbone.preprocess_config.image_size
    x = torch.randn(ARGS.batch_size, 3, side, side, device=device)
    if peft == "frozen":
        with torch.no_grad():
            x = backbone.encode_images(x).float()
    y = torch.randint(0, k, (ARGS.batch_size,), device=device)
    generator = torch.Generator().manual_seed(0)

    def step(batch, epoch):
        inputs, labels = batch
        offset = torch.randint(1, k, (len(labels),), generator=generator).to(device)
        s_pos, s_neg = model(inputs)
        loss, clean = dual_prompt_loss(s_pos.float(), s_neg.float(), labels, (labels + offset) % k,
                                       warmup=False, real_world=False, positive_weight=1.0)
        return loss, {"clean_share": clean.float().mean()}

    def bare_loss(inputs, labels):
        s_pos, s_neg = model(inputs)
        return F.cross_entropy(s_pos.float(), labels) + F.cross_entropy(s_neg.float(), labels)

    params = [p for p in model.parameters() if p.requires_grad]
    return _compare(model, params, 0.03, step, bare_loss, (x, y), device)


def phase2(device):
    """DeftClassifier's full fine-tuning step against the same cross-entropy step by hand."""
    from skclip_noise import DeftClassifier
    from skclip_noise.backbones.loading import load_backbone

    backbone = load_backbone(ARGS.backbone, None, device=device)
    # The network DeftClassifier builds (on a CLIP ViT: the transformer blocks and the head train).
    net = DeftClassifier("passthrough", backbone=ARGS.backbone, tuning="full")._net(backbone, ARGS.n_classes)
    net = net.to(device)
    side = backbone.preprocess_config.image_size
    x = torch.randn(ARGS.batch_size, 3, side, side, device=device)
    y = torch.randint(0, ARGS.n_classes, (ARGS.batch_size,), device=device)

    def step(batch, epoch):
        return F.cross_entropy(net(batch[0]).float(), batch[1])

    def bare_loss(inputs, labels):
        return F.cross_entropy(net(inputs).float(), labels)

    params = [p for p in net.parameters() if p.requires_grad]
    return _compare(net, params, 5e-4, step, bare_loss, (x, y), device)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="open_clip:ViT-B-16")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from skclip_noise.training.device import autocast_dtype, resolve_device

    global ARGS, DTYPE
    ARGS = args
    device = resolve_device("auto")
    dtype = DTYPE = autocast_dtype(device, "auto")
    rows = []
    for name, run in [("phase 1, tuning='peft'", lambda: phase1(device, "vpt")),
                      ("phase 1, tuning='frozen' (cached features)", lambda: phase1(device, "frozen")),
                      ("phase 2, full fine-tuning", lambda: phase2(device))]:
        (t, mem), (tb, _) = run()
        rows.append((name, t, tb, mem))
        print(rows[-1], file=sys.stderr, flush=True)

    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    out = ["# DEFT training-step cost", "",
           f"Command: `python benchmarks/bench_deft_speed.py {' '.join(sys.argv[1:])}`  ",
           f"Device: {where}; autocast dtype {dtype}; torch {torch.__version__}; {platform.machine()}.  ",
           f"`{args.backbone}` with random weights, batch {args.batch_size}, {args.n_classes} classes; mean of "
           f"{args.steps} steps after 3 warm-up steps; inputs already on the device.", "",
           "| step | s/step | images/s | bare s/step | ratio to bare | peak GiB |", "|---|---|---|---|---|---|"]
    for name, t, tb, mem in rows:
        out.append(f"| {name} | {t:.4f} | {args.batch_size / t:.1f} | {tb:.4f} | {t / tb:.3f} | {mem:.2f} |")
    text = "\n".join(out) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
