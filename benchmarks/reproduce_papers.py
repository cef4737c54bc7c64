"""Reproduce DEFT, TURN and AVL-Prompter: the papers' protocols, their numbers beside ours.

Usage::

    python benchmarks/reproduce_papers.py --list                   # every protocol, its needs, GPU time
    python benchmarks/reproduce_papers.py --protocol deft-cifar100-sym40 --data-root /data/papers \\
        --out benchmarks/results/papers_deft_cifar100_sym40.md
    python benchmarks/reproduce_papers.py --paper turn --download  # fetch what torchvision / the hub can
    python benchmarks/reproduce_papers.py --smoke                  # every protocol kind, tiny model, CPU

The protocols (data set, noise, estimator recipe, the paper's numbers, notes on every
known disagreement) are data, in ``_paper_protocols.py``; data sets and weights are
found, checked and loaded by ``_paper_data.py``. Before any work every selected
protocol is checked: what is missing (data files, model weights) is printed with one
exact instruction each, and the script exits with status 2. Nothing is fetched
without ``--download`` (``HF_HUB_OFFLINE=1`` is then set for this process).

Each run prints one row per metric: the paper's value, the measured one (mean over
``--seeds``) and the difference. Detection precision / recall / F1 are those of the
*clean* verdict (the papers' positive class), from the fitted estimator's
``clean_mask_`` against the true noise mask, on the whole training set. Accuracy is the
test accuracy at the last epoch: the project never picks an epoch on the test set, so
the papers' "best" numbers are printed for reference only. ``--max-train`` /
``--max-test`` run on stratified subsets (then the rows are not the paper's protocol).

``--smoke`` runs one protocol of every kind (detection, classification, severe and
real noise, other backbones, TURN, AVL-Prompter; every noise generator) end to end on
the CPU in about a minute, with the random-weight test CLIP ``open_clip:skclip-tiny``,
a few hundred synthetic 16x16 images, the protocol's noise (real noise simulated by a
40 % pair flip) and a few steps: its measured numbers mean nothing; it exists so that
the harness cannot rot (``tests/test_reproduce_papers.py`` runs it).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import platform
import sys
import time
import traceback
import warnings
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from _bench_common import log, write_csv, write_markdown  # noqa: E402
from _paper_protocols import (  # noqa: E402
    DATASET_TITLES,
    MEASURED_METRICS,
    METRICS,
    PAPERS,
    PROTOCOLS,
    SMOKE_PARAMS,
    TINY_BACKBONE,
    Noise,
    recipe_weights,
    smoke_protocols,
    weights_label,
)

#: Exit status when data or weights are missing, and when a run failed (the others still ran).
EXIT_MISSING, EXIT_FAILED = 2, 1
ACCURACY_CAVEAT = ("Accuracy: test accuracy at the last epoch; the project never picks an epoch on the test set, "
                   "so the papers' 'best' values (accuracy_best) are shown for reference only.")
SMOKE_CAVEAT = ("SMOKE RUN: the random-weight test CLIP open_clip:skclip-tiny on synthetic 16x16 images, a few "
                "steps, real noise simulated by a 40% pair flip. The measured numbers mean nothing; the run only "
                "shows that every protocol runs end to end. The paper column is the paper's number.")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the protocols, their needs and GPU time")
    parser.add_argument("--smoke", action="store_true", help="every protocol kind on CPU, tiny model, synthetic data")
    parser.add_argument("--paper", choices=sorted(PAPERS), help="only this paper's protocols")
    parser.add_argument("--protocol", action="append", default=[], metavar="ID",
                        help="a protocol id or a glob such as 'deft-cifar100-*' (repeatable)")
    parser.add_argument("--data-root", default=None,
                        help="folder of the data sets (default: $SKCLIP_NOISE_PAPERS_DATA or "
                             "~/.cache/skclip_noise/papers)")
    parser.add_argument("--download", action="store_true",
                        help="let torchvision and open_clip / timm fetch what they can (needs a network)")
    parser.add_argument("--weights", action="append", default=[], metavar="BACKBONE=PATH",
                        help="a local checkpoint for a backbone, e.g. open_clip:ViT-B-16=/models/vit-b-16.pt")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (smoke: cpu unless given)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (noise draw and estimator)")
    parser.add_argument("--max-train", type=int, default=None, help="stratified training subset (not the protocol)")
    parser.add_argument("--max-test", type=int, default=None, help="stratified test subset (not the protocol)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="data-loading workers (default: 0 on CPU, min(8, cores) otherwise)")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the Markdown there and the raw rows beside it (.csv)")
    args = parser.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
        args.weights = dict(item.split("=", 1) for item in args.weights)
    except ValueError:
        parser.error("--seeds takes comma-separated integers and --weights BACKBONE=PATH")
    args.selected = _select(parser, args)
    return args


def _select(parser, args):
    """The protocols --paper and --protocol choose (the smoke set for a bare --smoke), in table order."""
    if not (args.list or args.smoke or args.paper or args.protocol):
        parser.error("choose --list, --smoke, --paper or --protocol")
    pool = smoke_protocols() if args.smoke and not args.protocol else PROTOCOLS
    for pattern in args.protocol:
        if not any(fnmatch.fnmatchcase(p.id, pattern) for p in PROTOCOLS):
            parser.error(f"no protocol matches {pattern!r}; see --list for the ids")
    selected = [p for p in pool if (not args.paper or p.paper == PAPERS[args.paper])
                and (not args.protocol or any(fnmatch.fnmatchcase(p.id, pattern) for pattern in args.protocol))]
    if not selected:
        parser.error(f"no protocol of --paper {args.paper} matches --protocol {', '.join(args.protocol)}; "
                     "see --list for the ids")
    return selected


# ------------------------------------------------------------------------- recipes, noise


def build(recipe, common):
    """The estimator of a recipe; ``common`` (device, random_state, ...) goes to every
    estimator that has the parameter, nested detectors included."""
    import skclip_noise

    cls = getattr(skclip_noise, recipe["estimator"])
    params = dict(recipe["params"])
    if isinstance(params.get("detector"), dict):
        params["detector"] = build(params["detector"], common)
    accepted = cls().get_params(deep=False)
    params.update({key: value for key, value in common.items() if key in accepted})
    return cls(**params)


def smoke_recipe(recipe):
    """The recipe with the tiny backbone and :data:`SMOKE_PARAMS`."""
    params = dict(recipe["params"], **SMOKE_PARAMS[recipe["estimator"]])
    if params.get("backbone"):
        params.update(backbone=TINY_BACKBONE, pretrained=None)
    if isinstance(params.get("detector"), dict):
        params["detector"] = smoke_recipe(params["detector"])
    return {"estimator": recipe["estimator"], "params": params}


def local_recipe(recipe, weights):
    """The recipe with ``--weights`` checkpoints; OpenAI CLIP files need the -quickgelu config."""
    params = dict(recipe["params"])
    spec = params.get("backbone")
    if spec in weights:
        if spec.startswith("open_clip:") and isinstance(params.get("pretrained"), str):
            import skclip_noise  # noqa: F401
            import open_clip

            cfg = open_clip.get_pretrained_cfg(spec.split(":", 1)[1], params["pretrained"]) or {}
            if cfg.get("quick_gelu") and not spec.endswith("-quickgelu"):
                params["backbone"] = spec + "-quickgelu"
        params["pretrained"] = weights[spec]
    if isinstance(params.get("detector"), dict):
        params["detector"] = local_recipe(params["detector"], weights)
    return {"estimator": recipe["estimator"], "params": params}


def smoke_noise(noise, data):
    """Noise the smoke data can take: real noise it lacks becomes a 40 % pair flip; the
    CIFAR-100 superclass flip, without CIFAR-100's classes, the same flip within groups of 5."""
    if noise.kind == "real" and noise.labels not in data.real_labels:
        return Noise("pairflip", 0.4)
    if noise.mapping == "cifar100" and len(data.class_names) != 100:
        return replace(noise, mapping={k: k // 5 * 5 + (k % 5 + 1) % 5 for k in range(len(data.class_names))})
    return noise


def noisy_labels(noise, data, seed):
    """(given labels, true noise mask or None) of the training set."""
    from _paper_data import instance_features

    from skclip_noise import make_noisy_labels

    if noise.kind == "real":
        given = data.real_labels[noise.labels]
        return given, None if data.y_train is None else given != data.y_train
    extra = {"include_true_class": True} if noise.include_true_class else {}
    if noise.mapping is not None:
        extra["mapping"] = noise.mapping
    if noise.kind == "instance":
        extra["features"] = instance_features(data.X_train)
    return make_noisy_labels(data.y_train, noise.kind, noise.rate, random_state=seed,
                             classes=np.arange(len(data.class_names)), **extra)


def synthetic_data(n_classes=10, n_train=20, n_test=10, size=16, seed=0):
    """Small in-memory images whose class sets a pattern (for ``--smoke``), as a ``PaperData``.

    Class ``k`` puts a bright square at the ``k``-th cell of a 4 x 4 grid in colour
    channel ``k % 3`` over uniform noise. ``n_train`` / ``n_test`` images per class.
    """
    if n_classes > 16:
        raise ValueError(f"synthetic_data has 16 patterns; got n_classes={n_classes}.")
    from _paper_data import PaperData

    rng = np.random.default_rng(seed)
    cell = size // 4
    patterns = np.zeros((n_classes, size, size, 3), dtype=np.uint8)
    for k in range(n_classes):
        row, col = divmod(k, 4)
        patterns[k, row * cell:(row + 1) * cell, col * cell:(col + 1) * cell, k % 3] = 160

    def draw(per_class):
        y = np.repeat(np.arange(n_classes), per_class)
        return rng.integers(0, 80, (len(y), size, size, 3), dtype=np.uint8) + patterns[y], y

    (X, y), (X_test, y_test) = draw(n_train), draw(n_test)
    return PaperData(X, y, X_test, y_test, np.array([f"pattern {k}" for k in range(n_classes)]))


# ------------------------------------------------------------------------------- running


def prepare(protocol, data, seed, args):
    """The protocol's training set: its balanced subset, minus its held-out part, and ``--max-*``."""
    from _paper_data import balanced_indices, stratified_indices

    def strata(d):  # clean labels where known, else the given ones
        return d.y_train if d.y_train is not None else next(iter(d.real_labels.values()))

    if protocol.train_subset:
        data = data.take_train(balanced_indices(strata(data), protocol.train_subset, seed))
    if protocol.holdout:
        held = stratified_indices(strata(data), min(protocol.holdout, len(strata(data)) // 10), seed)
        data = data.take_train(np.setdiff1d(np.arange(len(strata(data))), held))
    if args.max_train:
        data = data.take_train(stratified_indices(strata(data), args.max_train, seed))
    if args.max_test:
        data = data.take_test(stratified_indices(data.y_test, args.max_test, seed))
    return data


def run_once(protocol, data, seed, args, *, smoke):
    """Fit the protocol's estimator once; its measured metrics and what the run was."""
    from skclip_noise.metrics import detection_report

    data = prepare(protocol, data, seed, args)
    noise = smoke_noise(protocol.noise, data) if smoke else protocol.noise
    given, is_noisy = noisy_labels(noise, data, seed)
    recipe = smoke_recipe(protocol.recipe) if smoke else local_recipe(protocol.recipe, args.weights)
    common = dict(device=args.device, random_state=seed, num_workers=args.num_workers, verbose=args.verbose)
    estimator = build(recipe, common)
    names = data.class_names
    start = time.perf_counter()
    with warnings.catch_warnings():
        if smoke:
            warnings.simplefilter("ignore")
        estimator.fit(data.X_train, names[given])
    fit_s = time.perf_counter() - start
    measured = {}
    wanted = [m for m in MEASURED_METRICS if m in protocol.paper_values]
    if is_noisy is not None and any(m.startswith("clean_") for m in wanted):
        report = detection_report(is_noisy, estimator.clean_mask_, output_dict=True)
        measured.update({m: 100 * report[m] for m in wanted if m.startswith("clean_")})
    if "accuracy" in wanted:
        measured["accuracy"] = 100 * float(np.mean(estimator.predict(data.X_test) == names[data.y_test]))
    run = {"protocol": protocol.id, "seed": seed, "n_train": len(given), "n_test": len(data.y_test),
           "noise": noise.label, "realised_noise": None if is_noisy is None else float(np.mean(is_noisy)),
           "fit_s": fit_s}
    return measured, run


def metric_rows(protocol, measured_by_seed, runs=(), *, run_kind="protocol"):
    """One row per metric the paper reports: paper value, measured mean (and std), difference.
    ``run_kind`` says what was run ("protocol", or how it departs from it: a smoke run, a
    subset) and ``noise`` the noise the runs applied, so a row read alone is not taken for
    a reproduction it was not."""
    applied = sorted({run["noise"] for run in runs if "noise" in run}) or [protocol.noise.label]
    rows = []
    for metric in METRICS:
        if metric not in protocol.paper_values:
            continue
        values = [m[metric] for m in measured_by_seed if metric in m]
        mean = float(np.mean(values)) if values else None
        paper = protocol.paper_values[metric]
        rows.append({
            "protocol": protocol.id, "paper": protocol.paper, "tables": protocol.tables,
            "dataset": DATASET_TITLES[protocol.dataset], "run": run_kind, "paper_noise": protocol.noise.label,
            "noise": "; ".join(applied), "metric": metric,
            "paper_value": paper, "paper_std": protocol.paper_std.get(metric),
            "measured": mean, "measured_std": float(np.std(values)) if len(values) > 1 else None,
            "n_seeds": len(values), "difference": None if mean is None else mean - paper,
        })
    return rows


def _value(value, std):
    if value is None:
        return "n/a"
    return f"{value:.2f}" + (f" ± {std:.2f}" if std is not None else "")


def render(rows, runs, args, seconds, *, smoke):
    import torch

    title = "Reproducing the papers" + (": smoke run (numbers mean nothing)" if smoke else "")
    lines = [f"# {title}", "", f"Command: `python benchmarks/reproduce_papers.py {' '.join(args.argv)}`", "",
             f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}; torch {torch.__version__}, "
             f"{torch.get_num_threads()} thread(s); device {args.device}; "
             f"CUDA {'available: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not available'}. "
             f"Seeds {args.seeds}. Total {seconds:.0f} s.", ""]
    if smoke:
        lines += [f"**{SMOKE_CAVEAT}**", ""]
    if args.max_train or args.max_test:
        lines += [f"**Subsets** (--max-train {args.max_train}, --max-test {args.max_test}): not the papers' "
                  "protocol.", ""]
    lines += [ACCURACY_CAVEAT, "",
              "| protocol | paper, table | data set | noise | metric | paper | measured | difference |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        diff = "" if r["difference"] is None else f"{r['difference']:+.2f}"
        measured = ("n/a (best on test)" if r["metric"] == "accuracy_best" else "failed" if r["n_seeds"] == 0
                    else _value(r["measured"], r["measured_std"]))
        lines.append(f"| {r['protocol']} | {r['paper']} {r['tables']} | {r['dataset']} | {r['paper_noise']} | "
                     f"{r['metric']} | {_value(r['paper_value'], r['paper_std'])} | {measured} | {diff} |")
    lines += ["", "| protocol | seed | noise applied | realised noise | training / test samples | fit (s) |",
              "|---|---|---|---|---|---|"]
    for r in runs:
        if "error" in r:
            lines.append(f"| {r['protocol']} | {r['seed']} | failed: {r['error'][:300]} | | | |")
            continue
        realised = "unknown" if r["realised_noise"] is None else f"{100 * r['realised_noise']:.1f}%"
        lines.append(f"| {r['protocol']} | {r['seed']} | {r['noise']} | {realised} | {r['n_train']} / "
                     f"{r['n_test']} | {r['fit_s']:.1f} |")
    if not smoke:
        lines += ["", "Known disagreements with the papers (per protocol):", ""]
        for protocol in args.selected:
            lines += [f"- `{protocol.id}`: " + " ".join(protocol.notes)]
    return "\n".join(lines) + "\n"


def _run_kind(args, smoke):
    """How a run departs from the papers' protocols, for the rows of its CSV."""
    parts = ["smoke run: random tiny CLIP on synthetic images (numbers mean nothing)"] if smoke else []
    if args.max_train or args.max_test:
        parts.append(f"subset: --max-train {args.max_train} --max-test {args.max_test} (not the papers' protocol)")
    return "; ".join(parts) or "protocol"


def run(args, *, smoke):
    """Run the selected protocols (or the smoke set); print and write the tables."""
    import _paper_data

    import torch

    if smoke:
        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS") or 1)))
        args.device = "cpu" if args.device == "auto" else args.device
        synthetic = synthetic_data()
    if args.num_workers is None:
        args.num_workers = 0 if smoke or args.device == "cpu" or not torch.cuda.is_available() else min(
            8, os.cpu_count() or 1)
    start, rows, runs, cache = time.perf_counter(), [], [], {}
    for protocol in args.selected:
        if smoke:
            data = synthetic
        else:
            if protocol.dataset not in cache:
                log(f"loading {DATASET_TITLES[protocol.dataset]} from {args.data_root}")
                # One data set in memory at a time (protocols are in table order, grouped by data set).
                cache = {protocol.dataset: _paper_data.load_dataset(protocol.dataset, args.data_root, args.download)}
            data = cache[protocol.dataset]
        measured = []
        for seed in args.seeds:
            log(f"{protocol.id} (seed {seed}): {protocol.recipe['estimator']} ...")
            try:
                values, info = run_once(protocol, data, seed, args, smoke=smoke)
            except Exception as exc:  # reported in the table (never a number), and the other runs go on
                log(f"{protocol.id} (seed {seed}) failed:\n{traceback.format_exc()}")
                values, info = {}, {"protocol": protocol.id, "seed": seed, "error": f"{type(exc).__name__}: {exc}"}
            else:
                log(f"{protocol.id} (seed {seed}): {', '.join(f'{k} {v:.2f}' for k, v in values.items())}; "
                    f"fit {info['fit_s']:.1f} s")
            measured.append(values)
            runs.append(info)
        rows += metric_rows(protocol, measured, runs[-len(args.seeds):], run_kind=_run_kind(args, smoke))
    text = render(rows, runs, args, time.perf_counter() - start, smoke=smoke)
    write_markdown(text, args.out)
    if args.out:
        write_csv(rows, os.path.splitext(args.out)[0] + ".csv")
        write_csv(runs, os.path.splitext(args.out)[0] + "_runs.csv")
    return EXIT_FAILED if any("error" in r for r in runs) else 0


# ------------------------------------------------------------------- requirements, list


def requirements(args):
    """{protocol id: [Missing, ...]} for the selected protocols (file and cache look-ups only)."""
    from _paper_data import check_requirements

    return {p.id: check_requirements(p, args.data_root, args.download, local_weights=args.weights)
            for p in args.selected}


def report_missing(found, args):
    """Print every missing item once, with how to provide it and which protocols need it."""
    needed = {}
    for protocol_id, missing in found.items():
        for item in missing:
            needed.setdefault(item, []).append(protocol_id)
    print(f"Cannot run {sum(bool(m) for m in found.values())} of {len(found)} selected protocol(s): "
          f"missing on this machine (data root {args.data_root}; "
          f"{'downloads allowed' if args.download else 'nothing is downloaded without --download'}):",
          file=sys.stderr)
    for item, ids in needed.items():
        shown = ", ".join(ids[:6]) + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")
        print(f"{item}\n  Needed by: {shown}", file=sys.stderr)
    print("Nothing was run. Provide the items above and run again (`--list` shows every protocol's needs).",
          file=sys.stderr)


def print_list(args):
    found = requirements(args)
    lines = ["| protocol | paper, table | data set | noise | estimator | weights | GPU time (est.) | "
             "missing here |", "|---|---|---|---|---|---|---|---|"]
    for p in args.selected:
        weights = "; ".join(f"{b} {weights_label(w)}" for b, w in recipe_weights(p.recipe))
        missing = "; ".join(m.what for m in found[p.id]) or "nothing"
        lines.append(f"| {p.id} | {p.paper} {p.tables} | {DATASET_TITLES[p.dataset]} | {p.noise.label} | "
                     f"{p.recipe['estimator']} | {weights} | {p.gpu_estimate()} | {missing} |")
    lines += ["", f"{len(args.selected)} protocols. Data root: {args.data_root}. GPU time: one seed on one "
              "H100/H200-class GPU, the extraction's FLOP lower bound times 2-4 (DEFT, TURN) or 2-5 "
              "(AVL-Prompter). 'missing here' was checked without any network call"
              + (" (hosts were probed: --download)." if args.download else ".")]
    print("\n".join(lines))
    return 0


def _refused_before_any_fit(args):
    """What stops the run, checked before any data set loads or any fit starts: a device
    torch cannot use, an --out folder that cannot be made. None when nothing does."""
    from skclip_noise.training.device import resolve_device

    if args.device != "auto":
        try:
            resolve_device(args.device)
        except ValueError as exc:
            return f"--device {args.device}: {exc}"
    if args.out:
        try:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        except OSError as exc:
            return f"--out {args.out}: cannot make its folder ({exc.strerror or exc})."
    return None


def main(argv=None):
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    if not args.download:
        os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: nothing is fetched
    import _paper_data

    args.data_root = str(_paper_data.default_data_root() if args.data_root is None else args.data_root)
    if args.list:
        return print_list(args)
    refused = _refused_before_any_fit(args)
    if refused:
        print(f"reproduce_papers.py: error: {refused}", file=sys.stderr)
        return 2
    if args.smoke:
        return run(args, smoke=True)
    found = requirements(args)
    if any(found.values()):
        report_missing(found, args)
        return EXIT_MISSING
    return run(args, smoke=False)


if __name__ == "__main__":
    sys.exit(main())
