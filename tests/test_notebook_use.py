"""The library as a notebook user meets it (Jupyter, IPython, VS Code notebooks).

How estimators display in a cell, the review page shown inline in an output cell
(``IPython.display.HTML(label_issues_html(X, issues))``: ``path=None`` returns the page),
plots, progress bars and cells that are run again.

An output cell is emulated in headless Chromium the way JupyterLab's ``renderHTML``
(``@jupyterlab/rendermime``) shows ``text/html`` in a trusted notebook: the HTML goes into
the output ``<div>`` by ``innerHTML`` and each ``<script>`` element is then replaced by a
fresh copy so that it runs. A notebook is one document: every output cell shares its
``<body>``, its ids, its style sheets and its key presses. The cell editors of JupyterLab 4
and Notebook 7 (CodeMirror 6) are ``contenteditable`` elements. The browser tests skip,
saying why, where Chromium, its driver or Selenium is absent (conftest's marks).
"""

from __future__ import annotations

import io
import os
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CLIP, cat_dog_labels, needs_selenium, random_images
from test_review import browser  # noqa: F401  (a fixture: headless Chromium, a fresh profile)

import skclip_noise
from skclip_noise.report import label_issues_html

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")  # what `%matplotlib inline` draws with when matplotlib_inline is absent
import matplotlib.pyplot as plt  # noqa: E402

# ------------------------------------------------------------------ an emulated notebook

_NOTEBOOK = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Untitled.ipynb</title></head>
<body>
<h1 id="markdown">A markdown cell's heading</h1>
<div id="editor" class="cm-content" contenteditable="true" style="min-height: 30px"></div>
<div id="out1" class="jp-OutputArea-output"></div>
<div id="out2" class="jp-OutputArea-output"></div>
</body></html>
"""

# JupyterLab's renderHTML: innerHTML, then each script replaced by a copy (which then runs).
_SHOW = """
var host = document.getElementById(arguments[0]);
host.innerHTML = arguments[1];
host.querySelectorAll("script").forEach(function (old) {
  var script = document.createElement("script");
  for (var i = 0; i < old.attributes.length; i += 1) { script.setAttribute(old.attributes[i].name, old.attributes[i].value); }
  script.textContent = old.textContent;
  old.parentNode.replaceChild(script, old);
});
"""


def _open_notebook(driver, tmp_path):
    """Load the emulated notebook page (again: a new session of the same notebook)."""
    page = tmp_path / "notebook.html"
    page.write_text(_NOTEBOOK, encoding="utf-8")
    driver.get(f"file://{page}")


def _show(driver, output, page):
    """``IPython.display.HTML(page)`` in the output cell ``output`` ("out1" or "out2")."""
    driver.execute_script(_SHOW, output, page)


def _keys(driver, *keys):
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:  # to the focused element, as a person types
        ActionChains(driver).send_keys(key).perform()


def _progress(driver, output):
    """The text of the progress counter inside the output cell ``output``."""
    return driver.execute_script(
        "var counter = document.querySelector('#' + arguments[0] + ' .progress');"
        "return counter ? counter.textContent : null;", output)


def _report(given, suggested, seed=0, title="Suspected label errors"):
    """A review page of ``len(given)`` flagged colour images, ``path=None`` (returned)."""
    n = len(given)
    issues = pd.DataFrame({"is_label_issue": True, "label_quality": np.linspace(0.1, 0.4, n),
                           "given_label": given, "predicted_label": suggested})
    return label_issues_html(random_images(n, side=8, seed=seed), issues, title=title)


CATS = (["cat", "dog", "cat"], ["dog", "cat", "dog"])


# ------------------------------------------------------------------ the review page in a cell


@needs_selenium
def test_inline_reports_on_other_data_do_not_share_decisions(browser, tmp_path):
    """review.rst: decisions "are keyed by the report's samples and given labels: ... a report
    on other data or other labels starts its own, so two reports never mix"; html.py's
    docstring: "under a key made from the report's samples and labels, so two reports never
    mix". A user shows a report inline, accepts its first card, and later (a new session)
    shows a report of other images with other labels in the same notebook. Today its first
    card arrives already decided ("1 of 2 decided"), with the other report's decision (whose
    given label is not this card's, so the exported file is refused by apply_decisions):
    REVIEW_SCRIPT reads the key from ``document.body``'s ``data-report``
    (report/_review.py:131), but an output cell's ``innerHTML`` drops the page's ``<body>``
    tag and its attributes, so every inline report stores under
    ``"skclip-noise-review:null"``. Right: the key travels with the report (an attribute of
    the report's own root element, read from the script's own report)."""
    _open_notebook(browser, tmp_path)
    _show(browser, "out1", _report(*CATS, seed=0, title="batch 1"))
    browser.execute_script("document.querySelector('#out1 button[data-action=accept]').click()")
    assert _progress(browser, "out1") == "1 of 3 decided"

    _open_notebook(browser, tmp_path)
    _show(browser, "out1", _report(["dog", "dog"], ["cat", "cat"], seed=1, title="batch 2"))
    stored = browser.execute_script("return Object.keys(window.localStorage)")
    assert _progress(browser, "out1") == "0 of 2 decided", (
        f"a report on other data opened with another report's decisions (storage keys {stored})")


@needs_selenium
def test_two_reports_in_one_notebook_each_count_their_own_cards(browser, tmp_path):
    """A notebook shows two reports (say, two classes' folders, two cells). Each has its own
    toolbar: progress counter, filters, pager and "Export decisions". Today the second report's
    counter stays empty and the first one's counts the cards of both ("0 of 5 decided"); the
    second script also binds its filters, pager and export button to the first report's
    (``document.getElementById`` finds the first of each repeated id: report/_review.py:132-146,
    :169 and :322) and takes every card of the document as its own
    (``document.querySelectorAll("article.card[data-sample]")``, :133), so one click decides in
    both reports' state. Right: each report's script works within its own root element
    (no document-wide ids or queries)."""
    _open_notebook(browser, tmp_path)
    _show(browser, "out1", _report(*CATS, seed=0, title="cats"))
    _show(browser, "out2", _report(["dog", "dog"], ["cat", "cat"], seed=1, title="dogs"))
    assert (_progress(browser, "out1"), _progress(browser, "out2")) == ("0 of 3 decided", "0 of 2 decided")


@needs_selenium
def test_review_keys_do_not_swallow_typing_in_a_notebook_cell(browser, tmp_path):
    """review.rst's keys (``j``/``k``, arrows, ``a``, ``g``, ``x``, digits, ...) are bound on the
    whole document (report/_review.py:323-346), skipping only INPUT, SELECT and TEXTAREA
    targets. A user shows a report inline and goes on typing code in a cell of JupyterLab 4 /
    Notebook 7, whose editor (CodeMirror 6) is a ``contenteditable`` element. Today the
    report takes the keys: typing ``jak`` types nothing (``preventDefault``) and moves
    through, and decides, the report's cards instead ("1 of 3 decided"); arrows and digits
    are lost too. Right: a key meant for an editable element (``event.target.isContentEditable``)
    is left alone, and in a shared document the report reacts only to keys aimed at it."""
    _open_notebook(browser, tmp_path)
    _show(browser, "out1", _report(*CATS))
    browser.find_element("id", "editor").click()
    _keys(browser, "j", "a", "k")
    typed = browser.execute_script("return document.getElementById('editor').textContent")
    assert (typed, _progress(browser, "out1")) == ("jak", "0 of 3 decided")


@needs_selenium
def test_rerun_cell_leaves_no_hidden_report_deciding(browser, tmp_path):
    """A notebook cell is run again: its output (a report) is replaced by the same report
    again, whose decisions continue (review.rst: "a report remade on the same data continues
    the same review"). The replaced report's script still listens to the whole document
    (report/_review.py:323), with its own current card and decisions. A user relabelled the first
    card (sample 0), re-ran the cell and presses ``a`` (with no card current the visible report only moves
    to its first card). Today the invisible old report also takes the key: it relabels its
    current card (sample 1) and saves, so on reopening the notebook a decision the user never
    saw or made is there ("2 of 3 decided") and would be exported. Right: a report whose
    elements left the document stops reacting (check ``root.isConnected`` / remove the
    listener), or listens on its own element only."""
    page = _report(*CATS)
    _open_notebook(browser, tmp_path)
    _show(browser, "out1", page)
    _keys(browser, "j", "a")  # sample 0 relabelled; the current card moves on to sample 1
    assert _progress(browser, "out1") == "1 of 3 decided"
    _show(browser, "out1", page)  # the cell run again
    _keys(browser, "a")
    _open_notebook(browser, tmp_path)
    _show(browser, "out1", page)
    decided = browser.execute_script(
        "return Array.from(document.querySelectorAll('#out1 article.card'))"
        ".filter(function (card) { return card.getAttribute('data-decision'); })"
        ".map(function (card) { return card.getAttribute('data-sample'); })")
    assert decided == ["0"], f"decided samples after reopening: {decided} (the user decided only sample 0)"


@needs_selenium
def test_inline_report_does_not_restyle_the_notebook(browser, tmp_path):
    """A report shown in an output cell shares the notebook's document, so its style sheet
    applies to the whole notebook. report/_page_style.py:9-72 styles bare elements
    (``body``, ``h1``, ``header``, ``main``, ``footer``, ``*``, ``kbd``, ``:root``) and generic
    classes (``.card``, ``.grid``, ``.body``, ``.stats``). Today, once a report is shown, the
    notebook's own markdown headings shrink (32px -> 24px) and its page gets the report's grey
    background and loses its margin. Right: the page's rules apply inside the report only
    (selectors scoped to the report's root element), or the page is isolated (an iframe) when
    it is displayed inline."""
    _open_notebook(browser, tmp_path)
    style = ("var h1 = getComputedStyle(document.getElementById('markdown')), body = getComputedStyle(document.body);"
             "return [h1.fontSize, body.backgroundColor, body.margin];")
    before = browser.execute_script(style)
    _show(browser, "out1", _report(*CATS))
    assert browser.execute_script(style) == before


@needs_selenium
def test_inline_report_thumbnails_show_in_the_output_cell(browser, tmp_path):
    """Checked and found correct (pinned): the page ``path=None`` returns carries its
    thumbnails as data URIs (html.py's docstring), so shown in an output cell, where no
    folder lies beside it, every thumbnail is drawn."""
    _open_notebook(browser, tmp_path)
    _show(browser, "out1", _report(*CATS))
    loaded = "return Array.from(document.querySelectorAll('#out1 img')).map(function (i) { return i.naturalWidth; })"
    for _ in range(50):  # loading="lazy": decoded soon after they are laid out
        if all(browser.execute_script(loaded)):
            break
        time.sleep(0.1)
    assert browser.execute_script(loaded) == [96, 96, 96]


def test_report_docs_do_not_call_the_default_page_script_free():
    """skclip_noise/report/__init__.py:12-14 describes :func:`label_issues_html` as "a
    self-contained HTML page (one file, thumbnails embedded, no scripts, nothing fetched)", and
    examples/plot_find_label_issues_in_an_image_folder.py:77-78 (a gallery page, also offered
    as a notebook) says of ``label_issues_html(paths, detector, ...)``: "One self-contained
    file (thumbnails embedded, no script, ...)". The default page (``review=True``) carries the
    review script, which a notebook only runs when trusted and some mail and archive systems
    strip. Right: the docs say that the default page has a script and that ``review=False`` is
    the script-free one (as html.py's docstring and review.rst do)."""
    issues = pd.DataFrame({"is_label_issue": [True], "label_quality": [0.1], "given_label": ["cat"],
                           "predicted_label": ["dog"]})
    assert "<script" in label_issues_html(None, issues)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "examples", "plot_find_label_issues_in_an_image_folder.py"), encoding="utf-8") as f:
        example = " ".join(f.read().split())
    claims = {
        "skclip_noise.report docstring": "no scripts" in " ".join(skclip_noise.report.__doc__.split()),
        "the image-folder example": "no script," in example.replace("# ", ""),
    }
    assert not any(claims.values()), f"these call the default page script-free: {[k for k, v in claims.items() if v]}"


def test_report_without_path_keeps_thumbnails_inline_above_the_file_limit(tmp_path, monkeypatch):
    """Checked and found correct (pinned): html.py's docstring, ``thumbnails="auto"``: "files
    above 1,000 cards when ``path`` is given, else inline". The page a notebook shows
    (``path=None``) has no folder beside it, so even above the limit (lowered here to 3 to
    stay fast) every thumbnail is a data URI and nothing is written to the working folder."""
    from skclip_noise.report import _thumbnails

    monkeypatch.setattr(_thumbnails, "INLINE_THUMBNAIL_LIMIT", 3)
    monkeypatch.chdir(tmp_path)
    n = 5
    issues = pd.DataFrame({"is_label_issue": True, "label_quality": np.linspace(0.1, 0.4, n),
                           "given_label": ["cat"] * n, "predicted_label": ["dog"] * n})
    page = label_issues_html(random_images(n, side=8), issues, max_items=None)
    assert page.count('src="data:image/png;base64,') == n and "_thumbnails/" not in page
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ plots


def test_precision_recall_plot_leaves_no_figure_open_on_bad_clean_pred():
    """tests/test_report_inputs.py pins "bad input leaves no figure open in pyplot" for
    detection_summary_figure (plots.py:404), so a notebook loop of failing calls does not pile
    up figures (and `%matplotlib inline` does not draw a half-made plot under the traceback).
    plot_selection_precision_recall checks ``clean_pred`` only after it made its figure and
    drew the curve (plots.py:314-330): a user passing a verdict of the wrong length or of
    non-boolean values gets the ValueError and a half-drawn figure left open in pyplot
    (``plt.get_fignums()`` grows by one per failed call). Right: check ``clean_pred`` before
    making the figure (or close it when drawing fails, as detection_summary_figure does)."""
    from skclip_noise.report import plot_selection_precision_recall

    rng = np.random.default_rng(0)
    proba, is_noisy = rng.random(50), rng.random(50) < 0.3
    before = set(plt.get_fignums())
    try:
        for bad in (np.ones(10, dtype=bool), np.arange(50) % 3):
            with pytest.raises(ValueError, match="clean_pred"):
                plot_selection_precision_recall(proba, is_noisy, clean_pred=bad)
        assert set(plt.get_fignums()) == before, "a failed call left its figure open"
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


def test_plots_leave_backend_and_rcparams_alone_and_return_what_matplotlib_users_expect():
    """Checked and found correct (pinned): report/__init__.py: "The plots use matplotlib's
    object-oriented API, never call ``plt.show()`` and work with the non-interactive Agg
    backend". Each plot returns its Axes (detection_summary_figure its Figure), draws on the
    Axes it is given without making a figure, makes exactly one figure otherwise (a notebook
    shows and closes it), and changes neither the backend nor any rcParam."""
    from skclip_noise.report import (detection_summary_figure, plot_clean_proba, plot_noise_transition,
                                     plot_selection_precision_recall)

    rng = np.random.default_rng(0)
    y, is_noisy, proba = rng.integers(0, 3, 60), rng.random(60) < 0.2, rng.random(60)
    backend, params = matplotlib.get_backend(), {k: repr(v) for k, v in matplotlib.rcParams.items()}
    calls = [lambda ax=None: plot_clean_proba(proba, y, is_noisy=is_noisy, ax=ax),
             lambda ax=None: plot_selection_precision_recall(proba, is_noisy, ax=ax),
             lambda ax=None: plot_noise_transition(np.eye(3) * 0.8 + 0.2 / 3, ax=ax)]
    before = set(plt.get_fignums())
    try:
        for call in calls:
            fig, ax = plt.subplots()
            assert call(ax) is ax
            made = len(plt.get_fignums())
            result = call()
            assert isinstance(result, matplotlib.axes.Axes) and len(plt.get_fignums()) == made + 1
        assert isinstance(detection_summary_figure(proba, y, is_noisy), matplotlib.figure.Figure)
        assert matplotlib.get_backend() == backend
        assert {k: repr(v) for k, v in matplotlib.rcParams.items()} == params
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)


# ------------------------------------------------------------------ estimators in a cell


def test_estimators_display_in_a_notebook_fitted_or_not(one_torch_thread):
    """Checked and found correct (pinned): what a cell shows for an estimator, under
    scikit-learn's ``display="diagram"`` (HTML) and ``display="text"``, with
    ``print_changed_only`` on and off: a DeftClassifier with a nested detector, alone, in a
    Pipeline and in a GridSearchCV with the package's scorer, and a detector with an
    array-valued parameter; nothing raises or warns, the text is the constructor call, and
    the HTML says "Not fitted" before fit and "Fitted" after."""
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    from skclip_noise import ConsensusDetector, DeftClassifier, GMMLossDetector, ImageEmbedder
    from skclip_noise.model_selection import make_detection_scorer

    tiny = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")
    deft = DeftClassifier(GMMLossDetector(epochs=1, batch_size=8, **TINY_CLIP), epochs=1, batch_size=8, **TINY_CLIP)
    shown = [deft, ConsensusDetector(Cs=np.array([0.1, 1.0]), templates=["a {}", "the {}"], **tiny),
             make_pipeline(ImageEmbedder(**tiny), LogisticRegression()),
             GridSearchCV(deft, {"detector__epochs": [1, 2]}, scoring=make_detection_scorer())]

    def displays():
        texts = []
        for estimator in shown:
            for changed_only in (True, False):
                with sklearn.config_context(display="text", print_changed_only=changed_only):
                    texts.append(repr(estimator))
                    assert set(estimator._repr_mimebundle_()) == {"text/plain"}
                with sklearn.config_context(display="diagram", print_changed_only=changed_only):
                    assert set(estimator._repr_mimebundle_()) == {"text/plain", "text/html"}
        return texts

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        texts = displays()
        assert texts[0].startswith("DeftClassifier(") and "detector=GMMLossDetector(" in texts[0]
        assert "Not fitted" in deft._repr_html_()
        with redirect_stdout(io.StringIO()) as out:
            deft.fit(random_images(16), cat_dog_labels(16))
        assert out.getvalue() == ""  # fit prints nothing (verbose=0)
        assert displays() == texts  # fitting changes no parameter, so no displayed text
        assert "Not fitted" not in deft._repr_html_() and "Fitted" in deft._repr_html_()


def test_verbose_progress_goes_to_stderr_and_a_ctrl_c_leaves_no_bar_behind(monkeypatch):
    """Checked and found correct (pinned): ``verbose=1`` shows one transient tqdm bar per epoch
    on stderr (none on stdout, none left behind: ``leave=False``), and a fit stopped with
    Ctrl-C (KeyboardInterrupt, its traceback kept as IPython keeps ``sys.last_traceback``)
    leaves no open bar, so the re-run cell's bars start at the top line again."""
    from tqdm.auto import tqdm

    from skclip_noise import GMMLossDetector
    from skclip_noise.training import loop

    X, y = np.random.default_rng(0).normal(size=(40, 8)), np.repeat([0, 1], 20)
    params = dict(epochs=2, lr=1e-2, batch_size=8, device="cpu", random_state=0, verbose=1)
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        GMMLossDetector(**params).fit(X, y)
    assert out.getvalue() == ""
    shown = {part.split(":")[0].strip() for part in err.getvalue().split("\r")}
    assert {"GMMLossDetector 1/2", "GMMLossDetector 2/2"} <= shown
    assert err.getvalue().endswith("\r")  # each bar cleared when done: nothing left in the cell

    real, batches = loop.move_to_device, []

    def ctrl_c(batch, device):
        batches.append(1)
        if len(batches) == 2:
            raise KeyboardInterrupt
        return real(batch, device)

    monkeypatch.setattr(loop, "move_to_device", ctrl_c)
    try:
        with redirect_stderr(io.StringIO()):
            GMMLossDetector(**params).fit(X, y)
    except KeyboardInterrupt as stopped:
        kept = stopped.__traceback__  # noqa: F841  (IPython keeps it: the frames stay alive)
    else:
        pytest.fail("the KeyboardInterrupt did not reach the user")
    assert not list(getattr(tqdm, "_instances", ())), "the interrupted fit left its progress bar open"
