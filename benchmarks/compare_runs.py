"""Two stored runs of one benchmark side by side: the change in chosen columns, draw by draw.

A benchmark's CSV holds one row per draw (data, seed, noise...). When a change to the
library moves its numbers, rerun the benchmark and compare the stored CSV before the
change with the new one; the draws are seeded, so rows with the same key columns are
the same draw:

    cp benchmarks/results/duplicates.csv /tmp/duplicates_before.csv
    .venv/bin/python benchmarks/bench_duplicates.py --out benchmarks/results/duplicates.md
    .venv/bin/python benchmarks/compare_runs.py /tmp/duplicates_before.csv \\
        benchmarks/results/duplicates.csv --keys features,seed,noise,copies \\
        --columns consensus_clean_f1,neighbour_clean_f1 --out benchmarks/results/x.md

Writes a Markdown table (before, after and the change per column and draw) and, per
column, the range of the change and how many draws moved each way.
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench_common import write_markdown  # noqa: E402


def compared(before, after, keys, columns):
    """One row per draw found in both runs: the keys, then before, after and change of each column."""
    missing = [c for c in keys + columns if c not in before or c not in after]
    if missing:
        raise SystemExit(f"columns missing from a run: {missing}")
    merged = before[keys + columns].merge(after[keys + columns], on=keys, suffixes=(" before", " after"))
    if len(merged) != len(after) or len(merged) != len(before):
        raise SystemExit(f"the runs hold different draws: {len(before)} and {len(after)} rows, {len(merged)} in both")
    for column in columns:
        merged[f"{column} change"] = merged[f"{column} after"] - merged[f"{column} before"]
    return merged


def markdown(merged, keys, columns, title, command):
    lines = [f"# {title}", "", f"`{command}`", "",
             "| " + " | ".join(keys + [f"{c}: before / after (change)" for c in columns]) + " |",
             "|" + "---|" * (len(keys) + len(columns))]
    for _, row in merged.iterrows():
        cells = [str(row[k]) for k in keys]
        cells += [f"{row[f'{c} before']:.4f} / {row[f'{c} after']:.4f} ({row[f'{c} change']:+.4f})" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for column in columns:
        change = merged[f"{column} change"]
        lines.append(f"- {column}: {change.min():+.4f} to {change.max():+.4f}, mean {change.mean():+.4f}; "
                     f"up in {(change > 0).sum()}, down in {(change < 0).sum()}, unchanged in "
                     f"{(change == 0).sum()} of {len(change)} draws.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the stored CSV before the change")
    parser.add_argument("after", help="the CSV of the rerun")
    parser.add_argument("--keys", required=True, help="comma-separated columns that name a draw")
    parser.add_argument("--columns", required=True, help="comma-separated columns to compare")
    parser.add_argument("--title", default="Before and after a change, draw by draw")
    parser.add_argument("--out", default=None, help="write the Markdown here (else print it)")
    args = parser.parse_args(argv)
    keys, columns = args.keys.split(","), args.columns.split(",")
    merged = compared(pd.read_csv(args.before), pd.read_csv(args.after), keys, columns)
    command = "benchmarks/compare_runs.py " + " ".join(
        [os.path.basename(args.before), os.path.basename(args.after), "--keys", args.keys, "--columns", args.columns])
    text = markdown(merged, keys, columns, args.title, command)
    write_markdown(text, args.out)


if __name__ == "__main__":
    main()
