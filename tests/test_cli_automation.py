"""Bug hunt: ``skclip-noise`` as scripts, CI jobs, Makefiles and cron use it, not a person at
a terminal: exit statuses, what goes to stdout and stderr, ``--version``, ``python -m``,
closed pipes, an ASCII-only locale, arguments as scripts build them, and two runs (or a
stopped run) sharing one ``--output-dir``.

Runs are cheap: the command line runs in-process with a stand-in detector (no embedding)
where only the command's own behaviour matters; a subprocess only where an environment
variable or a pipe must be real. Races are made deterministic by running the second run
(or the reader) from a hook at the point where the operating system may switch processes
anyway. Each test says what a script's author should see; those that fail today name a
defect.
"""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from conftest import StandInDetector, class_folders, image_files
from PIL import Image

import skclip_noise
import skclip_noise.report
from skclip_noise import cli
from skclip_noise.report import _thumbnails
from skclip_noise.report import html as report_html

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: The command line's own detector factory (the tests replace it with :class:`conftest.StandInDetector`).
_MAKE_DETECTOR = cli.make_detector
_TESTS = os.path.dirname(os.path.abspath(__file__))
_ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(argv, capsys):
    """(exit status, stdout, stderr) of ``cli.main(argv)``, argparse's exits included."""
    try:
        status = cli.main(argv)
    except SystemExit as exc:
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _subprocess(args, **kwargs):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=kwargs.pop("env", _ENV),
                          timeout=120, **kwargs)


def _report_paths(page):
    """The image paths of report.html's cards (``data-path``), as a set."""
    return {html.unescape(path) for path in re.findall(r'data-path="([^"]*)"', page)}


# ------------------------------------------------------------------- entry points, --version


def test_python_dash_m_runs_the_command_line_as_the_console_script_does():
    """``python -m skclip_noise --help`` (what a CI job without the venv's bin/ on PATH, or a
    Makefile using ``$(PYTHON) -m``, runs) prints the same usage and exits 0.

    Fails today: ``No module named skclip_noise.__main__; 'skclip_noise' is a package and
    cannot be directly executed`` (status 1): the package has no ``__main__.py``."""
    done = _subprocess(["-m", "skclip_noise", "--help"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: skclip-noise"), done.stdout
    assert done.stderr == ""


def test_version_flag_prints_the_version_on_stdout_and_exits_0(capsys):
    """``skclip-noise --version`` (what a CI job logs, what a bug report quotes) prints the
    installed version on stdout and exits 0.

    Fails today: ``error: the following arguments are required: COMMAND`` (status 2): the
    parser has no ``--version``."""
    status, out, err = _run(["--version"], capsys)
    assert status == 0, err
    assert skclip_noise.__version__ in out


# ----------------------------------------------------------------- exit statuses and streams


def test_help_goes_to_stdout_and_exits_0_for_every_command(capsys):
    """``--help`` of the command and of each sub-command: usage on stdout, nothing on
    stderr, status 0 (``skclip-noise detect --help | grep`` works)."""
    for argv in (["--help"], ["detect", "--help"], ["apply", "--help"], ["demo", "--help"]):
        status, out, err = _run(argv, capsys)
        assert (status, err) == (0, ""), argv
        assert out.startswith("usage: skclip-noise"), argv


def test_exit_statuses_of_every_outcome_are_the_documented_ones(tmp_path, capsys, stand_in):
    """0 on success; 2 for a usage error and for bad input, named in one line on stderr; 130
    for Ctrl-C and 143 for SIGTERM (a scheduler, ``timeout``), as getting_started.rst says;
    stdout stays empty in every case."""
    data = class_folders(tmp_path / "data", per_class=2)
    out_dir = str(tmp_path / "out")
    handler = signal.getsignal(signal.SIGTERM)
    outcomes = {}
    outcomes["success"] = _run(["detect", str(data), "--output-dir", out_dir], capsys)
    outcomes["usage"] = _run(["detect", str(data), "--detector", "nope"], capsys)
    outcomes["bad input"] = _run(["detect", str(tmp_path / "missing"), "--output-dir", out_dir], capsys)

    def ctrl_c():
        raise KeyboardInterrupt

    StandInDetector.on_fit = ctrl_c
    outcomes["ctrl-c"] = _run(["detect", str(data), "--output-dir", out_dir], capsys)
    StandInDetector.on_fit = lambda: os.kill(os.getpid(), signal.SIGTERM)
    outcomes["sigterm"] = _run(["detect", str(data), "--output-dir", out_dir], capsys)
    StandInDetector.on_fit = None

    assert {name: status for name, (status, _, _) in outcomes.items()} == {
        "success": 0, "usage": 2, "bad input": 2, "ctrl-c": 130, "sigterm": 143}
    assert all(out == "" for _, out, _ in outcomes.values())
    assert outcomes["bad input"][2].count("\n") == 1 and "error:" in outcomes["bad input"][2]
    assert "interrupted" in outcomes["ctrl-c"][2] and "terminated" in outcomes["sigterm"][2]
    assert signal.getsignal(signal.SIGTERM) is handler  # the caller's handler is back


def test_detect_keeps_stdout_empty_and_quiet_keeps_both_streams_empty(tmp_path, capsys, stand_in):
    """``detect``'s results are files; its progress and summary lines go to stderr, so
    ``> results.txt`` captures nothing stray; with ``--quiet`` a successful run prints
    nothing at all (cron mails only what a job prints), while a warning still reaches
    stderr."""
    data = class_folders(tmp_path / "data", per_class=2)
    status, out, err = _run(["detect", str(data), "--output-dir", str(tmp_path / "a")], capsys)
    assert (status, out) == (0, "")
    assert "Wrote" in err
    status, out, err = _run(["detect", str(data), "--output-dir", str(tmp_path / "b"), "--quiet"], capsys)
    assert (status, out, err) == (0, "", "")
    status, out, err = _run(["detect", str(data), "--output-dir", str(tmp_path / "c"), "--quiet",
                             "--epochs", "3"], capsys)
    assert (status, out) == (0, "")
    assert err.startswith("skclip-noise detect: warning: --epochs does not apply")


def test_help_into_a_closed_pipe_exits_0_without_a_traceback():
    """``skclip-noise detect --help | true`` (a reader that has gone): no BrokenPipeError
    traceback, status 0."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "skclip_noise.cli", "detect", "--help"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, env=_ENV, timeout=120)
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr


def test_log_lines_hold_no_escape_sequences_or_carriage_returns(tmp_path, capsys, stand_in, monkeypatch):
    """stderr redirected to a log (not a terminal), ``NO_COLOR`` and ``TERM=dumb`` set, and a
    folder name holding an escape sequence and a carriage return: the log has neither (the
    name shows them as escapes), and the detector is made without progress bars; on a
    terminal it gets them."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")
    data = class_folders(tmp_path / "run\x1b[31m\r", per_class=2)
    status, out, err = _run(["detect", str(data), "--output-dir", str(tmp_path / "out")], capsys)
    assert status == 0, err
    assert "\x1b" not in err and "\r" not in err
    assert "run\\x1b[31m\\x0d" in err
    args = cli.build_parser().parse_args(["detect", str(data), "--detector", "neighbour"])
    assert _MAKE_DETECTOR(args, args.backbone, None, None).verbose == 0
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert _MAKE_DETECTOR(args, args.backbone, None, None).verbose == 1


_ASCII_DRIVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import test_cli_automation as t
    from skclip_noise import cli
    cli.make_detector = lambda *args, **kwargs: t.StandInDetector()
    statuses = []
    for argv in (sys.argv[1:], ["detect", "--help"], ["demo", "--help"]):
        try:
            statuses.append(cli.main(argv))
        except SystemExit as exc:
            statuses.append(exc.code)
    print("statuses", statuses, file=sys.stderr)
""")


def test_non_ascii_class_and_folder_names_under_an_ascii_locale(tmp_path):
    """A cron job runs with ``LANG=C``/``LC_ALL=C`` and ``PYTHONIOENCODING=ascii``; class
    folders ``café/`` and ``猫/`` in a folder ``données``: detect (with an unused-flag warning)
    and ``--help`` exit 0, with no UnicodeEncodeError; stderr names them as escapes."""
    data = class_folders(tmp_path / "donn\xe9es", classes=("caf\xe9", "\u732b"), per_class=2)
    env = {**_ENV, "LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}
    env.pop("PYTHONUTF8", None)
    done = _subprocess(["-c", _ASCII_DRIVER.format(tests=_TESTS), "detect", str(data), "--output-dir",
                        str(tmp_path / "out"), "--epochs", "3"], env=env)
    assert done.returncode == 0, done.stderr
    assert "statuses [0, 0, 0]" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "UnicodeEncodeError" not in done.stderr
    assert "donn\\xe9es" in done.stderr
    issues = pd.read_csv(tmp_path / "out" / "label_issues.csv", encoding="utf-8")
    assert set(issues["given_label"]) == {"caf\xe9", "\u732b"}


# ----------------------------------------------------------------- arguments as scripts build them


@pytest.mark.parametrize("form", ["spaces", "double-dash", "equals", "trailing-slash", "repeated"])
def test_argument_forms_scripts_produce(form, tmp_path, capsys, stand_in, monkeypatch):
    """A folder with spaces, one starting with ``-`` after ``--``, ``--output-dir=DIR``, a
    trailing slash on both, and a repeated flag (the last one wins, as everywhere): each
    run reads the 4 images and writes its outputs where asked."""
    monkeypatch.chdir(tmp_path)
    name = {"spaces": "my images", "double-dash": "-data"}.get(form, "data")
    class_folders(tmp_path / name, per_class=2)
    argv = {
        "spaces": ["detect", "my images", "--output-dir", "my out"],
        "double-dash": ["detect", "--output-dir", "my out", "--", "-data"],
        "equals": ["detect", "data", "--output-dir=my out"],
        "trailing-slash": ["detect", "data/", "--output-dir", "my out/"],
        "repeated": ["detect", "data", "--output-dir", "elsewhere", "--output-dir", "my out"],
    }[form]
    status, out, err = _run(argv, capsys)
    assert status == 0, err
    assert len(pd.read_csv(tmp_path / "my out" / "label_issues.csv")) == 4
    assert (tmp_path / "my out" / "report.html").is_file()
    assert not (tmp_path / "elsewhere" / "label_issues.csv").exists()


def test_folder_name_starting_with_a_dash_is_named_in_the_error(tmp_path, capsys, stand_in, monkeypatch):
    """``skclip-noise detect "$DIR"`` with ``DIR=-data`` (a name a script cannot vet): the
    error names ``-data`` (taken for an option), so the author knows to write ``--``.

    Fails today: argparse stores ``-data`` as an unknown option and reports ``error: the
    following arguments are required: INPUT``, which names neither the argument the script
    did pass nor the fix."""
    monkeypatch.chdir(tmp_path)
    class_folders(tmp_path / "-data", per_class=2)
    status, out, err = _run(["detect", "-data", "--output-dir", "out"], capsys)
    assert status == 2
    assert "-data" in err.strip().splitlines()[-1], err.strip().splitlines()[-1]


@pytest.mark.parametrize("argv, message", [
    (["detect", ""], "INPUT '' is neither"),
    (["detect", "data", "--output-dir", ""], "--output-dir '': cannot write there"),
    (["detect", "out-of-an-earlier-run"], "has no class subfolders"),
])
def test_empty_arguments_and_an_earlier_output_folder_as_input_fail_in_one_line(argv, message, tmp_path, capsys,
                                                                               stand_in, monkeypatch):
    """An empty string (an unset shell variable, quoted) as INPUT or ``--output-dir``, and an
    earlier run's output folder as INPUT: status 2 and one line naming the argument."""
    monkeypatch.chdir(tmp_path)
    class_folders(tmp_path / "data", per_class=2)
    assert _run(["detect", "data", "--output-dir", "out-of-an-earlier-run"], capsys)[0] == 0
    status, out, err = _run(argv, capsys)
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and message in err, err


def test_dot_as_input_with_the_default_output_dir_inside_it_twice(tmp_path, capsys, stand_in, monkeypatch):
    """``cd data && skclip-noise detect .`` twice (the default ``skclip-noise-report/`` lands
    inside INPUT), and ``detect ..`` from a class folder: the report folder is never read
    as a class, every run sees the same 4 images of 2 classes."""
    data = class_folders(tmp_path / "data", per_class=2)
    monkeypatch.chdir(data)
    for _ in range(2):
        status, out, err = _run(["detect", "."], capsys)
        assert status == 0, err
        assert ".: 4 images, 2 classes." in err
    monkeypatch.chdir(data / "cat")
    status, out, err = _run(["detect", "..", "--output-dir", str(tmp_path / "up")], capsys)
    assert status == 0, err
    assert "..: 4 images, 2 classes." in err


def test_a_quoted_tilde_in_output_dir_is_the_home_folder(tmp_path, capsys, stand_in, monkeypatch):
    """``--output-dir "~/reports"`` (a Makefile or crontab quoting it, so no shell expands
    it): written under $HOME, as the shell would have read it, not into a folder ``~``."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    data = class_folders(tmp_path / "data", per_class=2)
    status, out, err = _run(["detect", str(data), "--output-dir", "~/reports"], capsys)
    assert status == 0, err
    assert (home / "reports" / "label_issues.csv").is_file()
    assert not (tmp_path / "~").exists()


# ------------------------------------------------------------------ one --output-dir, two writers


def test_two_runs_into_one_output_dir_never_pair_one_runs_csv_with_the_others_report(tmp_path, capsys, stand_in,
                                                                                  monkeypatch):
    """Two cron jobs write the same ``--output-dir``; B runs from start to finish while A
    makes its report (the seconds A spends reading images for thumbnails). Afterwards
    ``label_issues.csv`` and ``report.html`` describe the same run (or one run refused to
    share the folder).

    Fails today: label_issues.csv lists B's images and report.html A's: each file is
    replaced on its own (run_detect -> _replace_outputs_of_an_earlier_run, then
    _write_outputs writes the CSV, then the page), with nothing to keep two runs apart."""
    a = class_folders(tmp_path / "a", classes=("cat", "dog"), per_class=2)
    b = class_folders(tmp_path / "b", classes=("bird", "fish"), per_class=2)
    out = tmp_path / "out"
    real, started, statuses = skclip_noise.report.label_issues_html, [], {}

    def b_runs_meanwhile(*args, **kwargs):
        if not started:
            started.append(True)
            statuses["b"] = cli.main(["detect", str(b), "--output-dir", str(out), "--quiet"])
        return real(*args, **kwargs)

    monkeypatch.setattr(skclip_noise.report, "label_issues_html", b_runs_meanwhile)
    statuses["a"] = cli.main(["detect", str(a), "--output-dir", str(out), "--quiet"])
    assert 0 in statuses.values()
    csv_paths = set(pd.read_csv(out / "label_issues.csv")["path"])
    page_paths = _report_paths((out / "report.html").read_text(encoding="utf-8"))
    assert csv_paths == page_paths, (
        f"label_issues.csv lists the images of {sorted({os.path.basename(os.path.dirname(p)) for p in csv_paths})}, "
        f"report.html those of {sorted({os.path.basename(os.path.dirname(p)) for p in page_paths})}")


def test_a_report_shows_its_own_images_when_another_run_writes_the_same_output_dir(tmp_path, capsys, stand_in,
                                                                                   monkeypatch):
    """A report with its thumbnails as files (``report_thumbnails/``, above 1,000 cards;
    the limit lowered here) while another run writes the same ``--output-dir``: every card's
    thumbnail is the image its ``data-path`` names.

    Fails today: the thumbnails are named by position (00000000.png); B's report removes
    A's and writes its own under the same names, so A's page shows B's images under A's
    labels (report/_thumbnails.py ThumbnailWriter, no run of its own in the folder)."""
    monkeypatch.setattr(_thumbnails, "INLINE_THUMBNAIL_LIMIT", 1)
    a = class_folders(tmp_path / "a", classes=("cat", "dog"), per_class=2)
    image_files(tmp_path / "b" / "bird", 2, seed=10)
    image_files(tmp_path / "b" / "fish", 2, seed=11)
    out = tmp_path / "out"
    real, started = _thumbnails.ThumbnailWriter.source, []

    def b_runs_meanwhile(self, image, position):
        result = real(self, image, position)
        if not started:  # A has written its first thumbnail
            started.append(cli.main(["detect", str(tmp_path / "b"), "--output-dir", str(out), "--quiet"]))
        return result

    monkeypatch.setattr(_thumbnails.ThumbnailWriter, "source", b_runs_meanwhile)
    assert cli.main(["detect", str(a), "--output-dir", str(out), "--quiet"]) in (0, 2)
    page = (out / "report.html").read_text(encoding="utf-8")
    cards = re.findall(r'<article[^>]*data-path="([^"]*)"[^>]*>.*?<img src="([^"]+)"', page, flags=re.DOTALL)
    assert len(cards) == 4
    wrong = []
    for path, source in cards:
        shown = np.asarray(Image.open(out / html.unescape(source)).convert("RGB"))[::3, ::3]
        if not np.array_equal(shown, np.asarray(Image.open(html.unescape(path)).convert("RGB"))):
            wrong.append(os.path.relpath(html.unescape(path), tmp_path))
    assert not wrong, f"cards whose thumbnail is another run's image: {wrong}"


def test_a_reader_of_report_html_never_sees_half_a_page(tmp_path, capsys, stand_in, monkeypatch):
    """A CI step uploading the folder, a web server serving it, or the next job in a
    pipeline reads ``report.html`` while ``detect`` writes it: it finds the earlier page,
    none, or the whole new one, never a truncated page (as the CSVs are promised: written
    beside the name and moved over it).

    Fails today: report/html.py label_issues_html writes the page in place with
    ``open(path, "w")``; a reader mid-write gets a page without its end."""
    data = class_folders(tmp_path / "data", per_class=2)
    out = tmp_path / "out"
    seen = []

    class HalfThenLook:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

        def write(self, text):
            middle = len(text) // 2
            self.handle.write(text[:middle])
            self.handle.flush()
            target = out / "report.html"  # what a reader finds now
            seen.append(target.read_text(encoding="utf-8") if target.exists() else None)
            return self.handle.write(text[middle:])

    def watched_open(file, mode="r", *args, **kwargs):
        handle = open(file, mode, *args, **kwargs)
        return HalfThenLook(handle) if "w" in mode else handle

    monkeypatch.setattr(report_html, "open", watched_open, raising=False)
    status, out_text, err = _run(["detect", str(data), "--output-dir", str(out)], capsys)
    assert status == 0, err
    truncated = [page for page in seen if page is not None and not page.endswith("</html>\n")]
    assert not truncated, f"a reader found report.html cut at {len(truncated[0])} characters"


def test_a_run_stopped_while_writing_its_report_keeps_the_earlier_report_as_it_says(tmp_path, capsys, stand_in,
                                                                                    monkeypatch):
    """``timeout 1h skclip-noise detect ...`` (or Ctrl-C) arriving while the report is made:
    status 130 and the line "--output-dir keeps any previous run's report", and so it does:
    the earlier ``label_issues.csv`` and ``report.html`` are there, unchanged, as
    getting_started.rst promises ("keeps an earlier run's report until the new one is
    written").

    Fails today: run_detect removes the earlier outputs (_replace_outputs_of_an_earlier_run)
    right after the fit, then writes the new CSV and the page one by one; stopped in
    between, the folder holds the new run's label_issues.csv and no report.html at all."""
    first = class_folders(tmp_path / "first", classes=("cat", "dog"), per_class=2)
    second = class_folders(tmp_path / "second", classes=("bird", "fish"), per_class=2)
    out = tmp_path / "out"
    assert _run(["detect", str(first), "--output-dir", str(out)], capsys)[0] == 0
    before = {name: (out / name).read_bytes() for name in ("label_issues.csv", "report.html")}

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(skclip_noise.report, "label_issues_html", stopped)
    status, _, err = _run(["detect", str(second), "--output-dir", str(out)], capsys)
    assert status == 130
    assert "--output-dir keeps any previous run's report" in err
    after = {name: (out / name).read_bytes() if (out / name).exists() else None for name in before}
    assert after == before, {name: "unchanged" if after[name] == before[name] else
                             ("removed" if after[name] is None else "replaced") for name in before}


class _ClosedPipe:
    """A stdout whose reader has gone (``skclip-noise demo | head -0``, a killed ``tee``)."""

    encoding = "utf-8"

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        pass

    def isatty(self):
        return False


def test_demo_with_a_closed_stdout_leaves_no_mix_of_two_runs_in_its_output_dir(tmp_path, capsys, stand_in,
                                                                             monkeypatch):
    """``skclip-noise demo`` run again with other flags, its stdout reader gone: the output
    folder's report.txt, label_issues.csv and report.html come from one run.

    Fails today: run_demo writes report.txt, then prints the report (BrokenPipeError, an
    OSError: "error: [Errno 32] Broken pipe", status 2) before it writes label_issues.csv
    and report.html, and never removes an earlier run's: report.txt says 20 % noise beside
    the earlier run's 40 %-noise label_issues.csv and report.html."""
    out = str(tmp_path / "demo")
    common = ["demo", "--n-samples", "30", "--output-dir", out, "--quiet"]
    assert _run([*common, "--rate", "0.4"], capsys)[0] == 0
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stdout", _ClosedPipe())
        status, _, err = _run([*common, "--rate", "0.2"], capsys)
    text = open(os.path.join(out, "report.txt"), encoding="utf-8").read()
    issues = pd.read_csv(os.path.join(out, "label_issues.csv"))
    csv_rate = float((issues["given_label"] != issues["true_label"]).mean())
    txt_rate = 0.2 if "noise 20%" in text else 0.4
    assert abs(csv_rate - txt_rate) < 0.05, (
        f"report.txt says {txt_rate:.0%} noise, label_issues.csv holds {csv_rate:.0%} (status {status}: {err.strip()})")
