"""Which label-free criterion to ship as a detector's ``score``: seven candidates against the truth.

Run by hand (not part of the tests), on an otherwise idle machine (about 30 min):

    .venv/bin/python benchmarks/bench_label_free_criteria.py --out benchmarks/results/label_free_criteria.md

Protocol
--------
On the digits (raw pixels and MobileNetV2 embeddings), seed 0, nine noise draws each (the six
of ``bench_detectors.py`` and model-based 30 %, open set 20 %, long tail + symmetric 30 % of
``bench_realistic_noise.py``), the grid ``n_neighbors`` 5/10/20/40 x ``cv`` 3/5 x ``n_rounds``
1/2 of ``ConsensusDetector`` (a ``n_neighbors`` too large for the smallest class left out).
Each candidate is refitted on all pairs (its clean F1 against the truth is what a pick is
worth) and fitted on the training part of each of 5 unshuffled folds; on the held-out part
the criteria below are computed from the given labels only, averaged over folds, and the
candidate with the highest value is the criterion's pick. Reported per criterion: the
regret against the best candidate (mean, max), the settings where the pick is worse than the
defaults by more than 0.005, and the mean Spearman correlation with the refitted F1.

Criteria, with ``R`` the detector's calibrated class probabilities of a held-out pair, ``T``
its noise transition and ``P`` a logistic regression (standardised, C=1) trained on the
training pairs the candidate kept:

- ``kept_proba``: mean ``P(y | x)`` (shipped as ``score``);
- ``kept_accuracy``: accuracy of ``P``'s argmax on ``y``;
- ``kept_loglik``: mean ``log P(y | x)``; ``kept_loglik_T``: mean ``log (P T)(y | x)``;
- ``kept_accuracy_T``: ``P``'s accuracy corrected by the candidate's own ``T^-1``;
- ``noise_loglik``: mean ``log (R T)(y | x)``; ``noise_brier``: the Brier score of ``R T``;
- ``own_accuracy``: accuracy of ``R``'s argmax on ``y``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import log, write_markdown  # noqa: E402
from bench_label_free_selection import draws  # noqa: E402

GRID = {"n_neighbors": [5, 10, 20, 40], "cv": [3, 5], "n_rounds": [1, 2]}
DEFAULTS = {"n_neighbors": 20, "cv": 5, "n_rounds": 2}
RATES = {"model": [0.3], "open_set": [0.2], "long_tail": [0.3]}


def held_out(params, X, y_noisy, train, test):
    """What each criterion needs from one fold: R, T, P and the held-out labels."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skclip_noise import ConsensusDetector

    detector = ConsensusDetector(random_state=0, **params).fit(X[train], y_noisy[train])
    captured = {}
    decide = detector._decide

    def capture(proba, codes, outlier=None):
        captured["R"] = proba
        return decide(proba, codes, outlier)

    detector._decide = capture
    detector.clean_proba(X[test], y_noisy[test])
    kept = train[detector.clean_mask_]
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500)).fit(X[kept], y_noisy[kept])
    P = np.zeros((len(test), len(detector.classes_)))
    P[:, np.searchsorted(detector.classes_, reference.classes_)] = reference.predict_proba(X[test])
    return {"R": captured["R"], "T": detector.noise_transition_, "P": P, "y": np.searchsorted(detector.classes_, y_noisy[test])}


def criterion(name, fold):
    R, T, P, y = fold["R"], fold["T"], fold["P"], fold["y"]
    rows = np.arange(len(y))
    if name == "kept_proba":
        return P[rows, y].mean()
    if name == "kept_accuracy":
        return (P.argmax(1) == y).mean()
    if name == "kept_loglik":
        return np.log(np.clip(P[rows, y], 1e-12, None)).mean()
    if name == "kept_loglik_T":
        return np.log(np.clip((P @ T)[rows, y], 1e-12, None)).mean()
    if name == "kept_accuracy_T":
        return np.linalg.pinv(T)[y, P.argmax(1)].mean()
    if name == "noise_loglik":
        return np.log(np.clip((R @ T)[rows, y], 1e-12, None)).mean()
    if name == "noise_brier":
        return -(((R @ T) - np.eye(T.shape[1])[y]) ** 2).sum(1).mean()
    if name == "own_accuracy":
        return (R.argmax(1) == y).mean()
    raise KeyError(name)


CRITERIA = ("kept_proba", "kept_accuracy", "kept_loglik", "kept_loglik_T", "kept_accuracy_T",
            "noise_loglik", "noise_brier", "own_accuracy")


def evaluate(name):
    from scipy.stats import spearmanr
    from sklearn.model_selection import KFold

    from skclip_noise import ConsensusDetector, detection_report

    rows = []
    for noise, X, y_noisy, is_noisy, _ in draws(name, 0, RATES):
        smallest = int(np.bincount(np.unique(y_noisy, return_inverse=True)[1]).min())
        results = []
        for values in itertools.product(*GRID.values()):
            params = dict(zip(GRID, values))
            if params["n_neighbors"] >= smallest * 0.8 - 1:
                continue
            refit = ConsensusDetector(random_state=0, **params).fit(X, y_noisy)
            folds = [held_out(params, X, y_noisy, train, test) for train, test in KFold(5).split(X)]
            results.append((params, detection_report(is_noisy, refit.clean_mask_, output_dict=True)["clean_f1"],
                            {c: float(np.mean([criterion(c, f) for f in folds])) for c in CRITERIA}))
        f1 = np.array([r[1] for r in results])
        default = next((r[1] for r in results if r[0] == DEFAULTS), None)
        for c in CRITERIA:
            values = np.array([r[2][c] for r in results])
            pick = f1[int(values.argmax())]
            rows.append({"features": name, "noise": noise, "criterion": c, "regret": f1.max() - pick,
                         "vs_default": np.nan if default is None else default - pick,
                         "spearman": spearmanr(values, f1)[0]})
        log(f"{name} {noise}: {len(results)} candidates")
    return rows


def markdown(rows, args):
    import pandas as pd

    frame = pd.DataFrame(rows)
    lines = [
        "# Label-free criteria for a detector's score, against the truth",
        "",
        f"`benchmarks/bench_label_free_criteria.py {' '.join(args)}` on {platform.machine()}, one thread. "
        "Protocol in the script's docstring.",
        "",
        "| criterion | regret mean | regret max | worse than defaults by > 0.005 | largest | Spearman (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for c in CRITERIA:
        part = frame[frame["criterion"] == c]
        lines.append(f"| {c} | {part['regret'].mean():.4f} | {part['regret'].max():.4f} | "
                     f"{int((part['vs_default'] > 0.005).sum())} of {len(part)} | {part['vs_default'].max():.4f} | "
                     f"{part['spearman'].mean():+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", default="digits_raw,digits_mobilenetv2")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    rows = [row for name in args.features.split(",") for row in evaluate(name)]
    write_markdown(markdown(rows, sys.argv[1:] if argv is None else list(argv)), args.out)


if __name__ == "__main__":
    main()
