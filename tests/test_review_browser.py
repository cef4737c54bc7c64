"""The review page end to end in headless Chromium: decide, export, apply; defects found there.

Each test here drives the page as a reviewer does (keys, clicks, reloads, two reports in one
browser profile) and fails where the page, its storage key or the export contradicts
``docs/user_guide/review.rst`` or loses or garbles a decision. The browser tests skip,
saying why, where Chromium, its driver or Selenium is absent (conftest's marks).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest
from conftest import needs_selenium
from test_review import _card, _export, _keys, _progress, browser  # noqa: F401  (browser is a fixture)

from skclip_noise import ConsensusDetector, apply_decisions, make_noisy_labels
from skclip_noise.report import label_issues_html


def _current(driver):
    return driver.execute_script(
        "var card = document.querySelector('article.card.current'); return card && card.dataset.sample")


def _report_key(page_path):
    with open(page_path, encoding="utf-8") as handle:
        return re.search(r'data-report="(\w+)"', handle.read())[1]


# ------------------------------------------------------------------ the class box


@needs_selenium
@pytest.mark.slow
def test_escape_leaves_the_class_box_without_relabelling_the_card(digits, browser, tmp_path):
    """review.rst: "c (or /): type a class (Enter applies it, Escape leaves the box)".

    A reviewer presses ``c``, types ``7``, changes their mind and presses Escape: the card
    is relabelled to 7 all the same (counted, saved, exported), because the box's
    ``change`` listener applies the typed class when the box loses focus
    (``input.addEventListener("change", ...)`` in ``REVIEW_SCRIPT``). Escape should leave
    the card undecided, as the table of keys says; only Enter (or picking the class) applies it.
    """
    X, y = digits
    X, y = X[:20], y[:20]
    given = (y + 1) % 10
    issues = pd.DataFrame({"is_label_issue": True, "label_quality": np.linspace(0.01, 0.4, 20),
                           "given_label": given, "predicted_label": y})
    page = label_issues_html(X, issues, tmp_path / "report.html", classes=list(range(10)))
    browser.get(f"file://{page}")
    _keys(browser, "j", "c")
    first = _current(browser)
    assert browser.execute_script("return document.activeElement.className") == "other"
    wanted = "7" if str(given[int(first)]) != "7" else "6"
    _keys(browser, wanted)
    from selenium.webdriver.common.keys import Keys

    _keys(browser, Keys.ESCAPE)
    assert browser.execute_script("return document.activeElement.tagName") != "INPUT"  # left the box
    assert _card(browser, first).get_attribute("data-decision") in (None, ""), "Escape relabelled the card"
    assert _progress(browser) == "0 of 20 decided"


# ------------------------------------------------------------------ the storage key


def _two_folders(digits, root, per_class=15):
    """Two image folders of different digits with the same labels, sample by sample, as
    ``skclip-noise detect`` reads them (paths, labels): e.g. two batches of one annotation job."""
    from PIL import Image

    from skclip_noise._cli_inputs import read_detect_input
    from skclip_noise.datasets import make_image_folder

    X, y = digits
    batches = []
    for batch in range(2):  # batch 0: the first per_class images of each digit, batch 1: the next ones
        chosen = np.concatenate([np.flatnonzero(y == c)[batch * per_class:(batch + 1) * per_class] for c in range(10)])
        batches.append(chosen)
    y_noisy, _ = make_noisy_labels(y[batches[0]], "symmetric", 0.3, random_state=0)
    folders = []
    for batch, chosen in enumerate(batches):  # the same (true class, noisy label) at every position
        folder = make_image_folder(X[chosen], y_noisy, root / f"batch{batch}")
        paths, labels, _ = read_detect_input(str(folder))
        images = np.stack([np.asarray(Image.open(path).convert("L")) for path in paths])
        features = images.reshape(len(images), -1).astype(np.float32) / 255
        folders.append((paths, labels, ConsensusDetector(random_state=0).fit(features, labels)))
    return folders


@needs_selenium
@pytest.mark.slow
def test_reports_on_two_different_image_folders_do_not_share_decisions(digits, browser, tmp_path):
    """review.rst: "a report on other data or other labels starts its own, so two reports never mix".

    Two folders of different images whose labels happen to match position by position (two
    batches of a balanced annotation job) get the same storage key: ``report_key`` hashes
    the title, the positions and the given labels only, not the images (for a folder or a
    CSV, not even their paths). A reviewer who drops junk images in batch 0's report opens
    batch 1's report and finds those samples already decided, and its "Export decisions"
    drops batch 1's images at the same positions. The key should tell the two apart (e.g.
    hash the image paths, or the thumbnails, with the samples).
    """
    (paths_a, labels_a, detector_a), (paths_b, labels_b, detector_b) = _two_folders(digits, tmp_path)
    assert np.array_equal(labels_a, labels_b) and not set(paths_a) & set(paths_b)
    for review in ("review_a", "review_b"):  # as `skclip-noise detect batchN --output-dir review_x` would
        os.makedirs(tmp_path / review)
    page_a = label_issues_html(paths_a, detector_a, tmp_path / "review_a" / "report.html")
    page_b = label_issues_html(paths_b, detector_b, tmp_path / "review_b" / "report.html")
    flagged_b = set(detector_b.label_issues_.index[detector_b.label_issues_["is_label_issue"]])
    both = [s for s in detector_a.label_issues_.index[detector_a.label_issues_["is_label_issue"]] if s in flagged_b]
    assert len(both) >= 3
    n_b = len(flagged_b)

    browser.get(f"file://{page_a}")
    for sample in both[:3]:  # batch 0: three images dropped
        _card(browser, sample).find_element("css selector", 'button[data-action="drop"]').click()
    assert _progress(browser).startswith("3 of ")

    browser.get(f"file://{page_b}")  # other images: a review of its own
    decided = browser.execute_script(
        "return Array.from(document.querySelectorAll('article.card')).filter(c => c.dataset.decision)"
        ".map(c => c.querySelector('.file').title)")
    assert _progress(browser) == f"0 of {n_b} decided", f"batch 1's report shows batch 0's decisions on {decided}"
    assert _report_key(page_a) != _report_key(page_b)


@needs_selenium
@pytest.mark.slow
def test_report_remade_from_label_issues_csv_continues_the_review(digits, browser, tmp_path):
    """review.rst: "a report remade on the same data continues the same review".

    ``skclip-noise detect`` writes ``label_issues.csv`` sorted worst first and the report
    from ``label_issues_`` in input order. A report remade from that CSV (e.g. to show every
    card, ``max_items=None``) holds the same samples and given labels, yet starts an empty
    review: ``report_key`` hashes the rows in table order, so sorting the table changes the
    key and the decisions made so far are not shown, counted or exported. The key should not
    depend on the row order (the page sorts the cards itself).
    """
    X, y = digits
    features = X[:300].reshape(300, -1).astype(np.float32) / 255
    y_noisy, _ = make_noisy_labels(y[:300], "symmetric", 0.3, random_state=0)
    detector = ConsensusDetector(random_state=0).fit(features, y_noisy)
    first = label_issues_html(X[:300], detector, tmp_path / "report.html")
    csv = tmp_path / "label_issues.csv"
    detector.label_issues_.sort_values("label_quality").to_csv(csv, index_label="sample")  # as detect writes it
    again = label_issues_html(X[:300], pd.read_csv(csv, index_col="sample"), tmp_path / "all.html", max_items=None)
    n_flagged = int(detector.label_issues_["is_label_issue"].sum())

    browser.get(f"file://{first}")
    _keys(browser, "j", "a", "g", "x")
    assert _progress(browser) == f"3 of {n_flagged} decided"
    browser.get(f"file://{again}")  # the same samples and labels: the same review goes on
    assert _progress(browser) == f"3 of {n_flagged} decided"


# ------------------------------------------------------------------ the export


@needs_selenium
@pytest.mark.slow
def test_label_with_a_carriage_return_is_exported_as_given(browser, tmp_path):
    """A decision on a label holding ``"\\r\\n"`` (a multi-line cell of a Windows CSV) must
    export that label, so that ``apply_decisions`` accepts it.

    The page passes the given label to the script in the card's ``data-given`` attribute,
    and HTML parsing turns every CR LF (and lone CR) in the page into LF, so "Keep" exports
    ``given_label`` ``"two\\nlines"`` while ``y`` (and the page's own class list, read from
    JSON) says ``"two\\r\\nlines"``: ``apply_decisions`` refuses the file ("the decisions
    were made on other labels"), and a relabel *to* that class through its number key
    exports ``relabel`` where the label did not change. The attribute should encode CR
    (``&#13;``) so the label survives.
    """
    classes = ["one", "two\r\nlines", "three"]
    given = np.array(["two\r\nlines", "one", "two\r\nlines", "three"], dtype=object)
    issues = pd.DataFrame({"is_label_issue": True, "label_quality": [0.1, 0.2, 0.3, 0.4], "given_label": given,
                           "predicted_label": ["one", "two\r\nlines", "three", "one"]})
    page = label_issues_html(None, issues, tmp_path / "report.html", classes=classes)
    browser.get(f"file://{page}")
    _keys(browser, "j", "g", "a", "2")  # sample 0: keep; sample 1: accept ("two\r\nlines"); sample 2: class 2 (its own)
    exported = _export(browser)
    labels, keep = apply_decisions(given, exported)
    assert labels.tolist() == ["two\r\nlines", "two\r\nlines", "two\r\nlines", "three"] and keep.all()
    table = pd.read_csv(exported, dtype=str, keep_default_na=False)
    assert table["decision"].tolist() == ["keep", "relabel", "keep"]
