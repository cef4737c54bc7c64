"""How the detectors' fit time and memory grow with N, side by side with cleanlab, and the whole Fashion-MNIST end to end.

Run by hand (not part of the tests), on an otherwise idle machine, in one command:

    .venv/bin/python benchmarks/bench_detector_scaling.py --sizes 10000 100000 1000000 --dims 512 \
        --threads 2 --out benchmarks/results/detector_scaling.md
    .venv/bin/python benchmarks/bench_detector_scaling.py --fashion-mnist-70k \
        --out benchmarks/results/detector_fashion_mnist_70k.md

Synthetic data: ``K = 10`` Gaussian clusters (``--classes``) in ``D`` dimensions (unit-norm centres plus
isotropic noise, so neighbours and a linear probe both carry signal, like frozen
embeddings), float32, 40 % symmetric label noise. Each (detector, N, D) runs in a fresh
process with ``--threads`` threads (OpenMP, BLAS, faiss and torch alike): the wall time of
``fit`` (features given) and the peak resident memory of that process during the fit above
its resident level once the data exist (the kernel's high-water mark is reset before the
fit, so the peak of making the data does not hide the fit's). cleanlab is measured twice
the same way: ``cleanlab-c1``, the plain pipeline most users run (standardise, 5-fold
``cross_val_predict`` of ``LogisticRegression(C=1)``, ``find_label_issues`` with its
default filter), and ``cleanlab`` with ``C`` tuned by ``LogisticRegressionCV`` first.
Results go to ``--out`` (markdown), the same name with ``.csv``, and ``--plot`` (time and
memory against N, log-log).

``--copies SHARE [SHARE ...]``: the last SHARE of the rows are exact copies of earlier rows, with their
given labels (a crawled data set with duplicates), to measure what finding and grouping
the copies costs.

``--fashion-mnist-70k``: all 60,000 + 10,000 Fashion-MNIST images embedded by the real
MobileNetV2 weights at 96 px (through the embedding cache), 40 % pair-flip noise, then
``ConsensusDetector`` and cleanlab's tuned pipeline on the same features, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _variable in THREAD_VARIABLES:
    os.environ.setdefault(_variable, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import write_csv  # noqa: E402

N_CLASSES = 10
DETECTORS = ("consensus", "neighbour", "gmm", "cleanlab-c1", "cleanlab")


def clustered_embeddings(n, dim, seed=0, n_classes=N_CLASSES):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = rng.integers(0, n_classes, n)
    X = centres[y] + rng.normal(scale=1.5 / np.sqrt(dim), size=(n, dim)).astype(np.float32)
    return X.astype(np.float32), y


def fit_cleanlab(X, y, seed=0):
    import warnings

    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import StandardScaler

    Z = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = LogisticRegressionCV(Cs=np.logspace(-4, 1, 6), cv=StratifiedKFold(3, shuffle=True, random_state=seed),
                                      scoring="neg_log_loss", max_iter=500, random_state=seed).fit(Z, y)
        proba = cross_val_predict(LogisticRegression(C=float(np.atleast_1d(search.C_)[0]), max_iter=1000), Z, y,
                                  cv=StratifiedKFold(5, shuffle=True, random_state=seed), method="predict_proba")
    return ~find_label_issues(y, proba, filter_by="prune_by_noise_rate")


def fit_cleanlab_c1(X, y, seed=0):
    """cleanlab's plain pipeline: out-of-fold probabilities of LogisticRegression(C=1)."""
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import StandardScaler

    Z = StandardScaler().fit_transform(X)
    proba = cross_val_predict(LogisticRegression(max_iter=1000), Z, y,
                              cv=StratifiedKFold(5, shuffle=True, random_state=seed), method="predict_proba")
    return ~find_label_issues(y, proba)


def fit_one(detector, X, y):
    """The clean mask of one detector on (X, y)."""
    from skclip_noise import ConsensusDetector, GMMLossDetector, NeighbourDetector

    if detector == "cleanlab":
        return fit_cleanlab(X, y)
    if detector == "cleanlab-c1":
        return fit_cleanlab_c1(X, y)
    make = {"consensus": lambda: ConsensusDetector(random_state=0), "neighbour": NeighbourDetector,
            "gmm": lambda: GMMLossDetector(device="cpu", random_state=0)}[detector]
    return make().fit(X, y).clean_mask_


def _status_mib(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak_rss():
    """Start the kernel's high-water mark of resident memory afresh (Linux), so the
    fit's peak is not hidden under the peak of generating the data."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _peak_rss_mib():
    return _status_mib("VmHWM")


def with_copies(X, y_noisy, is_noisy, share, seed=0):
    """The last ``share`` of the rows replaced by exact copies of earlier rows (given labels too)."""
    n_copies = int(round(share * len(X)))
    if not n_copies:
        return X, y_noisy, is_noisy
    source = np.random.default_rng(seed).integers(0, len(X) - n_copies, n_copies)
    for values in (X, y_noisy, is_noisy):
        values[len(X) - n_copies:] = values[source]
    return X, y_noisy, is_noisy


def child(detector, n, dim, threads, copies=0.0, n_classes=N_CLASSES):
    """One measurement in this process; prints a JSON line."""
    import torch

    torch.set_num_threads(threads)
    from skclip_noise import detection_report, make_noisy_labels

    X, y = clustered_embeddings(n, dim, n_classes=n_classes)
    X, y_noisy, is_noisy = with_copies(X, *make_noisy_labels(y, "symmetric", 0.4, random_state=0), copies)
    import skclip_noise  # noqa: F401  (imports counted in the baseline, not in the fit)

    _reset_peak_rss()
    baseline = _status_mib("VmRSS")
    start = time.perf_counter()
    clean = fit_one(detector, X, y_noisy)
    seconds = time.perf_counter() - start
    report = detection_report(is_noisy, clean, output_dict=True)
    print(json.dumps({"detector": detector, "n": n, "dim": dim, "classes": n_classes, "threads": threads, "copies": copies,
                      "seconds": seconds,
                      "peak_mib": _peak_rss_mib() - baseline, "data_mib": X.nbytes / 2**20,
                      "clean_f1": report["clean_f1"], "noisy_f1": report["noisy_f1"]}))


def run_child(detector, n, dim, timeout, threads=1, copies=0.0, n_classes=N_CLASSES):
    command = [sys.executable, __file__, "--child", detector, str(n), str(dim), str(threads), str(copies),
               str(n_classes)]
    environment = dict(os.environ, **{variable: str(threads) for variable in THREAD_VARIABLES})
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True, env=environment)
    except subprocess.TimeoutExpired:
        return {"detector": detector, "n": n, "dim": dim, "classes": n_classes, "error": f"over {timeout} s"}
    except subprocess.CalledProcessError as exc:
        return {"detector": detector, "n": n, "dim": dim, "classes": n_classes,
                "error": exc.stderr.strip().splitlines()[-1][:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def scaling_markdown(rows, argv):
    threads = sorted({r.get("threads", 1) for r in rows})
    copies = any(r.get("copies", 0) for r in rows)
    classes = "/".join(str(k) for k in sorted({r.get("classes", N_CLASSES) for r in rows}))
    lines = [
        f"# Detector cost against N (synthetic clustered embeddings, {classes} classes, 40 % symmetric noise"
        + ("; the last `copies` of the rows exact copies of earlier ones)" if copies else ")"),
        "",
        f"`benchmarks/bench_detector_scaling.py {' '.join(argv)}`; {'/'.join(map(str, threads))} thread(s) "
        "(OpenMP, BLAS, faiss, torch), each run in a fresh process. Peak memory is above the process's "
        "level once the data exist (the float32 features are `data MiB`).",
        "",
        "| detector | N | D |" + (" copies |" if copies else "")
        + " fit s | peak MiB | data MiB | clean F1 | noisy F1 |",
        "|---|---|---|" + ("---|" if copies else "") + "---|---|---|---|---|",
    ]
    for r in rows:
        first = f"| {r['detector']} | {r['n']:,} | {r['dim']} |" + (f" {r.get('copies', 0):.0%} |" if copies else "")
        if "error" in r:
            lines.append(f"{first} {r['error']} | | | | |")
        else:
            lines.append(f"{first} {r['seconds']:.1f} | {r['peak_mib']:.0f} | "
                         f"{r['data_mib']:.0f} | {r['clean_f1']:.4f} | {r['noisy_f1']:.4f} |")
    ratios = scaling_ratios(rows)
    if ratios:
        lines += ["", "Against cleanlab in the same run (time and peak memory, ratio to cleanlab's):", "",
                  "| detector | N | D | time / cleanlab-c1 | time / cleanlab (tuned C) | memory / cleanlab-c1 |",
                  "|---|---|---|---|---|---|", *ratios]
    return "\n".join(lines) + "\n"


def scaling_ratios(rows):
    done = {(r["detector"], r["n"], r["dim"], r.get("copies", 0)): r for r in rows if "error" not in r}

    def ratio(row, baseline, key):
        return f"{row[key] / baseline[key]:.2f}" if baseline else "not run"

    lines = []
    for (detector, n, dim, copies), row in done.items():
        if detector.startswith("cleanlab"):
            continue
        plain, tuned = done.get(("cleanlab-c1", n, dim, copies)), done.get(("cleanlab", n, dim, copies))
        if plain or tuned:
            lines.append(f"| {detector} | {n:,} | {dim} | {ratio(row, plain, 'seconds')} | "
                         f"{ratio(row, tuned, 'seconds')} | {ratio(row, plain, 'peak_mib')} |")
    return lines


def scaling_plot(rows, path):
    """Fit time and peak memory against N, log-log, one line per (detector, D)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if "error" not in r]
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for detector, dim in sorted({(r["detector"], r["dim"]) for r in done}):
        points = sorted((r["n"], r["seconds"], r["peak_mib"]) for r in done if (r["detector"], r["dim"]) == (detector, dim))
        n, seconds, memory = zip(*points)
        style = "--" if detector.startswith("cleanlab") else "-"
        time_axis.plot(n, seconds, style, marker="o", label=f"{detector} ({dim}-d)")
        memory_axis.plot(n, memory, style, marker="o", label=f"{detector} ({dim}-d)")
    threads = "/".join(map(str, sorted({r.get("threads", 1) for r in done})))
    for axis, label in [(time_axis, "fit time (s)"), (memory_axis, "peak memory above the data (MiB)")]:
        axis.set(xscale="log", yscale="log", xlabel="samples N", ylabel=label)
        axis.grid(True, which="both", alpha=0.3)
    time_axis.set_title(f"Fit time, {threads} thread(s)")
    memory_axis.set_title("Peak memory of the fit")
    time_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def fashion_mnist_70k(argv):
    from skclip_noise import ConsensusDetector, ImageEmbedder, detection_report, make_noisy_labels
    from skclip_noise.datasets import load_fashion_mnist

    X_train, y_train = load_fashion_mnist(subset="train")
    X_test, y_test = load_fashion_mnist(subset="test")
    images, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    cache = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache", "emb")
    embedder = ImageEmbedder("torchvision:mobilenet_v2", "offline", image_size=96, device="cpu", cache_dir=cache)
    start = time.perf_counter()
    import torch

    torch.set_num_threads(2)  # the embedding pass uses both cores, like a user's run
    X = embedder.fit(images).transform(images)
    torch.set_num_threads(1)
    embed_seconds = time.perf_counter() - start
    y_noisy, is_noisy = make_noisy_labels(y, "pairflip", 0.4, random_state=0)
    rows = []
    for name, fit in [("ConsensusDetector", lambda: ConsensusDetector(random_state=0).fit(X, y_noisy).clean_mask_),
                      ("cleanlab (tuned C, prune_by_noise_rate)", lambda: fit_cleanlab(X, y_noisy))]:
        start = time.perf_counter()
        clean = fit()
        seconds = time.perf_counter() - start
        report = detection_report(is_noisy, clean, output_dict=True)
        rows.append(f"| {name} | {seconds:.0f} | {report['clean_f1']:.4f} | {report['noisy_f1']:.4f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join([
        "# The whole Fashion-MNIST (70,000 images) end to end, 40 % pair-flip noise",
        "",
        f"`benchmarks/bench_detector_scaling.py {' '.join(argv)}`. Embedding: real MobileNetV2 at 96 px on "
        f"2 threads, {len(images):,} images in {embed_seconds:.0f} s ({len(images) / embed_seconds:.0f} images/s; "
        "0 s on a rerun, from the embedding cache). Detection: one thread, features given.",
        "",
        "| method | fit s | clean F1 | noisy F1 |",
        "|---|---|---|---|",
        *rows,
    ]) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), float(argv[5]), int(argv[6]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[512, 1280])
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    parser.add_argument("--threads", type=int, default=1, help="threads of every library in each run")
    parser.add_argument("--plot", default=None, help="PNG of time and memory against N (log-log)")
    parser.add_argument("--classes", type=int, default=N_CLASSES, help="number of classes (clusters)")
    parser.add_argument("--copies", type=float, nargs="+", default=[0.0],
                        help="shares of the rows that copy earlier rows (one run each)")
    parser.add_argument("--fashion-mnist-70k", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.fashion_mnist_70k:
        text = fashion_mnist_70k(argv)
    else:
        rows = []
        for dim in args.dims:
            for n in args.sizes:
                for copies in args.copies:
                    for detector in args.detectors:
                        rows.append(run_child(detector, n, dim, args.timeout, args.threads, copies, args.classes))
                        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        text = scaling_markdown(rows, argv)
        if args.out:
            write_csv(rows, os.path.splitext(args.out)[0] + ".csv")
        if args.plot:
            scaling_plot(rows, args.plot)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
