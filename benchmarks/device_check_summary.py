"""The Markdown pages of ``benchmarks/device_check.sh``: the cuda tests' outcome from
pytest's JUnit XML, and the summary with each step's status and each goal met or missed.

    python benchmarks/device_check_summary.py tests OUT/cuda_tests.xml > OUT/gpu_cuda_tests.md
    python benchmarks/device_check_summary.py summary OUT OUT/gpu_device_check.log [--dry-run] > OUT/gpu_summary.md

``summary`` reads ``OUT/steps.txt`` (one Markdown row per step, written by the script),
the figures the benchmarks print as JSON lines into the log, the training-step table
and the cuda tests' page.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ElementTree

#: The device check's goals (issue "Ready for the first GPU").
TRAINING_STEP_MAX_RATIO = 1.15
EMBEDDER_MIN_RATIO = 0.9
MIN_CUDA_TESTS = 12


def _first_line(text):
    return (text or "").strip().splitlines()[0][:200] if (text or "").strip() else ""


def tests_page(xml_path):
    """The cuda tests as a Markdown page: counts, then one row per test."""
    root = ElementTree.parse(xml_path).getroot()
    rows, counts = [], {"passed": 0, "failed": 0, "skipped": 0}
    for case in root.iter("testcase"):
        outcome, detail = "passed", ""
        for tag, name in (("failure", "failed"), ("error", "failed"), ("skipped", "skipped")):
            element = case.find(tag)
            if element is not None:
                outcome, detail = name, _first_line(element.get("message") or element.text)
                break
        counts[outcome] += 1
        name = case.get("name", "").replace("|", "/")
        rows.append(f"| {name} | {outcome} | {float(case.get('time', 0)):.1f} | {detail.replace('|', '/')} |")
    lines = ["# CUDA tests (`pytest -m cuda`)", "",
             f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped.", "",
             "| test | outcome | seconds | detail |", "|---|---|---|---|", *rows]
    return "\n".join(lines) + "\n"


def _figures(log_path):
    """The JSON lines the benchmarks printed, by their ``check``."""
    found = {}
    with open(log_path) as handle:
        for line in handle:
            if line.startswith("{") and '"check"' in line:
                try:
                    figures = json.loads(line)
                except json.JSONDecodeError:
                    continue
                found[figures["check"]] = figures
    return found


def _training_step_ratios(path):
    """``{step name: ratio to bare}`` from bench_deft_speed.py's table."""
    if not os.path.isfile(path):
        return {}
    ratios = {}
    with open(path) as handle:
        for line in handle:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) == 6 and re.fullmatch(r"[0-9.]+", cells[4]):
                ratios[cells[0]] = float(cells[4])
    return ratios


def _test_counts(path):
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        match = re.search(r"(\d+) passed, (\d+) failed, (\d+) skipped", handle.read())
    return tuple(map(int, match.groups())) if match else None


def _verdict(met):
    return "met" if met else "**missed**"


def summary_page(out, log_path, dry_run):
    with open(os.path.join(out, "steps.txt")) as handle:
        steps = [line.rstrip("\n") for line in handle if line.strip()]
    figures = _figures(log_path)
    goals = []
    ratios = _training_step_ratios(os.path.join(out, "gpu_training_step.md"))
    full = next((ratio for name, ratio in ratios.items() if name.startswith("phase 2")), None)
    if full is not None:
        goals.append(f"| training step with autocast / bare forward + backward (full fine-tuning) | {full:.3f} | "
                     f"<= {TRAINING_STEP_MAX_RATIO} | {_verdict(full <= TRAINING_STEP_MAX_RATIO)} |")
        for name, ratio in ratios.items():
            if not name.startswith("phase 2"):
                goals.append(f"| {name}: DEFT's loss / plain cross-entropy | {ratio:.3f} | (no goal) | |")
    embedder = figures.get("embedder")
    if embedder:
        ratio = embedder["throughput_ratio"]
        goals.append(f"| ImageEmbedder / bare forward from JPEG files ({embedder['workers']} workers) | {ratio:.3f} | "
                     f">= {EMBEDDER_MIN_RATIO} | {_verdict(ratio >= EMBEDDER_MIN_RATIO)} |")
        goals.append(f"| embedding cache: first call / second call | {embedder['cache_speedup']:.1f}x | (no goal) | |")
    deft = figures.get("deft_epoch")
    if deft:
        goals.append(f"| one DEFT epoch of each phase, {deft['n_images']} images | {deft['total_s']:.1f} s "
                     f"({deft['images_per_s_per_phase']:.0f} images/s) | (no goal) | |")
    counts = _test_counts(os.path.join(out, "gpu_cuda_tests.md"))
    if counts is not None:
        passed, failed, skipped = counts
        if dry_run:  # a subset, rehearsed on the CPU
            goals.append(f"| cuda tests (a subset, on the CPU) | {passed} passed, {failed} failed, {skipped} skipped | "
                         f"none failed | {_verdict(failed == 0)} |")
        else:
            goals.append(f"| cuda tests | {passed} passed, {failed} failed, {skipped} skipped | >= {MIN_CUDA_TESTS} "
                         f"collected, none failed | {_verdict(failed == 0 and sum(counts) >= MIN_CUDA_TESTS)} |")
    device = (embedder or deft or {}).get("device", "unknown")
    lines = ["# Device check: summary", ""]
    if dry_run:
        lines += ["**Dry run on the CPU** (tiny model, few images, the cuda tests rehearsed on the CPU and a "
                  "subset of them): it checks the script, not the GPU; its figures mean nothing.", ""]
    lines += [f"Device: {device}. Every figure below was measured in this run.", "",
              "| step | status | seconds |", "|---|---|---|", *steps, "",
              "| measure | value | goal | verdict |", "|---|---|---|---|", *goals]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    tests = commands.add_parser("tests")
    tests.add_argument("xml")
    summary = commands.add_parser("summary")
    summary.add_argument("out")
    summary.add_argument("log")
    summary.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    text = tests_page(args.xml) if args.command == "tests" else summary_page(args.out, args.log, args.dry_run)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
