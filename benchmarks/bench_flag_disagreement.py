"""ConsensusDetector with and without ``flag_disagreement``, on every noise of the benchmarks.

Run by hand (not part of the tests), on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_flag_disagreement.py --out benchmarks/results/flag_disagreement.md

The same features and noise draws as ``bench_detectors.py`` (the six class-conditional
settings) and ``bench_realistic_noise.py`` (model-based flips, open set, long tail), seeds
``--seeds``. For each draw ``ConsensusDetector(random_state=seed)`` is fitted with
``flag_disagreement=False`` (the default) and ``True``; the best clean F1 of the other
methods (tuned cleanlab at its best ``filter_by``, Datalab, ``NeighbourDetector``) is read
from the results of those two benchmarks (``detectors_consensus[_mnist].csv``,
``detectors_realistic_*.csv``), so that a "win" means the same as there. One thread.

**Deciding it by checking a few labels.** The pairs ``flag_disagreement=True`` adds are
the pairs the default keeps whose most probable class is another
(:func:`skclip_noise.disputed_pairs`; the script checks that the two masks agree). For each draw: how many there are, the share of them whose label is wrong,
and for a person who checks ``n`` of them drawn at random (``--checks``) and turns the
option on when more than half are wrong, the probability of turning it on (hypergeometric,
exact) and the expected clean F1 of that choice. The checked labels' own corrections are
not counted."""

from __future__ import annotations

import argparse
import os
import sys

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import add_feature_set_arguments, chosen_feature_sets, run_and_write  # noqa: E402
from _features import FEATURE_SETS, get_features  # noqa: E402
from _detection_protocol import SETTINGS, noisy_labels  # noqa: E402
from bench_realistic_noise import noise_draws  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
REALISTIC_RATES = {"model": [0.2, 0.3], "open_set": [0.1, 0.2], "long_tail": [0.2, 0.3]}


def best_other_clean_f1():
    """{(features, seed, noise): the best clean F1 of the other methods} from the stored results."""
    import pandas as pd

    best = {}
    class_conditional = ("detectors_consensus.csv", "detectors_consensus_mnist.csv", "detectors_consensus_effnetlite0.csv")
    paths = [(name, ("neighbour", "cleanlab")) for name in class_conditional]
    paths += [
        (name, ("neighbour", "cleanlab", "datalab"))
        for name in ("detectors_realistic_digits.csv", "detectors_realistic_fmnist.csv", "detectors_realistic_mnist.csv",
                     "detectors_realistic_effnetlite0.csv")
    ]
    for name, methods in paths:
        table = pd.read_csv(os.path.join(RESULTS, name))
        for row in table.itertuples():
            best[(row.features, int(row.seed), row.noise)] = max(getattr(row, f"{m}_clean_f1") for m in methods)
    return best


def draws(name, seed):
    X, y, pixels = get_features(name, verbose=False)
    for kind, rate in SETTINGS:
        y_noisy, is_noisy = noisy_labels(name, y, pixels, kind, rate, seed)
        yield "class-conditional", f"{kind} {rate:.0%}", X, y_noisy, is_noisy
    for noise, X_draw, y_noisy, is_noisy in noise_draws(name, seed, REALISTIC_RATES):
        yield "realistic", noise, X_draw, y_noisy, is_noisy


#: How many of the added pairs a person checks (``--checks``).
CHECKS = (10, 20, 30, 50)


def probability_turned_on(n_disputed, n_wrong, n_checked):
    """P(more than half of ``n_checked`` pairs drawn without replacement are wrong)."""
    from scipy.stats import hypergeom

    n_checked = min(n_checked, n_disputed)
    if n_checked == 0:
        return 0.0
    return float(hypergeom(n_disputed, n_wrong, n_checked).sf(n_checked // 2))


def shortfall(row, n_checked):
    """Expected clean F1 below the better of False and True, after checking ``n_checked`` pairs."""
    return max(row["False_clean_f1"], row["True_clean_f1"]) - row[f"checked_{n_checked}_clean_f1"]


def probability_right(row, n_checked):
    """The probability that checking ``n_checked`` disputed pairs picks the better setting."""
    p_on = row[f"on_after_{n_checked}"]
    if row["True_clean_f1"] == row["False_clean_f1"]:
        return 1.0
    return p_on if row["True_clean_f1"] > row["False_clean_f1"] else 1.0 - p_on


def evaluate(name, seed, best, checks=CHECKS):
    from skclip_noise import ConsensusDetector, detection_report, disputed_pairs

    rows = []
    for family, noise, X, y_noisy, is_noisy in draws(name, seed):
        row = {"features": name, "seed": seed, "family": family, "noise": noise,
               "best_other_clean_f1": best.get((name, seed, noise), np.nan)}
        masks = {}
        for flag in (False, True):
            detector = ConsensusDetector(flag_disagreement=flag, random_state=seed).fit(X, y_noisy)
            report = detection_report(is_noisy, detector.clean_mask_, output_dict=True)
            row[f"{flag}_clean_f1"], row[f"{flag}_noisy_f1"] = report["clean_f1"], report["noisy_f1"]
            masks[flag] = detector.clean_mask_
            if not flag:  # the pairs a person would check (skclip_noise.disputed_pairs)
                disputed = detector.label_issues_.index.isin(disputed_pairs(detector).index)
        if not np.array_equal(masks[True], masks[False] & ~disputed):
            raise AssertionError(f"{name} seed {seed} {noise}: flag_disagreement=True flags other pairs than "
                                 "the kept pairs whose most probable class is another")
        row["disputed"], row["disputed_wrong"] = int(disputed.sum()), int((disputed & is_noisy).sum())
        for n in checks:
            p_on = probability_turned_on(row["disputed"], row["disputed_wrong"], n)
            row[f"on_after_{n}"] = p_on
            row[f"checked_{n}_clean_f1"] = p_on * row["True_clean_f1"] + (1 - p_on) * row["False_clean_f1"]
        print(f"{name} seed {seed} {noise}: clean F1 {row['False_clean_f1']:.4f} -> {row['True_clean_f1']:.4f} "
              f"(best other {row['best_other_clean_f1']:.4f})", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def markdown(rows, args, seconds):
    checks = sorted(int(key.split("_")[2]) for key in rows[0] if key.startswith("on_after_"))
    n = 30 if 30 in checks else checks[0]
    lines = [
        "# ConsensusDetector with and without flag_disagreement",
        "",
        f"`{' '.join(['benchmarks/bench_flag_disagreement.py'] + args)}`: {len(rows)} draws in "
        f"{seconds / 60:.0f} min, one thread. Protocol in the script's docstring. Best other: the best clean F1 "
        "of tuned cleanlab (best `filter_by`), NeighbourDetector and (realistic noise) Datalab on the same draw.",
        "",
        f"Disputed: the pairs True adds (kept by the default, another class most probable), and the share of them "
        f"whose label is wrong. Checked {n}: a person checks {n} of them at random and turns the option on when "
        "more than half are wrong; the probability of turning it on, and the expected clean F1.",
        "",
        f"| features | seed | noise | clean F1: False / True | noisy F1: False / True | disputed: pairs / wrong share | "
        f"checked {n}: P(on) / expected clean F1 | best other clean F1 | ahead: False / True / checked {n} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ahead = ["yes" if r[key] > r["best_other_clean_f1"] else "no"
                 for key in ("False_clean_f1", "True_clean_f1", f"checked_{n}_clean_f1")]
        share = r["disputed_wrong"] / r["disputed"] if r["disputed"] else 0.0
        lines.append(
            f"| {r['features']} | {r['seed']} | {r['noise']} | {r['False_clean_f1']:.4f} / {r['True_clean_f1']:.4f} | "
            f"{r['False_noisy_f1']:.4f} / {r['True_noisy_f1']:.4f} | {r['disputed']} / {share:.2f} | "
            f"{r[f'on_after_{n}']:.3f} / {r[f'checked_{n}_clean_f1']:.4f} | {r['best_other_clean_f1']:.4f} | "
            f"{' / '.join(ahead)} |"
        )
    lines.append("")
    for family, noises in (("class-conditional", None), ("model", "model"), ("open set", "open set"),
                           ("long tail", "long tail")):
        chosen = [r for r in rows if (r["family"] == family if noises is None else r["noise"].startswith(noises))]
        if not chosen:
            continue
        change = [r["True_clean_f1"] - r["False_clean_f1"] for r in chosen]
        wins = [sum(r[key] > r["best_other_clean_f1"] for r in chosen)
                for key in ("False_clean_f1", "True_clean_f1", f"checked_{n}_clean_f1")]
        shares = [r["disputed_wrong"] / r["disputed"] for r in chosen if r["disputed"]]
        regret = [shortfall(r, n) for r in chosen]
        lines.append(f"- {family} ({len(chosen)} draws): ahead of every other method in {wins[0]} (False), "
                     f"{wins[1]} (True) and {wins[2]} (checked {n}); clean-F1 change with True {min(change):+.4f} "
                     f"to {max(change):+.4f}; disputed pairs wrong {min(shares):.2f}-{max(shares):.2f}; checked "
                     f"{n}: expected shortfall from the better of False and True {max(regret):.4f} at most.")
    lines += ["", "Checking more or fewer pairs, over all draws (expected shortfall from the better of False and "
              "True, and how often the better one is chosen with probability under 0.9):", ""]
    for k in checks:
        regret = [shortfall(r, k) for r in rows]
        unsure = sum(probability_right(r, k) < 0.9 for r in rows)
        lines.append(f"- {k} checked: mean {np.mean(regret):.4f}, at most {max(regret):.4f}; under 0.9 in "
                     f"{unsure} of {len(rows)} draws.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_set_arguments(parser, FEATURE_SETS)
    parser.add_argument("--checks", default=",".join(map(str, CHECKS)),
                        help="how many disputed pairs a person checks (comma-separated; the table shows 30)")
    parser.add_argument("--out", default=None, help="Markdown table here, raw numbers beside it (.csv)")
    args = parser.parse_args(argv)
    names, seeds = chosen_feature_sets(args)
    best = best_other_clean_f1()
    checks = tuple(int(k) for k in args.checks.split(","))
    run_and_write(names, seeds, lambda name, seed: evaluate(name, seed, best, checks), markdown, argv, args.out)


if __name__ == "__main__":
    main()
