"""Regression tests from a bug hunt on the command line's inputs (CSV labels, the apply
command's output, device and image-size flags) and on the backbone/ImageEmbedder inputs
behind it (device strings, image_size on ViT towers, a folder as ``pretrained``).

Each test says what goes wrong today and what the right behaviour is. Every run uses
tiny random 32x32 images and tiny or random-weight backbones; nothing is downloaded.
"""

import os

import numpy as np
import pandas as pd
import pytest

from conftest import StopFit, class_folders, cli_exit, image_files
from skclip_noise import ImageEmbedder, cli

TINY_FLAGS = ["--backbone", "open_clip:skclip-tiny", "--pretrained", "none", "--quiet"]
#: Random-weight timm ViT (5M parameters): a tower that needs its native side (224).
TIMM_VIT = "timm:vit_tiny_patch16_224"


def _csv(path, rows):
    """A ``path,label`` CSV of ``rows`` written as text (labels exactly as given)."""
    path.write_text("path,label\n" + "".join(f"{p},{label}\n" for p, label in rows), encoding="utf-8")
    return path


# ----------------------------------------------------------------- CSV labels


def test_detect_keeps_csv_labels_01_and_1_apart(tmp_path, recorded_fit):
    # Today: pd.read_csv reads the label column as integers, so the classes "01" and "1"
    # silently become one class 1 (and "2" becomes 2): detect judges 12 images in 2 classes
    # instead of 3, and label_issues.csv shows labels the user never wrote. Right: labels are
    # text, as the image-folder route and read_decisions ("07" and "7" stay apart) keep them.
    paths = image_files(tmp_path / "images", 12)
    labels = ["01"] * 4 + ["1"] * 4 + ["2"] * 4
    csv = _csv(tmp_path / "images" / "labels.csv", [(p.name, label) for p, label in zip(paths, labels)])
    with pytest.raises(StopFit):
        cli.main(["detect", str(csv), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS])
    assert recorded_fit["y"] == labels


def test_detect_reads_a_label_named_None_as_a_label(tmp_path, recorded_fit, capsys):
    # Today: pandas reads the text None (also NA, null, n/a, nan) as a missing value, so a CSV
    # whose class is called "None" is refused with "has empty path or label cells" although
    # no cell is empty. Right: a non-empty cell is a label; the detector gets "None".
    paths = image_files(tmp_path, 8)
    labels = ["None"] * 4 + ["defect"] * 4
    csv = _csv(tmp_path / "labels.csv", [(p.name, label) for p, label in zip(paths, labels)])
    try:
        status = cli.main(["detect", str(csv), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS])
    except StopFit:
        status = None
    err = capsys.readouterr().err
    assert status is None, f"refused with exit {status}: {err}"
    assert recorded_fit["y"] == labels


def test_detect_refuses_a_csv_with_a_header_and_no_rows(tmp_path, capsys):
    # Today: a CSV holding only its header row gets past the input checks and the detector
    # fails inside skclip_noise.data.inputs with an IndexError traceback (exit 1). Right: exit
    # 2 with one line on stderr naming the CSV (it has no image rows), before any work.
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label\n")
    status, err = cli_exit(["detect", str(csv), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS], capsys)
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "labels.csv" in err


# ----------------------------------------------------------------- apply


def test_apply_writes_labels_that_look_like_numbers_as_they_were(tmp_path, capsys):
    # Today: apply reads INPUT's labels with pd.read_csv's number inference, so the
    # corrected CSV of a review that changed nothing turns the labels "01" and "02" into
    # 1 and 2 (and keeps nothing of the user's spelling). Right: labels that no decision
    # touched are written exactly as INPUT has them.
    paths = image_files(tmp_path, 4)
    labels = ["01", "02", "01", "02"]
    csv = _csv(tmp_path / "labels.csv", [(p.name, label) for p, label in zip(paths, labels)])
    decisions = tmp_path / "decisions.csv"
    decisions.write_text("sample,given_label,decision,label\n")
    out = tmp_path / "corrected.csv"
    status, err = cli_exit(["apply", str(csv), str(decisions), "--output", str(out), "--quiet"], capsys)
    assert status == 0, err
    assert pd.read_csv(out, dtype=str)["label"].tolist() == labels


def test_apply_default_output_never_overwrites_input(tmp_path, capsys):
    # Today: the default output is corrected_labels.csv beside DECISIONS, so a second round
    # of review (INPUT is the first round's corrected_labels.csv, the new decisions.csv saved
    # beside it) overwrites the user's INPUT in place, without a word. Right: INPUT is never
    # modified: refuse (exit 2, naming --output) or write somewhere else.
    paths = image_files(tmp_path / "images", 4)
    round_dir = tmp_path / "round2"
    round_dir.mkdir()
    csv = _csv(round_dir / "corrected_labels.csv",
               [(os.path.join("..", "images", p.name), label) for p, label in zip(paths, ["a", "b", "a", "b"])])
    before = csv.read_bytes()
    decisions = round_dir / "decisions.csv"
    decisions.write_text("sample,given_label,decision,label\n0,a,drop,\n")
    cli_exit(["apply", str(csv), str(decisions), "--quiet"], capsys)
    assert csv.read_bytes() == before


# ----------------------------------------------------------------- devices


def test_detect_with_a_device_torch_lacks_exits_2(tmp_path, capsys):
    # Today: resolve_device checks only cuda and mps, so --device xpu (Intel GPUs) on a
    # machine without one fails inside torch's Module.to with "AssertionError: Torch not
    # compiled with XPU enabled", a traceback (exit 1). Right: exit 2, one line saying the
    # device is not available here and to use auto or cpu.
    folder = class_folders(tmp_path / "images")
    status, err = cli_exit(["detect", str(folder), "--output-dir", str(tmp_path / "out"), "--device", "xpu",
                         *TINY_FLAGS], capsys)
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "xpu" in err


@pytest.mark.parametrize("device", ["xpu", "hpu"])
def test_embedder_refuses_a_device_torch_lacks_with_a_value_error(device):
    # Today: ImageEmbedder(device="xpu").fit raises torch's AssertionError ("Torch not
    # compiled with XPU enabled"), "hpu" a ModuleNotFoundError ("No module named
    # 'torch.hpu'"), from deep inside Module.to. Right: the ValueError resolve_device gives
    # for cuda and mps, naming the device and the way out ('auto' or 'cpu').
    X = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=device):
        ImageEmbedder("open_clip:skclip-tiny", pretrained=None, device=device).fit(X)


# ----------------------------------------------------------------- image_size


def test_embedder_wrong_image_size_on_a_timm_vit_is_a_clear_value_error():
    # Today: the image_size probe at fit catches only RuntimeError, but timm's and
    # torchvision's ViTs check the side with torch._assert, so image_size=64 on
    # timm:vit_tiny_patch16_224 raises "AssertionError: Input height (64) doesn't match
    # model (224)" from inside timm. Right: the ValueError open_clip ViTs get ("... does not
    # accept image_size=64; its native side is 224 ...").
    X = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="native side is 224"):
        ImageEmbedder(TIMM_VIT, pretrained=None, image_size=64, device="cpu").fit(X)


def test_detect_wrong_image_size_on_a_timm_vit_exits_2(tmp_path, capsys):
    # Today: the same AssertionError escapes cli.main: a traceback and exit 1. Right: exit 2
    # with one line naming the native side.
    folder = class_folders(tmp_path / "images")
    status, err = cli_exit(["detect", str(folder), "--output-dir", str(tmp_path / "out"), "--backbone", TIMM_VIT,
                         "--pretrained", "none", "--image-size", "64", "--device", "cpu", "--quiet"], capsys)
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "224" in err


def test_detect_image_size_error_names_the_flag_not_the_python_parameter(tmp_path, capsys):
    # Today: --image-size 64 on the tiny CLIP (a ViT of side 32) says "Use image_size=None",
    # a value the command line cannot take (--image-size None is refused by argparse). The
    # offline-weights errors already carry a CLI wording (cli_message). Right: the message
    # names the flag's way to keep the backbone's side, "--image-size 0".
    folder = class_folders(tmp_path / "images")
    status, err = cli_exit(["detect", str(folder), "--output-dir", str(tmp_path / "out"), "--image-size", "64",
                         *TINY_FLAGS], capsys)
    assert status == 2, err
    assert "--image-size 0" in err


# ----------------------------------------------------------------- pretrained


def test_pretrained_folder_is_not_called_a_missing_file(tmp_path):
    # Today: pretrained=<an existing folder> (e.g. a downloaded model snapshot) raises
    # FileNotFoundError "Checkpoint file '<folder>' does not exist", which is false and
    # sends the user looking for a typo. Right: the message says it is a folder and to pass
    # the checkpoint file inside it.
    folder = tmp_path / "ViT-B-32-snapshot"
    folder.mkdir()
    X = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises((ValueError, OSError)) as info:
        ImageEmbedder("open_clip:skclip-tiny", pretrained=str(folder), device="cpu").fit(X)
    message = str(info.value)
    assert "does not exist" not in message
    assert "folder" in message or "directory" in message


# Before: the CLI printed the library's advice in Python's words ("Lower cv or use
# cv=None", "pretrained=None"), which no flag takes. Right: the command line's flags.
@pytest.mark.parametrize("python, flags", [
    ("Lower cv or use cv=None.", "Lower --cv or leave it out."),
    ("or pretrained=None for random weights.", "or --pretrained none for random weights."),
    ("Pass pred_probs (fit(X, y, pred_probs=...)).", "Pass pred_probs (--pred-probs FILE)."),
])
def test_cli_words_the_library_advice_as_flags(python, flags):
    assert cli.as_flags(python) == flags


# Before: a CSV listing one image twice (even with two labels) was taken without a word.
def test_detect_input_warns_about_an_image_listed_twice(tmp_path):
    from skclip_noise._cli_inputs import read_detect_input

    images = image_files(tmp_path / "imgs", 3)
    csv = _csv(tmp_path / "labels.csv", [(images[0], "cat"), (images[1], "dog"), (images[0], "dog")])
    with pytest.warns(UserWarning, match="more than once"):
        read_detect_input(str(csv))


@pytest.mark.parametrize("pretrained", [0, 1, 1.5])
def test_load_backbone_refuses_a_number_for_pretrained(pretrained):
    """pretrained=0 equalled False and loaded random weights without a word; 1 equalled True."""
    from skclip_noise.backbones import load_backbone

    with pytest.raises(TypeError, match="pretrained must be None, True/False"):
        load_backbone("open_clip:skclip-tiny", pretrained=pretrained)


def test_embedder_refuses_an_empty_cache_dir(tmp_path, monkeypatch):
    """cache_dir="" wrote the embedding cache into the current folder."""
    monkeypatch.chdir(tmp_path)
    embedder = ImageEmbedder("open_clip:skclip-tiny", pretrained=None, cache_dir="")
    with pytest.raises(ValueError, match="'cache_dir' parameter of ImageEmbedder must be a non-empty str"):
        embedder.fit_transform(np.zeros((2, 32, 32, 3), np.uint8))
    assert not os.listdir(tmp_path)


def test_an_estimator_embedding_with_its_own_image_size_names_itself():
    """TurnClassifier(image_size=64) on a 32-px ViT said "ImageEmbedder: ...", a class the user never made."""
    from skclip_noise import TurnClassifier

    classifier = TurnClassifier("open_clip:skclip-tiny", pretrained=None, image_size=64, device="cpu")
    with pytest.raises(ValueError, match="^TurnClassifier: open_clip:skclip-tiny does not accept image_size=64"):
        classifier.fit(np.zeros((8, 32, 32, 3), np.uint8), np.r_[[0] * 4, [1] * 4])


def test_paths_starting_with_a_tilde_mean_the_home_folder(tmp_path, monkeypatch):
    """cache_dir="~/.cache/skclip-embeddings" (as the user guide shows) made a folder named
    "~" in the current folder, and pretrained="~/w.pt" was "does not exist"."""
    import torch

    from skclip_noise.backbones import load_backbone

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    X = np.zeros((2, 32, 32, 3), np.uint8)
    ImageEmbedder("open_clip:skclip-tiny", pretrained=None, cache_dir="~/embeddings").fit_transform(X)
    assert not os.listdir(work) and os.listdir(home / "embeddings")
    import torchvision

    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), home / "w.pt")
    assert load_backbone("torchvision:mobilenet_v2", pretrained="~/w.pt").feature_dim == 1280
