"""find_label_issues(labels, pred_probs) against N with many classes: fit time and peak memory, beside cleanlab's call.

The caller's model is simulated as in ``bench_find_label_issues_many_classes.py`` (logits
``scale`` on the true class plus standard normal noise; 1,000 classes at scale 4: 77 %
accurate), 20 % symmetric label noise. ``pred_probs`` are handed over as ``--dtypes``
(float32: a torch softmax; float64: scikit-learn's ``predict_proba``). Each (method, N,
dtype) runs in a fresh process with ``--threads`` threads: the wall time of the call and
the peak resident memory of that process during it above its level once the data exist
(the kernel's high-water mark is reset first, as in ``bench_detector_scaling.py``).
``pred MiB`` is the size of the caller's array. Run it with another library on
``PYTHONPATH`` to compare (the children inherit it).

    .venv/bin/python benchmarks/bench_find_label_issues_scaling.py --sizes 20000 100000 200000 \\
        --out benchmarks/results/find_label_issues_scaling.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_detector_scaling import THREAD_VARIABLES, _peak_rss_mib, _reset_peak_rss, _status_mib  # noqa: E402
from _bench_common import run_line, write_markdown_and_csv  # noqa: E402

METHODS = ("ours", "cleanlab")


def child(method, n, n_classes, dtype, scale):
    """One measurement in this process; prints a JSON line."""
    import numpy as np

    from bench_find_label_issues_many_classes import simulated_pred_probs
    from cleanlab.filter import find_label_issues as cleanlab_find_label_issues

    from skclip_noise import detection_report, find_label_issues, make_noisy_labels

    y, pred_probs = simulated_pred_probs(n, n_classes, scale)
    pred_probs = pred_probs.astype(dtype)
    given, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    del y
    call = find_label_issues if method == "ours" else cleanlab_find_label_issues
    _reset_peak_rss()
    baseline = _status_mib("VmRSS")
    start = time.perf_counter()
    issues = call(given, pred_probs)
    seconds = time.perf_counter() - start
    print(json.dumps({"method": method, "n": n, "classes": n_classes, "dtype": dtype, "seconds": seconds,
                      "peak_mib": _peak_rss_mib() - baseline, "pred_mib": pred_probs.nbytes / 2**20,
                      "clean_f1": detection_report(is_noisy, ~issues, output_dict=True)["clean_f1"]}))


def run_child(method, n, n_classes, dtype, scale, threads, timeout):
    command = [sys.executable, __file__, "--child", method, str(n), str(n_classes), dtype, str(scale)]
    environment = dict(os.environ, **{variable: str(threads) for variable in THREAD_VARIABLES})
    row = {"method": method, "n": n, "classes": n_classes, "dtype": dtype}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True, env=environment)
    except subprocess.TimeoutExpired:
        return dict(row, error=f"over {timeout} s")
    except subprocess.CalledProcessError as exc:
        return dict(row, error=(exc.stderr.strip().splitlines() or ["killed"])[-1][:120])
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(rows, argv, seconds, threads):
    lines = [
        "# find_label_issues(labels, pred_probs) against N, many classes",
        "",
        run_line("bench_find_label_issues_scaling.py", argv, len(rows), seconds, threads=f"{threads} threads")
        + " Protocol in the script's docstring.",
        "",
        "| method | N | classes | pred_probs | pred MiB | s | peak MiB above the data | clean F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['n']:,} | {r['classes']:,} | {r['dtype']} | | {r['error']} | | |")
            continue
        lines.append(
            f"| {r['method']} | {r['n']:,} | {r['classes']:,} | {r['dtype']} | {r['pred_mib']:,.0f} | "
            f"{r['seconds']:.1f} | {r['peak_mib']:,.0f} | {r['clean_f1']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        method, n, n_classes, dtype, scale = argv[1:]
        return child(method, int(n), int(n_classes), dtype, float(scale))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 200_000])
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=4.0)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    start, rows = time.perf_counter(), []
    for n in args.sizes:
        for dtype in args.dtypes:
            for method in args.methods:
                rows.append(run_child(method, n, args.classes, dtype, args.scale, args.threads, args.timeout))
                print(rows[-1], file=sys.stderr, flush=True)
    write_markdown_and_csv(render(rows, argv, time.perf_counter() - start, args.threads), rows, args.out)


if __name__ == "__main__":
    main()
