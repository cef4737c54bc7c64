"""The skclip-noise command line."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from skclip_noise import cli
from skclip_noise.backbones import offline_weights

HAS_MOBILENET = offline_weights.list_offline_weights()[0].installed


def test_help_everywhere(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "detect" in out
    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "--backbone" in out and "--rate" in out
    with pytest.raises(SystemExit):
        cli.main(["detect", "--help"])
    out = capsys.readouterr().out
    assert "INPUT" in out and "--detector" in out


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "skclip_noise.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "skclip-noise" in result.stdout


def test_demo_runs_end_to_end_on_random_weights(tmp_path, capsys):
    status = cli.main(
        [
            "demo",
            "--n-samples", "200",
            "--backbone", "open_clip:skclip-tiny",
            "--pretrained", "none",
            "--image-size", "0",
            "--output-dir", str(tmp_path),
            "--quiet",
        ]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "precision" in out and "noisy" in out
    issues = pd.read_csv(tmp_path / "label_issues.csv")
    assert len(issues) == 200
    assert set(issues.columns) >= {"is_label_issue", "label_quality", "given_label", "predicted_label", "issue_type"}
    assert set(issues["issue_type"]) <= {"ok", "label", "outlier"}
    assert ((issues["issue_type"] == "ok") == ~issues["is_label_issue"]).all()
    assert issues["label_quality"].is_monotonic_increasing
    assert (tmp_path / "report.txt").read_text().count("precision") == 1
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()


@pytest.mark.skipif(not HAS_MOBILENET, reason="needs the offline-weights extra (MobileNetV2)")
def test_demo_with_real_weights_finds_most_injected_noise(tmp_path, capsys):
    status = cli.main(["demo", "--n-samples", "300", "--output-dir", str(tmp_path)])
    assert status == 0
    issues = pd.read_csv(tmp_path / "label_issues.csv")
    # 30 of the disputed labels (kept, another class more probable) are in the report to check.
    n_disputed = int((~issues["is_label_issue"] & (issues["predicted_label"] != issues["given_label"])).sum())
    assert n_disputed > 0
    assert (tmp_path / "report.html").read_text().count('data-kind="disputed"') == min(30, n_disputed)
    assert f"{n_disputed:,} kept labels are disputed" in capsys.readouterr().err
    flagged = issues["is_label_issue"]
    truly_noisy = issues["given_label"] != issues["true_label"]
    precision = (flagged & truly_noisy).sum() / flagged.sum()
    recall = (flagged & truly_noisy).sum() / truly_noisy.sum()
    # Measured on this 300-image subset (seed 0, 40% symmetric, the default ConsensusDetector):
    # noisy precision 0.82, recall 0.93 (GMMLossDetector: 0.87, 0.79); chance would be 0.40
    # precision at any recall.
    assert precision > 0.75 and recall > 0.7, (precision, recall)


def test_demo_runs_deft_on_the_aligned_clip(tmp_path, capsys):
    pytest.importorskip("transformers")
    from skclip_noise.backbones.offline_weights.files import _candidate_path

    if not all((p := _candidate_path(s)[1]) is not None and p.is_file() for s in ("all_minilm_l6_v2", "efficientnet_lite0")):
        pytest.skip("the aligned CLIP needs the offline-weights extra")
    status = cli.main(["demo", "--aligned-clip", "--detector", "dual-prompt", "--n-samples", "60", "--epochs", "1",
                       "--output-dir", str(tmp_path), "--quiet"])
    assert status == 0
    out = capsys.readouterr().out
    assert "DualPromptDetector on open_clip:skclip-aligned-efficientnet-lite0" in out
    assert len(pd.read_csv(tmp_path / "label_issues.csv")) == 60


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "--backbone", "timm:not_a_model_at_all"], "Unknown timm model"),
        (["demo", "--pretrained", "/nowhere/weights.pt"], "does not exist"),
        (["demo", "--backbone", "open_clip:ViT-B-32", "--pretrained", "openai", "--image-size", "0"], "Could not fetch"),
    ],
)
def test_clear_errors_without_traceback(argv, message, tmp_path, capsys):
    status = cli.main(argv + ["--output-dir", str(tmp_path), "--quiet", "--n-samples", "200"])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and "Traceback" not in err


def test_missing_default_weights_name_the_offline_route_in_flags(digits, tmp_path, capsys):
    """Offline, the default CLIP's weights cannot be fetched: the message names the local route."""
    from skclip_noise.datasets import make_image_folder

    X, y = digits
    folder = make_image_folder(X[:100], y[:100], tmp_path / "images")  # 10 per class: enough folds
    status = cli.main(["detect", str(folder), "--output-dir", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "--backbone torchvision:mobilenet_v2 --pretrained offline" in err
    assert 'pretrained="offline"' not in err  # the Python wording is for the API


TINY_FLAGS = ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none", "--epochs", "2", "--quiet"]


def test_detect_on_an_image_folder(digits_folder, tmp_path):
    # The default detector (consensus) on 3 images per class: small neighbourhoods and folds.
    status = cli.main(["detect", str(digits_folder), "--output-dir", str(tmp_path), "--n-neighbors", "2",
                       "--cv", "3", *TINY_FLAGS])
    assert status == 0
    issues = pd.read_csv(tmp_path / "label_issues.csv")
    assert len(issues) == 30 and issues["path"].str.endswith(".png").all()
    assert (tmp_path / "report.html").exists()


@pytest.mark.parametrize("detector", ["small-loss", "label-match", "gmm"])
def test_detect_on_a_csv_with_relative_paths(detector, digits_folder, tmp_path):
    import os

    from skclip_noise.datasets import load_image_folder

    paths, labels = load_image_folder(digits_folder)

    relative = [os.path.relpath(p, tmp_path) for p in paths]  # read from the CSV's folder
    csv = str(tmp_path / "labels.csv")
    pd.DataFrame({"path": relative, "label": labels}).to_csv(csv, index=False)
    names = ["--class-names", "zero,one,two,three,four,five,six,seven,eight,nine"] if detector == "label-match" else []
    status = cli.main(["detect", csv, "--detector", detector, "--output-dir", str(tmp_path / "out"), *names, *TINY_FLAGS])
    assert status == 0
    assert len(pd.read_csv(tmp_path / "out" / "label_issues.csv")) == 30


def _csv_with_groups(digits_folder, tmp_path):
    from skclip_noise.datasets import load_image_folder

    paths, labels = load_image_folder(digits_folder)
    groups = [f"video{i // 2}" if i < 10 else None for i in range(30)]  # five pairs; the rest alone
    csv = str(tmp_path / "labels.csv")
    pd.DataFrame({"path": paths, "label": labels, "group": groups}).to_csv(csv, index=False)
    return csv


def test_detect_passes_a_csv_group_column_to_the_consensus_detector(digits_folder, tmp_path, capsys, monkeypatch):
    from skclip_noise import ConsensusDetector

    seen = {}
    real_fit = ConsensusDetector.fit

    def recording_fit(self, X, y, pred_probs=None, groups=None):
        seen["groups"] = groups
        return real_fit(self, X, y, pred_probs=pred_probs, groups=groups)

    monkeypatch.setattr(ConsensusDetector, "fit", recording_fit)
    csv = _csv_with_groups(digits_folder, tmp_path)
    status = cli.main(["detect", csv, "--output-dir", str(tmp_path / "out"), "--n-neighbors", "2", "--cv", "3",
                       *TINY_FLAGS[:-1]])
    assert status == 0 and "30 images, 10 classes, 25 groups." in capsys.readouterr().err
    groups = seen["groups"]
    assert [groups[i] == groups[i + 1] for i in range(0, 10, 2)] == [True] * 5
    assert len(set(groups[10:].tolist())) == 20 and not set(groups[10:]) & set(groups[:10])  # empty: alone
    assert len(pd.read_csv(tmp_path / "out" / "label_issues.csv")) == 30


def test_detect_says_other_detectors_ignore_the_group_column(digits_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "make_detector", _stop)
    with pytest.raises(_Stop):
        cli.main(["detect", _csv_with_groups(digits_folder, tmp_path), "--detector", "neighbour",
                  "--output-dir", str(tmp_path / "out"), "--quiet"])
    assert "the CSV's 'group' column is read by --detector consensus only (not neighbour)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        ("file,label\na.png,1\n", "needs columns 'path' and 'label'"),
        ("path,label\n,1\n", "empty path or label"),
        ("path,label\nmissing.png,1\nother.png,2\n", "do not exist"),
        ("", "Cannot read"),
    ],
)
def test_detect_rejects_bad_csvs(content, message, tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    assert cli.main(["detect", str(csv), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_detect_rejects_a_missing_input(tmp_path, capsys):
    assert cli.main(["detect", str(tmp_path / "nowhere"), *TINY_FLAGS]) == 2
    assert "neither an image folder nor a CSV" in capsys.readouterr().err


def _copy_folder(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


def test_detect_names_a_corrupt_image_before_any_work(digits_folder, tmp_path, capsys, monkeypatch):
    folder = _copy_folder(digits_folder, tmp_path / "images")
    victim = sorted(folder.rglob("*.png"))[3]
    victim.write_bytes(victim.read_bytes()[:40])  # truncated PNG
    monkeypatch.setattr(cli, "make_detector", _no_detector)
    status = cli.main(["detect", str(folder), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert victim.name in err and "cannot be read" in err


def _no_detector(*args, **kwargs):
    raise AssertionError("the detector was built before the inputs were checked")


def test_detect_refuses_an_output_dir_that_is_a_file_before_any_work(digits_folder, tmp_path, capsys, monkeypatch):
    target = tmp_path / "report"
    target.write_text("not a folder")
    monkeypatch.setattr(cli, "make_detector", _no_detector)
    status = cli.main(["detect", str(digits_folder), "--output-dir", str(target), *TINY_FLAGS])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--output-dir" in err and "is a file" in err


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="root can write anywhere")
def test_detect_refuses_an_unwritable_output_dir_before_any_work(digits_folder, tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.setattr(cli, "make_detector", _no_detector)
    try:
        status = cli.main(["detect", str(digits_folder), "--output-dir", str(locked / "out"), *TINY_FLAGS])
    finally:
        locked.chmod(0o700)
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err and "cannot write" in err


def test_unwritable_output_dir_is_checked_before_any_work(digits_folder, tmp_path, capsys, monkeypatch):
    # Also as root: a write that fails (simulated) is reported in one line, before the detector.
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(cli, "make_detector", _no_detector)
    status = cli.main(["detect", str(digits_folder), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "cannot write" in err and "--output-dir" in err


def test_demo_refuses_an_output_dir_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "report"
    target.write_text("not a folder")
    status = cli.main(["demo", "--output-dir", str(target), "--backbone", "open_clip:skclip-tiny",
                       "--pretrained", "none", "--quiet", "--n-samples", "100"])
    err = capsys.readouterr().err
    assert status == 2 and "is a file" in err and "Traceback" not in err


# ------------------------------------------- unreadable files and flags (issue 19)


def _folder_with_unreadable_files(digits_folder, tmp_path):
    """The 30 digits plus a text file named .jpg and a JPEG cut short (verify() passes it)."""
    from PIL import Image

    folder = _copy_folder(digits_folder, tmp_path / "images")
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    text = classes[0] / "zz-notes.jpg"
    text.write_text("not an image at all")
    cut = classes[1] / "zz-cut.jpg"
    noise = __import__("numpy").random.default_rng(0).integers(0, 256, (48, 48, 3), dtype="uint8")
    Image.fromarray(noise).save(cut, quality=90)
    cut.write_bytes(cut.read_bytes()[:-400])
    with Image.open(cut) as image:
        image.verify()
    return folder, text, cut


CONSENSUS_FLAGS = ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none", "--n-neighbors", "2", "--cv", "3"]


def test_detect_skip_unreadable_finishes_and_lists_the_files(digits_folder, tmp_path, capsys):
    folder, text, cut = _folder_with_unreadable_files(digits_folder, tmp_path)
    out = tmp_path / "out"
    status = cli.main(["detect", str(folder), "--output-dir", str(out), "--skip-unreadable", *CONSENSUS_FLAGS])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "Skipped 2 of 32 images" in err and "unreadable.csv" in err
    unreadable = pd.read_csv(out / "unreadable.csv")
    assert list(unreadable.columns) == ["sample", "path", "reason"]
    by_name = {os.path.basename(p): r for p, r in zip(unreadable["path"], unreadable["reason"])}
    assert set(by_name) == {text.name, cut.name}
    assert "truncated" in by_name[cut.name] and "not an image" in by_name[text.name]
    issues = pd.read_csv(out / "label_issues.csv")
    assert len(issues) == 30 and not issues["path"].str.endswith(".jpg").any()
    assert not set(issues["sample"]) & set(unreadable["sample"])  # positions in the input
    assert set(issues["sample"]) | set(unreadable["sample"]) == set(range(32))
    assert "2 of 32 images unreadable" in (out / "report.html").read_text()


def test_detect_without_skip_unreadable_names_the_files_before_any_work(digits_folder, tmp_path, capsys, monkeypatch):
    folder, text, cut = _folder_with_unreadable_files(digits_folder, tmp_path)
    monkeypatch.setattr(cli, "make_detector", _no_detector)
    status = cli.main(["detect", str(folder), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert text.name in err and cut.name in err and "truncated" in err
    assert "--skip-unreadable" in err
    assert not (tmp_path / "out" / "unreadable.csv").exists()


def test_detect_skip_unreadable_with_no_readable_image(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(6):  # enough for the detector's folds and neighbours
            (tmp_path / "images" / name / f"x{i}.png").write_text("text")
    out = tmp_path / "out"
    status = cli.main(["detect", str(tmp_path / "images"), "--output-dir", str(out), "--skip-unreadable", *TINY_FLAGS])
    err = capsys.readouterr().err
    assert status == 2 and "None of the 12 images can be read" in err and "Traceback" not in err
    assert len(pd.read_csv(out / "unreadable.csv")) == 12


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "argument --epochs: must be an integer >= 1; got 0"),
        (["--epochs", "two"], "argument --epochs: expected an integer >= 1"),
        (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
        (["--cv", "1"], "argument --cv: must be an integer >= 2"),
        (["--n-neighbors", "0"], "argument --n-neighbors: must be"),
        (["--threshold", "1.5"], "argument --threshold: must be a number in [0, 1]"),
        (["--threshold", "nan"], "argument --threshold: must be a number in [0, 1]"),
        (["--forget-rate", "1"], "argument --forget-rate: must be a number in [0, 1)"),
        (["--image-size", "-1"], "argument --image-size: must be an integer >= 0"),
        (["--max-items", "-5"], "argument --max-items: must be"),
        (["--random-state", "-1"], "argument --random-state: must be"),
        (["--class-names", "a,,b"], "argument --class-names: expected comma-separated, non-empty"),
    ],
)
def test_detect_refuses_invalid_flag_values_before_any_work(argv, message, digits_folder, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.setattr(cli, "read_detect_input", _no_detector)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["detect", str(digits_folder), "--output-dir", str(tmp_path), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_demo_refuses_an_invalid_rate(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--rate", "1.5"])
    assert exit_info.value.code == 2 and "argument --rate: must be a number in [0, 1]" in capsys.readouterr().err


def test_dual_prompt_refuses_full_tuning_before_any_work(digits_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "read_detect_input", _no_detector)
    status = cli.main(["detect", str(digits_folder), "--output-dir", str(tmp_path), "--detector", "dual-prompt",
                       "--tuning", "full"])
    err = capsys.readouterr().err
    assert status == 2 and "--tuning full does not apply to --detector dual-prompt" in err and "frozen or peft" in err


class _Stop(Exception):
    pass


def _stop(*args, **kwargs):
    raise _Stop


@pytest.mark.parametrize(
    "detector, argv, warned",
    [
        ("consensus", ["--epochs", "10"], ["--epochs"]),  # the default value, but given
        ("consensus", ["--per-class", "--tuning", "peft"], ["--per-class", "--tuning"]),
        ("gmm", ["--n-neighbors", "5", "--epochs", "3", "--cv", "3", "--flag-disagreement"],
         ["--flag-disagreement", "--n-neighbors"]),
        ("neighbour", ["--threshold", "0.3", "--random-state", "1", "--n-neighbors", "3"],
         ["--random-state", "--threshold"]),
        ("label-match", ["--forget-rate", "0.2", "--class-names", "a,b"], ["--forget-rate"]),
        ("small-loss", ["--class-names", "a,b", "--tuning", "peft", "--forget-rate", "0.2"], ["--class-names"]),
        ("dual-prompt", ["--epochs", "3", "--threshold", "0.4", "--class-names", "a,b"], []),
        ("consensus", [], []),
    ],
)
def test_detect_warns_about_flags_the_detector_does_not_use(detector, argv, warned, digits_folder, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.setattr(cli, "make_detector", _stop)
    with pytest.raises(_Stop):
        cli.main(["detect", str(digits_folder), "--output-dir", str(tmp_path), "--detector", detector, "--quiet",
                  *argv])
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == len(warned), lines
    for line, flag in zip(lines, warned):
        assert line.startswith(f"skclip-noise detect: warning: {flag} does not apply to --detector {detector} "
                               "(only to ")
        assert line.endswith("it is ignored.")
    assert all("dual-prompt" in line for line in lines if "--epochs" in line)


def test_detect_passes_flag_disagreement_to_the_consensus_detector(digits_folder, tmp_path, monkeypatch):
    made = {}

    def record(*args, **kwargs):
        made["detector"] = cli_make_detector(*args, **kwargs)
        raise _Stop

    cli_make_detector = cli.make_detector
    monkeypatch.setattr(cli, "make_detector", record)
    for argv, expected in (([], False), (["--flag-disagreement"], True)):
        with pytest.raises(_Stop):
            cli.main(["detect", str(digits_folder), "--output-dir", str(tmp_path), "--quiet", *argv])
        assert made["detector"].get_params()["flag_disagreement"] is expected


def test_demo_does_not_warn_about_its_random_state(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "load_demo_data", _stop)
    with pytest.raises(_Stop):
        cli.main(["demo", "--detector", "neighbour", "--random-state", "3", "--cv", "3", "--output-dir", str(tmp_path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--cv does not apply to --detector neighbour" in lines[0]


def test_detect_skip_unreadable_with_a_tower_that_trains(digits_folder, tmp_path, capsys):
    """--tuning peft: the detector finds the unreadable files by decoding each once."""
    folder, text, cut = _folder_with_unreadable_files(digits_folder, tmp_path)
    out = tmp_path / "out"
    status = cli.main(["detect", str(folder), "--output-dir", str(out), "--skip-unreadable", "--detector", "gmm",
                       "--tuning", "peft", "--batch-size", "16", *TINY_FLAGS[:-1]])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "Skipped 2 of 32 images" in err and "Traceback" not in err and "UserWarning" not in err
    unreadable = pd.read_csv(out / "unreadable.csv")
    assert sorted(os.path.basename(p) for p in unreadable["path"]) == sorted([cut.name, text.name])
    issues = pd.read_csv(out / "label_issues.csv")
    assert len(issues) == 30 and set(issues["sample"]) | set(unreadable["sample"]) == set(range(32))


def test_detect_skip_unreadable_names_a_class_left_without_images(digits_folder, tmp_path, capsys):
    folder = _copy_folder(digits_folder, tmp_path / "images")
    ghost = folder / "ghost"
    ghost.mkdir()
    for i in range(3):
        (ghost / f"x{i}.png").write_text("text")
    out = tmp_path / "out"
    status = cli.main(["detect", str(folder), "--output-dir", str(out), "--skip-unreadable", "--detector", "neighbour",
                       "--n-neighbors", "2", *TINY_FLAGS[:4], "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "Every image of class 'ghost' is unreadable" in err
    assert len(pd.read_csv(out / "unreadable.csv")) == 3  # what to fix, even though the run stopped
