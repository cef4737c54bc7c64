"""Regression tests from a bug hunt on long command-line runs, as a user with a
100,000-image crawl meets them: ``skclip-noise detect`` left running under ``nohup ... >
log 2>&1`` or in a CI log, stopped with Ctrl-C (SIGINT) or by a job scheduler (SIGTERM),
then run again, with the same or changed flags; and ``--help`` read to script it.

Runs use the tiny random CLIP (or its CNN variant) on a few dozen 32 px images written in
``tmp_path``. A run to be stopped is the real CLI in a subprocess whose image loader sends
the signal to its own process after a given number of images (deterministic: the kernel
delivers it as it would a Ctrl-C or a ``kill``). Each test says what a user sees today and
what they should see; the two that pass pin behaviour checked and found correct, and say so.
"""

import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import class_folders, cli_exit, image_files

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.filterwarnings("ignore::UserWarning")]  # random features: the detectors' advice

posix_only = pytest.mark.skipif(os.name != "posix", reason="sends POSIX signals")

TINY = ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none", "--device", "cpu",
        "--n-neighbors", "2", "--cv", "2"]
TINY_CNN = ["--backbone", "open_clip:skclip-tiny-cnn", "--pretrained", "none", "--device", "cpu",
            "--n-neighbors", "2", "--cv", "2"]
N_IMAGES = 60  # 2 classes x 30
STOP_AT = 48  # the signal comes as the 49th image is loaded: 12 batches of 4 are embedded

#: ``skclip-noise`` as the console script runs it, with a Ctrl-C (or ``kill``) arriving when
#: the STOP_AT-th image is loaded in the embedding pass.
_STOPPED_RUN = textwrap.dedent("""
    import os, signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a terminal's Ctrl-C, whatever the runner set
    from skclip_noise import cli
    from skclip_noise.data import inputs
    stop_at, signum, loaded = int(os.environ["STOP_AT"]), int(os.environ["STOP_SIGNAL"]), []
    getitem = inputs.ImageDataset.__getitem__
    def counted(self, position):
        loaded.append(position)
        if len(loaded) == stop_at:
            os.kill(os.getpid(), signum)
        return getitem(self, position)
    inputs.ImageDataset.__getitem__ = counted
    sys.exit(cli.main(sys.argv[1:]))
""")


def _stopped_detect(folder, output_dir, signum, flags, cwd):
    """``skclip-noise detect folder --output-dir output_dir *flags`` stopped by ``signum``
    during the embedding pass; the ``CompletedProcess`` (text stderr)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "STOP_AT": str(STOP_AT), "STOP_SIGNAL": str(int(signum))}
    argv = ["detect", str(folder), "--output-dir", str(output_dir), "--batch-size", "4", *flags]
    return subprocess.run([sys.executable, "-c", _STOPPED_RUN, *argv], capture_output=True, text=True,
                          timeout=120, env=env, cwd=cwd)


@pytest.fixture
def embedded_images(monkeypatch):
    """The number of images each embedding pass of the test computes (not read from the cache)."""
    from skclip_noise.embedder import ImageEmbedder

    counts, embed = [], ImageEmbedder._embed

    def counting(self, backbone, dataset, **kwargs):
        counts.append(len(dataset))
        return embed(self, backbone, dataset, **kwargs)

    monkeypatch.setattr(ImageEmbedder, "_embed", counting)
    return counts


@pytest.fixture(scope="module")
def ctrl_c_rerun(tmp_path_factory):
    """A complete ``detect`` run into ``review/``, then a second one with another backbone
    into the same folder, stopped by Ctrl-C during its embedding pass: (the stopped run's
    ``CompletedProcess``, ``review/``)."""
    from skclip_noise import cli

    root = tmp_path_factory.mktemp("ctrl_c_rerun")
    folder = class_folders(root / "images", per_class=N_IMAGES // 2)
    review = root / "review"
    assert cli.main(["detect", str(folder), "--output-dir", str(review), *TINY, "--quiet"]) == 0
    assert (review / "label_issues.csv").is_file() and (review / "report.html").is_file()
    return _stopped_detect(folder, review, signal.SIGINT, TINY_CNN, cwd=root), review


# ------------------------------------------------------------------------- Ctrl-C, SIGTERM


@posix_only
def test_ctrl_c_during_detect_says_one_line_not_a_python_traceback(ctrl_c_rerun):
    """Convention: a command line stopped by Ctrl-C exits with status 130 (or is killed by
    SIGINT, which a shell reports as 130) and says so in one line; skclip_noise/cli.py:477-489
    turns every error it expects into one ``skclip-noise detect: error: ...`` line and never
    shows Python source. A user presses Ctrl-C while ``detect`` embeds their folder. Today
    ``main`` catches no ``KeyboardInterrupt``: they get a 40-line Python traceback through
    embedder.py, training/loop.py, tqdm and torch's DataLoader, ending in
    ``KeyboardInterrupt`` (the status, killed by SIGINT, is right). Right: one line in the
    command's voice (``skclip-noise detect: interrupted ...``), status 130."""
    result, _ = ctrl_c_rerun
    assert result.returncode in (130, -signal.SIGINT), result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr, (
        f"Ctrl-C printed a Python traceback of {len(lines)} lines, ending: {lines[-6:]}"
    )
    assert result.stderr.strip().splitlines()[-1].startswith("skclip-noise detect:"), result.stderr[-500:]


@posix_only
def test_ctrl_c_in_a_rerun_does_not_silently_delete_the_previous_report(ctrl_c_rerun):
    """skclip_noise/cli.py:383-387 removes the previous run's ``label_issues.csv`` and
    ``report.html`` from ``--output-dir`` *before* the fit (the embedding pass, hours on a
    large crawl), not when the new pair is written. A user who has a complete report in
    ``review/`` (and maybe half their review done in it) tries another backbone into the same
    folder and presses Ctrl-C ten minutes in. Today ``review/`` holds neither file any more,
    and nothing says so (only a traceback, see the test above). Right: an interrupted (or
    failed) run leaves the previous complete pair in place until the new pair replaces it
    (write both under temporary names and rename them at the end; that still never mixes two
    runs' files, which tests/test_cli_reruns.py asks), or at least the message says that
    ``review/`` no longer holds a report."""
    result, review = ctrl_c_rerun
    kept = (review / "label_issues.csv").is_file() and (review / "report.html").is_file()
    assert kept or "report.html" in result.stderr, (
        f"the stopped rerun removed {review}/label_issues.csv and report.html and said nothing; {review} "
        f"holds {sorted(os.listdir(review))}"
    )


@posix_only
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_run_keeps_the_embeddings_it_computed(signum, tmp_path, capsys, embedded_images):
    """docs/user_guide/embedder.rst:16-19 ("every embedding is stored on disk ... so a second
    call (..., a rerun of a script) only reads"), ``--cache-dir`` (default
    ``<output-dir>/embeddings``) and docs/user_guide/gpu_scaling.rst:67 (a fit interrupted by
    a pre-empted job resumes). A user's ``detect`` on a 100,000-image crawl (about an hour at
    the 29 images/s docs/user_guide/embedder.rst measures for MobileNetV2 at 224 px on a CPU)
    is stopped at 80 % of its embedding pass: Ctrl-C, or SIGTERM from a job scheduler
    pre-empting it or from ``timeout``. Today nothing of the pass is kept
    (embedder.py:362-370 stores the rows only after ``_embed`` returns them all; the cache
    folder holds only ``backbone.txt``): the rerun embeds all 60 images again (all 100,000).
    What holds, and is pinned: SIGTERM ends the run with its status (143, or killed by
    SIGTERM). Right: the rerun embeds only what was not done, e.g. the embedding pass adds a
    cache shard every few batches, or stores the rows it has when ``KeyboardInterrupt``
    (and, through a SIGTERM handler the CLI installs, ``SystemExit``) stops it."""
    folder = class_folders(tmp_path / "images", per_class=N_IMAGES // 2)
    out = tmp_path / "review"
    stopped = _stopped_detect(folder, out, signum, TINY, cwd=tmp_path)
    assert stopped.returncode in (128 + signum, -signum), stopped.stderr[-2000:]

    status, err = cli_exit(["detect", str(folder), "--output-dir", str(out), *TINY, "--quiet"], capsys)
    assert status == 0, err
    assert sum(embedded_images) < N_IMAGES, (
        f"the rerun embedded all {sum(embedded_images)} images again, though the stopped run had embedded "
        f"{STOP_AT} of them; its cache holds {sorted(p.name for p in (out / 'embeddings').rglob('*'))}"
    )


# ------------------------------------------------------------------- progress in a log file


def test_progress_in_a_log_file_is_lines_not_carriage_returns(tmp_path, capsys):
    """Convention (wget, pip, cargo, docker): a progress bar redrawn with carriage returns is
    drawn on a terminal only; written to a file or a pipe (``nohup skclip-noise detect ... >
    log 2>&1``, a CI log) progress is plain lines. ``-q``'s help (cli.py:194, "no progress
    bars or messages") implies that without it the user is told how far the run is. Today
    the tqdm bars of skclip_noise/training/loop.py:509 (and :248) write their redraws
    whatever stderr is: the log gets one "line" of up to one redraw per batch joined by
    ``\\r`` (1,563 for 100,000 images at the default batch of 64, a line per redraw in a CI
    viewer, ``^M`` runs in ``less``), and ``leave=False`` ends it with a redraw of blanks, so
    a ``cat`` of the finished log shows no trace of the embedding (here the log holds one
    ``0/15`` redraw, then blanks). Right: on a stderr that is not a terminal, no ``\\r``;
    a few plain lines saying what is embedded and how far it got (e.g. tqdm's bar only
    when ``sys.stderr.isatty()``, else a line every 10 % or every minute)."""
    folder = class_folders(tmp_path / "images", per_class=N_IMAGES // 2)
    status, err = cli_exit(["detect", str(folder), "--output-dir", str(tmp_path / "out"), *TINY,
                            "--batch-size", "4"], capsys)  # not --quiet; capsys's stderr is no terminal
    assert status == 0, err
    assert "\r" not in err, f"the log holds carriage-return redraws: {err[:400]!r}"
    assert re.search(r"embed", err, re.IGNORECASE), f"the log never says the images were embedded: {err!r}"


# ------------------------------------------------------------------------------- --help


def _option_help(command, option, capsys):
    """The help text of ``option`` in ``skclip-noise command --help``, on one line."""
    from skclip_noise import cli

    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = capsys.readouterr().out
    match = re.search(rf"^  (?:-\w, )?{re.escape(option)}\b(.*?)(?=^  -|\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"{option} is not in {command} --help"
    return " ".join(match.group(1).split())


def test_help_states_one_default_per_option(capsys):
    """The help promises each option's default (``ArgumentDefaultsHelpFormatter``,
    cli.py:116 and :84). For the options whose default is worked out at run time the help
    already says it in words and argparse appends the parser's placeholder, so a user reads
    two defaults that disagree: ``--cache-dir``: "(default: <output-dir>/embeddings)
    (default: None)", ``--n-neighbors``: "consensus (default: 20) ... (default: None)",
    ``--cv``: "consensus (default 5) ... (default: None)", ``--forget-rate``: "(default:
    estimated) (default: None)", and demo's ``--n-samples`` ("(default: digits all 1797,
    fashion-mnist 2000) (default: None)"). A user scripting a long run cannot tell which
    holds. Right: only the real default (a formatter that appends ``%(default)s`` only for
    a default that is not None, or only where the help does not state one)."""
    two = {}
    for command, option in [("detect", "--cache-dir"), ("detect", "--n-neighbors"), ("detect", "--cv"),
                            ("detect", "--forget-rate"), ("demo", "--n-samples")]:
        text = _option_help(command, option, capsys)
        if "(default: None)" in text:  # besides the default its help states in words
            two[f"{command} {option}"] = text
    assert not two, f"options whose help states two different defaults: {two}"


@pytest.mark.parametrize("option, default", [("--batch-size", "64"), ("--device", "auto"),
                                             ("--random-state", "0")])
def test_help_shows_the_default_of_every_option(option, default, capsys):
    """Minor. ``detect --help`` shows "(default: ...)" after every option
    (``ArgumentDefaultsHelpFormatter``), except the three that cli.py:163-165 gives no help
    text: ``--batch-size`` (64), ``--device`` ("auto": cuda, then mps, then cpu) and
    ``--random-state`` (0) read as bare "--batch-size BATCH_SIZE" lines, since argparse
    appends the default only to a help text. A user sizing a long run (memory per batch;
    whether it will use the GPU) must read the source. Right: a help text for each, so its
    default is shown."""
    assert f"(default: {default})" in _option_help("detect", option, capsys)


# ------------------------------------------------------------ reruns with changed flags


def test_rerun_with_other_detector_flags_reuses_the_cache_and_another_image_size_does_not(
        tmp_path, capsys, embedded_images):
    """Checked and found correct (pinned): ``--cache-dir`` (default
    ``<output-dir>/embeddings``) is keyed by the image content and the backbone
    configuration only (embedder.py:386-399). A user reruns ``detect`` into the same
    ``--output-dir`` with other detector flags (another detector, threshold, batch size,
    random state): nothing is embedded again; with another ``--image-size`` every image is;
    after the crawl grew by a folder of 6 new images, only those 6 are. (Checked too, not pinned: gmm, small-loss, label-match and dual-prompt with frozen
    towers, ``--flag-disagreement``, ``--skip-unreadable`` and ``--device auto`` on a CPU
    machine reuse it; another ``--backbone`` does not.)"""
    folder = class_folders(tmp_path / "images", per_class=N_IMAGES // 2)
    base = ["detect", str(folder), "--output-dir", str(tmp_path / "out"), *TINY_CNN, "--quiet"]
    runs = [[], ["--detector", "neighbour"], ["--threshold", "0.3", "--batch-size", "7", "--random-state", "3"],
            ["--image-size", "48"]]
    embedded = []
    for extra in runs + [["--image-size", "48"]]:
        if len(embedded) == len(runs):
            image_files(folder / "eel", 6, seed=7)  # the crawl grew
        embedded_images.clear()
        status, err = cli_exit([*base, *extra], capsys)
        assert status == 0, err
        embedded.append(sum(embedded_images))
    assert embedded == [N_IMAGES, 0, 0, N_IMAGES, 6]
