"""The device checks that measure: the embedder against a bare forward pass from JPEG
files, the embedding cache, and one DEFT epoch (both phases).

``benchmarks/device_check.sh`` runs it on a GPU machine (and, with ``--dry-run``, on the
CPU with the tiny model). By hand:

    python benchmarks/bench_device.py embedder --backbone open_clip:ViT-B-16 --n-images 4096 \\
        --workers 8 --out benchmarks/results/gpu_embedder.md
    python benchmarks/bench_device.py deft-epoch --backbone open_clip:ViT-B-16 --n-images 2048 \\
        --out benchmarks/results/gpu_deft_epoch.md

Random weights (``pretrained=None``): the cost does not depend on the weights.

- ``embedder``: JPEG files (digits, resized to the backbone's input side) are embedded by
  ``ImageEmbedder`` and by a bare loop over the same files: a torch ``DataLoader`` with the
  same workers, the backbone's own evaluation transform, pinned memory and the model's
  forward under the same autocast. The ratio is the embedder's throughput over the bare
  loop's (goal: at least 0.9). The same embedder with ``cache_dir`` then embeds the files
  twice: the speed-up of the second (read from the cache) over the first.
- ``deft-epoch``: one epoch of each DEFT phase on in-memory images at batch 64: the
  ``DualPromptDetector`` (phase 1) and ``DeftClassifier``'s full fine-tuning on every
  sample (phase 2); seconds per phase and images per second, model loading included.

Each writes a Markdown table to ``--out`` and its figures as one JSON line to stdout, for
the device check's summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_deft_speed import _sync  # noqa: E402


def _where(device):
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads; torch {torch.__version__})"


def _input_side(backbone):
    side = backbone.preprocess_config.image_size
    return side[0] if isinstance(side, (tuple, list)) else side


def _digit_images(n_images, side):
    """``n_images`` real digits (repeated), as uint8 RGB arrays of ``side`` pixels."""
    from PIL import Image

    from skclip_noise.datasets import load_digits_images

    digits, labels = load_digits_images()
    picked = np.arange(n_images) % len(digits)
    resized = np.stack([np.asarray(Image.fromarray(digits[i]).resize((side, side))) for i in np.unique(picked)])
    images = np.repeat(resized[picked % len(resized)][..., None], 3, axis=-1)
    return images, labels[picked]


def _jpeg_files(n_images, side, folder):
    from skclip_noise.datasets import load_image_folder, make_image_folder

    images, labels = _digit_images(n_images, side)
    make_image_folder(images, labels, os.path.join(folder, "images"), format="jpeg")
    paths, _ = load_image_folder(os.path.join(folder, "images"))
    return list(paths)


class _JpegFiles(torch.utils.data.Dataset):
    def __init__(self, paths, transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        from PIL import Image

        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB"))


def _bare_embedding_seconds(backbone, paths, args, device, dtype):
    loader = torch.utils.data.DataLoader(
        _JpegFiles(paths, backbone.eval_transform()), batch_size=args.batch_size, num_workers=args.workers,
        pin_memory=device.type == "cuda", persistent_workers=False,
    )
    _sync(device)
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for batch in loader:
            backbone.encode_images(batch.to(device, non_blocking=True))
    _sync(device)
    return time.perf_counter() - start


def _embedder_seconds(paths, args, **params):
    from skclip_noise import ImageEmbedder

    embedder = ImageEmbedder(args.backbone, None, device=args.device, batch_size=args.batch_size,
                             num_workers=args.workers, **params).fit()
    start = time.perf_counter()
    embedder.transform(paths)
    _sync(torch.device(embedder.device_))
    return time.perf_counter() - start


def embedder(args):
    from skclip_noise.backbones.loading import load_backbone
    from skclip_noise.training.device import autocast_dtype, resolve_device

    device = resolve_device(args.device)
    dtype = autocast_dtype(device, "auto")
    backbone = load_backbone(args.backbone, None, device=device)
    side = _input_side(backbone)
    with tempfile.TemporaryDirectory() as folder:
        paths = _jpeg_files(args.n_images, side, folder)
        warm = paths[: 2 * args.batch_size]
        _bare_embedding_seconds(backbone, warm, args, device, dtype)  # warm-up: kernels, file cache
        _embedder_seconds(warm, args)
        bare = min(_bare_embedding_seconds(backbone, paths, args, device, dtype) for _ in range(args.repeats))
        ours = min(_embedder_seconds(paths, args) for _ in range(args.repeats))
        cache_dir = os.path.join(folder, "cache")
        cold = _embedder_seconds(paths, args, cache_dir=cache_dir)
        cached = _embedder_seconds(paths, args, cache_dir=cache_dir)
    figures = {
        "check": "embedder", "device": _where(device), "backbone": args.backbone, "n_images": args.n_images,
        "workers": args.workers, "batch_size": args.batch_size, "autocast": str(dtype),
        "bare_images_per_s": args.n_images / bare, "embedder_images_per_s": args.n_images / ours,
        "throughput_ratio": bare / ours, "cache_cold_s": cold, "cache_read_s": cached, "cache_speedup": cold / cached,
    }
    lines = [
        "# The embedder against a bare forward pass from JPEG files", "",
        f"Command: `python benchmarks/bench_device.py {' '.join(sys.argv[1:])}`  ",
        f"Device: {figures['device']}; autocast {dtype}.  ",
        f"`{args.backbone}` with random weights; {args.n_images} JPEG files ({side} px digits), batch "
        f"{args.batch_size}, {args.workers} DataLoader workers, best of {args.repeats} runs after a warm-up.", "",
        "| | images/s | seconds |", "|---|---|---|",
        f"| bare loop (DataLoader, same transform, pinned memory, autocast forward) | "
        f"{figures['bare_images_per_s']:.1f} | {bare:.2f} |",
        f"| `ImageEmbedder.transform` | {figures['embedder_images_per_s']:.1f} | {ours:.2f} |",
        f"| `ImageEmbedder` with `cache_dir`, first call (computes and writes) | {args.n_images / cold:.1f} | "
        f"{cold:.2f} |",
        f"| the same, second call (reads the cache) | {args.n_images / cached:.1f} | {cached:.2f} |", "",
        f"Throughput ratio, embedder over bare: **{figures['throughput_ratio']:.3f}** (goal at least 0.9). "
        f"Cache speed-up: **{figures['cache_speedup']:.1f}x**.",
    ]
    return figures, "\n".join(lines) + "\n"


def deft_epoch(args):
    from skclip_noise import DeftClassifier, DualPromptDetector
    from skclip_noise.backbones.loading import load_backbone
    from skclip_noise.training.device import autocast_dtype, resolve_device

    device = resolve_device(args.device)
    side = _input_side(load_backbone(args.backbone, None, device="cpu"))
    images, labels = _digit_images(args.n_images, side)
    common = dict(backbone=args.backbone, pretrained=None, device=args.device, batch_size=args.batch_size,
                  random_state=0)
    # Phase 2 trains on every sample ("passthrough"): random weights judge an arbitrary
    # share clean, and the cost per sample is what this measures.
    parts = {
        "phase 1 (DualPromptDetector, peft)": DualPromptDetector(
            **common, epochs=1, warmup_epochs=0, class_names=[f"digit {i}" for i in range(10)]),
        "phase 2 (DeftClassifier, full fine-tuning, every sample)": DeftClassifier("passthrough", **common, epochs=1),
    }
    timings = {}
    for name, estimator in parts.items():
        _sync(device)
        start = time.perf_counter()
        estimator.fit(images, labels)
        _sync(device)
        timings[name] = time.perf_counter() - start
    total = sum(timings.values())
    figures = {"check": "deft_epoch", "device": _where(device), "backbone": args.backbone,
               "n_images": args.n_images, "batch_size": args.batch_size,
               "autocast": str(autocast_dtype(device, "auto")), "total_s": total,
               "images_per_s_per_phase": 2 * args.n_images / total}
    lines = ["# One DEFT epoch (each phase)", "",
             f"Command: `python benchmarks/bench_device.py {' '.join(sys.argv[1:])}`  ",
             f"Device: {figures['device']}; autocast {figures['autocast']}.  ",
             f"`{args.backbone}` with random weights, {args.n_images} in-memory images ({side} px digits, 10 "
             f"classes), batch {args.batch_size}, one epoch of each phase, model loading included.", "",
             "| part | seconds | images/s |", "|---|---|---|"]
    lines += [f"| {name} | {seconds:.2f} | {args.n_images / seconds:.1f} |" for name, seconds in timings.items()]
    lines += [f"| both phases | {total:.2f} | {2 * args.n_images / total:.1f} |"]
    return figures, "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("check", choices=["embedder", "deft-epoch"])
    parser.add_argument("--backbone", default="open_clip:ViT-B-16")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n-images", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=None, help="Markdown file to write (default: print only)")
    args = parser.parse_args(argv)
    figures, text = {"embedder": embedder, "deft-epoch": deft_epoch}[args.check](args)
    print(text, file=sys.stderr)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
