"""The ``.. code-block:: python`` blocks of the user guide run, as a reader would run them.

Every python block of ``docs/index.rst``, ``docs/getting_started.rst`` and
``docs/user_guide/*.rst`` is extracted from the rst at test time and executed, one test
per block, in page order and in one namespace per page (a page's blocks build on each
other), inside a temporary working directory, offline (``HF_HUB_OFFLINE=1``). A name, an
argument or an import that drifts from the code fails here.

Plain rst comments just before a block (Sphinx renders nothing for them) tell the test
what a reader supplies or what the machine lacks::

    .. test: setup NAME       run HOOKS[NAME] first: the data the text says the reader has
    .. test: manual NAME      run HOOKS[NAME] where the block says ``# ...`` (a person's
                              step: looking at images, a review in the browser)
    .. test: check NAME       run HOOKS[NAME] after the block: a shown output or a claim
    .. test: needs fashion-mnist
                              optional Debian data; skipped, saying why, where absent
    .. test: offline-error (why)
                              needs a download (the default CLIP weights): passes if it
                              runs, skips with the library's message if it raises
                              PretrainedWeightsUnavailableError, fails on any other error
    .. test: skip (why)       not run here (a GPU, a checkpoint the reader supplies, a
                              cluster, or too slow for the suite); the reason is reported

Stand-ins: where the text says "embeddings" the setups pass flattened digit pixels (any
feature matrix is valid input) and use a few hundred images, to keep the file within
about a minute of one CPU thread.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import ast
import csv
import html
import re
import textwrap
from pathlib import Path

import pytest
import sklearn

from conftest import fashion_mnist_marks
from skclip_noise.exceptions import PretrainedWeightsUnavailableError


ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [DOCS / "index.rst", DOCS / "getting_started.rst", *sorted((DOCS / "user_guide").glob("*.rst"))]

MARKER = re.compile(r"^\s*\.\. test: (.+?)\s*$")
MANUAL_STEP = re.compile(r"^\s*# \.\.\.")


# ------------------------------------------------------------------------------ extraction
def extract_blocks(page):
    """``[(line, code, markers)]`` of the page's python blocks; markers are the
    ``.. test:`` comments (their text) on the lines just before the block."""
    lines = Path(page).read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)\.\. code-block:: python\s*$", line)
        if not match:
            continue
        indent = len(match.group(1))
        j = i + 1
        while j < len(lines) and re.match(r"^\s+:[\w-]+:", lines[j]):  # directive options
            j += 1
        body = []
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            body.append(lines[j])
            j += 1
        markers, k = [], i - 1
        while k >= 0 and (not lines[k].strip() or MARKER.match(lines[k])):
            if lines[k].strip():
                markers.insert(0, MARKER.match(lines[k]).group(1))
            k -= 1
        blocks.append((i + 1, textwrap.dedent("\n".join(body)).strip("\n"), markers))
    return blocks


def _marker(markers, kind):
    """The argument of the first ``kind`` marker, or None."""
    for marker in markers:
        if marker == kind or marker.startswith(kind + " "):
            return marker[len(kind):].strip()
    return None


# ---------------------------------------------------------------- what the reader brings
_DIGITS = """
import numpy as np
from skclip_noise import ConsensusDetector, make_noisy_labels
from skclip_noise.datasets import load_digits_images
X, y = load_digits_images()
X, y = X[:{n}], y[:{n}]
images = X
_y_true = y
y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.3, random_state=0)
embeddings = X.reshape(len(X), -1) / 255          # stand-in for ImageEmbedder's output
class_names = [str(k) for k in range(10)]
"""

HOOKS = {
    # digits, symmetric noise, a fitted detector (the pages that say "detector").
    "digits": _DIGITS.format(n=500) + "detector = ConsensusDetector(random_state=0).fit(embeddings, y_noisy)\n",
    # the same for label_free_selection, whose grids ask up to 40 neighbours of a class.
    "digits-600": _DIGITS.format(n=600),
    # all 1,797 digits (noise.rst draws noise on y and X).
    "digits-all": "from skclip_noise.datasets import load_digits_images\nX, y = load_digits_images()\n",
    # the review page calls the given (noisy) labels y.
    "digits-review": _DIGITS.format(n=500) + "y = y_noisy\n",
    # hard images given a plausible wrong label: the noise whose disputed pairs are mostly wrong.
    "digits-hard": _DIGITS.format(n=500) + """
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from skclip_noise.noise import make_model_noise
_probs = cross_val_predict(LogisticRegression(max_iter=1000), embeddings, y, method="predict_proba")
y_noisy, is_noisy = make_model_noise(y, _probs, 0.3, random_state=0)
detector = ConsensusDetector(random_state=0).fit(embeddings, y_noisy)
""",
    # a few images and a model's out-of-fold probabilities (from_cleanlab.rst).
    "cleanlab": """
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from skclip_noise import make_noisy_labels
from skclip_noise.datasets import load_digits_images
_X, _y = load_digits_images()
_rows = np.concatenate([np.flatnonzero(_y == k)[:25] for k in range(3)])
images, _y_true = _X[_rows], _y[_rows]
labels, is_noisy = make_noisy_labels(_y_true, "symmetric", 0.2, random_state=0)
pred_probs = cross_val_predict(LogisticRegression(max_iter=1000), images.reshape(len(images), -1) / 255,
                               labels, method="predict_proba")
""",
    # a folder of images with one unreadable file (data.rst).
    "image-folder": """
import numpy as np
from skclip_noise.datasets import load_digits_images, load_image_folder, make_image_folder
_X, _y = load_digits_images(as_strings=True)
_rows = np.concatenate([np.flatnonzero(_y == k)[:12] for k in ("0", "1", "2")])
_root = make_image_folder(_X[_rows], _y[_rows], "my-images")
import os
with open(os.path.join(_root, "0", "broken.png"), "wb") as _f:
    _f.write(b"not an image")
paths, labels = load_image_folder(_root)
""",
    "train-split": """
from skclip_noise.datasets import load_digits_images
X, y = load_digits_images()
X_train, y_train = X[:100], y[:100]
""",
    "trusted-set": """
trusted = np.random.RandomState(0).choice(len(y_noisy), 60, replace=False)
y_checked = _y_true[trusted]                    # what the check found
""",
    # the person looks at the images of to_check: the truth says which labels are wrong.
    "count-wrong": "n_wrong = int(is_noisy[np.asarray(to_check.index)].sum())\n",
    # the review in the browser: every card decided right, exported as the page would.
    "export-decisions": "_export_decisions()\n",
    "flag-disagreement-same": """
assert n_wrong > len(to_check) / 2, "the setup should exercise the flagging branch"
_flagged = ConsensusDetector(flag_disagreement=True, random_state=0).fit(embeddings, y_noisy)
assert (clean == _flagged.clean_mask_).all()
""",
    "n-wrong-from-decisions": """
assert n_wrong == int(is_noisy[np.asarray(to_check.index)].sum())
assert keep.all() and (y_fixed[np.asarray(to_check.index)] == _y_true[np.asarray(to_check.index)]).all()
""",
    "neighbours-10": "assert detector.n_neighbors_ == 10\n",
    "forget-rate": "assert detector.forget_rate_ == 0.2\n",
    "dask-config-save": """
import copy
import dask
_dask_config = copy.deepcopy(dask.config.config)
""",
    "dask-config-restore": """
try:
    assert dask.config.get("distributed.nanny.pre-spawn-environ") == {}
finally:
    dask.config.config.clear()
    dask.config.config.update(_dask_config)
""",
}


def _export_decisions(report="report.html", out="decisions.csv", truth=None):
    """Play the reviewer of ``report``: decide every card right (relabel a wrong label to
    the true class, keep a right one) and export ``decisions.csv`` as the page does."""
    text = Path(report).read_text(encoding="utf-8")
    rows = []
    for attrs in re.findall(r'<article class="card[^"]*"([^>]*)>', text):
        card = {key: html.unescape(value) for key, value in re.findall(r'data-([\w-]+)="([^"]*)"', attrs)}
        if "sample" not in card:
            continue
        true = str(truth[int(card["sample"])])
        if true == card["given"]:
            rows.append([card["sample"], card["given"], "keep", card["given"]])
        else:
            rows.append([card["sample"], card["given"], "relabel", true])
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["sample", "given_label", "decision", "label"])
        writer.writerows(rows)
    return len(rows)


# ---------------------------------------------------------------------------- execution
def _run(code, namespace, where):
    """Execute ``code``; a last bare expression is evaluated, as the reader's REPL would."""
    tree = ast.parse(code, filename=where)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, where, "exec"), namespace)
    if last is not None:
        eval(compile(ast.Expression(last.value), where, "eval"), namespace)


def _hook(name, namespace, where):
    assert name in HOOKS, f"{where}: unknown hook {name!r}"
    _run(HOOKS[name], namespace, f"{where} [{name}]")


class _Page:
    def __init__(self, page, workdir):
        self.page, self.workdir = page, workdir
        self.blocks = extract_blocks(page)
        self.namespace = {"__name__": "__main__"}
        self.done = 0          # blocks 0 .. done-1 have been handled
        self.failed = None     # the first block that failed or skipped the rest
        self.skip_rest = None


_PAGES = {}


def _page_state(page, tmp_path_factory):
    if page not in _PAGES:
        _PAGES[page] = _Page(page, tmp_path_factory.mktemp(Path(page).stem))
    return _PAGES[page]


def _execute(state, index):
    line, code, markers = state.blocks[index]
    where = f"{state.page.relative_to(ROOT)}:{line}"
    namespace = state.namespace
    namespace["_export_decisions"] = lambda: _export_decisions(truth=namespace["_y_true"])
    if _marker(markers, "skip") is not None:
        pytest.skip(f"{where}: {_marker(markers, 'skip').strip('()')}")
    if state.skip_rest:
        pytest.skip(state.skip_rest)
    for marker in markers:
        if marker.startswith("setup "):
            _hook(marker.split()[1], namespace, where)
    manual = _marker(markers, "manual")
    parts = [[]]
    for source_line in code.splitlines():
        parts[-1].append(source_line)
        if MANUAL_STEP.match(source_line):
            parts.append([])
    assert manual is None or len(parts) > 1, f"{where}: 'manual' marker but no '# ...' line"
    try:
        for k, part in enumerate(parts):
            _run("\n".join(part), namespace, where)
            if k < len(parts) - 1 and manual is not None:
                _hook(manual, namespace, where)
    except FileNotFoundError as error:
        if _marker(markers, "needs") == "fashion-mnist" and "Fashion-MNIST not found" in str(error):
            state.skip_rest = f"{where}: {error}"
            pytest.skip(state.skip_rest)
        raise
    except PretrainedWeightsUnavailableError as error:
        if _marker(markers, "offline-error") is not None:
            pytest.skip(f"{where}: {_marker(markers, 'offline-error').strip('()')}; "
                        f"the library says: {str(error).splitlines()[0][:300]}")
        raise
    for marker in markers:
        if marker.startswith("check "):
            _hook(marker.split()[1], namespace, where)


def _cases():
    cases = []
    for page in PAGES:
        for index, (line, _, markers) in enumerate(extract_blocks(page)):
            marks = fashion_mnist_marks() if _marker(markers, "needs") == "fashion-mnist" else []
            cases.append(pytest.param(page, index, id=f"{page.relative_to(DOCS)}:{line}", marks=marks))
    return cases


@pytest.mark.parametrize(("page", "index"), _cases())
def test_user_guide_block_runs(page, index, tmp_path_factory, monkeypatch):
    state = _page_state(page, tmp_path_factory)
    monkeypatch.chdir(state.workdir)
    monkeypatch.setenv("HOME", str(state.workdir))        # "~" stays inside the test
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import matplotlib.pyplot as plt

    # Blocks run in page order: catch up on the earlier ones (e.g. under ``-k``).
    while state.done < index:
        earlier = state.done
        state.done += 1
        try:
            with sklearn.config_context():
                _execute(state, earlier)
        except pytest.skip.Exception:
            pass
        except Exception as error:
            state.failed = state.failed or state.blocks[earlier][0]
            raise AssertionError(f"an earlier block of the page (line {state.blocks[earlier][0]}) failed: {error!r}")
    if state.failed is not None:
        pytest.fail(f"an earlier block of the page (line {state.failed}) failed")
    state.done = index + 1
    try:
        with sklearn.config_context():                   # a block's set_config stays in the block
            _execute(state, index)
    except pytest.skip.Exception:
        raise
    except BaseException:
        state.failed = state.blocks[index][0]
        raise
    finally:
        plt.close("all")


def test_every_python_block_is_found():
    """The extraction sees the pages' blocks (a changed directive spelling would hide them)."""
    texts = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    assert sum(len(extract_blocks(page)) for page in PAGES) == texts.count(".. code-block:: python")


def test_markers_are_known():
    known = ("setup ", "manual ", "check ", "skip (", "offline-error (", "needs fashion-mnist")
    for page in PAGES:
        for line, _, markers in extract_blocks(page):
            for marker in markers:
                assert marker.startswith(known), f"{page.name}:{line}: unknown marker {marker!r}"
                if marker.split()[0] in ("setup", "manual", "check"):
                    assert marker.split()[1] in HOOKS, f"{page.name}:{line}: no hook {marker!r}"


def test_front_page_quick_start_is_the_getting_started_one():
    """docs/index.rst shows getting_started.rst's journey verbatim; that one is run above."""
    (index_code,) = [code for _, code, _ in extract_blocks(DOCS / "index.rst")]
    started = [code for _, code, _ in extract_blocks(DOCS / "getting_started.rst")]
    assert index_code in started
