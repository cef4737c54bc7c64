"""Regression tests from a bug hunt on CSV files as spreadsheets and other tools write
them (Excel on Windows, European locales, Google Sheets, hand edits), fed to every place
the library reads a CSV: ``detect INPUT.csv``, ``detect --pred-probs FILE.csv``,
``apply INPUT DECISIONS.csv`` and :func:`skclip_noise.apply_decisions`.

Each failing test says which line makes the promise, what a user does, what they see
today and what is right. Runs stop before the detector fits (``recorded_fit``), so nothing
is embedded; the images are a few random 32 px PNGs in ``tmp_path``.
"""

import zipfile

import numpy as np
import pandas as pd
import pytest

from conftest import StopFit, class_folders
from skclip_noise import apply_decisions, cli

FLAGS = ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none", "--device", "cpu", "--quiet"]
ROWS = [(f"{cls}/{i}.png", cls) for cls in ("cat", "dog") for i in range(3)]
HEADER = "sample,given_label,decision,label,path\n"
SEPARATOR_WORDS = ("separat", "delimit", "semicolon")  # "separated by ';'", "tab-separated", ...


@pytest.fixture
def photos(tmp_path):
    """``tmp_path/photos/{cat,dog}/{0,1,2}.png`` and a UTF-8 ``labels.csv`` of them beside."""
    root = class_folders(tmp_path / "photos", per_class=3)
    (root / "labels.csv").write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in ROWS))
    return root


def _run(argv, capsys):
    """(exit status, stderr) of the command; status "fit" when it got as far as fitting."""
    try:
        status = cli.main([str(arg) for arg in argv])
    except StopFit:
        return "fit", capsys.readouterr().err
    except SystemExit as exc:  # argparse
        status = exc.code
    return status, capsys.readouterr().err


def _said(text, tmp_path):
    """``text`` lower-cased without the temporary folder, whose name holds the test's name."""
    return text.replace(str(tmp_path), "<tmp>").lower()


def _detect(csv, tmp_path, capsys, *extra):
    return _run(["detect", csv, "--output-dir", tmp_path / "out", *extra, *FLAGS], capsys)


def _probs_text(sep=",", header=("path", "cat", "dog"), decimal="."):
    rows = [sep.join([p, *(f"{v:.1f}".replace(".", decimal) for v in ((0.8, 0.2) if c == "cat" else (0.3, 0.7)))])
            for p, c in ROWS]
    return sep.join(header) + "\n" + "\n".join(rows) + "\n"


# ----------------------------------------------------------------- what Excel saves, read right


def test_excel_csv_utf8_with_bom_crlf_and_quotes_is_read_by_every_reader(photos, tmp_path, capsys, recorded_fit):
    """Passing pin: Excel's "CSV UTF-8" (a BOM, then quoted cells, CRLF line ends) is what
    Windows users send, and a reader that does not strip the BOM names the first column
    '\\ufeff"path"' and reports it missing (_cli_inputs.py:217 decodes the header with
    utf-8-sig for this). detect INPUT, --pred-probs and apply's decisions read such files
    exactly as their plain UTF-8 twins."""
    def excel(text):
        lines = [",".join(f'"{cell}"' for cell in line.split(",")) for line in text.splitlines()]
        return b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n"

    (photos / "labels.csv").write_bytes(excel("path,label\n" + "".join(f"{p},{c}\n" for p, c in ROWS)))
    (photos / "probs.csv").write_bytes(excel(_probs_text()))
    status, err = _detect(photos / "labels.csv", tmp_path, capsys, "--pred-probs", photos / "probs.csv")
    assert status == "fit", err
    assert recorded_fit["y"] == [c for _, c in ROWS]
    (photos / "decisions.csv").write_bytes(excel(HEADER + "1,cat,relabel,dog,cat/1.png\n3,dog,drop,,dog/0.png\n"))
    status, err = _run(["apply", photos / "labels.csv", photos / "decisions.csv", "--output", tmp_path / "o.csv"],
                       capsys)
    assert status == 0, err


# ----------------------------------------------------------------- encodings and workbooks


def test_detect_csv_saved_by_excel_in_windows_1252_does_not_fit_on_surrogate_labels(photos, tmp_path, capsys,
                                                                                      recorded_fit):
    """skclip_noise/_cli_inputs.py:210-214 (cells read with ``encoding_errors=
    "surrogateescape"`` so that non-UTF-8 *file names* come back as their bytes) and
    test_cli_reruns.py's docstring ("a CSV saved by Excel in Windows-1252 with a label
    ``café`` fails"). Excel's plain "CSV (Comma delimited)" on Windows writes Windows-1252:
    a user's labels.csv has the label ``café``. Today the label reaches the detector as
    ``'caf\\udce9'``; a real run embeds every image and then dies building
    ``label_issues_`` (base/contract.py) with "'utf-8' codec can't encode character
    '\\udce9' in position 3: surrogates not allowed": no file named, no fix, after all the
    expensive work. Right: labels that are not UTF-8 are decoded (Windows-1252, giving
    ``café``) or refused before any work, naming the CSV and "save it as CSV UTF-8"."""
    text = "path,label\n" + "".join(f"{p},{'café' if c == 'cat' else c}\n" for p, c in ROWS)
    (photos / "labels.csv").write_bytes(text.encode("cp1252"))
    status, err = _detect(photos / "labels.csv", tmp_path, capsys)
    if status == "fit":
        assert set(recorded_fit["y"]) == {"café", "dog"}, f"labels read as {sorted(set(recorded_fit['y']))!r}"
    else:
        assert status == 2 and "labels.csv" in err and "surrogates" not in err, err


def test_detect_on_an_excel_workbook_names_the_file(photos, tmp_path, capsys, recorded_fit):
    """skclip_noise/_cli_inputs.py:215 catches ``UnicodeDecodeError`` but not the
    ``UnicodeEncodeError`` pandas raises when the header row holds non-UTF-8 bytes (the
    surrogate escapes cannot become Arrow column names); the CLI convention (cf.
    test_cli_reruns.py's UTF-16 test) is one line naming the file and the fix. A user keeps
    the labels in Excel and runs ``skclip-noise detect labels.xlsx`` (an .xlsx is a zip).
    Today: "skclip-noise detect: error: 'utf-8' codec can't encode characters in position
    ...: surrogates not allowed": no file named, nothing about a workbook. Right: exit 2
    naming labels.xlsx and saying to save it as CSV (a Windows-1252 header cell such as
    ``légende`` takes the same path and deserves the same naming)."""
    with zipfile.ZipFile(photos / "labels.xlsx", "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>" * 50)
        book.writestr("xl/workbook.xml", "<workbook/>" * 100)
    status, err = _detect(photos / "labels.xlsx", tmp_path, capsys)
    assert status == 2 and "labels.xlsx" in err and "surrogates not allowed" not in err, err


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_decisions_csv_re_saved_in_another_encoding_gets_a_clear_error(encoding, tmp_path):
    """skclip_noise/decisions.py:104-107 (``pd.read_csv`` without the encoding checks that
    _cli_inputs.py:207-208 gives INPUT: "is saved as UTF-16 or UTF-32; save it as UTF-8
    ("CSV UTF-8")"). A person opens decisions.csv in Excel, fixes a label and saves it as
    "Unicode Text" (UTF-16) or plain "CSV" (Windows-1252, with the class ``café``). Today:
    "Cannot read ... as a decisions CSV: 'utf-8' codec can't decode byte 0xff in position
    0: invalid start byte" (0xe9 "in position 3" for Windows-1252, a position in pandas'
    buffer, not the file): the file is named but neither the cause nor the fix. Right: the
    file is read (Windows-1252 is unambiguous here), or the message says which encoding it
    is in and to save it as CSV UTF-8, as INPUT's does."""
    y = ["café", "dog", "café", "dog"]
    path = tmp_path / "decisions.csv"
    path.write_bytes("sample,given_label,decision,label\n1,dog,relabel,café\n3,dog,drop,\n".encode(encoding))
    try:
        labels, keep = apply_decisions(y, str(path))
    except ValueError as exc:
        message = _said(str(exc), tmp_path)
        assert "save" in message and "utf-8" in message, str(exc)
    else:
        assert list(labels) == ["café", "café", "café", "dog"] and keep.tolist() == [True, True, True, False]


# ----------------------------------------------------------------- separators and numbers


@pytest.mark.parametrize("reader, sep", [("input", ";"), ("input", "\t"), ("pred_probs", ";"), ("decisions", ";")])
def test_semicolon_or_tab_separated_csv_is_read_or_named(reader, sep, photos, tmp_path, capsys, recorded_fit):
    """skclip_noise/_cli_inputs.py:200-221 and decisions.py:105 read every CSV with
    pandas' default ``sep=","``. Excel in a European locale (de, fr, nl, ...) saves "CSV"
    with ``;`` between cells, and a file exported as "Text (Tab delimited)" and named .csv
    holds tabs; a header ``path;label`` is unambiguous. Today each reader reports one
    column named ``'path;label'`` and that 'path' and 'label' are missing ("needs columns
    'path' and 'label' (a header row); it lacks [...]"; "needs a 'path' column"; "needs
    the columns [...] (the report's export)"), without saying that the file is separated
    by another character or what to do. Right: the separator is recognised from the
    header and the file read, or the message says it is separated by ';' (or tabs) and
    to save it comma-separated."""
    labels, argv = photos / "labels.csv", None
    if reader == "input":
        labels.write_text("path,label\n".replace(",", sep) + "".join(f"{p}{sep}{c}\n" for p, c in ROWS))
        argv = ["detect", labels, "--output-dir", tmp_path / "out", *FLAGS]
    elif reader == "pred_probs":
        (photos / "probs.csv").write_text(_probs_text(sep=sep))
        argv = ["detect", labels, "--pred-probs", photos / "probs.csv", "--output-dir", tmp_path / "out", *FLAGS]
    else:
        (photos / "decisions.csv").write_text((HEADER + "1,cat,relabel,dog,cat/1.png\n").replace(",", sep))
        argv = ["apply", labels, photos / "decisions.csv", "--output", tmp_path / "o.csv"]
    status, err = _run(argv, capsys)
    assert status in ("fit", 0) or (status == 2 and any(word in _said(err, tmp_path) for word in SEPARATOR_WORDS)), err


def test_pred_probs_with_decimal_commas_names_the_cell(photos, tmp_path, capsys, recorded_fit):
    """skclip_noise/_cli_inputs.py:183-184 ("the class columns must hold numbers only").
    A pred-probs CSV written in a locale with decimal commas keeps the commas by quoting
    the numbers (``cat/0.png,"0,8","0,2"``), as Excel and LibreOffice do. Today: "--pred-probs
    '...': the class columns must hold numbers only.", naming no column, line or value, and
    the numbers look right in a spreadsheet. Right: ``"0,8"`` read as 0.8 (a decimal comma
    is unambiguous here), or the message names the first such cell ('0,8', its line and
    column) and says to write numbers with a decimal point."""
    rows = [f'{p},"{"0,8" if c == "cat" else "0,3"}","{"0,2" if c == "cat" else "0,7"}"' for p, c in ROWS]
    (photos / "probs.csv").write_text("path,cat,dog\n" + "\n".join(rows) + "\n")
    status, err = _detect(photos / "labels.csv", tmp_path, capsys, "--pred-probs", photos / "probs.csv")
    assert status == "fit" or (status == 2 and ("0,8" in err or "decimal" in _said(err, tmp_path))), err


@pytest.mark.parametrize("header, labels", [(("path", " cat", " dog"), ("cat", "dog")),  # "path, cat, dog" typed
                                            (("path", "7", "12"), ("007", "012"))])  # zeros a spreadsheet dropped
def test_pred_probs_header_spelling_the_classes_differently_is_not_advised_away(header, labels, photos, tmp_path,
                                                                                capsys, recorded_fit):
    """skclip_noise/_cli_inputs.py:150-162: header cells that are no class get the advice
    "Drop the columns of classes no image is labelled with and divide each row by its new
    sum". A user's pred-probs header is INPUT's classes written differently: typed as
    ``path, cat, dog`` (spaces after the commas), or classes ``007``/``012`` whose header
    Excel turned into the numbers 7 and 12. Today: "missing 'cat', 'dog'; not a class of
    INPUT: ' cat', ' dog'. Drop the columns of classes no image is labelled with and
    divide each row by its new sum": following it deletes every class column. Right:
    surrounding spaces ignored (unambiguous), and a column that is a class with its
    leading zeros dropped named as such, never advised to be dropped."""
    names = dict(zip(("cat", "dog"), labels))
    (photos / "labels.csv").write_text("path,label\n" + "".join(f"{p},{names[c]}\n" for p, c in ROWS))
    (photos / "probs.csv").write_text(_probs_text(header=header))
    status, err = _detect(photos / "labels.csv", tmp_path, capsys, "--pred-probs", photos / "probs.csv")
    assert status == "fit" or (status == 2 and "Drop the columns" not in err), err


# ----------------------------------------------------------------- empty cells Excel leaves behind


@pytest.mark.parametrize("reader", ["input", "pred_probs"])
def test_trailing_empty_columns_excel_writes_are_ignored(reader, photos, tmp_path, capsys, recorded_fit):
    """skclip_noise/_cli_inputs.py:217-220 (a header that repeats a name is refused) and
    :144-148 (a column without a header is taken for pandas' index). Excel writes empty
    trailing cells on every line (``path,label,,``) once a cell to the right was touched
    and cleared. Today INPUT with two such columns is refused with "repeats the column(s)
    [''] in its header; keep one of each" (a column the user cannot see), and a pred-probs
    CSV with one is refused with "has a column without a header ('Unnamed: 3'), such as
    pandas writes for its index: write the CSV with to_csv(..., index=False)" (it was not
    written by pandas). Right: columns with neither a header nor a value are ignored (or
    the message says they are empty and to delete them)."""
    if reader == "input":
        (photos / "labels.csv").write_text("path,label,,\n" + "".join(f"{p},{c},,\n" for p, c in ROWS))
        extra = ()
    else:
        lines = _probs_text().splitlines()
        (photos / "probs.csv").write_text("".join(line + ",\n" for line in lines))
        extra = ("--pred-probs", photos / "probs.csv")
    status, err = _detect(photos / "labels.csv", tmp_path, capsys, *extra)
    assert status == "fit" or (status == 2 and "empty" in _said(err, tmp_path)), err


def test_apply_with_an_empty_row_excel_left_in_decisions_names_it(photos, tmp_path, capsys):
    """skclip_noise/cli.py:428 (``by_path``: every ``sample`` a number) and decisions.py:287
    (match by path only when every ``path`` cell is filled); ``read_decisions`` keeps a row
    whose cells are all empty. A person opens decisions.csv in Excel, deletes a row's
    contents (or the sheet's used range runs past the data) and saves: the file ends with
    ``,,,,``. Today ``apply`` exits 2 with "'decisions.csv' line 2 (sample '1'): no such
    sample among the 6 labels given; the decisions belong to another data set: pass the
    INPUT the report was made on": a valid line blamed, the wrong cause, and a fix that
    does not help (the empty row switched the matching from paths to sample ids). Right:
    rows with every cell empty are skipped (the two decisions applied), or the message
    names line 4 as empty."""
    (photos / "decisions.csv").write_text(HEADER + "1,cat,relabel,dog,cat/1.png\n3,dog,drop,,dog/0.png\n,,,,\n")
    status, err = _run(["apply", photos / "labels.csv", photos / "decisions.csv", "--output", tmp_path / "o.csv"],
                       capsys)
    assert status == 0 or (status == 2 and "line 4" in err and "empty" in _said(err, tmp_path)), err
    if status == 0:
        written = (tmp_path / "o.csv").read_text()
        assert "cat/1.png,dog" in written and "dog/0.png" not in written, written


def test_decisions_label_whose_leading_zeros_a_spreadsheet_dropped_is_named_as_such(tmp_path):
    """skclip_noise/decisions.py:67 (cells read as text so "07" and "7" stay apart) and
    :196-200. Labels ``007`` and ``012``; a person opens decisions.csv in Excel, which shows
    and saves them as 7 and 12. Today the file is refused (right) with "its given label is
    '12' in the file but '012' in y; the decisions were made on other labels": the wrong
    cause; the person looks for another review. Right: when the file's label is y's with
    its leading zeros dropped, the message says so (a spreadsheet read the labels as
    numbers: re-export, or import the columns as text)."""
    path = tmp_path / "decisions.csv"
    path.write_text("sample,given_label,decision,label\n2,12,relabel,7\n")
    with pytest.raises(ValueError) as error:
        apply_decisions(np.array(["007", "007", "012"], dtype=object), str(path))
    assert "zero" in _said(str(error.value), tmp_path), str(error.value)


# ----------------------------------------------------------------- Windows paths on Linux


@pytest.mark.parametrize("style", ["relative", "drive"])
def test_detect_csv_with_windows_paths_is_read_or_named(style, photos, tmp_path, capsys, recorded_fit):
    """skclip_noise/_cli_inputs.py:224-226 joins every path that is not absolute *here*
    to the CSV's folder; detect's help (cli.py:110) "relative paths are read from the
    CSV's folder". A labels.csv made on Windows holds ``cat\\0.png`` (the files are
    ``cat/0.png`` beside it) or ``C:\\data\\photos\\cat\\0.png``. Today: "6 of 6 image
    files do not exist: /tmp/.../photos/cat\\0.png, ... Fix the paths (relative ones are
    read from the CSV's folder)" and, for a drive path, ".../photos/C:\\data\\photos\\cat\\0.png":
    an absolute Windows path treated as relative, the backslashes never mentioned. Right:
    a relative path with backslashes whose forward-slash form exists is read as that file
    (unambiguous where no file has the backslash in its name), and a path that stays
    missing is named as a Windows path (backslashes, drive letter)."""
    prefix = "" if style == "relative" else "C:\\data\\photos\\"
    (photos / "labels.csv").write_text("path,label\n" + "".join(f"{prefix}{p.replace('/', chr(92))},{c}\n"
                                                               for p, c in ROWS))
    status, err = _detect(photos / "labels.csv", tmp_path, capsys)
    if status == "fit":
        assert style == "relative" and recorded_fit["X"] == [str(photos / p) for p, _ in ROWS], recorded_fit["X"]
    else:
        assert status == 2 and any(word in _said(err, tmp_path) for word in ("backslash", "windows", "drive")), err


def test_apply_decisions_exported_on_windows_name_their_image_on_linux():
    """skclip_noise/decisions.py (``_path_parts``: a path is split at ``/`` and ``\\``, a
    drive letter dropped). ``detect`` ran on Windows, so the report exported
    ``C:\\Users\\me\\photos\\dog\\1.png``; the folder is copied to a Linux server and
    ``apply_decisions(..., paths=)`` runs there. The path was one part, so the message said
    only "not among the 4 images given". A moved folder is not guessed (an image deleted
    since the report can have a namesake in another folder, which would then be dropped or
    relabelled), but the message names the file the decision may mean and the fix."""
    y = ["cat", "dog", "cat", "dog"]
    paths = [f"/srv/photos/{label}/{i}.png" for i, label in enumerate(y)]
    decisions = pd.DataFrame({"sample": ["1"], "given_label": ["dog"], "decision": ["relabel"], "label": ["cat"],
                              "path": ["C:\\Users\\me\\photos\\dog\\1.png"]})
    with pytest.raises(ValueError, match=r"INPUT has '/srv/photos/dog/1.png': if its folder was moved, write the new "
                                         r"folder into the path column"):
        apply_decisions(y, decisions, paths=paths)
