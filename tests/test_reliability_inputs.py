"""Reliability of the input layer: high-bit-depth files, Dataset items, stale outputs,
changed weights, a damaged or read-only cache, and messages that name the problem."""

import os
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.utils import get_tags

from skclip_noise import ImageEmbedder
from skclip_noise.backbones.loading import load_backbone, weights_key
from skclip_noise.data.inputs import (
    ImageDataset,
    check_image_input,
    image_to_pil,
)
from skclip_noise.data.fingerprint import input_fingerprint
from skclip_noise.data.labels import check_labels
from skclip_noise.embedding_cache import EmbeddingStore
from skclip_noise.training.loop import make_loader

from test_common import fast_instance, public_estimator_classes

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")


# ------------------------------------------------------------------ 1. bit depth


def _gradient16(h=8, w=64):
    return np.tile(np.linspace(0, 65535, w).astype(np.uint16), (h, 1))


@pytest.mark.parametrize("suffix", ["png", "tif"])
def test_16_bit_files_keep_their_gradient(tmp_path, suffix):
    path = tmp_path / f"gradient.{suffix}"
    Image.fromarray(_gradient16()).save(path)
    with Image.open(path) as check:
        assert check.mode in ("I;16", "I;16B", "I")  # really a high-bit-depth file
    loaded = np.asarray(ImageDataset(check_image_input([str(path)])).load(0))
    row = loaded[0, :, 0]
    assert len(np.unique(row)) > 32, np.unique(row)
    assert row[0] == 0 and row[-1] == 255 and np.all(np.diff(row.astype(int)) >= 0)


@pytest.mark.parametrize(
    "array, mode",
    [
        (_gradient16(), "I;16"),
        (_gradient16().astype(np.int32), "I"),
        (_gradient16().astype(np.float32) / 65535, "F"),
    ],
    ids=["I;16", "I", "F"],
)
def test_high_bit_depth_pil_images_keep_their_range(array, mode):
    image = Image.fromarray(array)
    assert image.mode == mode
    row = np.asarray(image_to_pil(image))[0, :, 0]
    assert len(np.unique(row)) > 32 and row[-1] == 255


# --------------------------------------------------------- 2. Dataset items


class _Items(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i], 0


@pytest.mark.parametrize(
    "item, message",
    [
        (torch.rand(3, 8, 8) * 255, r"\[0, 255\].*divide by 255"),
        (torch.randn(3, 8, 8), "normalised"),
        (torch.rand(4, 8, 8), "4 channels"),
        (np.random.rand(8, 8, 4), "4 channels"),
        (np.full((8, 8), 1000, dtype=np.uint16), r"\[0, 255\]"),
        (torch.rand(2, 3, 8, 8), "shape"),
        ("not an image", "str"),
    ],
    ids=["float255", "normalised", "rgba_tensor", "rgba_array", "uint16", "batch", "string"],
)
def test_dataset_items_are_checked_like_arrays(item, message):
    with pytest.raises((ValueError, TypeError), match=message) as info:
        check_image_input(_Items([item] * 3))
    assert "Dataset item 0" in str(info.value)


def test_good_dataset_items_pass():
    items = [torch.rand(3, 8, 8), np.random.rand(8, 8), Image.new("RGBA", (8, 8))]
    assert check_image_input(_Items(items)).kind == "dataset"


# ---------------------------------------------------------- 3. fingerprints


def test_fingerprint_covers_every_sample():
    X = np.random.default_rng(0).random((1000, 16)).astype(np.float32)
    before = input_fingerprint(check_image_input(X, allow_features=True))
    X[501, 3] += 1  # a position the old 8-point probe never looked at
    assert input_fingerprint(check_image_input(X, allow_features=True)) != before
    images = np.zeros((100, 8, 8), dtype=np.uint8)
    before = input_fingerprint(check_image_input(images))
    images[37, 4, 4] = 1
    assert input_fingerprint(check_image_input(images)) != before


def test_fingerprint_of_paths_sees_edited_files(tmp_path):
    paths = []
    for i in range(20):
        Image.new("L", (8, 8), i).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    before = input_fingerprint(check_image_input(paths))
    Image.new("L", (9, 8), 200).save(paths[11])  # another size
    os.utime(paths[11], ns=(1, 1))
    assert input_fingerprint(check_image_input(paths)) != before


def test_predict_clean_without_y_refuses_edited_training_data():
    detector = next(
        cls for cls in public_estimator_classes()
        if hasattr(cls, "predict_clean") and get_tags(fast_instance(cls)).input_tags.two_d_array
    )
    X = np.random.default_rng(0).normal(size=(40, 48)).astype(np.float32)
    y = np.arange(40) % 2
    estimator = fast_instance(detector).fit(X, y)
    estimator.predict_clean(X)
    X[13, 5] += 3.0
    with pytest.raises(ValueError, match="changed since fit"):
        estimator.predict_clean(X)


# ----------------------------------------------------- 4. changed weights file


def test_changed_pretrained_file_is_refused(tmp_path):
    from skclip_noise.backbones.loading import WeightsChangedError, check_weights_unchanged

    path = tmp_path / "weights.pt"
    model = load_backbone("open_clip:skclip-tiny", None).model
    torch.save(model.state_dict(), path)
    embedder = ImageEmbedder("open_clip:skclip-tiny", str(path), device="cpu").fit()
    assert load_backbone("open_clip:skclip-tiny", str(path)).weights_key == weights_key(str(path))
    restored = pickle.loads(pickle.dumps(embedder))
    restored.transform(np.zeros((2, 8, 8), dtype=np.uint8))
    with open(path, "ab") as handle:
        handle.write(b"\0" * 16)
    with pytest.raises(WeightsChangedError, match="weights.pt.*changed since"):
        restored.transform(np.zeros((2, 8, 8), dtype=np.uint8))
    check_weights_unchanged(None, None, "X")  # nothing recorded, nothing checked


# ---------------------------------------------------------------- 5. cache


def _embed_cached(X, cache_dir):
    return ImageEmbedder(**TINY, cache_dir=str(cache_dir)).fit().transform(X)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_cache_entries_are_recomputed_with_a_warning(tmp_path, damage):
    X = np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8)
    expected = _embed_cached(X, tmp_path)
    (shard,) = [
        os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files if f.endswith(".emb.npy")
    ]
    size = os.path.getsize(shard)
    with open(shard, "r+b") as handle:
        if damage == "truncate":
            handle.truncate(size - 40)
        else:
            handle.seek(size - 10)
            handle.write(b"\x7f\x7f\x7f")
    with pytest.warns(UserWarning, match=os.path.basename(shard)):
        again = _embed_cached(X, tmp_path)
    np.testing.assert_allclose(again, expected, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(_embed_cached(X, tmp_path), expected, atol=1e-6)


def test_unwritable_cache_dir_warns_and_runs_without_cache(tmp_path, monkeypatch):
    X = np.zeros((3, 8, 8), dtype=np.uint8)
    expected = ImageEmbedder(**TINY).fit().transform(X)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.warns(UserWarning, match="without the cache"):
        np.testing.assert_allclose(_embed_cached(X, blocker / "cache"), expected, atol=1e-6)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", args[0])

    import skclip_noise.embedding_cache as cache_module

    monkeypatch.setattr(cache_module.os, "replace", refuse)
    with pytest.warns(UserWarning, match="not writable"):
        np.testing.assert_allclose(_embed_cached(X, tmp_path / "ro"), expected, atol=1e-6)
    assert not [f for _, _, files in os.walk(tmp_path / "ro") for f in files if f.endswith(".tmp")]


def test_store_reports_bad_shards_by_name(tmp_path):
    store = EmbeddingStore(tmp_path, "k")
    keys = np.array([b"a" * 20, b"b" * 20], dtype="S20")
    store.add(keys, np.ones((2, 4), dtype=np.float32))
    (shard,) = store._shards()
    with open(shard + ".keys.npy", "r+b") as handle:
        handle.truncate(60)
    with pytest.warns(UserWarning, match=os.path.basename(shard)):
        found, values = store.lookup(keys)
    assert not found.any() and values is None


# ------------------------------------------------------------- 6. messages


def test_directory_and_none_in_path_lists(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(IsADirectoryError, match="directory"):
        check_image_input([str(tmp_path / "a.png"), str(tmp_path)])
    with pytest.raises(ValueError, match=r"None.*position.*\[1\]"):
        check_image_input([str(tmp_path / "a.png"), None])


def test_pandas_missing_labels_are_missing_not_mixed():
    for y in (
        pd.Series(["a", pd.NA, "b"], dtype="string"),
        pd.Series([1, pd.NA, 2], dtype="Int64"),
        pd.Series(["a", None, "b"]),
    ):
        with pytest.raises(ValueError, match="missing") as info:
            check_labels(y)
        assert "mixes" not in str(info.value)


def test_list_of_unequal_arrays_suggests_paths_or_dataset():
    with pytest.raises(ValueError, match="different shapes.*paths.*Dataset"):
        check_image_input([np.zeros((8, 8), np.uint8), np.zeros((9, 8), np.uint8)])


def test_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("L", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(OSError, match="huge.png.*MAX_IMAGE_PIXELS"):
        ImageDataset(check_image_input([str(path)])).load(0)


def test_worker_errors_keep_their_type_and_name_the_file(tmp_path):
    paths = []
    for i in range(4):
        Image.new("L", (8, 8)).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    with open(paths[2], "wb") as handle:
        handle.write(b"not a png")
    loader = make_loader(ImageDataset(check_image_input(paths), image_to_tensor), batch_size=2, num_workers=1)
    with pytest.raises(OSError) as info:
        list(loader)
    message = str(info.value)
    assert message.startswith("Cannot read image file") and "2.png" in message
    assert "DataLoader worker" not in message and "Traceback" not in message


def image_to_tensor(image):
    return torch.from_numpy(np.asarray(image).copy())


# -------------------------------------------------- the matrix over estimators


def _bad_inputs(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "ok.png")
    ok = str(tmp_path / "ok.png")
    return {
        "directory": ([ok, ok, str(tmp_path)], IsADirectoryError, "is a directory"),
        "none": ([ok, None, ok], ValueError, "None"),
        "unequal": ([np.zeros((8, 8), np.uint8)] * 2 + [np.zeros((9, 8), np.uint8)], ValueError, "different shapes"),
        "float255": (_Items([torch.rand(3, 8, 8) * 255] * 3), ValueError, "divide by 255"),
        "normalised": (_Items([torch.randn(3, 8, 8)] * 3), ValueError, "normalised"),
        "rgba": (_Items([torch.rand(4, 8, 8)] * 3), ValueError, "4 channels"),
    }


IMAGE_READERS = [
    cls for cls in public_estimator_classes() if get_tags(fast_instance(cls)).input_tags.three_d_array
]


@pytest.mark.parametrize("cls", IMAGE_READERS, ids=lambda cls: cls.__name__)
def test_bad_inputs_matrix(cls, tmp_path):
    y = np.array(["a", "b", "a"])
    for name, (X, error, message) in _bad_inputs(tmp_path).items():
        with pytest.raises(error, match=message):
            fast_instance(cls).fit(X, y)
    X_ok = np.zeros((3, 8, 8), dtype=np.uint8)
    if not get_tags(fast_instance(cls)).target_tags.required:
        return
    with pytest.raises(ValueError, match="missing"):
        fast_instance(cls).fit(X_ok, pd.Series(["a", pd.NA, "b"], dtype="string"))


def test_integer_dataset_items_are_read_as_0_255():
    item = torch.full((3, 4, 4), 128, dtype=torch.int64)
    pixels = np.asarray(ImageDataset(check_image_input(_Items([item]))).load(0))
    assert np.all(pixels == 128)


def test_bad_dataset_item_in_a_worker_keeps_its_type_and_message():
    items = [torch.rand(3, 8, 8)] * 3 + [torch.rand(3, 8, 8) * 255]
    loader = make_loader(ImageDataset(check_image_input(_Items(items)), lambda im: torch.zeros(1)),
                         batch_size=4, num_workers=1)
    with pytest.raises(ValueError, match=r"^Float image arrays.*Dataset item 3") as info:
        list(loader)
    assert "Traceback" not in str(info.value)
