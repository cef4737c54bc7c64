"""Label-error detection under realistic noise: our detectors against tuned cleanlab and Datalab.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_realistic_noise.py --out benchmarks/results/detectors_realistic.md

Datalab needs cleanlab's optional dependencies: ``pip install -e ".[benchmarks]"``.
``--quick``: the two digits feature sets, seed 0.

Protocol
--------
The features, methods and metrics of ``bench_detectors.py`` (``compare_methods``: every
method on the same matrix and the same noise draw, cleanlab tuned and at its best
``filter_by`` per metric, picked with the truth), under the three noises of
``skclip_noise.noise`` that depend on the image, each at two rates (``--rates-*``):

- ``model``: hard images get a model's plausible wrong label
  (:func:`~skclip_noise.noise.make_model_noise` with the out-of-fold probabilities of a
  logistic regression on the pixels, 5 folds).
- ``open set``: that share of each class is replaced by images of the other data set
  (digits for Fashion-MNIST and Fashion-MNIST for both digit sets, with their horizontal
  mirror images where one set has too few), embedded like the rest, keeping the replaced image's label
  (:func:`~skclip_noise.noise.make_open_set`). They count as noisy: no label is right.
- ``long tail``: classes subsampled to an imbalance of 10 (:func:`~skclip_noise.noise.make_long_tail`),
  then symmetric noise.

Seeds 0 and 1 (``--seeds``). The Markdown table goes to ``--out`` and the raw numbers beside
it (``.csv``).
"""

from __future__ import annotations

import argparse
import os
import sys

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # one thread for every method: timings side by side
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import (  # noqa: E402
    add_feature_set_arguments,
    best_in_bold,
    chosen_feature_sets,
    compared_run_line,
    run_and_write,
)
from _features import CACHE, FEATURE_SETS, get_features, load_images  # noqa: E402
from _detection_protocol import compare_methods  # noqa: E402

METHODS = ("consensus", "neighbour", "cleanlab", "datalab")
IMBALANCE = 10
#: The rates of each realistic noise the tables use (``--rates-model`` and the others).
DEFAULT_RATES = {"model": (0.2, 0.3), "open_set": (0.1, 0.2), "long_tail": (0.2, 0.3)}


def pixel_pred_probs(pixels, y, seed):
    """Out-of-fold class probabilities of a logistic regression on the pixels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return cross_val_predict(LogisticRegression(max_iter=300), pixels, y, cv=folds, method="predict_proba")


def outside_images(dataset, n_needed):
    """Images of the other data set (uint8; Fashion-MNIST for both digit sets), with their
    mirror images appended when too few."""
    images, _ = load_images("digits" if dataset == "fashion" else "fashion")
    if len(images) < n_needed:
        images = np.concatenate([images, images[:, :, ::-1]])
    if len(images) < n_needed:
        raise ValueError(f"only {len(images)} outside images for {n_needed} replacements; lower the rate")
    return images


def outside_features(name, n_needed):
    """The outside images as the feature set ``name`` sees its own images."""
    dataset, spec, side = FEATURE_SETS[name]
    images = outside_images(dataset, n_needed)
    if spec is None:  # raw pixels in [0, 1] at the data set's own size (digits: 8x8, as X / 16)
        from PIL import Image

        own_side = load_images(dataset)[0].shape[1]
        small = [np.asarray(Image.fromarray(image).resize((own_side, own_side), Image.BILINEAR)) for image in images]
        return np.stack(small).reshape(len(images), -1) / 255.0
    from skclip_noise import ImageEmbedder

    embedder = ImageEmbedder(spec, "offline", image_size=side, device="cpu", cache_dir=str(CACHE / "emb"))
    return np.asarray(embedder.fit(images).transform(images), dtype=np.float32)


def noise_draws(name, seed, rates):
    """(label of the setting, X, noisy labels, noisy mask) for each realistic noise and rate."""
    from skclip_noise.noise import make_long_tail, make_model_noise, make_noisy_labels, make_open_set

    X, y, pixels = get_features(name)
    proba = pixel_pred_probs(pixels, y, seed)
    for rate in rates["model"]:
        y_noisy, is_noisy = make_model_noise(y, proba, rate, random_state=seed)
        yield f"model {rate:.0%}", X, y_noisy, is_noisy
    outside = outside_features(name, int(np.ceil(max(rates["open_set"]) * len(y))) + len(np.unique(y)))
    for rate in rates["open_set"]:
        X_open, y_open, is_outlier = make_open_set(X, y, outside, rate, random_state=seed)
        yield f"open set {rate:.0%}", X_open, y_open, is_outlier
    kept = make_long_tail(y, IMBALANCE, random_state=seed)
    for rate in rates["long_tail"]:
        y_noisy, is_noisy = make_noisy_labels(y[kept], "symmetric", rate, random_state=seed)
        yield f"long tail {IMBALANCE} + sym {rate:.0%}", X[kept], y_noisy, is_noisy


def evaluate(name, seed, rates):
    rows = []
    for noise, X, y_noisy, is_noisy in noise_draws(name, seed, rates):
        row = {"features": name, "seed": seed, "noise": noise, "true_rate": float(is_noisy.mean())}
        rows.append(compare_methods(X, y_noisy, is_noisy, seed, True, row))
    return rows


def markdown(rows, args, seconds):
    lines = [
        "# Label-error detection under realistic noise",
        "",
        compared_run_line("bench_realistic_noise.py", args, len(rows), seconds, "four"),
        "",
        "| features | seed | noise | true rate | clean F1: consensus / neighbour / cleanlab / Datalab | "
        "noisy F1: consensus / neighbour / cleanlab / Datalab | AUROC: consensus / neighbour / cleanlab / "
        "Datalab | est. rate consensus | typed outlier: noisy / clean |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    for r in rows:
        metrics = " | ".join(best_in_bold(r, METHODS, metric) for metric in ("clean_f1", "noisy_f1", "auroc"))
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | {r['true_rate']:.3f} | {metrics} | "
            f"{r['consensus_rate']:.3f} | {r['consensus_outlier_noisy']:.3f} / {r['consensus_outlier_clean']:.3f} |"
        )
    ahead = sum(r["consensus_clean_f1"] > max(r[f"{m}_clean_f1"] for m in METHODS[1:]) for r in rows)
    lines += [
        "",
        f"ConsensusDetector has the best clean F1 of the four in {ahead} of {len(rows)} settings. Typed outlier: "
        "the share of the noisy (open set: foreign) and of the clean samples whose `issue_type` is "
        '`"outlier"`.',
    ]
    return "\n".join(lines) + "\n"


def _require_datalab():
    """Fail before any fit when cleanlab's Datalab cannot run (its extra is not installed)."""
    try:
        import datasets  # noqa: F401  (what cleanlab's Datalab imports first)
    except ImportError:
        sys.exit('Datalab needs cleanlab\'s optional dependencies; install them with pip install -e ".[benchmarks]".')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_set_arguments(parser, FEATURE_SETS)
    for key, rates in DEFAULT_RATES.items():
        parser.add_argument(f"--rates-{key.replace('_', '-')}", default=",".join(str(rate) for rate in rates))
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    _require_datalab()
    names, seeds = chosen_feature_sets(args)
    rates = {key: [float(r) for r in getattr(args, f"rates_{key}").split(",")]
             for key in ("model", "open_set", "long_tail")}
    run_and_write(names, seeds, lambda name, seed: evaluate(name, seed, rates), markdown, argv, args.out)


if __name__ == "__main__":
    main()
