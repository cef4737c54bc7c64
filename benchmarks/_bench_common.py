"""Helpers the image benchmarks share: logging, cached embeddings, tuned cleanlab probabilities, CSV."""

from __future__ import annotations

import csv
import sys
import time
import warnings

import numpy as np

#: The regularisation grid cleanlab's logistic regression is tuned over (as in bench_detectors.py).
C_GRID = np.logspace(-4, 1, 6)


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


def embed(spec, pretrained, image_size, X, cache_dir):
    """Embeddings of X through the library's ImageEmbedder (cached on disk), and the seconds it took."""
    from skclip_noise import ImageEmbedder

    embedder = ImageEmbedder(spec, pretrained, image_size=image_size, device="cpu", cache_dir=cache_dir)
    t0 = time.perf_counter()
    features = embedder.fit(X).transform(X)
    return features, time.perf_counter() - t0


def cleanlab_pred_probs(features, labels, seed):
    """Out-of-fold probabilities of a fairly tuned logistic regression, and its C."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import StandardScaler

    # Standardising is label-free, so doing it on all samples leaks nothing.
    Z = StandardScaler().fit_transform(features)
    inner = StratifiedKFold(3, shuffle=True, random_state=seed)
    search = LogisticRegressionCV(Cs=C_GRID, cv=inner, scoring="neg_log_loss", max_iter=500, random_state=seed)
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


def run_line(script, args, n_settings, seconds, threads="one thread per method"):
    """The opening of a result table: the command, its size and time, the machine and the
    library versions: "`benchmarks/SCRIPT ARGS`: N settings in M min on CPU, THREADS;
    skclip_noise V, cleanlab V." """
    import platform

    import cleanlab

    import skclip_noise

    return (f"`{' '.join([f'benchmarks/{script}'] + list(args))}`: {n_settings} settings in {seconds / 60:.0f} min "
            f"on {platform.processor() or platform.machine()}, {threads}; skclip_noise {skclip_noise.__version__}, "
            f"cleanlab {cleanlab.__version__}.")


def compared_run_line(script, args, n_settings, seconds, n_methods):
    """:func:`run_line` for a table of methods side by side, with where the protocol is, how
    cleanlab's columns were picked, and what bold means ("the best of the ``n_methods``")."""
    return (run_line(script, args, n_settings, seconds) + " Protocol in the script's docstring; cleanlab's "
            "columns are its best `filter_by` per metric (picked with the truth). Bold: the best of the "
            f"{n_methods}.")


def best_in_bold(row, methods, metric):
    """``row[f"{method}_{metric}"]`` of each method, " / "-joined, the best in bold."""
    values = [row[f"{method}_{metric}"] for method in methods]
    top = max(values)
    return " / ".join(f"**{v:.4f}**" if v == top else f"{v:.4f}" for v in values)


def write_csv(rows, path):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(key for r in rows for key in r)))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def write_markdown(text, out):
    """Print the Markdown text; with ``out``, also write it there."""
    print(text)
    if out:
        with open(out, "w") as handle:
            handle.write(text)


def write_markdown_and_csv(text, rows, out):
    """Print the Markdown table; with ``out``, also write it there and the raw rows beside it (.csv)."""
    write_markdown(text, out)
    if out:
        import os

        import pandas as pd

        pd.DataFrame(rows).to_csv(os.path.splitext(out)[0] + ".csv", index=False)


def run_and_write(names, seeds, evaluate, render, argv, out):
    """Every ``evaluate(name, seed)`` (a list of rows), seeds outermost, then the Markdown
    of ``render(rows, command-line arguments, seconds)`` printed and, with ``out``, written."""
    start = time.perf_counter()
    rows = [row for seed in seeds for name in names for row in evaluate(name, seed)]
    text = render(rows, sys.argv[1:] if argv is None else list(argv), time.perf_counter() - start)
    write_markdown_and_csv(text, rows, out)


def gaussian_classes(n_classes, per_class, std, seed):
    """``n_classes`` Gaussian classes of ``per_class`` samples in 64 dimensions (``make_blobs``,
    centres in [-5, 5]): the larger ``std``, the less the features tell the classes apart."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=n_classes * per_class, centers=n_classes, n_features=64, cluster_std=std,
                      random_state=seed, center_box=(-5, 5))
    return X.astype(np.float32), y


def main_over_seeds(description, evaluate, render, argv=None):
    """The command line of a benchmark that makes its own data: ``--seeds`` and ``--out``;
    ``evaluate(None, seed)`` per seed, as :func:`run_and_write` runs it."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    run_and_write([None], [int(s) for s in args.seeds.split(",")], evaluate, render, argv, args.out)


def add_feature_set_arguments(parser, feature_sets):
    """The options that choose what a detector benchmark runs on: --quick, --features, --seeds."""
    parser.add_argument("--quick", action="store_true", help="the digits feature sets, seed 0")
    parser.add_argument("--features", default=",".join(feature_sets), help="comma-separated feature sets")
    parser.add_argument("--seeds", default="0,1")


def chosen_feature_sets(args):
    """(feature set names, seeds) those options choose."""
    if args.quick:
        return ["digits_raw", "digits_mobilenetv2"], [0]
    return args.features.split(","), [int(s) for s in args.seeds.split(",")]
