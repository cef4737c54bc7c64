"""Regression tests from a bug hunt on ``skclip-noise detect`` with a CSV INPUT and
``--pred-probs FILE`` (CSV or .npy), with ``--skip-unreadable``, and on ``skclip-noise
apply`` with that CSV INPUT.

Each test says what a user hits today and what is expected instead. They run on a few
random 32-px PNGs and stop before the detector fits (``recorded_fit``), so nothing is
embedded and nothing is downloaded.
"""


import numpy as np
import pandas as pd
import pytest

from conftest import StopFit, cli_exit, image_files

FLAGS = ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none", "--quiet"]
CLASSES = ["cat", "dog"]


def _labels_csv(tmp_path, n=12, extra=None):
    """``tmp_path/labels.csv`` of ``n`` images (relative paths), labels cat/dog alternating;
    its path, the image paths and the labels."""
    paths = image_files(tmp_path / "images", n)
    labels = [CLASSES[i % 2] for i in range(n)]
    table = pd.DataFrame({"path": [f"images/{p.name}" for p in paths], "label": labels, **(extra or {})})
    table.to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path / "labels.csv", paths, labels


def _probs_table(labels, paths):
    """A fair model's probabilities as a pred-probs CSV table (path + one column per class)."""
    probs = np.array([[0.8, 0.2] if label == "cat" else [0.3, 0.7] for label in labels])
    table = pd.DataFrame(probs, columns=CLASSES)
    table.insert(0, "path", [str(p) for p in paths])
    return table


def _detect(csv, pred_probs, tmp_path, capsys, *extra):
    """(exit status, stderr) of ``detect``; status "fit" when the run got as far as fitting."""
    argv = ["detect", str(csv), "--pred-probs", str(pred_probs), "--output-dir", str(tmp_path / "out"), *extra, *FLAGS]
    from skclip_noise import cli

    try:  # cli_exit would fail the test on the recorder's StopFit: it is caught first here
        status = cli.main(argv)
    except StopFit:
        return "fit", capsys.readouterr().err
    except SystemExit as exc:  # argparse
        status = exc.code
    return status, capsys.readouterr().err


# ----------------------------------------------------------------- detect --pred-probs FILE


def test_pred_probs_csv_with_an_empty_path_cell_exits_2_without_traceback(tmp_path, capsys, recorded_fit):
    """A pred-probs CSV with one empty 'path' cell (a row the user's export left blank).

    Today: pandas reads the empty cell as NaN, ``_resolved_paths`` calls ``os.path.isabs``
    on a float and ``detect`` dies with a TypeError traceback. Expected: exit 2 with one
    line naming --pred-probs and the empty path cell (its CSV line), before any work."""
    csv, paths, labels = _labels_csv(tmp_path)
    table = _probs_table(labels, paths)
    table.loc[3, "path"] = np.nan
    table.to_csv(tmp_path / "pred_probs.csv", index=False)
    status, err = _detect(csv, tmp_path / "pred_probs.csv", tmp_path, capsys)
    assert status == 2 and "--pred-probs" in err and "Traceback" not in err, err


@pytest.mark.parametrize("bad_row", [[0.8, 0.7], [np.inf, 0.2]], ids=["row-sum", "infinite"])
def test_pred_probs_csv_bad_row_is_named_by_its_csv_line_or_image(bad_row, tmp_path, capsys, recorded_fit):
    """A pred-probs CSV whose rows are in another order than INPUT's, with one bad row.

    Today: the error says "row 0 sums to 1.5" / "rows [0]": the position of the image in
    INPUT, after the CSV was reordered to it, which is neither the CSV's line (13 here,
    the CSV's last) nor anything the user can find in the file; the other CSV errors of
    --pred-probs name CSV lines. Expected: the message names the CSV line (13) or the
    image's path."""
    csv, paths, labels = _labels_csv(tmp_path)
    table = _probs_table(labels, paths)
    table.loc[0, CLASSES] = bad_row  # the first image of INPUT ...
    table.iloc[::-1].to_csv(tmp_path / "pred_probs.csv", index=False)  # ... on the CSV's last line
    status, err = _detect(csv, tmp_path / "pred_probs.csv", tmp_path, capsys)
    assert status == 2 and "--pred-probs" in err, err
    assert "line 13" in err or str(paths[0]) in err or "images/0.png" in err, err


def test_pred_probs_as_percentages_are_not_told_to_apply_a_softmax(tmp_path, capsys, recorded_fit):
    """A pred-probs CSV written as percentages (rows sum to 100: 80,20).

    Today: "must hold probabilities in [0, 1]; it holds [20, 80], which look like scores or
    logits: apply a softmax first". A softmax of percentages gives [1, 1e-26] rows that
    pass every check: following the advice silently feeds wrong probabilities to the
    detector. Expected: rows that sum to 100 are recognised as percentages and the
    message says to divide them by 100."""
    csv, paths, labels = _labels_csv(tmp_path)
    table = _probs_table(labels, paths)
    table[CLASSES] = table[CLASSES] * 100
    table.to_csv(tmp_path / "pred_probs.csv", index=False)
    status, err = _detect(csv, tmp_path / "pred_probs.csv", tmp_path, capsys)
    assert status == 2, err
    err = err.replace(str(tmp_path), "<tmp>")  # the test's name holds "percent"
    assert "percent" in err.lower() or "by 100" in err or "/ 100" in err, err


def test_pred_probs_npy_with_an_extra_column_gives_advice_the_command_line_can_follow(tmp_path, capsys,
                                                                                     recorded_fit):
    """A .npy with one column more than INPUT's classes (the user's model knows a third class).

    Today: "... where a function takes classes=, list there the classes that never occur in
    the labels" (check_pred_probs' Python advice, not worded as flags by ``as_flags``):
    ``detect`` has no classes= and no flag for it. Expected: advice that the command line
    can follow (e.g. drop the extra columns and renormalise), no Python parameter."""
    csv, paths, labels = _labels_csv(tmp_path)
    probs = _probs_table(labels, paths)[CLASSES].to_numpy() * 0.9
    np.save(tmp_path / "pred_probs.npy", np.hstack([probs, np.full((len(probs), 1), 0.1)]))
    status, err = _detect(csv, tmp_path / "pred_probs.npy", tmp_path, capsys)
    assert status == 2 and "3 columns but there are 2 classes" in err, err
    assert "classes=" not in err, err


def test_pred_probs_extra_class_advice_leads_to_an_accepted_file(tmp_path, capsys, recorded_fit):
    """A pred-probs CSV with a column for a class no image is labelled with ('bird'),
    which holds some probability (a model that knows more classes than INPUT uses).

    Today: refused with "Drop the columns of classes no image is labelled with"; the user
    drops it as told and is refused again ("rows must sum to 1; 12 rows do not"), since
    the dropped column held 10 % of each row. Expected: either the file with the column
    dropped is accepted (renormalised), or the first message says to renormalise the rows
    too (divide each by its sum)."""
    csv, paths, labels = _labels_csv(tmp_path)
    table = _probs_table(labels, paths)
    table[CLASSES] = table[CLASSES] * 0.9
    table["bird"] = 0.1
    table.to_csv(tmp_path / "pred_probs.csv", index=False)
    status, first = _detect(csv, tmp_path / "pred_probs.csv", tmp_path, capsys)
    assert status == 2 and "Drop the columns" in first, first
    table.drop(columns="bird").to_csv(tmp_path / "pred_probs.csv", index=False)  # as the message says
    status, second = _detect(csv, tmp_path / "pred_probs.csv", tmp_path, capsys)
    told_to_renormalise = "sum" in first or "renormalis" in first or "normaliz" in first
    assert status == "fit" or told_to_renormalise, f"first: {first}\nafter following it: {second}"


def test_pred_probs_csv_with_a_pandas_index_column_is_not_called_a_class(tmp_path, capsys, recorded_fit):
    """A pred-probs CSV written with pandas' default ``DataFrame.to_csv(path)``: a first,
    unnamed index column ('Unnamed: 0' when read back).

    Today: "not a class of INPUT: 'Unnamed: 0'. Drop the columns of classes no image is
    labelled with; in Python, find_label_issues(...) takes them": it calls the row index a
    class and points to the Python API. Expected: the index column is recognised (ignored,
    or the message says it is an index column and to write the CSV with index=False)."""
    csv, paths, labels = _labels_csv(tmp_path)
    _probs_table(labels, paths).to_csv(tmp_path / "pred_probs.csv")  # index=True, pandas' default
    status, err = _detect(csv, tmp_path / "pred_probs.csv", tmp_path, capsys)
    called_a_class = "not a class of INPUT: 'Unnamed: 0'" in err or "classes no image is labelled with" in err
    assert status == "fit" or (status == 2 and not called_a_class and "index" in err), err


@pytest.mark.parametrize("name, content", [("pred_probs.csv", b""), ("pred_probs.npz", None)])
def test_pred_probs_file_that_is_not_a_csv_is_named_by_the_flag(name, content, tmp_path, capsys, recorded_fit):
    """--pred-probs with an empty file or a NumPy .npz archive (np.savez, not np.save).

    Today: "Cannot read '.../pred_probs.npz' as a CSV of path,<one column per class>:
    'utf-8' codec can't decode byte ..." (or "No columns to parse from file"): every other
    error of this file names --pred-probs, this one does not, and the .npz one does not
    say that only .npy arrays (np.save) are read. Expected: the message names --pred-probs."""
    csv, paths, labels = _labels_csv(tmp_path)
    target = tmp_path / name
    if content is None:
        np.savez(target, _probs_table(labels, paths)[CLASSES].to_numpy())
    else:
        target.write_bytes(content)
    status, err = _detect(csv, target, tmp_path, capsys)
    assert status == 2 and "--pred-probs" in err, err


def test_skip_unreadable_does_not_need_pred_probs_rows_for_missing_images(tmp_path, capsys, recorded_fit):
    """A CSV INPUT listing one image that does not exist, run with --skip-unreadable and a
    pred-probs CSV of the images that exist (the user's model could not read the missing
    one either).

    Today: refused before any work: "--pred-probs ... has no row for 1 of INPUT's 13 images
    ('.../missing.png'); relative paths are read from the CSV's folder", although
    --skip-unreadable was asked for, the detector drops the rows of the skipped images
    anyway, and no probability can exist for a file that does not exist (the hint about
    relative paths misleads too). Expected: the run goes on; the missing image is skipped
    and listed in unreadable.csv, its (absent) row not required."""
    csv, paths, labels = _labels_csv(tmp_path)
    table = pd.read_csv(csv)
    pd.concat([table, pd.DataFrame({"path": ["images/missing.png"], "label": ["cat"]})]).to_csv(csv, index=False)
    _probs_table(labels, paths).to_csv(tmp_path / "pred_probs.csv", index=False)
    status, err = _detect(csv, tmp_path / "pred_probs.csv", tmp_path, capsys, "--skip-unreadable")
    assert status == "fit", err


# ----------------------------------------------------------------- apply on a CSV INPUT


def test_apply_keeps_the_group_column_of_a_csv_input(tmp_path, capsys):
    """``apply`` on the CSV of path,label,group that ``detect`` ran on (groups of near-copies).

    Today: the corrected CSV has the columns path,label only: the 'group' column is
    silently dropped, so the next ``detect`` on the corrected CSV (review.rst: "ready for
    skclip-noise detect") judges the near-copies one by one. Expected: INPUT's other
    columns are kept, row by row."""
    groups = [f"video{i // 3}" for i in range(12)]
    csv, _, _ = _labels_csv(tmp_path, extra={"group": groups})
    decisions = tmp_path / "decisions.csv"
    decisions.write_text("sample,given_label,decision,label\n1,dog,relabel,cat\n4,cat,drop,\n")
    out = tmp_path / "corrected.csv"
    status, err = cli_exit(["apply", str(csv), str(decisions), "--output", str(out), "--quiet"], capsys)
    assert status == 0, err
    corrected = pd.read_csv(out, dtype=str)
    assert "group" in corrected.columns, list(corrected.columns)
    assert corrected["group"].tolist() == [g for i, g in enumerate(groups) if i != 4]


def test_apply_unknown_sample_error_gives_advice_the_command_line_can_follow(tmp_path, capsys):
    """``apply`` with a decisions.csv naming a sample that is not in INPUT (another data set,
    or a path written as INPUT's CSV has it).

    Today: "no such sample among the 12 labels given; the decisions belong to another data
    set, or pass samples= (e.g. the image paths) to match them": ``apply`` has no samples=
    (the Python argument of apply_decisions) and no flag for it. Expected: advice in the
    command line's terms, no Python parameter."""
    csv, _, _ = _labels_csv(tmp_path)
    decisions = tmp_path / "decisions.csv"
    decisions.write_text("sample,given_label,decision,label\n99,cat,drop,\n")
    status, err = cli_exit(["apply", str(csv), str(decisions), "--output", str(tmp_path / "c.csv")], capsys)
    assert status == 2 and "line 2" in err, err
    assert "samples=" not in err, err
