"""benchmarks/device_check.sh, the one script a GPU machine runs: its CPU dry run, its
budget, its refusal without CUDA, its pages; and the cuda tests it runs are registered."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "device_check.sh")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import device_check_summary  # noqa: E402


def _run(*args, env=None, timeout=600):
    environment = dict(os.environ, OMP_NUM_THREADS="1", PYTHON=sys.executable, **(env or {}))
    return subprocess.run(["bash", SCRIPT, *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_dry_run_measures_every_check_and_writes_the_pages(tmp_path):
    run = _run("--dry-run", "--out", str(tmp_path), "--budget", "300")
    assert run.returncode == 0, run.stdout + run.stderr + (tmp_path / "gpu_device_check.log").read_text()
    pages = sorted(p.name for p in tmp_path.iterdir())
    assert pages == ["gpu_cuda_tests.md", "gpu_deft_epoch.md", "gpu_device_check.log", "gpu_embedder.md",
                     "gpu_summary.md", "gpu_training_step.md"]
    summary = (tmp_path / "gpu_summary.md").read_text()
    assert "Dry run on the CPU" in summary
    for step in ("training step (autocast) against bare", "embedder against bare, cache", "DEFT epoch", "cuda tests"):
        assert re.search(rf"\| {re.escape(step)} \| passed \| \d+ \|", summary), summary
    for measure in ("training step with autocast / bare", "ImageEmbedder / bare forward", "embedding cache",
                    "one DEFT epoch", "cuda tests"):
        assert measure in summary, summary
    tests = (tmp_path / "gpu_cuda_tests.md").read_text()
    assert re.search(r"[1-9]\d* passed, 0 failed", tests), tests


def test_budget_stops_the_script_and_says_what_did_not_run(tmp_path):
    start = time.monotonic()
    run = _run("--dry-run", "--out", str(tmp_path), "--budget", "20")
    assert time.monotonic() - start < 60
    assert run.returncode == 1
    summary = (tmp_path / "gpu_summary.md").read_text()
    assert "not run: the budget was spent" in summary or "stopped at its" in summary


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_without_cuda_it_refuses_and_points_to_the_dry_run(tmp_path):
    run = _run("--out", str(tmp_path))
    assert run.returncode == 2
    assert "no CUDA device" in run.stderr and "--dry-run" in run.stderr
    assert not list(tmp_path.iterdir())


def test_bad_arguments_are_refused():
    assert _run("--budget", "soon").returncode == 2
    run = _run("--fast")
    assert run.returncode == 2 and "unknown argument --fast" in run.stderr


def test_cuda_marker_selects_at_least_twelve_tests():
    # --strict-markers: an unregistered marker would be an error.
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--strict-markers", "-m", "cuda",
                          "-p", "no:cacheprovider", "tests/test_cuda.py"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    collected = [line for line in run.stdout.splitlines() if line.startswith("tests/test_cuda.py::")]
    assert len(collected) >= 12, run.stdout[-2000:]


def test_tests_page_counts_outcomes(tmp_path):
    xml = tmp_path / "tests.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="t" name="test_a[x]" time="1.5"/>'
        '<testcase classname="t" name="test_b" time="0.1"><skipped message="needs 2 GPUs | two"/></testcase>'
        '<testcase classname="t" name="test_c" time="2"><failure message="assert 0.4 &gt;= 0.9">trace</failure>'
        "</testcase></testsuite></testsuites>"
    )
    page = device_check_summary.tests_page(xml)
    assert "1 passed, 1 failed, 1 skipped." in page
    assert "| test_b | skipped | 0.1 | needs 2 GPUs / two |" in page
    assert "| test_c | failed | 2.0 | assert 0.4 >= 0.9 |" in page


def test_summary_judges_each_goal(tmp_path):
    (tmp_path / "steps.txt").write_text("| cuda tests | passed | 3 |\n")
    (tmp_path / "gpu_training_step.md").write_text(
        "| step | s/step | images/s | bare s/step | ratio to bare | peak GiB |\n|---|---|---|---|---|---|\n"
        "| phase 1, tuning='peft' | 0.2 | 320.0 | 0.1 | 2.000 | 9.00 |\n"
        "| phase 2, full fine-tuning | 0.12 | 533.3 | 0.1 | 1.200 | 9.00 |\n")
    (tmp_path / "gpu_cuda_tests.md").write_text("12 passed, 0 failed, 2 skipped.\n")
    log = tmp_path / "log"
    log.write_text('noise\n{"check": "embedder", "device": "GPU X", "workers": 8, "bare_images_per_s": 1000.0, '
                   '"embedder_images_per_s": 950.0, "throughput_ratio": 0.95, "cache_speedup": 40.0}\n')
    page = device_check_summary.summary_page(str(tmp_path), str(log), dry_run=False)
    assert "Device: GPU X." in page and "Dry run" not in page
    assert "full fine-tuning) | 1.200 | <= 1.15 | **missed** |" in page
    assert "(8 workers) | 0.950 | >= 0.9 | met |" in page
    assert "| cuda tests | 12 passed, 0 failed, 2 skipped | >= 12 collected, none failed | met |" in page
