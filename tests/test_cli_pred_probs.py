"""``skclip-noise detect --pred-probs``: the caller's model's probabilities, read and checked
before any work, aligned to INPUT's images, and passed to the consensus detector."""

import os

import numpy as np
import pandas as pd
import pytest

from skclip_noise import cli
from skclip_noise.datasets import load_image_folder

from test_cli import CONSENSUS_FLAGS, _folder_with_unreadable_files, _stop, _Stop


def _model_probs(labels, seed=0):
    """Probabilities that favour each sample's label, as a fair model's would."""
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(classes)), size=len(labels))
    probs[np.arange(len(labels)), np.searchsorted(classes, labels)] += 2.0
    return probs / probs.sum(axis=1, keepdims=True), classes


def _pred_probs_csv(paths, probs, classes, target, order=None):
    target.parent.mkdir(parents=True, exist_ok=True)
    order = np.arange(len(paths)) if order is None else order
    table = pd.DataFrame(probs[order], columns=[str(c) for c in classes])
    table.insert(0, "path", [os.path.relpath(p, target.parent) for p in np.asarray(paths)[order]])
    table.to_csv(target, index=False)
    return target


@pytest.fixture
def recorded_fit(monkeypatch):
    from skclip_noise import ConsensusDetector

    seen = {}
    real_fit = ConsensusDetector.fit

    def recording_fit(self, X, y, pred_probs=None, groups=None):
        seen["X"], seen["pred_probs"] = X, pred_probs
        return real_fit(self, X, y, pred_probs=pred_probs, groups=groups)

    monkeypatch.setattr(ConsensusDetector, "fit", recording_fit)
    return seen


@pytest.mark.filterwarnings("ignore:the outlier model would call")  # random tiny tower
def test_a_csv_of_shuffled_rows_is_aligned_to_the_images(digits_folder, tmp_path, capsys, recorded_fit):
    paths, labels = load_image_folder(digits_folder)
    probs, classes = _model_probs(labels)
    csv = _pred_probs_csv(paths, probs, classes, tmp_path / "probs" / "pred_probs.csv",
                          order=np.random.default_rng(1).permutation(len(paths)))
    out = tmp_path / "out"
    status = cli.main(["detect", str(digits_folder), "--pred-probs", str(csv), "--output-dir", str(out),
                       *CONSENSUS_FLAGS])
    err = capsys.readouterr().err
    assert status == 0, err
    assert list(recorded_fit["X"]) == list(paths)
    np.testing.assert_array_equal(recorded_fit["pred_probs"], probs)
    assert "your model's pred_probs weigh" in err
    assert len(pd.read_csv(out / "label_issues.csv")) == len(paths)


def test_a_npy_array_is_taken_in_input_order(digits_folder, tmp_path, recorded_fit, monkeypatch):
    monkeypatch.setattr(cli, "make_detector", _stop)
    paths, labels = load_image_folder(digits_folder)
    probs, _ = _model_probs(labels)
    np.save(tmp_path / "pred_probs.npy", probs)
    read = cli.read_pred_probs(str(tmp_path / "pred_probs.npy"), paths, labels)
    np.testing.assert_array_equal(read, probs)
    with pytest.raises(_Stop):  # read and checked before the detector is even made
        cli.main(["detect", str(digits_folder), "--pred-probs", str(tmp_path / "pred_probs.npy"),
                  "--output-dir", str(tmp_path / "out"), "--quiet"])


def test_csv_labels_that_are_numbers_head_the_columns_as_text(digits_folder, tmp_path):
    paths, labels = load_image_folder(digits_folder)
    numbers = labels.astype(int)  # a CSV INPUT's numeric labels are read as integers
    probs, classes = _model_probs(numbers)
    csv = _pred_probs_csv(paths, probs, classes, tmp_path / "pred_probs.csv")
    np.testing.assert_array_equal(cli.read_pred_probs(str(csv), paths, numbers), probs)


def _edited(table, edit):
    if edit == "missing class":
        return table.drop(columns=["3"])
    if edit == "extra class":
        return table.assign(cat=0.0)
    if edit == "missing row":
        return table.iloc[1:]
    if edit == "extra row":
        return pd.concat([table, table.iloc[:1].assign(path="elsewhere/other.png")])
    if edit == "duplicate row":
        return pd.concat([table, table.iloc[:1]])
    if edit == "empty cell":
        return table.assign(**{"0": table["0"].where(table.index != 4)})
    if edit == "no path column":
        return table.drop(columns=["path"])
    if edit == "text cell":
        return table.assign(**{"0": "high"})
    return table.assign(**{"0": table["0"] * 0.5})  # rows no longer sum to 1


@pytest.mark.parametrize(
    "edit, message",
    [
        ("missing class", "missing '3'"),
        ("extra class", "not a class of INPUT: 'cat'. Drop the columns of classes no image is labelled with"),
        ("missing row", "has no row for 1 of INPUT's 30 images"),
        ("extra row", "rows for 1 images that are not in INPUT"),
        ("duplicate row", "has two rows for"),
        ("empty cell", "empty class cells (lines [6])"),
        ("no path column", "needs a 'path' column"),
        ("text cell", "must hold numbers only"),
        ("bad sums", "rows must sum to 1"),
    ],
)
def test_a_bad_csv_is_refused_before_any_work(edit, message, digits_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "make_detector", _stop)
    monkeypatch.setattr(cli, "check_images_readable", _stop)  # the cheap file is checked first
    paths, labels = load_image_folder(digits_folder)
    probs, classes = _model_probs(labels)
    csv = _pred_probs_csv(paths, probs, classes, tmp_path / "pred_probs.csv")
    _edited(pd.read_csv(csv), edit).to_csv(csv, index=False)
    status = cli.main(["detect", str(digits_folder), "--pred-probs", str(csv), "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and message in err and "--pred-probs" in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    "array, message",
    [
        (np.full((29, 10), 0.1), "has 29 rows but there are 30 labels"),
        (np.full((30, 9), 1 / 9), "9 columns but there are 10 classes"),
        (np.full((30, 10), 1.0), "rows must sum to 1"),
    ],
)
def test_a_bad_npy_is_refused_and_says_the_order(array, message, digits_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "make_detector", _stop)
    np.save(tmp_path / "p.npy", array)
    status = cli.main(["detect", str(digits_folder), "--pred-probs", str(tmp_path / "p.npy"),
                       "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and message in err and "sorted class labels" in err, err


def test_a_missing_or_unreadable_file_is_named(digits_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "make_detector", _stop)
    (tmp_path / "pickled.npy").write_bytes(b"not an array")
    for name, message in (("absent.csv", "is not a file"), ("pickled.npy", "cannot be read as a numeric .npy")):
        status = cli.main(["detect", str(digits_folder), "--pred-probs", str(tmp_path / name),
                           "--output-dir", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert status == 2 and message in err, err


def test_other_detectors_say_they_ignore_it(digits_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "make_detector", _stop)
    with pytest.raises(_Stop):  # not even read: the file does not exist
        cli.main(["detect", str(digits_folder), "--detector", "neighbour", "--pred-probs", str(tmp_path / "none.npy"),
                  "--output-dir", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert "--pred-probs does not apply to --detector neighbour (only to consensus); it is ignored." in err


@pytest.mark.filterwarnings("ignore:the outlier model would call")  # random tiny tower
def test_rows_of_skipped_unreadable_files_are_dropped_with_them(digits_folder, tmp_path, capsys, recorded_fit):
    folder, text, cut = _folder_with_unreadable_files(digits_folder, tmp_path)
    paths, labels = load_image_folder(folder)  # 32 files, 2 of them unreadable
    probs, classes = _model_probs(labels)
    csv = _pred_probs_csv(paths, probs, classes, tmp_path / "pred_probs.csv")
    out = tmp_path / "out"
    status = cli.main(["detect", str(folder), "--pred-probs", str(csv), "--skip-unreadable", "--output-dir", str(out),
                       *CONSENSUS_FLAGS])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "Skipped 2 of 32 images" in err and "your model's pred_probs weigh" in err
    np.testing.assert_array_equal(recorded_fit["pred_probs"], probs)  # all rows in; the detector drops two
    issues = pd.read_csv(out / "label_issues.csv")
    assert len(issues) == 30 and not issues["path"].str.endswith(".jpg").any()
