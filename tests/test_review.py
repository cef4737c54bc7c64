"""From report to fixed labels: apply_decisions, ``skclip-noise apply`` and the review in a real browser."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pandas as pd
import pytest
from conftest import headless_chromium, needs_selenium

from skclip_noise import apply_decisions, disputed_pairs
from skclip_noise.cli import main
from skclip_noise.decisions import read_decisions
from skclip_noise.report import label_issues_html
from skclip_noise.report._thumbnails import INLINE_THUMBNAIL_LIMIT

# ------------------------------------------------------------------ disputed pairs


def _judged():
    """Six pairs: two flagged, three kept whose most probable class is another."""
    return pd.DataFrame({
        "is_label_issue": [False, True, False, False, True, False, False],
        "label_quality": [0.9, 0.1, 0.4, 0.3, 0.2, 0.8, 0.45],
        "given_label": ["cat", "dog", "dog", "cat", "cat", "dog", "dog"],
        "predicted_label": ["cat", "cat", "cat", "dog", "dog", "dog", "cat"],
        "issue_type": ["ok", "label", "ok", "ok", "label", "ok", "ok"],
    }, index=[f"img{i}.png" for i in range(7)])


def test_disputed_pairs_are_the_kept_pairs_whose_most_probable_class_is_another():
    issues = _judged()
    before = issues.copy()
    assert disputed_pairs(issues).index.tolist() == ["img2.png", "img3.png", "img6.png"]
    drawn = disputed_pairs(issues, n_checks=2, random_state=0)
    assert len(drawn) == 2 and set(drawn.index) < {"img2.png", "img3.png", "img6.png"}
    assert list(drawn.index) == sorted(drawn.index, key=list(issues.index).index)  # in the table's order
    assert drawn.index.equals(disputed_pairs(issues, n_checks=2, random_state=0).index)
    assert len({tuple(disputed_pairs(issues, n_checks=2, random_state=seed).index) for seed in range(20)}) == 3
    assert len(disputed_pairs(issues, n_checks=30)) == 3
    assert list(drawn.columns) == list(issues.columns)
    pd.testing.assert_frame_equal(issues, before)


@pytest.mark.parametrize("n_checks", [0, -1, 1.5, True, "30"])
def test_disputed_pairs_refuse_a_bad_number_of_checks(n_checks):
    with pytest.raises(ValueError, match="n_checks must be a positive int or None"):
        disputed_pairs(_judged(), n_checks=n_checks)


def test_disputed_pairs_refuse_what_is_not_a_detectors_verdicts():
    from sklearn.exceptions import NotFittedError

    from skclip_noise import ConsensusDetector

    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['predicted_label'\]"):
        disputed_pairs(_judged().drop(columns="predicted_label"))
    with pytest.raises(TypeError, match="got list"):
        disputed_pairs([0, 1])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        disputed_pairs(ConsensusDetector())
    with pytest.raises(TypeError, match="got type"):  # the class, not a fitted instance
        disputed_pairs(ConsensusDetector)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(NotFittedError, match=re.escape("pass its fitted detector (pipeline[-1])")):
        disputed_pairs(make_pipeline(StandardScaler(), ConsensusDetector()))
    with pytest.raises(ValueError, match="cannot be used to seed"):  # checked before any draw is needed
        disputed_pairs(_judged(), random_state=np.random.default_rng(0))


def test_disputed_pairs_read_text_flags_as_true_or_false():
    """A label_issues.csv read back with dtype=str: "False" is not a true (non-empty) string."""
    issues = _judged()
    as_text = issues.astype(str)
    assert disputed_pairs(as_text).index.tolist() == disputed_pairs(issues).index.tolist()
    assert label_issues_html(None, as_text).count('data-kind="label"') == 2
    with pytest.raises(ValueError, match="must be true or false; it holds 'maybe'"):
        disputed_pairs(as_text.assign(is_label_issue=["maybe"] + ["False"] * 6))


@pytest.fixture(scope="module")
def judged_digits(digits):
    """Raw digits under pair-flip noise (30 %) and the default ConsensusDetector's verdicts."""
    from skclip_noise import ConsensusDetector, make_noisy_labels

    X, y = digits
    features = X.reshape(len(X), -1).astype(np.float32) / 16
    y_noisy, _ = make_noisy_labels(y, "pairflip", 0.3, random_state=0)
    return features, y_noisy, ConsensusDetector(random_state=0).fit(features, y_noisy)


def test_disputed_pairs_are_what_flag_disagreement_adds(judged_digits):
    from skclip_noise import ConsensusDetector

    features, y_noisy, detector = judged_digits
    disputed = disputed_pairs(detector)
    assert len(disputed) >= 10  # 23
    flagged_too = ConsensusDetector(flag_disagreement=True, random_state=0).fit(features, y_noisy)
    assert np.array_equal(detector.clean_mask_ & ~detector.label_issues_.index.isin(disputed.index),
                          flagged_too.clean_mask_)
    assert len(disputed_pairs(flagged_too)) == 0


@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_disputed_pairs_of_a_detector_follow_its_threshold(judged_digits, threshold):
    """Away from 0.5, "another class is more probable" is not what flag_disagreement adds; the
    detector's own disputed pairs are (a rival as probable as the threshold allows)."""
    from sklearn.base import clone

    features, y_noisy, detector = judged_digits
    at = clone(detector).set_params(threshold=threshold).fit(features, y_noisy)
    flagged_too = clone(at).set_params(flag_disagreement=True).fit(features, y_noisy)
    disputed = disputed_pairs(at)
    assert np.array_equal(at.clean_mask_ & ~at.label_issues_.index.isin(disputed.index), flagged_too.clean_mask_)
    table_rule = disputed_pairs(at.label_issues_)  # predicted_label != given_label: exact at 0.5 only
    assert len(disputed) > 0 and not disputed.index.equals(table_rule.index)


def test_disputed_pairs_of_the_pred_probs_route_are_what_flag_disagreement_adds(digits):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from skclip_noise import ConsensusDetector, find_label_issues, make_noisy_labels
    from skclip_noise.filter import fit_pred_probs_detector

    X, y = digits
    y_noisy, _ = make_noisy_labels(y, "pairflip", 0.3, random_state=0)
    pred_probs = cross_val_predict(LogisticRegression(max_iter=300), X.reshape(len(X), -1) / 16, y_noisy, cv=5,
                                   method="predict_proba")
    disputed = disputed_pairs(fit_pred_probs_detector(y_noisy, pred_probs))
    assert len(disputed) >= 50  # 131
    flagged = find_label_issues(y_noisy, pred_probs, detector=ConsensusDetector(flag_disagreement=True, random_state=0))
    assert np.array_equal(flagged, find_label_issues(y_noisy, pred_probs) | np.isin(np.arange(len(y)), disputed.index))


def test_report_shows_the_disputed_pairs_to_check_in_a_section_of_their_own():
    issues = _judged()
    drawn = disputed_pairs(issues, n_checks=2, random_state=0)
    page = label_issues_html(None, issues, disputed=drawn)
    assert page.count('data-kind="disputed"') == 2 and page.count('data-kind="label"') == 2
    assert re.search(r'<h2>Disputed: check these <span class="count">2</span>', page)
    assert "2 drawn at random from the 3 such pairs" in page and "flagging all 3" in page
    assert re.search(r'<div class="stat"><b>3</b><span>disputed</span>', page)
    assert '<p class="tally" id="disputed-tally" aria-live="polite">0 of 2 checked.</p>' in page
    assert page.count('<span class="tag">disputed</span>') == 2 and 'class="card kept"' not in page
    assert label_issues_html(None, issues, disputed=drawn.index) == page
    assert ("Showing the 2 lowest-scoring of the 4 flagged samples and disputed pairs (at most that many of each "
            "kind)") in label_issues_html(None, issues, disputed=drawn, max_items=1)
    # With every sample shown, the drawn pairs are in their section only.
    everything = label_issues_html(None, issues, disputed=drawn, only_issues=False)
    assert everything.count('class="card') == 7 and everything.count('data-kind="disputed"') == 2
    assert 'data-kind="disputed"' not in label_issues_html(None, issues)
    # Without issue_type the cards are grouped too.
    plain = label_issues_html(None, issues.drop(columns="issue_type"), disputed=drawn)
    assert plain.count('data-kind="disputed"') == 2 and "<h2>Wrong labels" in plain


@pytest.mark.parametrize("disputed, message", [
    (["img1.png"], "disputed holds flagged samples, e.g. 'img1.png'"),
    (["img9.png"], "label_issues does not hold, e.g. 'img9.png'"),
    (["img0.png"], "kept samples that are not disputed pairs, e.g. 'img0.png'"),
])
def test_report_refuses_disputed_pairs_that_are_not_kept_pairs_of_its_table(disputed, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        label_issues_html(None, _judged(), disputed=disputed)
    with pytest.raises(ValueError, match="needs label_issues with an is_label_issue column"):
        label_issues_html(None, _judged().drop(columns="is_label_issue"), disputed=["img2.png"], only_issues=False)


@pytest.mark.parametrize("disputed, message", [
    (pd.Series(["img2.png"]), "disputed is a Series"),  # ids as values, or rows by their index?
    (np.array([False, False, True, False, False, False, False]), "disputed is a boolean mask"),
    ("img2.png", "must be rows or a list of sample ids"),
])
def test_report_refuses_disputed_given_in_an_ambiguous_form(disputed, message):
    with pytest.raises(TypeError, match=message):
        label_issues_html(None, _judged(), disputed=disputed)


def test_report_says_when_it_shows_every_disputed_pair_and_refuses_repeated_sample_ids():
    issues = _judged()
    page = label_issues_html(None, issues, disputed=disputed_pairs(issues))
    assert "more probable: all 3 such pairs." in page and "drawn at random" not in page
    repeated = issues.set_axis(["a", "b", "c", "d", "e", "f", "c"])
    with pytest.raises(ValueError, match="repeats sample ids"):
        label_issues_html(None, repeated, disputed=["c"])


def test_disputed_pairs_of_a_detector_without_evidence_are_none_in_the_report_too():
    """Its label_issues_ alone would call most kept pairs disputed; the report takes the detector's word."""
    import warnings

    from skclip_noise import ConsensusDetector

    X = np.random.default_rng(0).normal(size=(180, 5))
    y = np.repeat([0, 1, 2], 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = ConsensusDetector(random_state=0).fit(X, y)
    assert len(disputed_pairs(detector)) == 0 < len(disputed_pairs(detector.label_issues_))
    with pytest.raises(ValueError, match="not disputed"):
        label_issues_html(None, detector, disputed=disputed_pairs(detector.label_issues_, n_checks=5, random_state=0))


def test_report_shows_integer_labels_as_integers_where_some_are_missing():
    """A nullable integer column with a missing suggestion (an outlier) must not show, or export, 4 as "4.0"."""
    import io

    issues = pd.DataFrame({
        "is_label_issue": [True, True, False], "label_quality": [0.1, 0.2, 0.9],
        "given_label": [0, 1, 1], "predicted_label": pd.array([1, 1, 1], dtype="Int64"),
        "issue_type": pd.Categorical(["label", "outlier", "ok"], categories=["ok", "label", "outlier", "unreadable"]),
        "suggested_label": pd.array([1, None, 1], dtype="Int64"),
    })
    page = label_issues_html(None, issues)
    assert re.findall(r'data-suggested="([^"]*)"', page) == ["1", ""] and "<span>1.0</span>" not in page
    assert "<span>1</span>" in page
    # What the page's "accept" exports is applied.
    labels, keep = apply_decisions([0, 1, 1], io.StringIO("sample,given_label,decision,label\n0,0,relabel,1\n"))
    assert labels.tolist() == [1, 1, 1] and keep.all()


def test_cli_draws_thirty_disputed_pairs_for_the_consensus_detector_only(judged_digits):
    from sklearn.base import clone

    from skclip_noise import NeighbourDetector
    from skclip_noise.cli import _disputed_to_check

    features, y_noisy, detector = judged_digits
    drawn = _disputed_to_check(detector)
    disputed = disputed_pairs(detector)
    assert len(drawn) == min(30, len(disputed)) and drawn.index.isin(disputed.index).all()
    assert len(_disputed_to_check(detector, max_items=4)) == 4  # no more than the report shows of a kind
    assert _disputed_to_check(detector, max_items=0) is None
    flagging = clone(detector).set_params(flag_disagreement=True).fit(features, y_noisy)
    assert _disputed_to_check(flagging) is None
    assert _disputed_to_check(NeighbourDetector().fit(features, y_noisy)) is None


# ------------------------------------------------------------------ apply_decisions


def _decisions(rows):
    return pd.DataFrame(rows, columns=["sample", "given_label", "decision", "label"])


def test_apply_decisions_relabels_drops_and_keeps_without_touching_y():
    y = np.array([3, 1, 4, 1, 5])
    before = y.copy()
    table = _decisions([["0", "3", "relabel", "5"], ["2", "4", "drop", ""], ["4", "5", "keep", "5"]])
    labels, keep = apply_decisions(y, table)
    assert labels.tolist() == [5, 1, 4, 1, 5] and labels.dtype == y.dtype
    assert keep.tolist() == [True, True, False, True, True]
    assert np.array_equal(y, before)


def test_apply_decisions_matches_series_index_and_paths(tmp_path):
    y = pd.Series(["cat", "dog"], index=["a.png", "b.png"], name="label")
    labels, keep = apply_decisions(y, _decisions([["b.png", "dog", "relabel", "cat"]]))
    assert isinstance(labels, pd.Series) and labels.to_dict() == {"a.png": "cat", "b.png": "cat"}
    paths = ["/x/a.png", "/x/b.png"]
    path = tmp_path / "decisions.csv"
    _decisions([["/x/a.png", "cat", "drop", ""]]).to_csv(path, index=False)
    labels, keep = apply_decisions(["cat", "dog"], path, samples=paths)
    assert keep.tolist() == [False, True]


def _path_decisions(rows):
    return pd.DataFrame(rows, columns=["sample", "given_label", "decision", "label", "path"])


def test_apply_decisions_with_paths_follow_their_images_when_the_listing_changed():
    """The report's export names each image's file: with ``paths=``, a decision reaches its
    image though images were added before it (the stale ``sample`` is not used) and INPUT is
    given another way (absolute), and a name that is not UTF-8 is matched by the form the
    page shows (U+FFFD)."""
    y = ["cat", "cat", "cat", "dog"]
    table = _path_decisions([["1", "cat", "drop", "", "photos/cat/2.png"],
                             ["2", "dog", "relabel", "cat", "photos/dog/caf\ufffd.png"]])
    now = ["/home/me/photos/cat/0.png", "/home/me/photos/cat/1.png", "/home/me/photos/cat/2.png",
           "/home/me/photos/dog/caf\udce9.png"]
    labels, keep = apply_decisions(y, table, paths=now)
    assert keep.tolist() == [True, True, False, True] and labels.tolist() == ["cat", "cat", "cat", "cat"]
    # a folder moved since: never guessed (a deleted image's namesake elsewhere looks the same), but named
    moved = [path.replace("/home/me/photos/", "/data/crawl/") for path in now]
    with pytest.raises(ValueError, match=r"'photos/cat/2.png' is not among the 4 images given \(INPUT has "
                                         r"'/data/crawl/cat/2.png': if its folder was moved"):
        apply_decisions(y, table, paths=moved)
    # without paths=, or without the column, samples are matched by position as before
    assert apply_decisions(y, table.iloc[:1])[1].tolist() == [True, False, True, True]
    assert apply_decisions(y, table.iloc[:1, :4], paths=now)[1].tolist() == [True, False, True, True]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("photos/cat/9.png", r"line 2 \(sample '0'\): its image 'photos/cat/9.png' is not among the 3 images"),
        ("other/0.png", r"is not among the 3 images given.*moved, renamed or deleted"),  # the name alone is no match
        ("cat/0.png", r"its image 'cat/0.png' matches 2 of INPUT's images"),
        ("/c/cat/0.png", r"is not among the 3 images given; "),  # no namesake guessed between two
    ],
)
def test_apply_decisions_with_paths_refuse_a_file_not_or_twice_in_the_listing(path, message):
    paths = ["/a/cat/0.png", "/b/cat/0.png", "/a/dog/0.png"]
    with pytest.raises(ValueError, match=message):
        apply_decisions(["cat", "cat", "dog"], _path_decisions([["0", "cat", "drop", "", path]]), paths=paths)
    with pytest.raises(ValueError, match=r"line 3 .*decided twice \(also on line 2\)"):
        apply_decisions(["cat", "cat", "dog"], _path_decisions([["0", "cat", "drop", "", "/a/cat/0.png"],
                                                                ["5", "cat", "keep", "cat", "a/cat/0.png"]]),
                        paths=paths)
    with pytest.raises(ValueError, match="paths has 2 entries but y has 3"):
        apply_decisions(["cat", "cat", "dog"], _path_decisions([]).assign(path=[]), paths=paths[:2])


def test_apply_decisions_names_the_files_lines_past_a_cleared_row(tmp_path):
    """A row a spreadsheet left empty decides nothing, and the lines after it keep their numbers."""
    path = tmp_path / "decisions.csv"
    path.write_text("sample,given_label,decision,label\n0,3,drop,\n,,,\n2,4,fix,\n")
    with pytest.raises(ValueError, match=r"line 4 \(sample '2'\): decision 'fix'"):
        apply_decisions([3, 1, 4], path)


@pytest.mark.parametrize("dtype", ["category", "string", "Int64"])
def test_apply_decisions_keeps_the_dtype_of_a_series(dtype):
    y = pd.Series([3, 1, 4]).astype(str if dtype in ("category", "string") else int).astype(dtype)
    labels, keep = apply_decisions(y, _decisions([["0", "3", "relabel", "4"]]))
    assert labels.dtype == y.dtype and labels.astype(str).tolist() == ["4", "1", "4"]


def test_apply_decisions_refuses_a_table_whose_labels_were_read_as_numbers():
    """pd.read_csv without dtype=str reads a label column with empty cells as floats: 4 would be "4.0"."""
    import io

    table = pd.read_csv(io.StringIO("sample,given_label,decision,label\n0,3,relabel,4\n2,4,drop,\n"))
    with pytest.raises(ValueError, match=r"column\(s\) \['label'\] hold numbers.*read_decisions\(path\)"):
        apply_decisions([3, 1, 4], table)


def test_read_decisions_keeps_labels_as_text(tmp_path):
    path = tmp_path / "decisions.csv"
    path.write_text('sample,given_label,decision,label\n0,07,relabel,"a, b"\n')
    table = read_decisions(path)
    assert table.loc[0, "given_label"] == "07" and table.loc[0, "label"] == "a, b"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["9", "3", "drop", ""]], r"line 2 \(sample '9'\): no such sample"),
        ([["0", "1", "drop", ""]], r"line 2 .*given label is '1' in the file but '3' in y"),
        ([["0", "3", "relabel", "7"]], r"line 2 .*'7' is not a class of y"),
        ([["0", "3", "fix", "1"]], r"decision 'fix' is not one of \['keep', 'relabel', 'drop'\]"),
        ([["0", "3", "drop", "1"]], r"a dropped sample has no label"),
        ([["0", "3", "keep", "1"]], r"'keep' keeps the given label '3'"),
        ([["0", "3", "drop", ""], ["1", "1", "drop", ""], ["0", "3", "keep", "3"]], r"line 4 .*decided twice \(also on line 2\)"),
    ],
)
def test_apply_decisions_refuses_a_file_that_does_not_fit(rows, message):
    with pytest.raises(ValueError, match=message):
        apply_decisions([3, 1, 4], _decisions(rows))


def test_apply_decisions_refuses_missing_columns_and_files(tmp_path):
    with pytest.raises(ValueError, match=r"lacks \['decision'\]"):
        apply_decisions([1], pd.DataFrame({"sample": ["0"], "given_label": ["1"], "label": ["1"]}))
    with pytest.raises(FileNotFoundError, match="Export decisions"):
        apply_decisions([1], tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="samples has 1 entries but y has 2"):
        apply_decisions([1, 2], _decisions([]), samples=["a"])


def test_cli_apply_writes_the_corrected_csv(tmp_path, capsys):
    from skclip_noise.datasets import make_image_folder

    root = tmp_path / "images"
    make_image_folder(np.zeros((6, 8, 8), np.uint8), np.array(["a", "a", "a", "b", "b", "b"]), root)
    decisions = tmp_path / "decisions.csv"
    _decisions([["1", "a", "relabel", "b"], ["4", "b", "drop", ""]]).to_csv(decisions, index=False)
    assert main(["apply", str(root), str(decisions)]) == 0
    written = pd.read_csv(tmp_path / "corrected_labels.csv")
    assert written["label"].tolist() == ["a", "b", "a", "b", "b"]
    assert len(written) == 5 and all(os.path.isfile(p) for p in written["path"])
    assert "1 relabelled, 1 dropped" in capsys.readouterr().err
    _decisions([["1", "b", "drop", ""]]).to_csv(decisions, index=False)
    assert main(["apply", str(root), str(decisions), "--output", str(tmp_path / "out.csv")]) == 2
    assert "line 2" in capsys.readouterr().err and not (tmp_path / "out.csv").exists()


# --------------------------------------------------------------- the page's markup


def _issues(n, rng, *, outliers=0):
    classes = np.array(["zero", "one", "two", "three"])
    given = classes[rng.integers(4, size=n)]
    suggested = classes[rng.integers(4, size=n)]
    kinds = np.array(["label"] * n, dtype=object)
    kinds[:outliers] = "outlier"
    return pd.DataFrame({
        "is_label_issue": True, "label_quality": rng.random(n), "given_label": given,
        "predicted_label": suggested, "suggested_label": suggested,
        "issue_type": pd.Categorical(kinds, categories=["ok", "label", "outlier", "unreadable"]),
    })


def test_review_markup_and_static_page():
    rng = np.random.default_rng(0)
    issues = _issues(6, rng, outliers=2)
    page = label_issues_html(None, issues)
    assert page.count('data-sample="') == 6 and page.count('data-kind="outlier"') == 2
    assert re.search(r'data-kind="outlier"', page) and 'data-suggested=""' in page
    assert re.search(r'<div class="skclip-report" data-report="[0-9a-f]{20}" data-page-size="200"', page)
    other = label_issues_html(None, issues.assign(given_label=issues["given_label"][::-1].to_numpy()))
    assert re.search(r'data-report="(\w+)"', page)[1] != re.search(r'data-report="(\w+)"', other)[1]
    static = label_issues_html(None, issues, review=False)
    assert "<script" not in static and "data-sample" not in static


def test_thousands_of_cards_put_thumbnails_beside_the_page(tmp_path):
    rng = np.random.default_rng(0)
    n = INLINE_THUMBNAIL_LIMIT + 200
    X = rng.integers(0, 255, size=(n, 16, 16), dtype=np.uint8)
    page = label_issues_html(X, _issues(n, rng), tmp_path / "report.html", max_items=None)
    folder = tmp_path / "report_thumbnails"
    assert len([name for name in os.listdir(folder) if name.endswith(".png")]) == n
    text = open(page, encoding="utf-8").read()
    assert "data:image/png" not in text and text.count('loading="lazy"') == n
    assert os.path.getsize(page) < 2_500 * n  # HTML only; the images are files
    small = label_issues_html(X[:10], _issues(10, rng), tmp_path / "small.html")
    assert "data:image/png" in open(small, encoding="utf-8").read()
    with pytest.raises(ValueError, match="pass path"):
        label_issues_html(X[:10], _issues(10, rng), thumbnails="files")
    with pytest.raises(ValueError, match="thumbnails must be one of"):
        label_issues_html(X[:10], _issues(10, rng), thumbnails="png")


# ------------------------------------------------------------ in a real browser


@pytest.fixture
def browser(tmp_path):
    driver = headless_chromium(tmp_path)
    yield driver
    driver.quit()


def _export(driver):
    """Press "Export decisions" and wait for ``decisions.csv``."""
    driver.find_element("id", "export-decisions").click()
    exported = driver.downloads / "decisions.csv"
    for _ in range(50):
        if exported.is_file() and exported.stat().st_size:
            break
        time.sleep(0.1)
    time.sleep(0.2)
    return exported


def _keys(driver, *keys):
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:  # to the focused element, as a person types
        ActionChains(driver).send_keys(key).perform()


def _progress(driver):
    return driver.find_element("id", "review-progress").text


def _card(driver, position):
    return driver.find_element("css selector", f'article.card[data-sample="{position}"]')


@needs_selenium
@pytest.mark.slow
def test_review_in_chromium_keys_clicks_reload_filters_export_apply(digits, browser, tmp_path):
    X, y = digits
    X, y = X[:40], y[:40]
    given = y.copy()
    given[:12] = (y[:12] + 1) % 10  # 12 wrong labels
    quality = np.r_[np.linspace(0.01, 0.2, 12), np.linspace(0.6, 0.99, 28)]
    issues = pd.DataFrame({
        "is_label_issue": quality < 0.5, "label_quality": quality, "given_label": given,
        "predicted_label": y, "suggested_label": y,
        "issue_type": pd.Categorical(np.where(quality < 0.5, "label", "ok"), categories=["ok", "label", "outlier"]),
    })
    issues.loc[11, "issue_type"] = "outlier"
    page = label_issues_html(X, issues, tmp_path / "report.html", classes=list(range(10)))
    browser.get(f"file://{page}")
    assert _progress(browser) == "0 of 12 decided"
    # cards are worst first: samples 0, 1, 2, ... 11
    _keys(browser, "j", "a")           # sample 0: accept the suggestion (relabel to its true class)
    _keys(browser, "g")                # sample 1: keep the given label
    _keys(browser, "x")                # sample 2: drop
    _keys(browser, "9")                # sample 3: class number 9 -> label 8
    _keys(browser, "c")                # sample 4: type a class
    box = _card(browser, 4).find_element("css selector", "input.other")
    box.send_keys("7\n")
    _card(browser, 5).find_element("css selector", 'button[data-action="drop"]').click()
    _card(browser, 6).find_element("css selector", 'button[data-action="accept"]').click()
    _keys(browser, "u")                # the current card is 6: undo it
    assert _progress(browser) == "6 of 12 decided"
    assert "decided-drop" in _card(browser, 2).get_attribute("class")
    assert _card(browser, 0).find_element("css selector", ".decision").text == f"relabel \u2192 {y[0]}"

    browser.refresh()                  # decisions survive a reload
    assert _progress(browser) == "6 of 12 decided"
    assert _card(browser, 3).get_attribute("data-decision") == "relabel"

    browser.find_element("css selector", '#filter-status option[value="undecided"]').click()
    hidden = browser.execute_script(
        "return Array.from(document.querySelectorAll('article.card')).filter(c => c.hidden).map(c => c.dataset.sample)")
    assert sorted(map(int, hidden)) == [0, 1, 2, 3, 4, 5]
    browser.find_element("css selector", '#filter-status option[value=""]').click()
    browser.find_element("css selector", '#filter-kind option[value="outlier"]').click()
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('article.card')).filter(c => !c.hidden).map(c => c.dataset.sample)")
    assert shown == ["11"]

    exported = _export(browser)
    assert exported.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads it as UTF-8
    assert exported.read_text("utf-8-sig").splitlines()[0] == "sample,given_label,decision,label"  # no paths
    labels, keep = apply_decisions(given, exported)
    expected = given.copy()
    expected[0], expected[3], expected[4] = y[0], 8, 7
    assert labels.tolist() == expected.tolist()
    assert np.flatnonzero(~keep).tolist() == [2, 5]

    again = label_issues_html(X, issues.assign(label_quality=quality * 0.9), tmp_path / "again.html")
    browser.get(f"file://{again}")     # the same samples and labels remade: the same review goes on
    assert _progress(browser) == "6 of 12 decided"
    relabelled = issues.assign(given_label=np.r_[given[:-1], (given[-1] + 1) % 10])
    other = label_issues_html(X, relabelled, tmp_path / "other.html")
    browser.get(f"file://{other}")     # other labels: another review, its own decisions
    assert _progress(browser) == "0 of 12 decided"


@needs_selenium
def test_review_of_image_files_exports_their_paths_so_apply_follows_a_changed_folder(browser, tmp_path, capsys):
    """A report made on image files exports each decided image's path; ``skclip-noise
    apply`` then reaches that image after a new photo was added to the folder (matched by
    position, the decision fell on the image that took its place)."""
    from skclip_noise.datasets import load_image_folder, make_image_folder

    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    make_image_folder(rng.integers(0, 255, size=(6, 8, 8), dtype=np.uint8), np.array(["a"] * 3 + ["b"] * 3), root)
    paths, given = load_image_folder(root)
    issues = pd.DataFrame({"is_label_issue": True, "label_quality": np.linspace(0.1, 0.4, 6),
                           "given_label": given, "predicted_label": given[::-1]})
    browser.get(f"file://{label_issues_html(paths, issues, tmp_path / 'report.html')}")
    _card(browser, 1).find_element("css selector", 'button[data-action="drop"]').click()
    exported = _export(browser)
    assert read_decisions(exported).to_dict("list") == {
        "sample": ["1"], "given_label": ["a"], "decision": ["drop"], "label": [""], "path": [paths[1]]}
    first = sorted(os.listdir(root / "a"))[0]  # a new photo, listed before the decided one
    (root / "a" / f"0{first}").write_bytes((root / "a" / first).read_bytes())
    assert main(["apply", str(root), str(exported), "--output", str(tmp_path / "fixed.csv"), "--quiet"]) == 0
    kept = pd.read_csv(tmp_path / "fixed.csv")["path"].tolist()
    assert paths[1] not in kept and len(kept) == 6


@needs_selenium
@pytest.mark.slow
def test_review_of_ten_thousand_cards_stays_responsive(browser, tmp_path):
    rng = np.random.default_rng(0)
    n = 10_000
    X = rng.integers(0, 255, size=(n, 8, 8), dtype=np.uint8)
    page = label_issues_html(X, _issues(n, rng), tmp_path / "big.html", max_items=None)
    start = time.perf_counter()
    browser.get(f"file://{page}")
    assert _progress(browser) == f"0 of {n} decided"
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    _keys(browser, *(["j", "g"] * 20))
    acted = time.perf_counter() - start
    assert _progress(browser) == f"20 of {n} decided"
    loaded_images = browser.execute_script(
        "return Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")
    assert loaded_images < n / 2  # thumbnails load as they scroll into view
    assert loaded < 20 and acted < 20, (loaded, acted)


@needs_selenium
@pytest.mark.slow
def test_review_tallies_the_checked_disputed_pairs_and_says_what_they_decide(digits, browser, tmp_path):
    X, y = digits
    X, y = X[:12], y[:12]
    kept = np.arange(12) >= 2  # two flagged pairs, then ten kept ones of which five are disputed
    issues = pd.DataFrame({
        "is_label_issue": ~kept, "label_quality": np.linspace(0.01, 0.9, 12), "given_label": y,
        "predicted_label": np.where(np.arange(12) % 2 == 0, (y + 1) % 10, y), "issue_type": np.where(kept, "ok", "label"),
    })
    to_check = disputed_pairs(issues)
    assert to_check.index.tolist() == [2, 4, 6, 8, 10]
    page = label_issues_html(X, issues, tmp_path / "report.html", disputed=to_check, classes=list(range(10)))
    browser.get(f"file://{page}")

    def tally():
        return browser.find_element("id", "disputed-tally").text

    assert tally() == "0 of 5 checked, 0 wrong."
    for sample in (2, 4):  # accept the suggestion: a wrong label
        _card(browser, sample).find_element("css selector", 'button[data-action="accept"]').click()
    _card(browser, 6).find_element("css selector", 'button[data-action="keep"]').click()
    assert tally() == "3 of 5 checked, 2 wrong."
    _card(browser, 8).find_element("css selector", 'button[data-action="drop"]').click()  # an image to drop: wrong too
    assert tally() == "4 of 5 checked, 3 wrong. More than half are wrong: flag every disputed pair (--flag-disagreement)."
    _card(browser, 0).find_element("css selector", 'button[data-action="keep"]').click()  # a flagged card: not counted
    assert tally().startswith("4 of 5 checked, 3 wrong.")
    for sample in (4, 8):
        _card(browser, sample).find_element("css selector", 'button[data-action="keep"]').click()
    assert tally() == "4 of 5 checked, 1 wrong. At most half can be wrong: keep the default."  # 3 right of 5
    _card(browser, 10).find_element("css selector", 'button[data-action="keep"]').click()
    assert tally() == "5 of 5 checked, 1 wrong. At most half can be wrong: keep the default."
    browser.refresh()  # decisions are kept: so is the tally
    assert tally() == "5 of 5 checked, 1 wrong. At most half can be wrong: keep the default."
