"""The documentation site builds, offline, with warnings treated as errors.

The build executes every ``examples/plot_*.py`` of the gallery, as the by-hand build
does::

    sphinx-build -W --keep-going -b html docs docs/_build/html

so an example that fails, or warns, fails the test. The whole build, seven examples
included, took about 2.5 minutes of CPU on a 2-core CPU (one thread). Set
``SKCLIP_NOISE_DOCS_FAST=1`` for a quick local run that renders the gallery pages
without running the scripts (``-D plot_gallery=0``, about 15-20 s).

Skipped, saying so, when the ``docs`` extra is not installed
(``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import skclip_noise

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCS_PACKAGES = ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme", "myst_parser", "imblearn")
# The gallery is executed unless SKCLIP_NOISE_DOCS_FAST=1 (quick local runs).
FULL = os.environ.get("SKCLIP_NOISE_DOCS_FAST") != "1"
EXAMPLES = sorted(path.stem for path in (ROOT / "examples").glob("plot_*.py"))


def _missing_docs_packages():
    return [name for name in DOCS_PACKAGES if importlib.util.find_spec(name) is None]


def _documented_names():
    """Names listed in the API reference's autosummary tables (``docs/api/index.rst``)."""
    text = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    names, module = set(), None
    for line in text.splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            module = match.group(1)
        elif re.match(r"^   [A-Za-z_][\w.]*$", line) and module is not None:
            names.add(f"{module}.{line.strip()}")
    return names


def test_every_exported_class_and_function_is_in_the_api_reference():
    """A new public estimator or function needs a line in docs/api/index.rst."""
    documented = _documented_names()
    exported = {
        f"skclip_noise.{name}"
        for name in skclip_noise.__all__
        if callable(getattr(skclip_noise, name)) and not name.startswith("_")
    }
    assert exported <= documented, sorted(exported - documented)


def test_every_estimator_has_a_user_guide_page():
    """Each exported estimator is the subject of a page under docs/user_guide/."""
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "user_guide").glob("*.rst"))
    estimators = [
        name for name in skclip_noise.__all__
        if isinstance(getattr(skclip_noise, name), type) and hasattr(getattr(skclip_noise, name), "fit")
    ]
    missing = [name for name in estimators if not re.search(rf"^{name}: ", pages, re.M)]
    assert not missing, f"no user-guide page for {missing}"


@pytest.mark.slow
def test_docs_build_offline_with_warnings_as_errors(tmp_path):
    missing = _missing_docs_packages()
    if missing:
        pytest.skip(f"the docs extra is not installed (missing {', '.join(missing)}); "
                    'pip install -e ".[docs]" to build the documentation')
    # Build a copy, so that the files Sphinx generates in its source folder
    # (autosummary pages, gallery pages) never touch the working tree.
    source = tmp_path / "src"
    shutil.copytree(DOCS, source / "docs", ignore=shutil.ignore_patterns(
        "_build", "generated", "auto_examples", "sg_execution_times.rst"))
    shutil.copytree(ROOT / "examples", source / "examples", ignore=shutil.ignore_patterns("*.png", "__pycache__"))
    command = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
        "-d", str(tmp_path / "doctrees"), str(source / "docs"), str(tmp_path / "html"),
    ]
    if not FULL:
        command[3:3] = ["-D", "plot_gallery=0"]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",  # nothing is fetched; intersphinx stays off
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "1"),
        "MPLBACKEND": "Agg",
    }
    env.pop("SKCLIP_NOISE_DOCS_INTERSPHINX", None)
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=1800 if FULL else 600)
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout[-5000:]}\n{result.stderr[-10000:]}"

    html = tmp_path / "html"
    for page in [
        "index.html",
        "getting_started.html",
        "user_guide/gmm_loss.html",
        "user_guide/gpu_scaling.html",
        "api/generated/skclip_noise.GMMLossDetector.html",
        "auto_examples/index.html",
        "auto_examples/plot_find_label_issues_in_an_image_folder.html",
        "DESIGN.html",
        "offline_weights_notes.html",
    ]:
        assert (html / page).is_file(), page
    # The API pages carry the doctest examples of the docstrings.
    api_page = (html / "api/generated/skclip_noise.GMMLossDetector.html").read_text(encoding="utf-8")
    assert "predict_clean" in api_page and "Examples" in api_page
    # Every example has its gallery page.
    for name in EXAMPLES:
        assert (html / "auto_examples" / f"{name}.html").is_file(), name
    if FULL:
        # Each example ran: sphinx-gallery records its running time (none with
        # plot_gallery=0), and the plotting examples leave their figures.
        times = (tmp_path / "src" / "docs" / "auto_examples" / "sg_execution_times.rst").read_text(encoding="utf-8")
        for name in EXAMPLES:
            assert f"sphx_glr_auto_examples_{name}.py" in times, name
        assert not re.search(r"^\s*- 00:00\.000$", times, re.MULTILINE), times
        for name in ("plot_compare_detectors", "plot_turn_with_a_timm_backbone", "plot_deft_end_to_end"):
            assert list((html / "_images").glob(f"sphx_glr_{name}_*.png")), name
