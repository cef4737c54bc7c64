"""Regression tests from a bug hunt on image folders as users have them: the command
line's ``detect`` / ``apply`` on class-subfolder folders, and
``skclip_noise.datasets.load_image_folder`` / ``make_image_folder``.

Each test says what a user sees today and what they should see. Every run uses a few
tiny images written in ``tmp_path``; the detector is either replaced by a recorder (the
folder-reading tests) or fails on its input checks before any embedding.
"""

import os
import warnings

import numpy as np
import pytest

from conftest import StopFit, class_folders, cli_exit, image_files
from skclip_noise import cli
from skclip_noise.datasets import load_image_folder, make_image_folder

TINY_FLAGS = ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none", "--device", "cpu", "--quiet"]


# ------------------------------------------------------------ the output folder inside INPUT


def test_detect_does_not_read_its_own_output_folder_as_a_class(tmp_path, capsys, recorded_fit, monkeypatch):
    """``cd photos && skclip-noise detect .`` puts the default output folder,
    ``skclip-noise-report``, inside the image folder. A previous run whose report had
    more than 1,000 cards left its thumbnails there as PNG files
    (``skclip-noise-report/report_thumbnails/*.png``, see the user guide, "Thousands of
    suspects"). Today the next run reads that output folder as a class: its thumbnails
    become images labelled 'skclip-noise-report' (and with no thumbnails the run warns
    that the "class subfolder" skclip-noise-report holds no image). Right: the command's
    own --output-dir (and --cache-dir) is never a class of INPUT (left out, or refused
    with exit 2 naming --output-dir)."""
    root = class_folders(tmp_path / "photos")
    image_files(root / "skclip-noise-report" / "report_thumbnails", 3, seed=9)  # a previous run's thumbnails
    monkeypatch.chdir(root)
    with pytest.raises(StopFit):
        cli.main(["detect", ".", *TINY_FLAGS])
    assert set(recorded_fit["y"]) == {"cat", "dog"}, sorted(set(recorded_fit["y"]))
    assert len(recorded_fit["X"]) == 12


# ------------------------------------------------------------ advice in the command's words


def test_detect_on_a_small_folder_names_the_cv_flag(tmp_path, capsys):
    """A first try on a small folder (4 images per class) with the default consensus
    detector. Today: 'skclip-noise detect: error: cv=5 folds need at least 5 samples of
    some class; the largest has 4. Lower cv.' -- Python's parameter name, which no flag
    takes. Right: the advice as the flag, 'Lower --cv' (as the CLI already rewrites 'Lower
    cv or use cv=None' into 'Lower --cv or leave it out')."""
    root = class_folders(tmp_path / "photos", per_class=4)
    status, err = cli_exit(["detect", str(root), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS], capsys)
    assert status == 2, err
    assert "--cv" in err and "Lower cv" not in err, err


def test_detect_skip_unreadable_class_error_points_to_unreadable_csv(tmp_path, capsys):
    """``--skip-unreadable`` on a folder where every file of one class is broken (a class
    of text files named .png / .jpg). Today the run exits 2 with 'Every image of class
    'fish' is unreadable ... the unreadable files are listed in unreadable_.' --
    ``unreadable_`` is a Python attribute the command-line user never sees. Right: name
    the file the command wrote, <output-dir>/unreadable.csv (it is written)."""
    root = class_folders(tmp_path / "photos")
    (root / "fish").mkdir()
    for name in ("a.png", "b.jpg", "c.png", "d.jpg", "e.png", "f.jpg"):
        (root / "fish" / name).write_text("not an image")
    out = tmp_path / "out"
    status, err = cli_exit(["detect", str(root), "--output-dir", str(out), "--skip-unreadable", "--cv", "2",
                         *TINY_FLAGS], capsys)
    assert status == 2, err
    assert (out / "unreadable.csv").is_file()
    assert "listed in unreadable.csv" in err and "listed in unreadable_" not in err, err


def test_detect_broken_link_in_a_folder_is_not_blamed_on_a_csv(tmp_path, capsys, recorded_fit):
    """A class folder holding a dangling symbolic link (``dog/7.png`` -> a file that was
    moved away). Today: '1 of 13 image files do not exist: .../dog/7.png. Fix the paths
    (relative ones are read from the CSV's folder) and run again ...' -- INPUT is a folder,
    not a CSV, and there is no path to fix. Right: a message about the folder's file (a
    broken link, or a missing file), without advice about a CSV."""
    root = class_folders(tmp_path / "photos")
    os.symlink(tmp_path / "moved-away.png", root / "dog" / "7.png")
    status, err = cli_exit(["detect", str(root), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS], capsys)
    assert status == 2, err
    assert "7.png" in err and "CSV" not in err, err


# ------------------------------------------------------------ load_image_folder


def test_load_image_folder_link_up_the_tree_does_not_relabel_other_classes(tmp_path):
    """A class folder holding a link back up to the image folder (``cat/all -> ..``, as a
    "shortcut to the data set" made by hand). load_image_folder guards against "a link back
    up the tree" so a linked folder is read once, but the guard only knows the class's own
    folders: today every image of dog is listed a second time, labelled cat
    (``cat/all/dog/0.png``). Right: each image file is listed once, with its own class."""
    root = class_folders(tmp_path / "photos", per_class=3)
    os.symlink("..", root / "cat" / "all")
    X, y = load_image_folder(root)
    real = [os.path.realpath(path) for path in X]
    assert len(real) == len(set(real)) == 6, list(X)
    for path, label in zip(real, y):
        assert os.path.basename(os.path.dirname(path)) == label, (path, label)


def test_load_image_folder_does_not_drop_a_subfolder_it_cannot_list(tmp_path, monkeypatch):
    """A nested subfolder that cannot be listed (no permission on a shared drive;
    simulated here because tests may run as root). ``os.walk`` swallows the
    PermissionError, so today its images vanish from X with no word at all and the
    detector judges a data set smaller than the user's. Right: an error or a warning
    naming the folder that could not be read."""
    root = class_folders(tmp_path / "photos", per_class=3)
    image_files(root / "cat" / "locked", 2, seed=5)
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.basename(os.fspath(path)) == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            load_image_folder(root)
        except OSError as exc:
            assert "locked" in str(exc)
            return
    assert any("locked" in str(w.message) for w in caught), [str(w.message) for w in caught]


# ------------------------------------------------------------ make_image_folder


def test_make_image_folder_failure_leaves_the_folder_usable(tmp_path):
    """make_image_folder of very wide images (spectrograms, panoramas) as WebP, whose
    limit is 16,383 px. Today PIL's error comes after the class folders were made, so the
    root is left holding empty folders, and the retry with a format that can hold them is
    refused: "'.../wide' is not empty; make_image_folder writes into a new or empty folder
    only." Right: a failed call leaves root as it found it (or checks the size up front),
    so the retry works."""
    X = np.zeros((2, 4, 17000), dtype=np.uint8)
    y = ["a", "b"]
    root = tmp_path / "wide"
    with pytest.raises((ValueError, OSError)):
        make_image_folder(X, y, root, format="webp")
    make_image_folder(X, y, root, format="png")
    assert len(load_image_folder(root)[0]) == 2


def test_make_image_folder_writes_only_what_load_image_folder_reads(tmp_path):
    """make_image_folder(format="tga") (a format PIL writes) succeeds, but the folder it
    writes cannot be read back: load_image_folder raises 'No images found in the class
    subfolders ... (looked for the extensions .bmp, .gif, ...)', since .tga is not among
    IMAGE_EXTENSIONS (nor are .jfif, .jp2, .ico, .pdf, .pcx, .sgi, .dib, .qoi, .icns).
    Right: either make_image_folder refuses the format up front (a ValueError naming the
    formats load_image_folder reads, writing nothing), or the round trip works."""
    X = np.zeros((4, 8, 8), dtype=np.uint8)
    y = ["a", "b", "a", "b"]
    root = tmp_path / "tga"
    try:
        make_image_folder(X, y, root, format="tga")
    except ValueError:
        assert not root.exists() or not os.listdir(root)
        return
    paths, labels = load_image_folder(root)
    assert len(paths) == 4


def test_detect_reads_a_quoted_tilde_as_the_home_folder(tmp_path, monkeypatch, recorded_fit):
    """--cache-dir "~/emb" (quoted, so the shell leaves it) made a folder named "~" in the
    current folder."""
    root = class_folders(tmp_path / "photos")
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    with pytest.raises(StopFit):
        cli.main(["detect", str(root), "--output-dir", "~/out", "--cache-dir", "~/emb", *TINY_FLAGS])
    assert sorted(os.listdir(home)) == ["emb", "out"] and not os.listdir(work)
