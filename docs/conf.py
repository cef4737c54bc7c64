"""Sphinx configuration of the skclip_noise documentation.

Build (offline, warnings as errors), from the repository root::

    .venv/bin/pip install -e ".[docs]"
    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

The examples gallery (``examples/plot_*.py``) is executed by that build, and by
``tests/test_docs.py``. Add ``-D plot_gallery=0`` to render the gallery pages without
running the scripts (what ``tests/test_docs.py`` does with ``SKCLIP_NOISE_DOCS_FAST=1``).

Nothing is fetched from the network: intersphinx links to the Python, NumPy,
scikit-learn and PyTorch docs are off unless ``SKCLIP_NOISE_DOCS_INTERSPHINX=1``.
"""

import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

# The build never downloads: hub look-ups fail at once instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Executed examples run on the CPU; keep their thread pools small on shared machines.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import skclip_noise  # noqa: E402  (after the environment is set)

project = "skclip_noise"
author = "skclip_noise developers"
copyright = "skclip_noise developers"
release = skclip_noise.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.pickle",
                    "auto_examples/*.json", "sg_execution_times.rst"]
templates_path = ["_templates"]
default_role = "py:obj"
nitpicky = False

# -- autodoc / autosummary / numpydoc -----------------------------------------------

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
autodoc_mock_imports = []
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- intersphinx: off by default (the build must work offline) --------------------

if os.environ.get("SKCLIP_NOISE_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "torch": ("https://pytorch.org/docs/stable", None),
    }

# -- MyST (the Markdown notes kept in docs/) ------------------------------------------

myst_heading_anchors = 3

# -- sphinx-gallery ---------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "write_computation_times": True,
    # "Examples using this object" at the end of each API page.
    "doc_module": ("skclip_noise",),
    "backreferences_dir": "api/generated",
}

# Figures of executed examples: the Agg backend, no window.
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg", category=UserWarning)

# -- HTML -----------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skclip_noise {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out members inherited from scikit-learn and torch (their docs cover them).

    ``get_params``, ``set_params``, ``score``, ``fit_transform``, the generated
    ``set_*_request`` methods and the like are scikit-learn's API; the API pages list
    what skclip_noise adds.
    """
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] in {"sklearn", "torch"}:
        return True
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
