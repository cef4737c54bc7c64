"""Regression tests from a bug hunt on runs that follow each other, as a user iterating on
a data set makes them: ``skclip-noise detect`` run again into the same ``--output-dir``
(or into INPUT itself), ``apply`` run on what ``detect`` and ``apply`` wrote, and the
CSVs a user feeds back in.

Each test says what a user sees today and what they should see. Runs use the tiny random
CLIP on a few 32 px images written in ``tmp_path``, or stop before any embedding.
"""

import os

import pandas as pd
import pytest

from conftest import StopFit, class_folders, cli_exit, image_files, rename_to_latin1
from skclip_noise import cli

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.filterwarnings("ignore::UserWarning")]  # random features: the detectors' advice

TINY = ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none", "--device", "cpu",
        "--n-neighbors", "2", "--cv", "2", "--quiet"]


def _decisions(path, *rows):
    path.write_text("sample,given_label,decision,label\n" + "".join(",".join(row) + "\n" for row in rows))
    return path


# ------------------------------------------------------------ detect run again into one folder


def test_failed_rerun_leaves_no_report_of_the_previous_run_beside_new_label_issues(tmp_path, capsys, monkeypatch):
    """skclip_noise/cli.py:110 (``--output-dir``: "where label_issues.csv and report.html
    go") and cli.py:254-261 (the pair written by one run). A user runs ``detect`` on
    folder A (cat, dog) into ``review/``, then on folder B (ant, bee) into the same
    ``review/``; the second run fails while writing the report (simulated: the disk is
    full, ``OSError`` ENOSPC, exit 2). Today ``review/`` holds B's ``label_issues.csv``
    (cli.py:256 writes it first, in place) next to A's ``report.html`` (cat and dog
    cards): two files that look like one complete run, and decisions exported from that
    page name A's samples by position, which ``apply`` then puts on B's images. Right: a
    failed run never leaves one run's ``label_issues.csv`` beside another run's
    ``report.html`` (write both to temporary names and rename them together, or remove
    the previous run's pair before writing)."""
    out = tmp_path / "review"
    first = class_folders(tmp_path / "A", classes=("cat", "dog"), per_class=4)
    status, err = cli_exit(["detect", str(first), "--output-dir", str(out), *TINY], capsys)
    assert status == 0, err

    import skclip_noise.report

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(skclip_noise.report, "label_issues_html", disk_full)
    second = class_folders(tmp_path / "B", classes=("ant", "bee"), per_class=4)
    status, err = cli_exit(["detect", str(second), "--output-dir", str(out), *TINY], capsys)
    assert status == 2, err

    issues = (set(pd.read_csv(out / "label_issues.csv")["given_label"])
              if (out / "label_issues.csv").exists() else None)
    page = (out / "report.html").read_text(encoding="utf-8") if (out / "report.html").exists() else ""
    assert not (issues == {"ant", "bee"} and 'value="cat"' in page), (
        "review/ holds the second run's label_issues.csv (ant, bee) beside the first run's report.html (cat, dog)"
    )


def test_output_dir_equal_to_input_folder_is_not_read_back_as_classes(tmp_path, capsys, monkeypatch):
    """skclip_noise/_cli_inputs.py:32-35 (an earlier run's output "whose thumbnails would be
    read as a class" is left out, "so detect and apply list the same images"),
    docs/user_guide/review.rst:124-127 (``apply`` writes "a path,label CSV of the kept
    images ... ready for skclip-noise detect") and review.rst:134-137 (above 1,000 cards
    the thumbnails are PNG files in ``report_thumbnails/`` beside the page). A user keeps
    the review with the data: ``skclip-noise detect photos --output-dir photos`` on a
    crawl whose report has more than 1,000 cards (simulated by lowering the inline
    limit), then ``skclip-noise apply photos decisions.csv``. The run wrote
    ``photos/report_thumbnails/*.png`` and ``photos/embeddings/``. Today ``apply`` lists
    the thumbnails as images of a class 'report_thumbnails' and writes them into
    ``corrected_labels.csv`` (the next ``detect`` reads them as a class too, and warns that
    the "class subfolder" embeddings holds no image): only a report folder *below* INPUT
    is recognised, not INPUT holding the report itself. Right: the corrected CSV lists the
    12 images of cat and dog only."""
    import skclip_noise.report._thumbnails as thumbnails

    monkeypatch.setattr(thumbnails, "INLINE_THUMBNAIL_LIMIT", 0)  # as a report of more than 1,000 cards
    root = class_folders(tmp_path / "photos")
    status, err = cli_exit(["detect", str(root), "--output-dir", str(root), "--detector", "neighbour",
                            *TINY[:TINY.index("--cv")], "--quiet"], capsys)
    assert status == 0, err
    assert any((root / "report_thumbnails").glob("*.png")), "the premise: the report wrote thumbnail files"

    decisions = _decisions(tmp_path / "decisions.csv", ("7", "dog", "relabel", "cat"))
    status, err = cli_exit(["apply", str(root), str(decisions), "--quiet"], capsys)
    assert status == 0, err
    corrected = pd.read_csv(tmp_path / "corrected_labels.csv")
    assert set(corrected["label"]) == {"cat", "dog"}, corrected["label"].value_counts().to_dict()
    assert len(corrected) == 12


def test_output_dir_check_comes_before_reading_every_image(tmp_path, capsys, monkeypatch):
    """skclip_noise/_cli_inputs.py:219 (``check_output_dir``: "check that files can be
    written there, before any work") and the command line's convention that bad input is
    refused before expensive work. ``--output-dir`` names an existing file (a typo for the
    folder beside it). Today ``detect`` first opens and checks every image of INPUT
    (``check_images_readable``, cli.py:363: PIL's ``verify()`` on each file, a full decode
    of some JPEGs; minutes on a crawl of 100,000 photos on a network share), and only then
    says the output folder is a file. Right: the one-line error naming --output-dir comes
    before any image is opened (it is a stat of one path)."""
    import skclip_noise.data.decoding as decoding

    opened = []
    check = decoding.quick_check_image_file
    monkeypatch.setattr(decoding, "quick_check_image_file", lambda path: opened.append(path) or check(path))
    root = class_folders(tmp_path / "photos")
    not_a_folder = tmp_path / "review"
    not_a_folder.write_text("notes")
    status, err = cli_exit(["detect", str(root), "--output-dir", str(not_a_folder), *TINY], capsys)
    assert status == 2 and "--output-dir" in err, err
    assert opened == [], f"{len(opened)} image files were opened and checked before the --output-dir error"


# ------------------------------------------------------------ apply, run after detect and apply


def test_apply_does_not_overwrite_the_decisions_file(tmp_path, capsys):
    """skclip_noise/cli.py:409-413 (``apply`` refuses to write over INPUT: "INPUT is never
    modified") and the convention that user data is never modified. ``decisions.csv`` is
    the only record of a review (hours of clicking; the browser's copy is lost with its
    profile). A user types ``skclip-noise apply photos decisions.csv --output
    decisions.csv`` (meaning "write it there"). Today the corrected ``path,label`` CSV
    replaces the decisions, with exit 0 and "Wrote decisions.csv". Right: refused as INPUT
    is, exit 2 with one line naming --output, the decisions left as they were."""
    root = class_folders(tmp_path / "photos")
    decisions = _decisions(tmp_path / "decisions.csv", ("0", "cat", "drop", ""), ("7", "dog", "relabel", "cat"))
    before = decisions.read_bytes()
    status, err = cli_exit(["apply", str(root), str(decisions), "--output", str(decisions)], capsys)
    assert decisions.read_bytes() == before, "the review's decisions.csv was overwritten by the corrected CSV"
    assert status == 2 and "--output" in err, err


def test_apply_refuses_decisions_of_an_older_listing_of_the_folder(tmp_path, capsys):
    """docs/user_guide/review.rst ("It refuses a file that does not belong to the labels it
    is given") and review.rst's decisions "keyed by the report's samples". A user reviews
    the report of ``photos/`` and decides to drop ``cat/3.png`` (sample 3), then, before
    applying, adds a new photo ``cat/10.png`` to the folder (or applies the same decisions
    again to the ``corrected_labels.csv`` a first ``apply`` wrote, one image shorter).
    ``apply`` matched samples by position only: sample 3 is now ``cat/2.png``, whose label
    is also 'cat', so ``cat/2.png`` was silently dropped and ``cat/3.png`` kept, exit 0.
    The report's export now names each image's file (``path``, as the page writes it), and
    the decision reaches ``cat/3.png``."""
    root = class_folders(tmp_path / "photos")
    decisions = tmp_path / "decisions.csv"
    decisions.write_text(f"sample,given_label,decision,label,path\n3,cat,drop,,{root / 'cat' / '3.png'}\n")
    image_files(tmp_path / "new", 1, seed=7)[0].rename(root / "cat" / "10.png")  # a photo added after the report
    status, err = cli_exit(["apply", str(root), str(decisions), "--quiet"], capsys)
    assert status == 0, err
    kept = {os.path.relpath(path, root) for path in pd.read_csv(tmp_path / "corrected_labels.csv")["path"]}
    assert os.path.join("cat", "2.png") in kept, "cat/2.png, which nobody decided on, was dropped"
    assert os.path.join("cat", "3.png") not in kept, "cat/3.png, the image decided on, was kept"


def test_apply_on_a_folder_with_a_non_utf8_file_name(tmp_path, capsys):
    """skclip_noise/cli.py:255 ("a file name that is not UTF-8 is written as its own bytes
    (read back by detect and apply)") and docs/user_guide/review.rst:124-127 (``apply``
    runs on "the image folder ... that detect ran on"). A class folder holds
    ``caf\\xe9.png``, a Latin-1 name (from an old Windows share): ``detect`` on it
    succeeds (tests/test_image_files_variety.py). The review done, ``skclip-noise apply
    photos decisions.csv`` today exits 2 with "'utf-8' codec can't encode character
    '\\udce9' in position ..: surrogates not allowed" (cli.py:414 builds the output table
    with pandas' Arrow strings, which refuse the name's escape; detect's own writer uses
    object dtype for this, cli.py:252-253), naming neither the file nor a fix: the round
    trip detect -> review -> apply stops at its last step. Right: the corrected CSV is
    written, the file's name as its own bytes."""
    root = class_folders(tmp_path / "photos", per_class=4)
    rename_to_latin1(root / "cat" / "0.png")
    decisions = _decisions(tmp_path / "decisions.csv", ("5", "dog", "relabel", "cat"))
    status, err = cli_exit(["apply", str(root), str(decisions), "--quiet"], capsys)
    assert status == 0, err
    assert b"caf\xe9.png" in (tmp_path / "corrected_labels.csv").read_bytes()


# ------------------------------------------------------------ CSVs fed back to detect


def test_detect_reads_back_a_csv_holding_a_non_utf8_file_name(tmp_path, capsys, recorded_fit):
    """skclip_noise/cli.py:255 ("a file name that is not UTF-8 is written as its own bytes
    (read back by detect and apply)") and _cli_inputs.py:199 ("file names that are not
    UTF-8 (written by detect, see cli.py) come back as the same bytes"). A CSV of
    path,label whose first path is ``cat/caf\\xe9.png`` in Latin-1 bytes, as detect writes
    it into label_issues.csv (the file exists). Today ``detect labels.csv`` exits 2 with
    "'utf-8' codec can't encode character '\\udce9' in position 7: surrogates not allowed"
    from ``pd.read_csv(..., dtype=str)`` (Arrow strings refuse the escape), naming neither
    the CSV nor a fix; a CSV saved by Excel in Windows-1252 with a label ``café`` fails the
    same way. Right: the CSV is read, the path as its own bytes, and the run goes on to
    the fit."""
    root = class_folders(tmp_path / "photos", per_class=4)
    odd = rename_to_latin1(root / "cat" / "0.png")
    rows = b"".join(f"{cls}/{i}.png,{cls}\n".encode() for cls in ("cat", "dog") for i in range(1, 4))
    (root / "labels.csv").write_bytes(b"path,label\ncat/caf\xe9.png,cat\n" + rows + b"dog/0.png,dog\n")
    try:
        status = cli.main(["detect", str(root / "labels.csv"), "--output-dir", str(tmp_path / "out"), *TINY])
    except StopFit:
        status = None
    assert status is None, f"detect stopped before the fit: {capsys.readouterr().err}"
    assert odd in recorded_fit["X"]


def test_detect_csv_saved_as_utf16_gets_a_clear_error(tmp_path, capsys):
    """The command line's convention: bad input gets one line that names the problem and
    the fix (docs/user_guide/data.rst and ``detect --help``: INPUT is "a CSV file with
    'path' and 'label' columns"). A labels CSV saved by Excel or Notepad as "Unicode"
    (UTF-16 with a byte-order mark). Today: "skclip-noise detect: error: 'utf-8' codec
    can't encode characters in position 0-1: surrogates not allowed": no file named, no
    hint that the CSV must be UTF-8 text. Right: exit 2 naming the CSV and what to do
    (e.g. save it as UTF-8), or the file read."""
    root = class_folders(tmp_path / "photos", per_class=4)
    text = "path,label\n" + "".join(f"{cls}/{i}.png,{cls}\n" for cls in ("cat", "dog") for i in range(4))
    (root / "labels.csv").write_bytes(text.encode("utf-16"))
    status, err = cli_exit(["detect", str(root / "labels.csv"), "--output-dir", str(tmp_path / "out"), *TINY],
                           capsys)
    if status == 0:
        return  # read as UTF-16
    assert status == 2, err
    assert "labels.csv" in err and "surrogates not allowed" not in err, err


def test_detect_refuses_a_csv_with_two_label_columns(tmp_path, capsys, recorded_fit):
    """skclip_noise/cli.py:101-104 (``detect``: "a CSV file with 'path' and 'label'
    columns") and the convention that bad input is refused with a clear error before any
    work. A CSV merged from two annotation rounds has the header ``path,label,label`` (the
    second column the re-annotation, disagreeing on every row). Today pandas renames the
    second column ``label.1`` and ``detect`` silently judges the first one: which labels
    were checked is decided by column order, without a word. Right: exit 2 naming the
    repeated column 'label' (keep one, rename the other)."""
    root = class_folders(tmp_path / "photos", per_class=4)
    other = {"cat": "dog", "dog": "cat"}
    rows = "".join(f"{cls}/{i}.png,{cls},{other[cls]}\n" for cls in ("cat", "dog") for i in range(4))
    (root / "labels.csv").write_text("path,label,label\n" + rows)
    try:
        status = cli.main(["detect", str(root / "labels.csv"), "--output-dir", str(tmp_path / "out"), *TINY])
    except StopFit:
        pytest.fail(f"detect went on to fit on the first of two 'label' columns without a word "
                    f"(labels {sorted(set(recorded_fit['y']))} of the first column)")
    err = capsys.readouterr().err
    assert status == 2 and "label" in err, err
