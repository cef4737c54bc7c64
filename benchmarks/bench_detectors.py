"""Label-error detection on fixed features: our detectors against tuned cleanlab, side by side.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_detectors.py --out benchmarks/results/detectors_consensus.md

``--quick``: the two digits feature sets, seed 0 (about a minute).

Protocol
--------
- Features (``benchmarks/_features.py``, cached in ``benchmarks/.cache``): 10,000 stratified
  Fashion-MNIST training images embedded by the real ImageNet MobileNetV2 and
  EfficientNet-Lite0 weights (``pretrained="offline"``, 96 px); scikit-learn's digits as
  raw pixels (``X / 16``) and embedded by MobileNetV2 (64 px). Every method sees the same
  matrix.
- Noise (``make_noisy_labels``, one draw per setting and seed, shared by all methods):
  symmetric 20/40/60 %, pair-flip 40 %, instance-dependent 40 % (on the pixels), and a
  class-confusable mapping at 40 % of the mapped classes: Fashion-MNIST shirt <-> T-shirt,
  pullover <-> coat, sneaker -> sandal -> ankle boot -> sneaker; digits 1 <-> 7, 3 <-> 8,
  5 <-> 6, 4 <-> 9. Seeds 0 and 1.
- Ours: ``ConsensusDetector()`` (the default, no noise rate), ``NeighbourDetector()``
  (training-free) and ``GMMLossDetector()`` (DivideMix's rule, the previous default), with
  ``random_state`` = the seed.
- cleanlab 2.9 at its best: ``find_label_issues(labels, pred_probs, filter_by=...)`` on
  out-of-fold probabilities (``cross_val_predict``, 5 folds) of a ``LogisticRegression`` on
  standardised features, ``C`` chosen by ``LogisticRegressionCV`` (3 folds, log-loss, C =
  1e-4 .. 10) on the noisy labels; its fit time includes the C search. For each metric the
  best of the five ``filter_by`` values is reported (a choice made with the truth, in
  cleanlab's favour). Also cleanlab's features-only path, ``Datalab.find_issues(features=...)``.
- Metrics (:func:`skclip_noise.detection_report`): F1 of the kept (clean) set and of the
  flagged (noisy) set, the estimated noise rate (share flagged) against the true one,
  the AUROC of each method's ranking score (ours: ``1 - clean_proba_``; cleanlab:
  ``1 - get_label_quality_scores``), and the fit time with the features given, all
  methods on one thread.

The Markdown table goes to ``--out`` and the raw numbers to the same path with ``.csv``.

``--pred-probs``: the two claims of ``skclip_noise.filter.find_label_issues`` instead, on the
same features, noise draws and seeds, written to ``--out`` (e.g.
``benchmarks/results/find_label_issues.md``). The caller's ``pred_probs`` are cleanlab's
tuned out-of-fold probabilities above, or with ``--caller-model`` another model's
(``rf``: a random forest, ``knn``: 10 nearest neighbours, ``svc``: an RBF support-vector
machine with Platt probabilities, ``mlp``: a softmax network with one hidden layer, stopped
early, ``hgb``: histogram gradient boosting; out-of-fold on the same 5 folds); (1)
``find_label_issues(labels, pred_probs)`` against
cleanlab's call on the same ``pred_probs`` (its default ``filter_by`` and its best one);
(2) ``ConsensusDetector().fit(X, y, pred_probs=pred_probs)`` (what
``find_label_issues(labels, pred_probs, features=X)`` runs) against ``ConsensusDetector``
on the features alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # one thread for every method: timings side by side
os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import add_feature_set_arguments, chosen_feature_sets, run_and_write  # noqa: E402
from _detection_protocol import SETTINGS, compare_methods, noisy_labels  # noqa: E402
from _features import FEATURE_SETS, get_features  # noqa: E402

SHORT = {"prune_by_noise_rate": "pbnr", "prune_by_class": "pbc", "both": "both",
         "confident_learning": "cl", "predicted_neq_given": "png"}


def evaluate(name, seed, with_datalab):
    X, y, pixels = get_features(name)
    rows = []
    for kind, rate in SETTINGS:
        y_noisy, is_noisy = noisy_labels(name, y, pixels, kind, rate, seed)
        row = {"features": name, "seed": seed, "noise": f"{kind} {rate:.0%}", "true_rate": float(is_noisy.mean())}
        rows.append(compare_methods(X, y_noisy, is_noisy, seed, with_datalab, row))
    return rows


def markdown(rows, args, seconds):
    import cleanlab
    import sklearn

    import skclip_noise

    def win(value, other):
        return f"**{value:.4f}**" if value > other else f"{value:.4f}"

    lines = [
        "# Label-error detection: ConsensusDetector vs tuned cleanlab",
        "",
        f"`{' '.join(['benchmarks/bench_detectors.py'] + args)}`: {len(rows)} settings in {seconds / 60:.0f} min on "
        f"{platform.processor() or platform.machine()}, one thread per method; skclip_noise "
        f"{skclip_noise.__version__}, cleanlab {cleanlab.__version__}, scikit-learn {sklearn.__version__}. "
        "Protocol in the script's docstring. cleanlab's columns are its best `filter_by` per metric.",
        "",
        "## Clean-side and noisy-side F1, AUROC, noise rate, fit time",
        "",
        "| features | seed | noise | true rate | clean F1 ours / cleanlab | noisy F1 ours / cleanlab | "
        "AUROC ours / cleanlab | est. rate ours / cleanlab | fit s ours / cleanlab |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | {r['true_rate']:.3f} | "
            f"{win(r['consensus_clean_f1'], r['cleanlab_clean_f1'])} / {r['cleanlab_clean_f1']:.4f} "
            f"({SHORT[r['cleanlab_clean_filter']]}) | "
            f"{win(r['consensus_noisy_f1'], r['cleanlab_noisy_f1'])} / {r['cleanlab_noisy_f1']:.4f} "
            f"({SHORT[r['cleanlab_noisy_filter']]}) | {r['consensus_auroc']:.4f} / {r['cleanlab_auroc']:.4f} | "
            f"{r['consensus_rate']:.3f} / {r['cleanlab_rate']:.3f} | {r['consensus_s']:.1f} / {r['cleanlab_s']:.1f} |"
        )
    both = sum(all(r["wins"]) for r in rows)
    faster = sum(r["consensus_s"] <= r["cleanlab_s"] for r in rows)
    lines += [
        "",
        f"ConsensusDetector beats cleanlab's best filter on both F1s in {both} of {len(rows)} settings, "
        f"and fits no slower in {faster} of {len(rows)}.",
        "",
        "## Our other detectors and cleanlab's features-only path, same settings",
        "",
        "| features | seed | noise | NeighbourDetector clean / noisy F1, AUROC, s | GMMLossDetector clean / noisy "
        "F1, AUROC, s | Datalab (kNN) clean / noisy F1, AUROC, s | consensus AUROC of label_quality |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = []
        for method in ("neighbour", "gmm", "datalab"):
            if f"{method}_clean_f1" in r:
                cells.append(f"{r[f'{method}_clean_f1']:.4f} / {r[f'{method}_noisy_f1']:.4f}, "
                             f"{r[f'{method}_auroc']:.4f}, {r[f'{method}_s']:.1f}")
            else:
                cells.append("not run")
        lines.append(f"| {r['features']} | {r['seed']} | {r['noise']} | " + " | ".join(cells)
                     + f" | {r['consensus_quality_auroc']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    from _find_label_issues_bench import CALLER_MODELS, evaluate_pred_probs, markdown_pred_probs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_set_arguments(parser, FEATURE_SETS)
    parser.add_argument("--no-datalab", action="store_true")
    parser.add_argument("--pred-probs", action="store_true",
                        help="compare find_label_issues / fit(pred_probs=...) instead (see the docstring)")
    parser.add_argument("--caller-model", choices=sorted(CALLER_MODELS), default="lr",
                        help="with --pred-probs: the model whose out-of-fold pred_probs the caller has")
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    names, seeds = chosen_feature_sets(args)
    if args.pred_probs:
        run_and_write(names, seeds, lambda name, seed: evaluate_pred_probs(name, seed, args.caller_model),
                      lambda rows, argv_, seconds: markdown_pred_probs(rows, argv_, seconds, args.caller_model),
                      argv, args.out)
    else:
        run_and_write(names, seeds, lambda name, seed: evaluate(name, seed, not args.no_datalab), markdown, argv,
                      args.out)


if __name__ == "__main__":
    main()
