import base64
import io
import re
import subprocess

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import CHROMIUM, RecordingDataset, issues_table, needs_chromium
from skclip_noise.noise import make_noisy_labels
from skclip_noise.report import (
    detection_summary_figure,
    label_issues_html,
    plot_clean_proba,
    plot_noise_transition,
    plot_selection_precision_recall,
    selection_precision_recall_curve,
)
from skclip_noise.report._transition import _DARK_FROM


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _scores(n=200, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n)
    is_noisy = rng.random(n) < 0.25
    proba = np.where(is_noisy, rng.beta(2, 5, n), rng.beta(5, 2, n))
    return proba, y, is_noisy


class _FakeDetector:
    """Quacks like a fitted detector."""

    def __init__(self, proba, y, classes, names=None, noise_transition=None):
        self.clean_proba_ = np.asarray(proba, dtype=float)
        self.clean_mask_ = self.clean_proba_ >= 0.5
        self.classes_ = np.asarray(classes)
        self.class_names_ = list(names) if names is not None else [str(c) for c in classes]
        self.label_issues_ = issues_table(self.clean_proba_, y)
        if noise_transition is not None:
            self.noise_transition_ = np.asarray(noise_transition, dtype=float)

    def fit(self, X, y):  # pragma: no cover - never called
        return self


# ----------------------------------------------------------------- plot_clean_proba


def test_plot_clean_proba_with_truth_draws_two_histograms_per_row():
    proba, y, is_noisy = _scores()
    ax = plot_clean_proba(proba, y, is_noisy=is_noisy)
    n_rows = 1 + 3  # "all samples" + one per class
    assert len(ax.patches) == 2 * n_rows
    assert [t.get_text() for t in ax.get_yticklabels()] == ["all samples", "0", "1", "2"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["truly clean", "truly noisy", "threshold 0.5"]
    # stacked bars: each noisy (orange) patch starts where its clean (blue) one ends
    for clean, noisy in zip(ax.patches[::2], ax.patches[1::2]):
        np.testing.assert_allclose(noisy.get_data().baseline, clean.get_data().values)
    assert ax.get_xlim() == (0.0, 1.0)


def test_plot_clean_proba_without_truth_and_ax_given():
    proba, y, _ = _scores(n_classes=10)
    _, ax = plt.subplots()
    out = plot_clean_proba(proba, y, ax=ax, bins=10, threshold=None)
    assert out is ax
    assert len(ax.patches) == 11
    assert ax.get_legend() is None
    # row lines (one per row, plus the separator under "all samples"); no threshold line
    assert len(ax.lines) == 11 + 1
    assert all(line.get_linestyle() == "-" for line in ax.lines)  # no dashed threshold


def test_plot_clean_proba_row_heights_count_the_samples():
    proba = np.array([0.05, 0.05, 0.95, 0.95, 0.95, 0.55])
    y = np.array(["a", "a", "a", "b", "b", "b"])
    ax = plot_clean_proba(proba, y, bins=2, classes=["b", "a"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["all samples", "b", "a"]
    heights = [patch.get_data().values - patch.get_data().baseline for patch in ax.patches]
    # "all": bins [0, .5) 2 samples, [.5, 1] 4 samples, scaled to the row's maximum
    np.testing.assert_allclose(heights[0] / heights[0].max(), [0.5, 1.0])
    np.testing.assert_allclose(heights[1] / heights[1].max(), [0.0, 1.0])  # class "b"
    np.testing.assert_allclose(heights[2] / heights[2].max(), [1.0, 0.5])  # class "a"


def test_plot_clean_proba_single_class_has_no_all_row():
    ax = plot_clean_proba([0.2, 0.9, 0.8], ["cat"] * 3, is_noisy=[True, False, False])
    assert len(ax.patches) == 2
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat"]


def test_plot_clean_proba_reads_a_detector():
    proba, y, is_noisy = _scores()
    detector = _FakeDetector(proba, y, classes=[0, 1, 2], names=["zero", "one", "two"])
    ax = plot_clean_proba(detector, is_noisy=is_noisy)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["all samples", "zero", "one", "two"]
    assert len(ax.patches) == 8


def test_plot_clean_proba_rejects_bad_input():
    with pytest.raises(ValueError, match="y .*required"):
        plot_clean_proba([0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_clean_proba([0.1, 1.5], [0, 1])
    with pytest.raises(ValueError, match="not in classes"):
        plot_clean_proba([0.1, 0.5], [0, 1], classes=[0])
    with pytest.raises(ValueError, match="is_noisy has 3 entries"):
        plot_clean_proba([0.1, 0.5], [0, 1], is_noisy=[True, False, False])


def test_plot_clean_proba_unfitted_detector_raises():
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(NotFittedError):
        plot_clean_proba(LogisticRegression(), [0, 1])


# --------------------------------------------------------- precision-recall curve


def test_curve_perfect_ranking_keeps_precision_one_up_to_full_recall():
    is_noisy = np.array([False] * 6 + [True] * 4)
    proba = np.linspace(1.0, 0.1, 10)  # all clean samples score above all noisy ones
    precision, recall, thresholds = selection_precision_recall_curve(proba, is_noisy)
    np.testing.assert_allclose(recall[:6], np.arange(1, 7) / 6)
    np.testing.assert_array_equal(precision[:6], 1.0)
    np.testing.assert_allclose(precision[6:], 6 / np.arange(7, 11))
    np.testing.assert_array_equal(recall[6:], 1.0)
    assert np.all(np.diff(thresholds) < 0)


def test_curve_hand_made_example_and_ties():
    proba = [0.9, 0.7, 0.7, 0.2, 0.2]
    is_noisy = [False, True, False, False, True]
    precision, recall, thresholds = selection_precision_recall_curve(proba, is_noisy)
    np.testing.assert_allclose(thresholds, [0.9, 0.7, 0.2])  # ties are one threshold
    np.testing.assert_allclose(precision, [1.0, 2 / 3, 3 / 5])
    np.testing.assert_allclose(recall, [1 / 3, 2 / 3, 1.0])


def test_curve_matches_a_loop_over_thresholds():
    rng = np.random.default_rng(1)
    proba = np.round(rng.random(300), 2)  # many ties
    is_noisy = rng.random(300) < 0.3
    precision, recall, thresholds = selection_precision_recall_curve(proba, is_noisy)
    for p, r, t in zip(precision, recall, thresholds):
        kept = proba >= t
        assert p == pytest.approx(np.mean(~is_noisy[kept]))
        assert r == pytest.approx(np.sum(kept & ~is_noisy) / np.sum(~is_noisy))


def test_curve_without_clean_samples_has_zero_recall():
    precision, recall, _ = selection_precision_recall_curve([0.3, 0.6], [True, True])
    np.testing.assert_array_equal(precision, 0.0)
    np.testing.assert_array_equal(recall, 0.0)


def test_plot_selection_precision_recall_lines_and_points():
    proba, _, is_noisy = _scores()
    ax = plot_selection_precision_recall(proba, is_noisy)
    assert len(ax.lines) == 3  # curve, noise-rate baseline, threshold point
    curve, baseline, point = ax.lines
    precision, recall, _ = selection_precision_recall_curve(proba, is_noisy)
    np.testing.assert_allclose(curve.get_xdata()[1:], recall)
    np.testing.assert_allclose(curve.get_ydata()[1:], precision)
    assert baseline.get_ydata()[0] == pytest.approx(1 - is_noisy.mean())
    kept = proba >= 0.5
    assert point.get_xdata()[0] == pytest.approx(np.sum(kept & ~is_noisy) / np.sum(~is_noisy))
    assert point.get_ydata()[0] == pytest.approx(np.mean(~is_noisy[kept]))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "AP = " in labels[0] and "noise rate" in labels[1]


def test_plot_selection_precision_recall_options_and_detector():
    proba, y, is_noisy = _scores()
    _, ax = plt.subplots()
    assert plot_selection_precision_recall(proba, is_noisy, threshold=None, ax=ax) is ax
    assert len(ax.lines) == 2
    ax = plot_selection_precision_recall(_FakeDetector(proba, y, [0, 1, 2]), is_noisy)
    assert len(ax.lines) == 4  # + the detector's own verdict (clean_mask_)


def test_perfect_ranking_plot_reaches_precision_one_at_full_recall():
    is_noisy = np.array([False] * 8 + [True] * 2)
    ax = plot_selection_precision_recall(np.linspace(1.0, 0.0, 10), is_noisy)
    recall, precision = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    np.testing.assert_array_equal(precision[recall < 1.0], 1.0)
    assert precision[np.argmax(recall == 1.0)] == 1.0  # full recall reached at precision 1
    assert precision[-1] == pytest.approx(0.8)  # keeping everything


def test_detection_summary_figure():
    proba, y, is_noisy = _scores()
    assert len(detection_summary_figure(proba, y, is_noisy).axes) == 2
    assert len(detection_summary_figure(proba, y).axes) == 1


# ------------------------------------------------------------ noise transition

_T = np.array([[0.8, 0.15, 0.05], [0.1, 0.9, 0.0], [0.0, 0.3, 0.7]])


def _cell_texts(ax):
    return [t.get_text() for t in ax.texts]


def test_plot_noise_transition_draws_the_matrix_with_its_values():
    ax = plot_noise_transition(_T, ["cat", "dog", "fox"])
    np.testing.assert_array_equal(ax.images[0].get_array(), _T)
    assert ax.images[0].get_clim() == (0.0, 1.0)
    # row by row: the first row is true class "cat"
    assert _cell_texts(ax) == [f"{value:.2f}" for value in _T.ravel()]
    assert _cell_texts(ax)[:3] == ["0.80", "0.15", "0.05"]
    assert [t.get_position() for t in ax.texts[:2]] == [(0, 0), (1, 0)]  # (column, row)
    # white numbers on the dark cells, black ones on the light cells (both 4.5:1 at the switch)
    white = [matplotlib.colors.same_color(t.get_color(), "white") for t in ax.texts]
    assert white == (_T > _DARK_FROM).ravel().tolist()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "fox"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "fox"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("given label", "true class")
    colour_bar = [other for other in ax.figure.axes if other is not ax]
    assert len(colour_bar) == 1 and "true class" in colour_bar[0].get_ylabel()


def test_plot_noise_transition_defaults_and_many_classes():
    _, ax = plt.subplots()
    assert plot_noise_transition(_T, ax=ax, title="mine") is ax
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert ax.get_title() == "mine"
    many = np.full((21, 21), 1 / 21)
    ax = plot_noise_transition(many)
    assert len(ax.texts) == 0  # too many classes to write the values
    np.testing.assert_allclose(ax.images[0].get_array(), many)
    assert len(plot_noise_transition(np.full((20, 20), 0.05)).texts) == 400


def test_plot_noise_transition_reads_a_detector():
    detector = _FakeDetector([0.2, 0.9, 0.4], [0, 1, 2], classes=[0, 1, 2],
                             names=["zero", "one", "two"], noise_transition=_T)
    ax = plot_noise_transition(detector)
    np.testing.assert_array_equal(ax.images[0].get_array(), _T)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["zero", "one", "two"]
    ax = plot_noise_transition(detector, classes=["a", "b", "c"])  # classes win
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]


def test_plot_noise_transition_detector_without_matrix_raises():
    from sklearn.exceptions import NotFittedError
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValueError, match="has no noise_transition_"):
        plot_noise_transition(_FakeDetector([0.2, 0.9], [0, 1], classes=[0, 1]))
    with pytest.raises(NotFittedError):
        plot_noise_transition(LogisticRegression())
    detector = _FakeDetector([0.2, 0.9], [0, 1], classes=[0, 1], noise_transition=_T)
    with pytest.raises(ValueError, match="3 x 3 but there are 2 classes"):
        plot_noise_transition(detector)


@pytest.mark.parametrize(
    "matrix, classes, message",
    [
        (np.ones((2, 3)) / 3, None, r"square .*got shape \(2, 3\)"),
        (np.ones(3) / 3, None, r"square .*got shape \(3,\)"),
        (np.zeros((0, 0)), None, "empty"),
        ([[0.5, 0.5], [np.nan, 1.0]], None, "NaN, e.g. at row 1, column 0"),
        ([[0.5, 0.5], [np.inf, 0.0]], None, "infinite"),
        ([[1.2, -0.2], [0.0, 1.0]], None, "negative entries, e.g. -0.2 at row 0, column 1"),
        ([[3, 1], [0, 4]], None, "above 1"),
        (_T, ["a", "b"], "3 x 3 but there are 2 classes"),
    ],
)
def test_plot_noise_transition_rejects_bad_matrices(matrix, classes, message):
    with pytest.raises(ValueError, match=message):
        plot_noise_transition(matrix, classes)


# ---------------------------------------------------------------------- HTML page


def _image_sources(page):
    return re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)


def _decode(b64):
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def _shown_samples(page):
    return [int(m) for m in re.findall(r'<div class="meta"><span>sample (\d+)</span>', page)]


def _assert_self_contained(page):
    assert "http://" not in page and "https://" not in page
    assert 'src="/' not in page and "src='/" not in page
    # The only scripts are the review's own, inline (its class list, its code); labels are escaped.
    scripts = re.findall(r"<script[^>]*>", page)
    assert len(scripts) <= 2
    assert set(scripts) <= {"<script>", '<script type="application/json" id="review-classes">'}
    assert "<link" not in page and "@import" not in page
    assert "url(" not in page


def test_html_is_self_contained_sorted_and_escaped(digits):
    X, y = digits
    X, y = X[:20], y[:20].astype(object)
    quality = np.linspace(0.9, 0.05, 20)[::-1][np.random.default_rng(0).permutation(20)]
    y[int(np.argmin(quality))] = "<script>alert('x')</script>"
    issues = issues_table(quality, y, predicted=(np.arange(20) + 1) % 10)
    page = label_issues_html(X, issues)
    _assert_self_contained(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    shown = _shown_samples(page)
    flagged = np.flatnonzero(quality < 0.5)
    assert sorted(shown) == sorted(flagged.tolist())
    assert np.all(np.diff(quality[shown]) >= 0)  # lowest label quality first
    assert len(_image_sources(page)) == len(flagged)
    assert f"<b>{len(flagged)}</b><span>flagged</span>" in page
    assert f"{len(flagged) / 20:.1%}" in page


def test_html_escapes_title_and_index():
    issues = issues_table([0.1, 0.2], ["a", "b"], index=["<i>x</i>", "y&z"])
    page = label_issues_html(None, issues, title="<b>bad</b> & co")
    assert "<title>&lt;b&gt;bad&lt;/b&gt; &amp; co</title>" in page
    assert "&lt;i&gt;x&lt;/i&gt; (row 0)" in page and "y&amp;z (row 1)" in page
    assert "<i>" not in page and "<b>bad" not in page


def test_html_max_items_and_only_issues():
    X = np.zeros((30, 4, 4), dtype=np.uint8)
    quality = np.linspace(0.0, 1.0, 30)
    issues = issues_table(quality, [1] * 30)
    page = label_issues_html(X, issues, max_items=5)
    assert _shown_samples(page) == [0, 1, 2, 3, 4]
    assert page.count('<article class="card') == 5
    assert "Showing the 5 lowest-scoring of the 15 flagged samples" in page
    page = label_issues_html(X, issues, max_items=None, only_issues=False)
    assert _shown_samples(page) == list(range(30))
    assert page.count('<article class="card kept"') == 15
    assert page.count("not flagged") == 15
    page = label_issues_html(X, issues, max_items=0)
    assert page.count("<article") == 0


def test_html_without_flagged_samples_says_so():
    page = label_issues_html(np.zeros((2, 4, 4), np.uint8), issues_table([0.9, 0.8], [0, 1]))
    assert "<article" not in page and "No flagged samples to show" in page


def test_html_thumbnails_are_crisp_and_keep_aspect_ratio():
    rng = np.random.default_rng(0)
    tiny = rng.integers(0, 256, size=(1, 8, 8), dtype=np.uint8)
    page = label_issues_html(tiny, issues_table([0.1], [0]), thumbnail_size=96)
    thumb = _decode(_image_sources(page)[0])
    assert thumb.size == (96, 96)
    pixels = np.asarray(thumb.convert("L"))
    # nearest-neighbour: every 12x12 block is one original pixel, no blending
    np.testing.assert_array_equal(pixels[::12, ::12], tiny[0])
    assert set(np.unique(pixels)) <= set(np.unique(tiny))
    assert 'width="96" height="96"' in page

    wide = rng.random((1, 300, 600, 3))  # float RGB, larger than the thumbnail
    thumb = _decode(_image_sources(label_issues_html(wide, issues_table([0.1], [0])))[0])
    assert thumb.size == (96, 48)

    odd = np.zeros((1, 10, 30), dtype=np.uint8)  # upscaled by a whole factor: 3
    thumb = _decode(_image_sources(label_issues_html(odd, issues_table([0.1], [0])))[0])
    assert thumb.size == (90, 30)


def test_html_from_paths_loads_only_shown_images(tmp_path, digits):
    X, y = digits
    paths = []
    for i in range(6):
        path = tmp_path / f"img_{i}.png"
        Image.fromarray(X[i]).save(path)
        paths.append(str(path))
    # the unflagged rows point at files that do not exist: they must never be opened
    paths[4] = str(tmp_path / "missing_a.png")
    paths[5] = str(tmp_path / "missing_b.png")
    issues = issues_table([0.3, 0.1, 0.2, 0.4, 0.9, 0.8], y[:6])
    out = tmp_path / "report.html"
    assert label_issues_html(pd.Series(paths), issues, out) == str(out)
    page = out.read_text(encoding="utf-8")
    _assert_self_contained(page)
    assert _shown_samples(page) == [1, 2, 0, 3]
    assert len(_image_sources(page)) == 4
    assert 'title="' + str(tmp_path / "img_1.png") + '">img_1.png</span>' in page


def test_html_unreadable_image_warns_and_keeps_going(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (5, 5), "red").save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="1 of the 2 images shown could not be read"):
        page = label_issues_html([str(good), str(bad)], issues_table([0.2, 0.1], ["a", "b"]))
    assert "image could not be read" in page
    assert len(_image_sources(page)) == 1


def test_html_from_torch_dataset(digits):
    X, y = digits
    dataset = RecordingDataset(X[:10])
    issues = issues_table(np.r_[[0.4, 0.1], np.full(8, 0.9)], y[:10])
    page = label_issues_html(dataset, issues)
    assert _shown_samples(page) == [1, 0]
    assert set(dataset.loaded) == {0, 1}  # only the images shown (the input check also reads the first two)
    assert all(_decode(s).size == (96, 96) for s in _image_sources(page))


def test_html_reads_a_detector_and_checks_inputs():
    proba = np.array([0.2, 0.9, 0.3])
    detector = _FakeDetector(proba, [0, 1, 1], classes=[0, 1])
    page = label_issues_html(np.zeros((3, 4, 4), np.uint8), detector)
    assert _shown_samples(page) == [0, 2]
    with pytest.raises(ValueError, match="X has 2 samples but label_issues has 3 rows"):
        label_issues_html(np.zeros((2, 4, 4), np.uint8), detector)
    with pytest.raises(ValueError, match="is_label_issue"):
        label_issues_html(None, pd.DataFrame({"label_quality": [0.1]}))
    with pytest.raises(TypeError, match="DataFrame"):
        label_issues_html(None, [0.1, 0.2])
    with pytest.raises(ValueError, match="max_items"):
        label_issues_html(None, detector, max_items=-1)
    # without is_label_issue, only_issues=False still works
    page = label_issues_html(None, pd.DataFrame({"label_quality": [0.5, 0.1]}), only_issues=False)
    assert _shown_samples(page) == [1, 0] and "no image" in page


def _digits_report(digits, tmp_path, n=30):
    X, y = digits
    X, y = X[:n], y[:n]
    y_noisy, is_noisy = make_noisy_labels(y, rate=0.3, random_state=0)
    rng = np.random.default_rng(0)
    quality = np.where(is_noisy, rng.uniform(0.0, 0.45, n), rng.uniform(0.3, 1.0, n))
    given = y_noisy.astype(object)
    given[int(np.argmin(quality))] = "<script>alert(1)</script>"
    issues = issues_table(quality, given, predicted=np.where(quality < 0.5, y, y_noisy))
    return label_issues_html(X, issues, tmp_path / "digits.html")


@needs_chromium
def test_html_renders_in_headless_chromium(digits, tmp_path):
    page = _digits_report(digits, tmp_path)
    shot = tmp_path / "shot.png"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
        "--window-size=1200,900", f"file://{page}",
    ]
    result = subprocess.run(command, capture_output=True, timeout=60, check=False)
    assert shot.is_file(), result.stderr.decode(errors="replace")[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1200, 900)
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert pixels.var() > 0
    # the black digit thumbnails and the light page both show up
    assert (pixels < 30).mean() > 0.01 and (pixels > 230).mean() > 0.3


# ------------------------------------------------- HTML: noise and suggestions


def _heatmap_cells(page):
    """(title, background, text) of each cell of the transition table, row by row."""
    return re.findall(r'<td(?: class="diag")? title="([^"]*)" style="background:([^;]+);[^"]*">'
                      r"([^<]*)</td>", page)


def test_html_shows_the_noise_transition_as_a_heat_map():
    issues = issues_table([0.1, 0.9, 0.3], ["cat", "dog", "fox"])
    page = label_issues_html(None, issues, noise_transition=_T, classes=["cat", "dog", "<b>"])
    _assert_self_contained(page)
    cells = _heatmap_cells(page)
    assert [text for _, _, text in cells] == [f"{v:.2f}" for v in _T.ravel()]
    assert cells[1][0] == "true cat, given dog: 0.150"
    assert cells[7][0] == "true &lt;b&gt;, given dog: 0.300"  # class names are escaped
    assert page.count('<td class="diag"') == 3
    assert "<caption>Rows: the true class; columns: the given label;" in page
    assert re.findall(r'<th scope="col">([^<]*)</th>', page) == ["cat", "dog", "&lt;b&gt;"]
    # the colour darkens with the value: 0 is the lightest, 1 the darkest
    darkness = [765 - sum(map(int, re.findall(r"\d+", colour))) for _, colour, _ in cells]
    by_value = np.argsort(_T.ravel(), kind="stable")
    assert np.argsort(darkness, kind="stable").tolist() == by_value.tolist()
    assert cells[5][1] == "rgb(247, 251, 255)"  # 0.0
    assert page.index('class="transition"') < page.index("<article")


def test_html_transition_comes_from_the_detector():
    detector = _FakeDetector([0.2, 0.9, 0.3], [0, 1, 1], classes=[0, 1, 2],
                             names=["zero", "one", "two"], noise_transition=_T)
    page = label_issues_html(None, detector)
    assert [text for _, _, text in _heatmap_cells(page)] == [f"{v:.2f}" for v in _T.ravel()]
    assert "true two, given one: 0.300" in page
    page = label_issues_html(None, _FakeDetector([0.2, 0.9], [0, 1], classes=[0, 1]))
    assert "<table" not in page  # no estimate, no table
    page = label_issues_html(None, issues_table([0.1, 0.2], [0, 1]), noise_transition=detector)
    assert "true zero, given one: 0.150" in page
    assert "<table" not in label_issues_html(None, issues_table([0.1, 0.2], [0, 1]))


def test_html_transition_without_classes_and_many_classes():
    page = label_issues_html(None, issues_table([0.1], [0]), noise_transition=[[0.6, 0.4], [0.0, 1.0]])
    assert [title for title, _, _ in _heatmap_cells(page)] == [
        "true 0, given 0: 0.600", "true 0, given 1: 0.400",
        "true 1, given 0: 0.000", "true 1, given 1: 1.000",
    ]
    page = label_issues_html(None, issues_table([0.1], [0]), noise_transition=np.full((21, 21), 1 / 21))
    cells = _heatmap_cells(page)
    assert len(cells) == 21 * 21 and all(text == "" for _, _, text in cells)


def test_html_rejects_a_bad_transition_matrix():
    issues = issues_table([0.1, 0.2], [0, 1])
    with pytest.raises(ValueError, match="square"):
        label_issues_html(None, issues, noise_transition=np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="NaN"):
        label_issues_html(None, issues, noise_transition=[[np.nan, 1.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="negative"):
        label_issues_html(None, issues, noise_transition=[[1.5, -0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="3 x 3 but there are 2 classes"):
        label_issues_html(None, issues, noise_transition=_T, classes=["a", "b"])
    detector = _FakeDetector([0.2, 0.9], [0, 1], classes=[0, 1], noise_transition=_T)
    with pytest.raises(ValueError, match="3 x 3 but there are 2 classes"):
        label_issues_html(None, detector)


def _suggestions(page):
    return re.findall(r'<span class="v suggested" title="[^"]*"><span>([^<]*)</span></span>'
                      r'(?:<span class="k">Confidence</span><span class="conf">([^<]*)</span>)?',
                      page)


def test_html_shows_the_suggested_label_and_its_confidence():
    issues = issues_table([0.3, 0.1, 0.2], ["a", "b", "c"], predicted=["x", "y", "z"])
    issues["suggested_label"] = ["p", None, "<q>"]
    issues["suggested_label_confidence"] = [0.875, np.nan, 0.9996]
    page = label_issues_html(None, issues)
    # worst first: rows 1, 2, 0; the suggested label replaces the prediction
    assert _suggestions(page) == [("&mdash;", "&mdash;"), ("&lt;q&gt;", "100.0%"), ("p", "87.5%")]
    assert "<span>x</span>" not in page
    # without the columns the prediction is the suggestion, with no confidence
    page = label_issues_html(None, issues_table([0.3, 0.1], ["a", "b"], predicted=["x", "y"]))
    assert _suggestions(page) == [("y", ""), ("x", "")]
    assert "Confidence" not in page
    # a confidence alone goes with the predicted label
    issues = issues_table([0.1], ["a"], predicted=["x"]).assign(suggested_label_confidence=[0.25])
    assert _suggestions(label_issues_html(None, issues)) == [("x", "25.0%")]


@pytest.mark.parametrize("confidence, message", [([1.5], r"\[0, 1\]"), ([-0.1], r"\[0, 1\]"),
                                                 (["high"], "numeric")])
def test_html_rejects_a_bad_confidence(confidence, message):
    issues = issues_table([0.1], ["a"])
    issues = issues.assign(suggested_label="b", suggested_label_confidence=confidence)
    with pytest.raises(ValueError, match=message):
        label_issues_html(None, issues)


def _quality_figures(page):
    """(bar width in %, shown figure, tooltip value) of each card, in page order."""
    return [
        (float(width), figure, float(full))
        for full, width, figure in re.findall(
            r'<div class="score" title="label quality ([^"]+)"><span>label quality</span>'
            r'<div class="bar"><span style="width:([0-9.]+)%;[^"]*"></span></div><b>([^<]+)</b>',
            page,
        )
    ]


def test_html_tiny_label_qualities_stay_distinct_and_ordered():
    # the demo's case (issue 19): every flagged card is far below 1e-3; the page must
    # still show which one is worse, in the figure and in the bar
    quality = np.array([3.2e-5, 8.1e-11, 4.7e-4, 1.5e-7, 3.4e-5, 2.0e-9, 9.9e-4, 6.0e-6])
    issues = issues_table(quality, ["a"] * 8, predicted=["b"] * 8)
    page = label_issues_html(None, issues)
    shown = _quality_figures(page)
    assert len(shown) == 8
    widths, figures, tooltips = map(list, zip(*shown))
    assert "&lt;0.001" not in page
    assert len(set(figures)) == 8  # no two cards alike
    numbers = [float(f) for f in figures]  # each figure is a number a person can compare
    assert numbers == sorted(numbers) and np.all(np.diff(numbers) > 0)
    np.testing.assert_allclose(numbers, np.sort(quality), rtol=0.05)
    np.testing.assert_allclose(tooltips, np.sort(quality), rtol=1e-5)
    assert figures[:2] == ["8.1e-11", "2.0e-09"]
    # the bar is on a log scale: every card has one, and a worse label a shorter one
    assert np.all(np.diff(widths) > 0) and widths[0] > 0
    assert "log scale" in page


@pytest.mark.parametrize(
    "score, figure, width",
    [(1.0, "1.000", 100.0), (0.5, "0.500", 97.5), (0.0123, "0.012", 84.1),
     (0.004, "4.0e-03", 80.0), (1e-6, "1.0e-06", 50.0), (1e-12, "1.0e-12", 0.0),
     (1e-15, "1.0e-15", 0.0), (0.0, "0", 0.0)],
)
def test_html_quality_figure_and_log_bar(score, figure, width):
    issues = issues_table([score], ["a"], flagged=[True])
    [(shown_width, shown_figure, _)] = _quality_figures(label_issues_html(None, issues))
    assert shown_figure == figure and shown_width == pytest.approx(width, abs=0.05)


def test_html_missing_quality_shows_na_with_an_empty_bar():
    issues = issues_table([np.nan, 0.2], ["a", "b"], flagged=[True, True])
    page = label_issues_html(None, issues)
    assert "<b>n/a</b>" in page and 'title="label quality not available"' in page
    assert page.count('style="width:0.0%;background:hsl(0, 0%, 60%)"') == 1


def test_html_groups_wrong_labels_and_images_of_no_class():
    issues = issues_table([0.2, 0.05, 0.3, 0.9, 0.01], ["a", "b", "c", "d", "e"], predicted=["x", "y", "z", "d", "w"])
    issues["issue_type"] = pd.Categorical(["label", "outlier", "label", "ok", "outlier"])
    page = label_issues_html(None, issues)
    headings = re.findall(r'<section class="group"><h2>([^<]+) <span class="count">(\d+)</span>', page)
    assert headings == [("Wrong labels", "2"), ("Images of no class", "2")]
    # Worst first inside each group; an image of no class gets no suggested label.
    assert [s for s, _ in _suggestions(page)] == ["x", "z", "none of these classes", "none of these classes"]
    assert "<b>2</b><span>of no class</span>" in page
    page = label_issues_html(None, issues, only_issues=False)
    assert re.findall(r"<h2>([^<]+) <span", page) == ["Wrong labels", "Images of no class", "Not flagged"]
    # Without the column: one grid, as before.
    assert '<section class="group">' not in label_issues_html(None, issues.drop(columns="issue_type"))


def test_html_shows_the_worst_of_each_kind_and_refuses_unknown_kinds():
    quality = [0.01, 0.02, 0.03, 0.2, 0.3]  # the outliers score higher than every wrong label
    issues = issues_table(quality, list("abcde"), predicted=list("vwxyz"))
    issues["issue_type"] = ["label", "label", "label", "outlier", "outlier"]
    page = label_issues_html(None, issues, max_items=2)
    assert re.findall(r'<section class="group"><h2>([^<]+) <span class="count">(\d+)</span>', page) == [
        ("Wrong labels", "2"), ("Images of no class", "2")
    ]
    assert "Showing the 4 lowest-scoring of the 5 flagged samples (at most that many of each kind)" in page
    issues["issue_type"] = ["label", "typo", "label", "outlier", "ok"]
    with pytest.raises(ValueError, match=r"issue_type'\] has \['typo'\]"):
        label_issues_html(None, issues)
