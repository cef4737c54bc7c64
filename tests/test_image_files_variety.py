"""Regression tests from a bug hunt with the kinds of image files real folders hold.

Greyscale, palette, 16-bit, float, CMYK, 1-bit, EXIF-rotated, animated, multi-page, tiny,
elongated, truncated, empty, mislabelled and oddly named files, links and copies, fed to
``load_image_folder``, ``ImageEmbedder`` (with and without its cache), the detectors, the
HTML report and ``skclip-noise detect``. Each test says what a user sees today and what
they should see; every run uses a few tiny files written in ``tmp_path`` and the random
tiny CLIP.
"""

import os
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from conftest import TINY_CLIP, class_folders, cli_exit, issues_table, rename_to_latin1
from skclip_noise import ConsensusDetector, ImageEmbedder
from skclip_noise.datasets import load_image_folder
from skclip_noise.report import label_issues_html

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_FLAGS = ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none", "--device", "cpu", "--quiet"]
EMBEDDER = {key: value for key, value in TINY_CLIP.items() if key != "random_state"}


def _jpeg(path, side=64, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG")
    return str(path)


# ------------------------------------------------------------ file names that are not UTF-8


def test_detector_fit_on_a_folder_with_a_non_utf8_file_name(tmp_path):
    """README.md:78 (``load_image_folder(root)``: X = paths) and docs/user_guide/data.rst:16-19
    (X may be a list of image file paths, "any format PIL reads"). A class folder holds
    ``caf\\xe9.png``, a name in Latin-1 bytes (copied from an old Windows share or zip);
    ``load_image_folder`` lists it (as Python does, with a surrogate escape) and PIL reads
    it. Today ``ConsensusDetector.fit(paths, labels)`` embeds every image, fits, and only
    then dies with ``UnicodeEncodeError: 'utf-8' codec can't encode character '\\udce9'
    ... surrogates not allowed`` from ``skclip_noise/data/fingerprint.py:50`` (the paths
    are hashed as UTF-8 text), naming no file: all the work is lost, and ``skclip-noise
    detect`` on the folder exits with the same cryptic message. Right: the fit completes
    (the file is an ordinary image), or a clear error before any work names the file."""
    root = class_folders(tmp_path / "photos", per_class=4)
    odd = rename_to_latin1(root / "cat" / "0.png")
    paths, labels = load_image_folder(root)
    assert odd in paths.tolist()
    detector = ConsensusDetector(**TINY_CLIP, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random features: the outlier model's advice
        detector.fit(paths, labels)
    assert len(detector.label_issues_) == len(paths)


def test_detect_on_a_folder_with_a_non_utf8_file_name_writes_its_bytes(tmp_path, capsys):
    """The command line on the same folder finishes, and label_issues.csv holds the file's
    name as its own bytes (what ``detect`` and ``apply`` read back as the same path)."""
    root = class_folders(tmp_path / "photos", per_class=4)
    rename_to_latin1(root / "cat" / "0.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        status, err = cli_exit(["detect", str(root), "--output-dir", str(tmp_path / "out"), "--backbone",
                                TINY_CLIP["backbone"], "--pretrained", "none", "--n-neighbors", "2", "--cv", "2",
                                "--quiet"], capsys)
    assert status == 0, err
    assert b"caf\xe9.png" in (tmp_path / "out" / "label_issues.csv").read_bytes()


def test_report_on_images_with_a_non_utf8_file_name(tmp_path):
    """skclip_noise/report/html.py:202, 219 and 185-186 (``X``: a sequence of image paths;
    the page is written as UTF-8; "All text is HTML-escaped"). The report of a folder one of whose
    files has a Latin-1 name (``caf\\xe9.png``, listed by ``load_image_folder``). Today
    ``label_issues_html(paths, issues, "report.html")`` raises ``UnicodeEncodeError:
    'utf-8' codec can't encode character '\\udce9' ... surrogates not allowed`` from
    ``skclip_noise/report/_review.py:44`` (the review key hashes the paths as UTF-8 text),
    and even without a path no page comes back (``skclip-noise detect`` would next fail the
    same way writing the ``path`` column of label_issues.csv). Right: a page with a card
    for the file (its thumbnail decodes fine), its name shown as well as it can be."""
    root = class_folders(tmp_path / "photos", per_class=2)
    rename_to_latin1(root / "cat" / "0.png")
    paths, labels = load_image_folder(root)
    issues = issues_table([0.1, 0.2, 0.9, 0.3], list(labels), predicted=["dog", "dog", "dog", "cat"])
    page = label_issues_html(paths, issues, str(tmp_path / "report.html"))
    html = open(page, encoding="utf-8").read()
    assert html.count("<img ") == 3, "one thumbnail per flagged card"


# ------------------------------------------------------------ the embedding cache


def test_cache_does_not_serve_a_truncated_file_read_while_pil_filled_it_in(tmp_path, monkeypatch):
    """docs/user_guide/data.rst:39-41 ("By default a file that cannot be read (missing,
    not an image, truncated, ...) raises ImageReadError ... naming it") and data.rst:63
    ("Unreadable files are never written to the embedding cache"). Some earlier code (a
    notebook cell, another library) had set ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True``: a run with
    ``cache_dir`` embedded a JPEG cut short with its missing half filled grey (with the
    documented warning) and cached that row under the file's bytes. With the setting back
    to False, the same file now cannot be read, and without the cache the embedder says
    so. Today the cached run returns the filled-in embedding with no error and no warning
    (and ``skip_unreadable=True`` does not list the file in ``unreadable_``): the cache key
    (file bytes + backbone) does not record that the row came from filled-in pixels.
    Right: the same ``ImageReadError`` naming the file as without the cache."""
    from skclip_noise.data.decoding import ImageReadError

    whole = _jpeg(tmp_path / "whole.jpg")
    data = open(whole, "rb").read()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    cache = tmp_path / "cache"
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.warns(UserWarning, match="LOAD_TRUNCATED_IMAGES is True"):
        ImageEmbedder(**EMBEDDER, cache_dir=cache).fit_transform([str(cut)])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    with pytest.raises(ImageReadError, match="cut.jpg"):
        ImageEmbedder(**EMBEDDER).fit_transform([str(cut)])  # without the cache: refused
    with pytest.raises(ImageReadError, match="cut.jpg"):
        ImageEmbedder(**EMBEDDER, cache_dir=cache).fit_transform([str(cut)])


# ------------------------------------------------------------ the command line's check before any work


def _png_without_its_end_chunk(path, seed=0):
    """A PNG whose last 12 bytes (the IEND chunk) are missing, as a copy or download cut
    at the very end leaves it: every pixel is there."""
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    data = path.read_bytes()
    assert data.endswith(b"IEND\xaeB`\x82")
    path.write_bytes(data[:-12])
    return path


def test_detect_refuses_a_png_that_skip_unreadable_reads_without_listing(tmp_path, capsys):
    """docs/user_guide/data.rst:101-103 and ``detect --help``: without the flag, ``detect``
    "checks every file before any work ... and stops naming the files that cannot be
    read"; ``--skip-unreadable`` goes on without "the image files that cannot be read"
    and lists each in unreadable.csv. A class folder holds a PNG cut short by its last 12
    bytes (the IEND chunk; all pixel data present). Today the two disagree on whether it
    can be read: plain ``detect`` exits 2 with "1 of 12 images cannot be read: ...
    (OSError: truncated PNG file)" (PIL's ``verify()``), while ``detect --skip-unreadable``
    (and every Python estimator) decodes and embeds it, does not list it and says nothing
    was skipped. Right: one verdict for one file -- refused by the check exactly when the
    run with --skip-unreadable lists it as unreadable."""
    root = class_folders(tmp_path / "photos", per_class=6)
    _png_without_its_end_chunk(root / "cat" / "0.png")
    status, err = cli_exit(["detect", str(root), "--output-dir", str(tmp_path / "plain"), "--cv", "2",
                            *TINY_FLAGS], capsys)
    refused = status == 2 and "0.png" in err
    out = tmp_path / "skipping"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        status_skipping, err_skipping = cli_exit(["detect", str(root), "--output-dir", str(out), "--cv", "2",
                                                  "--skip-unreadable", *TINY_FLAGS], capsys)
    assert status_skipping == 0, err_skipping
    listed = (out / "unreadable.csv").is_file() and any(
        path.endswith(os.sep + "0.png") for path in pd.read_csv(out / "unreadable.csv")["path"])
    assert refused == listed, (
        f"without --skip-unreadable: {'refused' if refused else 'accepted'} ({err.strip()[:200]}); "
        f"with it: {'listed as unreadable' if listed else 'embedded, not listed'}")


def test_skip_unreadable_with_the_cache_goes_on_past_a_file_without_read_permission(tmp_path, monkeypatch):
    """docs/user_guide/embedder.rst:141-145 (``skip_unreadable`` True: "its row is NaN, it
    is listed in unreadable_ ... and a warning says how many were skipped"), data.rst:43-50
    and ``detect --help`` ("--skip-unreadable: go on without the image files that cannot
    be read ... and list them with the reason in <output-dir>/unreadable.csv"). One file
    of a shared folder cannot be opened (copied with mode 0600 by another user:
    ``PermissionError``). Without ``cache_dir`` it is skipped and listed
    with the reason "PermissionError: ... Permission denied". With ``cache_dir`` -- and
    ``skclip-noise detect --skip-unreadable`` always has one, ``<output-dir>/embeddings``
    -- the whole run dies with that ``PermissionError``: the cache hashes every file's
    bytes (``content_keys``, skclip_noise/embedding_cache.py:98-101) before the decoding
    pass that would have listed it, and only missing files are set aside first. Right: the same NaN row
    and ``unreadable_`` entry as without the cache. (The test runs as root, who may read
    any file, so the file system's refusal is stood in for by ``open`` refusing that one
    path, as it does for another user.)"""
    import builtins

    paths = [str(p) for p in class_folders(tmp_path / "photos", ("cat",), per_class=3).glob("cat/*.png")]
    locked = sorted(paths)[1]
    os.chmod(locked, 0)  # what the user has: enough where the tests do not run as root
    real_open = builtins.open

    def open_as_another_user(file, *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and os.fspath(file) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_as_another_user)
    paths = sorted(paths)
    plain = ImageEmbedder(**EMBEDDER, skip_unreadable=True)
    cached = ImageEmbedder(**EMBEDDER, skip_unreadable=True, cache_dir=tmp_path / "cache")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "1 of 3 image files could not be read ..."
        plain.fit_transform(paths)
        assert plain.unreadable_["path"].tolist() == [locked]  # without the cache: skipped and listed
        embeddings = cached.fit_transform(paths)
    assert cached.unreadable_["path"].tolist() == [locked]
    assert np.isnan(embeddings[1]).all() and np.isfinite(embeddings[[0, 2]]).all()


# ------------------------------------------------------------ the report's thumbnails


def test_report_from_label_issues_csv_shows_each_card_its_own_image_for_a_list_of_paths(tmp_path):
    """skclip_noise/report/html.py:105-110: X is put "in the order of label_issues'
    index ... where the index is a reordering of its positions (a detector fitted on the
    array, its table sorted or read back from label_issues.csv)". A user keeps the image
    paths as a plain list (README.md:64, "a list / numpy array / pandas Series of image
    paths") and makes the report from ``label_issues.csv`` read back (sorted by quality,
    indexed by ``sample``). With the paths as a numpy array, the card of sample 1 shows
    ``1.png``; with the same paths as a list, today it shows ``0.png`` (thumbnail and file
    name), and every other card too shows another sample's image, silently: the reordering
    is done for numpy arrays only. Right: the same page for a list as for an array."""
    paths = [str(tmp_path / f"{i}.png") for i in range(4)]
    for i, path in enumerate(paths):
        Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(path)
    issues = issues_table([0.4, 0.1, 0.3, 0.2], ["a", "b", "a", "b"], predicted=["b", "a", "b", "a"])
    issues.index.name = "sample"
    issues.sort_values("label_quality").to_csv(tmp_path / "label_issues.csv")
    read_back = pd.read_csv(tmp_path / "label_issues.csv", index_col="sample")
    assert read_back.index.tolist() == [1, 3, 2, 0]
    def files_on_cards(page):
        return re.findall(r'<span>(\d+) \(row \d+\)</span><span class="file" title="[^"]*">(\d+)\.png<', page)

    on_array = files_on_cards(label_issues_html(np.asarray(paths, dtype=object), read_back))
    assert on_array == [("1", "1"), ("3", "3"), ("2", "2"), ("0", "0")]  # (sample, its file)
    on_list = files_on_cards(label_issues_html(paths, read_back))
    assert on_list == on_array, f"(sample, file shown on its card): {on_list}"


# ------------------------------------------------------------ the command line's advice


def test_detect_on_a_folder_with_unreadable_files_gives_no_advice_about_a_csv(tmp_path, capsys, recorded_fit):
    """docs/user_guide/data.rst:101-103 (``detect`` "stops naming the files that cannot be
    read") and the convention kept for missing files in a folder
    (tests/test_cli_folders.py::test_detect_broken_link_in_a_folder_is_not_blamed_on_a_csv:
    INPUT is a folder, there is no CSV). A class folder holds a text file named
    ``notes.jpg`` and an empty ``empty.png`` (a copy that failed). Today ``detect`` exits
    2 with "2 of 14 images cannot be read: ... Remove or replace them (or drop their rows
    from the CSV) and run again ...": the user passed a folder and has no CSV to edit.
    Right: advice about the folder's files only (remove or replace them, or
    --skip-unreadable)."""
    root = class_folders(tmp_path / "photos")
    (root / "cat" / "notes.jpg").write_text("not an image")
    (root / "dog" / "empty.png").write_bytes(b"")
    status, err = cli_exit(["detect", str(root), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS], capsys)
    assert status == 2, err
    assert "notes.jpg" in err and "empty.png" in err, err
    assert "CSV" not in err, err


# ------------------------------------------------------------ images past PIL's decompression-bomb limit


def test_too_large_image_error_says_how_to_skip_it(tmp_path, monkeypatch):
    """skclip_noise/data/decoding.py:39-43 (``SKIP_HINT``, "The advice every
    unreadable-file error ends with": skip such files with ``skip_unreadable=True`` or
    ``detect --skip-unreadable``) and docs/user_guide/data.rst:39-43 (a file "too large to
    decode safely" is one of the unreadable files that a crawl of 100,000 images has, and
    ``skip_unreadable`` goes on without them). One image of a crawl is past PIL's
    decompression-bomb limit (lowered here so that a 64x64 file is). Today
    ``ImageEmbedder().fit_transform(paths)`` raises "Image file '.../huge.png' is too large
    to decode safely (...) If you trust it, raise PIL's limit first:
    PIL.Image.MAX_IMAGE_PIXELS = None ...": the only way out offered is to decode a file
    PIL calls a possible attack, and the skip every other unreadable file's error names
    is missing. Right: the message also names ``skip_unreadable=True`` (and the command's
    --skip-unreadable)."""
    from skclip_noise.data.decoding import ImageReadError

    small = tmp_path / "small.png"
    Image.new("RGB", (8, 8)).save(small)
    huge = tmp_path / "huge.png"
    Image.new("RGB", (64, 64)).save(huge)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4,096 pixels: past twice the limit
    with pytest.raises(ImageReadError, match="huge.png") as error:
        ImageEmbedder(**EMBEDDER).fit_transform([str(small), str(huge)])
    assert "skip_unreadable=True" in str(error.value), str(error.value)
