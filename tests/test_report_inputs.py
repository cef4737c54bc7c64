"""The HTML report and the plots fed what users have: regression tests for input defects.

Each test fails before its fix; its docstring says what a user saw and what they should see.
"""

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import RecordingDataset, issues_table
from skclip_noise.report import (
    detection_summary_figure,
    label_issues_html,
    plot_clean_proba,
    plot_noise_transition,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _thumbnail_values(page):
    """The top-left grey value of each card's thumbnail, in card order."""
    values = []
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            values.append(int(np.asarray(image.convert("L"))[0, 0]))
    return values


# ------------------------------------------------------------------ HTML: matching and review


def test_html_series_of_paths_with_another_index_order_is_not_matched_by_position(tmp_path):
    """X a pandas Series of paths whose index is the label_issues' index in another order
    (e.g. the table was sorted after fitting). Now: images are taken by position, so the card
    of sample 50 silently shows the image the Series files under sample 10. Should: match the
    images by the shared index, or refuse with a ValueError saying the indexes differ."""
    values = (10, 50, 90, 130, 170)
    paths = []
    for i, value in enumerate(values):
        path = tmp_path / f"im{i}.png"
        Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)
        paths.append(str(path))
    X = pd.Series(paths, index=[50, 40, 30, 20, 10])  # sample 50 is the image of value 10
    issues = issues_table([0.3, 0.1, 0.9, 0.2, 0.05], list("abcde"), index=[10, 20, 30, 40, 50])
    try:
        page = label_issues_html(X, issues)
    except ValueError as exc:
        assert "index" in str(exc)
        return
    shown = re.findall(r'data-sample="([^"]*)"', page)
    assert shown == ["50", "20", "40", "10"]
    assert _thumbnail_values(page) == [10, 130, 50, 170]


def test_html_with_repeated_sample_ids_does_not_share_decisions_between_cards():
    """label_issues_ of a detector fitted on a DataFrame whose index repeats (e.g. two tables
    concatenated). Now: two cards carry the same data-sample, so deciding one marks the other
    decided and the exported decisions.csv names that sample twice, which apply_decisions
    refuses: the review is lost. Should: refuse up front with a ValueError that says the index
    repeats sample ids (as disputed= already does), or give each card its own id."""
    issues = issues_table([0.1, 0.2, 0.3, 0.9], ["a", "b", "a", "b"], ["b", "a", "b", "b"], index=[0, 1, 0, 1])
    try:
        page = label_issues_html(None, issues)
    except ValueError as exc:
        assert "index" in str(exc) or "repeat" in str(exc)
        return
    samples = re.findall(r'data-sample="([^"]*)"', page)
    assert len(samples) == len(set(samples)) == 3


def test_html_review_key_differs_between_reports_without_given_labels():
    """Two reports of different samples, both without a given_label column (allowed: only
    label_quality and is_label_issue are required). Now: both pages get the same
    localStorage key (made from the title alone), so decisions made on one show up on the
    other. Should: keys that differ, as the docstring promises ("two reports never mix")."""
    base = pd.DataFrame({"is_label_issue": [True, True, False], "label_quality": [0.1, 0.2, 0.9]})
    first = label_issues_html(None, base.set_axis([0, 1, 2]))
    second = label_issues_html(None, base.set_axis(["x.png", "y.png", "z.png"]))
    key = re.compile(r'data-report="([^"]*)"')
    assert key.search(first).group(1) != key.search(second).group(1)


def test_html_max_items_zero_does_not_claim_that_nothing_was_flagged():
    """max_items=0 with two flagged samples. Now: the page says "No flagged samples to show
    -- no label was flagged as wrong" under a header counting 2 flagged. Should: not claim
    that no label was flagged (e.g. say none are shown), or refuse max_items=0."""
    issues = issues_table([0.1, 0.2, 0.9], ["a", "b", "a"], ["b", "a", "a"])
    try:
        page = label_issues_html(None, issues, max_items=0)
    except ValueError as exc:
        assert "max_items" in str(exc)
        return
    assert "no label was flagged as wrong" not in page


# ------------------------------------------------------------------ HTML: checks of the inputs


@pytest.mark.parametrize("quality", [
    ["0.1", "low", "0.9"],  # text that is no number: shown as "n/a"
    [-0.5, 0.2, 0.9],  # shown as a score of "0"
    [0.1, 7.0, 0.9],  # shown as "7.000" with a full green bar
])
def test_html_refuses_label_quality_that_is_no_probability(quality):
    """label_quality holding text or values outside [0, 1]. Now: the page is written, with
    "n/a" for the text, "0" for -0.5 and "7.000" for 7 (the numbers a person reviews are not
    the ones passed). Should: a ValueError naming label_quality, as the plots do for
    clean_proba (and as suggested_label_confidence is already checked)."""
    issues = issues_table([0.1, 0.2, 0.9], ["a", "b", "a"], ["b", "a", "a"]).assign(label_quality=quality)
    with pytest.raises(ValueError, match="label_quality"):
        label_issues_html(None, issues, only_issues=False)


@pytest.mark.parametrize("kwargs, name", [
    ({"max_items": float("nan")}, "max_items"),
    ({"thumbnail_size": None}, "thumbnail_size"),
])
def test_html_size_errors_name_the_parameter(kwargs, name):
    """max_items=nan or thumbnail_size=None. Now: Python's "cannot convert float NaN to
    integer" / "int() argument must be ... not 'NoneType'", which names no parameter. Should:
    the function's own message, naming the parameter and what it takes."""
    issues = issues_table([0.1, 0.9], ["a", "b"])
    with pytest.raises((ValueError, TypeError), match=name):
        label_issues_html(None, issues, **kwargs)


def test_html_unwritable_path_fails_before_reading_the_images(tmp_path):
    """path in a folder that does not exist. Now: every shown image is read and made into a
    thumbnail, then open() fails at the very end (FileNotFoundError). Should: the error
    before any thumbnail is made (the contract: bad input refused before expensive work)."""
    images = np.zeros((10, 8, 8), np.uint8)
    dataset = RecordingDataset(images)
    issues = issues_table(np.r_[np.full(5, 0.9), np.full(5, 0.1)], list("abababab") + ["a", "b"])
    with pytest.raises((OSError, ValueError)):
        label_issues_html(dataset, issues, tmp_path / "no such folder" / "report.html")
    assert not set(dataset.loaded) & {5, 6, 7, 8, 9}  # the flagged images were not read


def test_html_features_as_x_say_to_pass_none():
    """X the feature table the detector was fitted on. Now: "X ... is read as precomputed
    features, but this estimator needs images", with no word on how to make the report.
    Should: say to pass X=None for cards without thumbnails (the message the report's own
    check holds but never reaches)."""
    issues = issues_table([0.1, 0.9, 0.2], ["a", "b", "a"])
    features = np.random.default_rng(0).normal(size=(3, 16))
    with pytest.raises(ValueError, match="X=None"):
        label_issues_html(features, issues)


# ---------------------------------------------------------------------------- plots


@pytest.mark.parametrize("y", [
    ["a", None, "b", "a"],  # numpy's "'<' not supported between NoneType and str"
    [0.0, np.nan, 1.0, 1.0],  # a "nan" row that counts n=0: the sample is silently lost
])
def test_plot_clean_proba_refuses_missing_labels(y):
    """y with a missing label. Now: a TypeError from inside numpy's unique (None) or a plot
    with a row "nan" whose count is 0 although one sample has that label (NaN). Should: a
    ValueError saying that y holds missing labels."""
    with pytest.raises(ValueError, match="y"):
        plot_clean_proba(np.array([0.1, 0.5, 0.9, 0.3]), y)


@pytest.mark.parametrize("kwargs, name", [
    ({"threshold": "high"}, "threshold"),
    ({"clean_proba": ["low", "high", "low", "high"]}, "clean_proba"),
])
def test_plot_clean_proba_conversion_errors_name_the_parameter(kwargs, name):
    """threshold="high" or clean_proba of text. Now: Python's "could not convert string to
    float: 'high'", which names no parameter. Should: a message naming the parameter."""
    arguments = {"clean_proba": np.array([0.1, 0.5, 0.9, 0.3]), **kwargs}
    proba = arguments.pop("clean_proba")
    with pytest.raises((ValueError, TypeError), match=name):
        plot_clean_proba(proba, [0, 1, 1, 0], **arguments)


def test_detection_summary_figure_leaves_no_figure_open_on_bad_input():
    """detection_summary_figure(scores) without y. Now: a ValueError, but only after an empty
    figure was made and left open in pyplot (one more leaked figure per failed call in a
    notebook loop). Should: the error before any figure is made."""
    before = set(plt.get_fignums())
    with pytest.raises(ValueError, match="y"):
        detection_summary_figure(np.array([0.1, 0.5, 0.9]))
    assert set(plt.get_fignums()) == before


def _unescaped_dollars(text):
    return text.replace(r"\$", "").count("$")


@pytest.mark.parametrize("plot", ["clean_proba", "noise_transition"])
def test_plot_class_names_with_dollar_signs_are_shown_as_written(plot):
    """A class named "$5-$10" (a price band). Now: matplotlib reads the text between the two
    dollar signs as mathtext, so the tick label shows an italic "5-" with no dollar sign (and
    a name such as "a $^$ b" makes drawing the figure raise a parse error). Should: the class
    name shown as written (tick labels with parse_math off, or their dollar signs escaped)."""
    names = ["$5-$10", "$20-$50"]
    if plot == "clean_proba":
        ax = plot_clean_proba(np.array([0.1, 0.9, 0.5]), np.array([names[0], names[1], names[0]]))
        labels = ax.get_yticklabels()
    else:
        ax = plot_noise_transition([[0.9, 0.1], [0.2, 0.8]], names)
        labels = ax.get_xticklabels() + ax.get_yticklabels()
    ax.figure.canvas.draw()
    for label in labels:
        if "$" in label.get_text():
            assert not label.get_parse_math() or _unescaped_dollars(label.get_text()) < 2, label.get_text()


# ------------------------------------------------------- found beside the hunt, fixed with it


@pytest.mark.parametrize("switch", ["review", "only_issues"])
def test_html_switches_refuse_text(switch):
    """review="no" or only_issues="False" were true (a non-empty string)."""
    issues = issues_table([0.1, 0.9], ["a", "b"])
    with pytest.raises(TypeError, match=f"{switch} must be True or False"):
        label_issues_html(None, issues, **{switch: "False"})


def test_html_refuses_a_thumbnail_size_that_takes_gigabytes():
    """thumbnail_size=100_000 enlarged each 8x8 image to 100,000 x 100,000 pixels."""
    with pytest.raises(ValueError, match="thumbnail_size must be an int from 8 to 4096"):
        label_issues_html(np.zeros((2, 8, 8), np.uint8), issues_table([0.1, 0.9], ["a", "b"]), thumbnail_size=100_000)


def test_html_shows_byte_labels_as_text():
    """Byte labels were shown as "b'cat'", the detectors decode them."""
    issues = issues_table([0.1, 0.9], np.array([b"cat", b"dog"], dtype=object), np.array([b"dog", b"dog"], dtype=object))
    page = label_issues_html(None, issues)
    assert "b&#x27;" not in page and ">cat<" in page


def test_plot_clean_proba_says_how_many_scores_zoomed_bins_leave_out():
    """Edges from 0.2 to 0.8 dropped the scores outside them while the "n=" note counted them."""
    ax = plot_clean_proba(np.array([0.1, 0.5, 0.9]), [0, 1, 1], bins=[0.2, 0.5, 0.8])
    notes = [text.get_text() for text in ax.texts]
    assert "n=1, 1 outside the bins" in notes and "n=2, 1 outside the bins" in notes, notes
