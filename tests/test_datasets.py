"""Tests for skclip_noise.datasets (nothing is downloaded)."""

import gzip
import os
import struct

import numpy as np
import pandas as pd
import pytest

from conftest import FASHION_MNIST_FOLDER, needs_fashion_mnist
from skclip_noise import datasets
from skclip_noise.datasets import (
    DIGITS_CLASSES,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_ENV_VAR,
    load_digits_images,
    load_fashion_mnist,
    load_image_folder,
    make_image_folder,
)

@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv(FASHION_MNIST_ENV_VAR, raising=False)


def _idx_bytes(array, type_code=0x08):
    array = np.asarray(array)
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1").tobytes()


def _write_fake_fashion(folder, n_train=40, n_test=20, seed=0):
    """Write a small, valid Fashion-MNIST-shaped dataset; return its arrays."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        with gzip.open(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(_idx_bytes(images))
        with gzip.open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(_idx_bytes(labels))
        out[prefix] = (images, labels)
    return out


# ----------------------------------------------------------------------------- digits


def test_load_digits_images():
    X, y = load_digits_images()
    assert X.shape == (1797, 8, 8)
    assert X.dtype == np.uint8
    assert X.min() == 0 and X.max() == 255
    assert y.shape == (1797,)
    assert np.issubdtype(y.dtype, np.integer)
    assert set(np.unique(y)) == set(range(10))

    from sklearn.datasets import load_digits

    expected = np.round(load_digits().images * 255 / 16).astype(np.uint8)
    np.testing.assert_array_equal(X, expected)


def test_load_digits_images_as_strings():
    X, y_int = load_digits_images()
    _, y_str = load_digits_images(as_strings=True)
    assert y_str.dtype == object
    assert list(np.unique(y_str)) == list(DIGITS_CLASSES)
    np.testing.assert_array_equal(y_str, y_int.astype(str).astype(object))


# ----------------------------------------------------------------------------- Fashion


@needs_fashion_mnist
@pytest.mark.parametrize(
    "subset, n", [(None, 60000), ("train", 60000), ("test", 10000), ("all", 70000)]
)
def test_fashion_mnist_real_files(subset, n):
    X, y = load_fashion_mnist(FASHION_MNIST_FOLDER, subset=subset)
    assert X.shape == (n, 28, 28)
    assert X.dtype == np.uint8
    assert X.flags.writeable
    assert y.shape == (n,)
    assert y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10))
    # Fashion-MNIST is balanced: 6000 / 1000 / 7000 images per class.
    np.testing.assert_array_equal(np.bincount(y), np.full(10, n // 10))


@needs_fashion_mnist
def test_fashion_mnist_all_is_train_then_test():
    X_all, y_all = load_fashion_mnist(FASHION_MNIST_FOLDER, subset="all")
    X_test, y_test = load_fashion_mnist(FASHION_MNIST_FOLDER, subset="test")
    np.testing.assert_array_equal(X_all[60000:], X_test)
    np.testing.assert_array_equal(y_all[60000:], y_test)


@needs_fashion_mnist
def test_fashion_mnist_stratified_subset_real():
    X, y = load_fashion_mnist(FASHION_MNIST_FOLDER, subset="test", n_samples=250, random_state=0, as_strings=True)
    assert X.shape == (250, 28, 28)
    assert y.dtype == object
    names, counts = np.unique(y, return_counts=True)
    assert sorted(names) == sorted(FASHION_MNIST_CLASSES)
    assert set(counts) <= {25}  # 250 / 10 classes, exactly


def test_fashion_mnist_default_path_and_env_var(tmp_path, monkeypatch):
    data = _write_fake_fashion(tmp_path / "fm")
    monkeypatch.setenv(FASHION_MNIST_ENV_VAR, str(tmp_path / "fm"))
    X, y = load_fashion_mnist(subset="test")
    np.testing.assert_array_equal(X, data["t10k"][0])
    np.testing.assert_array_equal(y, data["t10k"][1])
    # An explicit path wins over the environment variable.
    with pytest.raises(FileNotFoundError):
        load_fashion_mnist(tmp_path / "elsewhere")


def test_fashion_mnist_fake_files_round_trip(tmp_path):
    data = _write_fake_fashion(tmp_path)
    X, y = load_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(X, data["train"][0])
    np.testing.assert_array_equal(y, data["train"][1])
    X, y = load_fashion_mnist(str(tmp_path), "all", as_strings=True)
    assert X.shape == (60, 28, 28)
    assert y[0] == "T-shirt/top" and y[9] == "Ankle boot"


def test_fashion_mnist_uncompressed_files(tmp_path):
    data = _write_fake_fashion(tmp_path)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        with gzip.open(tmp_path / name, "rb") as f:
            (tmp_path / name[:-3]).write_bytes(f.read())
        os.remove(tmp_path / name)
    X, y = load_fashion_mnist(tmp_path, subset="test")
    np.testing.assert_array_equal(X, data["t10k"][0])


def test_fashion_mnist_n_samples_exact_stratified_and_seeded(tmp_path):
    _write_fake_fashion(tmp_path, n_train=400)
    for n in (1, 7, 10, 55, 399, 400):
        X, y = load_fashion_mnist(tmp_path, n_samples=n, random_state=0)
        assert X.shape == (n, 28, 28) and y.shape == (n,)
        counts = np.bincount(y, minlength=10)
        # Proportional allocation: each class gets floor or ceil of n / 10.
        assert counts.min() >= n // 10 and counts.max() <= -(-n // 10)
    a = load_fashion_mnist(tmp_path, n_samples=55, random_state=3)
    b = load_fashion_mnist(tmp_path, n_samples=55, random_state=3)
    c = load_fashion_mnist(tmp_path, n_samples=55, random_state=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_fashion_mnist_n_samples_keeps_file_order(tmp_path):
    data = _write_fake_fashion(tmp_path, n_train=100)
    X, _ = load_fashion_mnist(tmp_path, n_samples=30, random_state=0)
    full = data["train"][0]
    positions = [int(np.flatnonzero((full == img).all(axis=(1, 2)))[0]) for img in X]
    assert positions == sorted(positions)


def test_fashion_mnist_stratified_on_imbalanced_labels(tmp_path):
    labels = np.array([0] * 80 + [1] * 15 + [2] * 5, dtype=np.uint8)
    images = np.zeros((100, 28, 28), dtype=np.uint8)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(images))
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(labels))
    _, y = load_fashion_mnist(tmp_path, n_samples=20, random_state=0)
    np.testing.assert_array_equal(np.bincount(y), [16, 3, 1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"subset": "validation"}, "subset"),
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"n_samples": 41}, "exceeds"),
    ],
)
def test_fashion_mnist_bad_parameters(tmp_path, kwargs, match):
    _write_fake_fashion(tmp_path)
    with pytest.raises(ValueError, match=match):
        load_fashion_mnist(tmp_path, **kwargs)


def test_fashion_mnist_missing_dir_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError) as excinfo:
        load_fashion_mnist(tmp_path / "nowhere")
    message = str(excinfo.value)
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "path=" in message
    assert FASHION_MNIST_ENV_VAR in message


def test_fashion_mnist_missing_files_says_how_to_install(tmp_path):
    _write_fake_fashion(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    load_fashion_mnist(tmp_path, subset="train")  # the train split is complete
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as e:
        load_fashion_mnist(tmp_path, subset="test")
    assert "t10k-labels-idx1-ubyte.gz" in str(e.value)


def test_fashion_mnist_path_is_a_file(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        load_fashion_mnist(tmp_path / "file")


def test_fashion_mnist_truncated_gzip(tmp_path):
    _write_fake_fashion(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated") as excinfo:
        load_fashion_mnist(tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(excinfo.value)


def test_fashion_mnist_not_gzip_garbage(tmp_path):
    _write_fake_fashion(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bthis is not gzip data")
    with pytest.raises(ValueError, match="Corrupt"):
        load_fashion_mnist(tmp_path)


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"\x00\x00", "fewer than the 4-byte magic"),
        (b"\x12\x34\x08\x03" + bytes(12), "bad magic number"),
        (b"\x00\x00\x42\x01" + bytes(8), "unknown data type"),
        (b"\x00\x00\x08\x03\x00\x00", "header"),
        (_idx_bytes(np.zeros((40, 28, 28), np.uint8))[:-5], "truncated"),
        (_idx_bytes(np.zeros((40, 28, 28), np.uint8)) + b"xx", "trailing"),
        (_idx_bytes(np.zeros((40, 784), np.uint8)), "not an IDX image file"),
    ],
)
def test_fashion_mnist_corrupt_idx_contents(tmp_path, payload, match):
    _write_fake_fashion(tmp_path)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(payload)
    with pytest.raises(ValueError, match=match):
        load_fashion_mnist(tmp_path)


def test_fashion_mnist_count_mismatch_and_bad_labels(tmp_path):
    _write_fake_fashion(tmp_path)
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(np.zeros(39, np.uint8)))
    with pytest.raises(ValueError, match="40 images but"):
        load_fashion_mnist(tmp_path)
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(np.full(40, 10, np.uint8)))
    with pytest.raises(ValueError, match="label 10"):
        load_fashion_mnist(tmp_path)


def test_read_idx_other_dtypes(tmp_path):
    values = np.arange(6, dtype=">i4").reshape(2, 3)
    (tmp_path / "x.idx").write_bytes(
        bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 3) + values.tobytes()
    )
    out = datasets._read_idx(str(tmp_path / "x.idx"))
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, np.arange(6).reshape(2, 3))


# ----------------------------------------------------------------------------- folders


def test_image_folder_round_trip_digits(tmp_path):
    X, y = load_digits_images(as_strings=True)
    X, y = X[:30], y[:30]
    root = make_image_folder(X, y, tmp_path / "digits")
    assert root == str(tmp_path / "digits")
    paths, labels = load_image_folder(root)
    assert paths.dtype == object and labels.dtype == object
    assert len(paths) == 30
    # Sorted by class, then by file name (which preserves the original order).
    order = np.argsort(y, kind="stable")
    np.testing.assert_array_equal(labels, y[order])
    from PIL import Image

    for path, index in zip(paths, order):
        assert os.path.isabs(path)
        with Image.open(path) as image:
            np.testing.assert_array_equal(np.asarray(image), X[index])


def test_image_folder_round_trip_rgb_and_string_labels(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(6, 5, 7, 3), dtype=np.uint8)
    y = np.array(["zebra", "ant", "zebra", "Bee", "ant", "ant"])
    make_image_folder(X, y, tmp_path / "rgb", format="bmp")
    paths, labels = load_image_folder(tmp_path / "rgb")
    assert labels.tolist() == ["Bee", "ant", "ant", "ant", "zebra", "zebra"]
    assert [os.path.basename(p) for p in paths] == ["3.bmp", "1.bmp", "4.bmp", "5.bmp"] + [
        "0.bmp",
        "2.bmp",
    ]
    from PIL import Image

    with Image.open(paths[0]) as image:
        np.testing.assert_array_equal(np.asarray(image), X[3])


def test_image_folder_deterministic_order(tmp_path):
    names = ["b.png", "a.PNG", "c.jpg", "10.png", "2.png"]
    for cls in ("z", "m", "a"):
        os.makedirs(tmp_path / cls)
        for name in reversed(names):
            (tmp_path / cls / name).write_bytes(b"")
    paths, labels = load_image_folder(tmp_path)
    assert labels.tolist() == ["a"] * 5 + ["m"] * 5 + ["z"] * 5
    assert [os.path.basename(p) for p in paths[:5]] == sorted(names)
    again, _ = load_image_folder(str(tmp_path))
    np.testing.assert_array_equal(paths, again)


def test_image_folder_hidden_and_non_images_ignored(tmp_path):
    os.makedirs(tmp_path / "cat" / ".thumbnails")
    os.makedirs(tmp_path / "cat" / "nested")
    os.makedirs(tmp_path / ".git")
    (tmp_path / ".git" / "x.png").write_bytes(b"")
    (tmp_path / "cat" / "1.jpeg").write_bytes(b"")
    (tmp_path / "cat" / "nested" / "2.png").write_bytes(b"")
    (tmp_path / "cat" / ".hidden.png").write_bytes(b"")
    (tmp_path / "cat" / ".thumbnails" / "t.png").write_bytes(b"")
    (tmp_path / "cat" / "notes.txt").write_bytes(b"")
    (tmp_path / "cat" / "noext").write_bytes(b"")
    (tmp_path / "loose.png").write_bytes(b"")
    paths, labels = load_image_folder(tmp_path)
    rel = [os.path.relpath(p, tmp_path) for p in paths]
    assert rel == [os.path.join("cat", "1.jpeg"), os.path.join("cat", "nested", "2.png")]
    assert labels.tolist() == ["cat", "cat"]


def test_image_folder_custom_extensions(tmp_path):
    os.makedirs(tmp_path / "a")
    (tmp_path / "a" / "x.png").write_bytes(b"")
    (tmp_path / "a" / "y.JXL").write_bytes(b"")
    paths, _ = load_image_folder(tmp_path, extensions=["jxl"])
    assert [os.path.basename(p) for p in paths] == ["y.JXL"]
    paths, _ = load_image_folder(tmp_path, extensions=".PNG")
    assert [os.path.basename(p) for p in paths] == ["x.png"]
    with pytest.raises(ValueError, match="extensions"):
        load_image_folder(tmp_path, extensions=[""])


def test_image_folder_empty_class_warns(tmp_path):
    os.makedirs(tmp_path / "a")
    os.makedirs(tmp_path / "b")
    (tmp_path / "a" / "x.png").write_bytes(b"")
    with pytest.warns(UserWarning, match="left out: b"):
        _, labels = load_image_folder(tmp_path)
    assert labels.tolist() == ["a"]


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    os.makedirs(tmp_path / "flat")
    (tmp_path / "flat" / "file.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        load_image_folder(tmp_path / "flat" / "file.png")
    # Empty folder, and a folder with images but no class subfolders.
    os.makedirs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no class subfolders"):
        load_image_folder(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="1 image file"):
        load_image_folder(tmp_path / "flat")
    # Class subfolders without any images: the message names the extensions.
    os.makedirs(tmp_path / "classes" / "a")
    (tmp_path / "classes" / "a" / "x.txt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"No images found.*\.png"):
        load_image_folder(tmp_path / "classes")


def test_make_image_folder_validation(tmp_path):
    X = np.zeros((2, 4, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match="'a/b' and 'a_b' would share the class folder 'a_b'"):
        make_image_folder(X, ["a_b", "a/b"], tmp_path / "a")
    with pytest.raises(ValueError, match="empty label"):
        make_image_folder(X, ["", "Bag"], tmp_path / "b")
    with pytest.raises(ValueError, match="shape"):
        make_image_folder(np.zeros((2, 4), np.uint8), [0, 1], tmp_path / "c")
    with pytest.raises(ValueError, match="y must have shape"):
        make_image_folder(X, [0, 1, 2], tmp_path / "d")
    with pytest.raises(ValueError, match="0..255"):
        make_image_folder(X.astype(float) + 0.5, [0, 1], tmp_path / "e")
    with pytest.raises(ValueError, match="extension"):
        make_image_folder(X, [0, 1], tmp_path / "f", format="nope")
    os.makedirs(tmp_path / "full")
    (tmp_path / "full" / "x").write_bytes(b"")
    with pytest.raises(FileExistsError):
        make_image_folder(X, [0, 1], tmp_path / "full")
    assert not (tmp_path / "a").exists()


def test_make_image_folder_accepts_int_arrays_and_channel_axis(tmp_path):
    X = np.arange(2 * 3 * 3, dtype=np.int64).reshape(2, 3, 3, 1) * 10
    root = make_image_folder(X, np.array([1, 2]), tmp_path / "out")
    paths, labels = load_image_folder(root)
    assert labels.tolist() == ["1", "2"]
    from PIL import Image

    with Image.open(paths[1]) as image:
        np.testing.assert_array_equal(np.asarray(image), X[1, ..., 0])


def test_make_image_folder_keeps_class_names_that_cannot_be_folders(tmp_path):
    # issue 19: the project's own Fashion-MNIST names, "T-shirt/top" first
    from skclip_noise.datasets import FASHION_MNIST_CLASSES
    from skclip_noise.datasets.image_folder import CLASS_NAMES_FILE

    rng = np.random.default_rng(0)
    names = list(FASHION_MNIST_CLASSES) + [".hidden", "a\\b", 'x:y*?"<>|', "dot.", 7]
    y = np.array(names * 2, dtype=object)
    X = rng.integers(0, 256, size=(len(y), 4, 4), dtype=np.uint8)
    root = make_image_folder(X, y, tmp_path / "clothes")
    folders = sorted(e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e)))
    assert "T-shirt_top" in folders and "_hidden" in folders and "a_b" in folders
    assert "x_y______" in folders and "dot_" in folders and "7" in folders
    assert len(folders) == len(names)
    assert all(not any(c in f for c in '/\\:*?"<>|') and not f.startswith(".") for f in folders)
    table = pd.read_csv(os.path.join(root, CLASS_NAMES_FILE), dtype=str, keep_default_na=False)
    assert table.columns.tolist() == ["folder", "class_name"]
    assert dict(zip(table["folder"], table["class_name"]))["T-shirt_top"] == "T-shirt/top"
    assert sorted(table["folder"]) == folders

    paths, labels = load_image_folder(root)
    assert sorted(set(labels)) == sorted(str(n) for n in names)  # the real names come back
    from PIL import Image

    for path, label in zip(paths, labels):
        index = int(os.path.splitext(os.path.basename(path))[0])
        assert label == str(y[index])
        with Image.open(path) as image:
            np.testing.assert_array_equal(np.asarray(image), X[index])


def test_make_image_folder_writes_no_mapping_when_names_are_safe(tmp_path):
    from skclip_noise.datasets.image_folder import CLASS_NAMES_FILE

    root = make_image_folder(np.zeros((2, 4, 4), np.uint8), ["cat", "dog"], tmp_path / "pets")
    assert sorted(os.listdir(root)) == ["cat", "dog"]
    assert not os.path.exists(os.path.join(root, CLASS_NAMES_FILE))
    with pytest.raises(ValueError, match="'class_names.csv' would name a class folder"):
        make_image_folder(np.zeros((2, 4, 4), np.uint8), ["class_names.csv", "a/b"],
                          tmp_path / "clash")


def test_load_image_folder_reads_the_class_names_file(tmp_path):
    for folder in ("T-shirt_top", "Bag", "extra"):
        os.makedirs(tmp_path / folder)
        (tmp_path / folder / "0.png").write_bytes(b"")
    # written by hand, with a BOM and a folder that no longer exists; "extra" is not listed
    (tmp_path / "class_names.csv").write_text(
        "\ufefffolder,class_name\r\nT-shirt_top,T-shirt/top\r\nBag,Bag\r\ngone,Gone\r\n",
        encoding="utf-8",
    )
    _, labels = load_image_folder(tmp_path)
    assert labels.tolist() == ["Bag", "T-shirt/top", "extra"]


@pytest.mark.parametrize(
    "content, match",
    [
        ("path,label\nBag,Bag\n", "expected header"),
        ("", "expected header"),
        ("folder,class_name\nBag\n", "line 2: expected 2 fields, got 1"),
        ("folder,class_name\nBag,Bag\nBag,Sack\n", "'Bag' is listed twice"),
        ("folder,class_name\nBag,Shoe\n", "'Bag' and 'Shoe' .* both stand for the class 'Shoe'"),
    ],
)
def test_load_image_folder_refuses_a_bad_class_names_file(tmp_path, content, match):
    for folder in ("Bag", "Shoe"):
        os.makedirs(tmp_path / folder)
        (tmp_path / folder / "0.png").write_bytes(b"")
    (tmp_path / "class_names.csv").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match) as info:
        load_image_folder(tmp_path)
    assert "class_names.csv" in str(info.value)
