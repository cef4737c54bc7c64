"""Labels and class names as real data sets have them, carried through fit, predict,
label_issues_, the report, the command line and apply_decisions.

Each test here shows one defect: it fails now and passes once the defect is fixed.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_CLIP, class_folders, cli_exit, image_files, random_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: "Café" as Linux and Windows write it (one code point) and as macOS file names hold it (NFD).
CAFE_NFC, CAFE_NFD = "Caf\u00e9", "Cafe\u0301"


def _digits(n=120, n_classes=3):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    keep = y < n_classes
    return X[keep][:n] / 16.0, y[keep][:n]


# ------------------------------------------------------------------- class names and prompts


def test_dual_prompt_refuses_class_names_that_tokenise_to_one_prompt():
    """skclip_noise/data/labels.py:219 (check_distinct_prompts, run by every estimator that builds
    prompts, base/estimator.py) promises to "Refuse class names that give two classes one text
    prompt"; LabelMatchDetector does refuse "Café" (NFC) and "Café" (NFD), which CLIP's tokenizer
    (ftfy) reads alike (label_match.py:_check_prompt_tokens). DualPromptDetector (and the other
    PromptTextEncoder users, DeftClassifier's default detector and AVLPrompter) fits them without a
    word: both classes get identical prompts, and every image gets probability 0.5 / 0.5, a silent
    wrong answer."""
    from skclip_noise import DualPromptDetector

    X, y = random_images(16), np.array([CAFE_NFC, CAFE_NFD] * 8)
    detector = DualPromptDetector(**TINY_CLIP, tuning="frozen", epochs=1, batch_size=8)
    with pytest.raises(ValueError, match="same text prompt"):
        detector.fit(X, y)


def test_consensus_zero_shot_refuses_unusable_class_names_before_embedding(embedding_passes):
    """Convention: bad input gets a clear error before expensive work (LabelMatchDetector refuses
    a class name whose prompt would be cut at the 77-token context before it embeds a single
    image). ConsensusDetector(zero_shot=True) checks only its templates in _check_params
    (detectors/consensus.py:324) and builds the class prompts in _fit_scores after embedding every
    image and cross-fitting the probe and the neighbours (consensus.py:414-445): the same error
    comes only after the whole embedding pass."""
    from skclip_noise import ConsensusDetector

    X = random_images(16)
    y = np.array(["cat", " ".join(["word"] * 90)] * 8)  # a 90-word name: its prompt overflows the context
    detector = ConsensusDetector(**TINY_CLIP, zero_shot=True, cv=2, n_neighbors=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="context"):
            detector.fit(X, y)
    assert embedding_passes == [], (
        f"the images were embedded ({embedding_passes}) before the class names were refused"
    )


# ------------------------------------------------------------------- label types


def test_a_list_of_numpy_bools_is_read_as_bool_labels():
    """docs/user_guide/data.rst:112 "Labels may be ints or strings (a list, numpy array or pandas
    Series)", and bool arrays are accepted (data/labels.py:83, kind "b"); scikit-learn fits
    ``[v > 4 for v in y]``. That list holds numpy bools, which labels_from_objects (labels.py:143)
    neither counts as numbers nor converts, so fit refuses it with "y must hold integer or string
    labels; got dtype object" (labels.py:84): the same labels as np.array work. make_noisy_labels
    returns such an object array for such a list, so its own output is refused too."""
    from skclip_noise import NeighbourDetector

    X, y = _digits()
    labels = [value > 0 for value in y]  # numpy bools, as a comparison in a comprehension gives
    detector = NeighbourDetector().fit(X, labels)
    assert detector.classes_.tolist() == [False, True]
    assert detector.label_issues_["given_label"].tolist() == [bool(v) for v in labels]


def test_float_labels_are_predicted_in_their_own_type():
    """Convention (scikit-learn's label handling: classes_ = np.unique(y), predictions in the labels'
    own type; LogisticRegression fitted on y = [0., 1.] predicts 0. and 1.). check_labels turned whole
    float labels into int64, so DeftClassifier's classes_ and predict were int64 for float y, and
    label_issues_['given_label'] was no longer y's dtype. The text forms (report, CSVs, decisions)
    still write 2.0 as 2."""
    from skclip_noise import DeftClassifier

    rng = np.random.default_rng(0)
    y = np.repeat([0.0, 1.0], 8)
    X = rng.normal(size=(16, 48)) + y[:, None]  # 48: the tiny CLIP's embedding width
    classifier = DeftClassifier("passthrough", **TINY_CLIP, tuning="frozen", epochs=1, batch_size=8).fit(X, y)
    assert classifier.classes_.dtype == y.dtype
    assert classifier.predict(X).dtype == y.dtype


def test_uint64_labels_with_an_unreadable_file(tmp_path):
    """base/contract.py:326-336 (_labels_or_missing) gives predicted_label and suggested_label a
    missing value for an unreadable file (skip_unreadable=True, docs/user_guide/data.rst "no
    predicted_label or suggested_label (missing values)") by casting the classes to pandas' Int64,
    which cannot hold uint64 labels from 2**63 up (64-bit ids): after the whole fit, the user gets
    "TypeError: cannot safely cast non-equivalent uint64 to int64" instead of label_issues_."""
    from skclip_noise import NeighbourDetector

    paths = [str(path) for path in image_files(tmp_path, 12)]
    paths[3] = str(tmp_path / "missing.png")
    y = np.where(np.arange(12) % 2, 2**63 + 1, 2**63 + 2).astype(np.uint64)
    detector = NeighbourDetector(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu",
                                 n_neighbors=2, skip_unreadable=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector.fit(paths, y)
    issues = detector.label_issues_
    assert issues["given_label"].tolist() == y.tolist()
    assert pd.isna(issues["predicted_label"].iloc[3]) and issues["issue_type"].iloc[3] == "unreadable"


def test_labels_differing_only_by_unicode_normalisation_are_warned_about():
    """data/labels.py:244 warns about string classes that one class spelled several ways, "as
    merged data sets often spell one class" (docs/user_guide/data.rst:119): "Cat" and "cat " get a
    warning. "Café" typed on Linux (NFC) and "Café" from a macOS folder name (NFD) are one class
    spelled two ways, and even look identical in the report, but they are split into two classes
    without any warning (the check casefolds and collapses spaces but never normalises)."""
    from skclip_noise import NeighbourDetector

    X, y = _digits(n_classes=2)
    labels = np.where(y == 1, CAFE_NFC, CAFE_NFD)
    labels[::7] = "tea"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        NeighbourDetector().fit(X, labels)
    assert any(CAFE_NFC in str(w.message) or CAFE_NFD in str(w.message) for w in caught), (
        "two classes that differ only by unicode normalisation were split without a warning"
    )


# ------------------------------------------------------------------- report and decisions


def test_report_cards_show_their_own_rows_image_when_y_has_a_shuffled_index():
    """docs/user_guide/data.rst:116-117: label_issues_ "keeps the index of a pandas X or y, so its rows
    line up with your data frame", and label_issues_html takes X "in the same order" as fit
    (report/html.py docstring). With y a Series whose index is a permutation of 0..n-1 (a shuffled
    data frame, df.sample(frac=1)), _by_sample (report/_samples.py) took that index for positions and
    reordered X by it: each card showed another row's image (here the file of position index[row]),
    so the reviewer decided on the wrong images. label_issues_ now keeps that index in fit order in
    its attrs (FIT_ORDER_ATTR), which also survives sorting the table; a table read back from a CSV
    (no attrs) is still read as positions."""
    from skclip_noise import NeighbourDetector
    from skclip_noise.report import label_issues_html

    rng = np.random.default_rng(0)
    n = 40
    features = rng.normal(size=(n, 4))
    y = pd.Series(np.array(["cat", "dog"])[np.arange(n) % 2], index=rng.permutation(n))
    paths = [f"/nowhere/img_{position:02d}.png" for position in range(n)]  # X[position] for each row
    detector = NeighbourDetector(n_neighbors=3).fit(features, y)
    for table in (detector.label_issues_, detector.label_issues_.sort_values("label_quality")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the files do not exist: cards say so, the file names remain
            page = label_issues_html(paths, table, only_issues=False, max_items=None)
        shown = re.findall(r'(\d+) \(row \d+\)</span><span class="file" title="([^"]+)"', page)
        assert len(shown) == n
        fit_position = {label: position for position, label in enumerate(y.index)}
        wrong = [(label, path) for label, path in shown if path != paths[fit_position[int(label)]]]
        assert not wrong, f"{len(wrong)} of {n} cards show another sample's image, e.g. {wrong[0][0]}: {wrong[0][1]}"


def test_apply_decisions_refuses_label_columns_that_pandas_read_as_numbers():
    """decisions.py:81-87 refuses a decisions DataFrame whose columns pandas read as numbers
    ("label 4 would read '4.0'") and read_decisions keeps "07" and "7" apart (decisions.py:56). The
    check looks for float columns only: ``pd.read_csv("decisions.csv")`` with no dropped sample
    reads the label columns as int64, so a relabel to "01" becomes "1", a class of y, and is applied
    silently (the sample keeps "1" instead of becoming "01")."""
    from skclip_noise import apply_decisions

    y = np.array(["1", "01", "1", "01"])  # product codes: "1" and "01" are two classes
    exported = "sample,given_label,decision,label\n0,1,relabel,01\n"
    table = pd.read_csv(io.StringIO(exported))  # what a user loads the export with
    with pytest.raises(ValueError):
        apply_decisions(y, table)


# ------------------------------------------------------------------- command line


def test_detect_pairs_class_names_with_numeric_folders_in_label_order(tmp_path, capsys, monkeypatch):
    """skclip_noise/cli.py:180-182: ``--class-names`` are "comma-separated names for integer labels,
    in label order (0, 1, ...)". A CSV with labels 0..10 is read as ints and paired that way; the same
    images as class folders 0..10 come as strings sorted as text (0, 1, 10, 2, ...), and the names are
    paired in that order without a word: folder "10" gets the prompt "two", "2" gets "three", ...
    (the run succeeds with wrong prompts)."""
    from skclip_noise import cli

    names = "zero one two three four five six seven eight nine ten".split()
    root = class_folders(tmp_path / "images", classes=[str(i) for i in range(11)], per_class=2)
    made = {}
    make_detector = cli.make_detector

    def recording(*args, **kwargs):
        made["detector"] = make_detector(*args, **kwargs)
        return made["detector"]

    monkeypatch.setattr(cli, "make_detector", recording)
    status, err = cli_exit(["detect", str(root), "--detector", "label-match", "--class-names", ",".join(names),
                            "--output-dir", str(tmp_path / "out"), "--backbone", "open_clip:skclip-tiny",
                            "--pretrained", "none", "--quiet"], capsys)
    if status == 2:  # refused, naming the ambiguity: fine
        assert "class-names" in err
        return
    assert status == 0, err
    detector = made["detector"]
    paired = {str(label): name for label, name in zip(detector.classes_.tolist(), detector.class_names_)}
    assert paired["10"] == "ten" and paired["2"] == "two", f"folders paired with names {paired}"


def test_report_from_the_detector_itself_shows_each_row_its_image_whatever_y_index():
    """Given the fitted detector (not a table), the report knows its rows are in X's order:
    with y a Series whose index is a shuffled 0..n-1, each card shows its own image."""
    from skclip_noise import NeighbourDetector
    from skclip_noise.report import label_issues_html

    rng = np.random.default_rng(0)
    n = 40
    y = pd.Series(np.array(["cat", "dog"])[np.arange(n) % 2], index=rng.permutation(n))
    paths = [f"/nowhere/img_{position:02d}.png" for position in range(n)]
    detector = NeighbourDetector(n_neighbors=3).fit(rng.normal(size=(n, 4)), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = label_issues_html(paths, detector, only_issues=False, max_items=None)
    shown = re.findall(r'\(row (\d+)\)</span><span class="file" title="([^"]+)"', page)  # row: position in X
    assert len(shown) == n
    assert all(path == paths[int(row)] for row, path in shown)
