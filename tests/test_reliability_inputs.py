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


def _tagged(pixels, orientation, path):
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation  # EXIF Orientation
    image.save(path, exif=exif)
    return path


@pytest.mark.parametrize(
    "orientation, stored",
    [
        (1, lambda upright: upright),
        (3, lambda upright: np.rot90(upright, 2)),  # stored upside down
        (6, lambda upright: np.rot90(upright, 1)),  # stored turned left: the viewer turns it right
        (8, lambda upright: np.rot90(upright, -1)),
        (2, lambda upright: upright[:, ::-1]),  # mirrored
    ],
)
def test_photos_are_read_upright_as_their_exif_orientation_says(orientation, stored, tmp_path):
    upright = np.zeros((6, 10, 3), dtype=np.uint8)
    upright[:2, :3] = (255, 0, 0)  # a red top-left corner
    path = _tagged(np.ascontiguousarray(stored(upright)), orientation, tmp_path / "photo.png")
    loaded = np.asarray(ImageDataset(check_image_input([str(path)])).load(0))
    np.testing.assert_array_equal(loaded, upright)


def test_embeddings_cached_before_photos_were_turned_upright_are_not_returned(tmp_path, monkeypatch):
    from skclip_noise.data import decoding
    import skclip_noise.embedder as embedder_module

    pixels = (np.arange(32 * 48 * 3) % 251).astype(np.uint8).reshape(32, 48, 3)
    path = str(_tagged(pixels, 6, tmp_path / "photo.png"))
    embedder = ImageEmbedder(**TINY, cache_dir=tmp_path / "cache").fit()
    upright = embedder.transform([path])
    monkeypatch.setattr(embedder_module, "DECODING_VERSION", decoding.DECODING_VERSION - 1)
    monkeypatch.setattr(decoding, "upright_image", lambda image: image)  # the decoding of before
    sideways = embedder.transform([path])
    assert not np.allclose(sideways, upright)  # not read from the other decoding's cache
    assert len(list((tmp_path / "cache").rglob("*.keys.npy"))) == 2


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


# --------------------------------------------- 7. unreadable files (issue 19)


def _jpeg_cut_short(path):
    """A JPEG cut at two thirds of its bytes: PIL's verify() passes it, decoding fails."""
    noise = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with Image.open(path) as image:
        image.verify()  # passes: the header and markers are intact
    return path


def _mixed_files(tmp_path):
    """Readable and unreadable files, and which positions are unreadable."""
    rng = np.random.default_rng(1)
    good_png, good_jpg = tmp_path / "good.png", tmp_path / "good.jpg"
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(good_png)
    Image.fromarray(rng.integers(0, 256, (24, 16, 3), dtype=np.uint8)).save(good_jpg)
    text = tmp_path / "notes.jpg"
    text.write_text("this is text, not a JPEG")
    twin = tmp_path / "notes-copy.jpg"  # the same bytes: the cache must not mix them up
    twin.write_text("this is text, not a JPEG")
    cut = _jpeg_cut_short(tmp_path / "cut.jpg")
    paths = [good_png, text, good_jpg, cut, tmp_path / "gone.png", twin, good_png]
    return [str(p) for p in paths], {1: "not an image", 3: "truncated", 4: "no such file", 5: "not an image"}


def test_truncated_jpeg_passing_verify_is_refused_naming_the_file(tmp_path):
    from skclip_noise.data.decoding import ImageReadError, quick_check_image_file

    cut = str(_jpeg_cut_short(tmp_path / "cut.jpg"))
    with pytest.raises(ImageReadError, match=r"cut\.jpg.*truncated.*skip_unreadable=True"):
        ImageDataset(check_image_input([cut])).load(0)
    assert "truncated" in quick_check_image_file(cut)  # the CLI's check before any work
    whole = tmp_path / "whole.jpg"
    Image.new("RGB", (16, 16)).save(whole)
    with open(whole, "ab") as handle:
        handle.write(b"trailing bytes after the end marker")  # complete, though not ending with it
    assert quick_check_image_file(str(whole)) is None


def test_pil_accepting_truncated_files_is_not_silent(tmp_path, monkeypatch):
    from PIL import ImageFile

    cut = str(_jpeg_cut_short(tmp_path / "cut.jpg"))
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.warns(UserWarning, match="LOAD_TRUNCATED_IMAGES is True"):
        ImageDataset(check_image_input([cut]))
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ImageDataset(check_image_input([cut]))


@pytest.mark.parametrize("num_workers", [0, 1])
def test_skipping_dataset_flags_unreadable_files_in_the_workers(tmp_path, num_workers):
    paths, bad = _mixed_files(tmp_path)
    paths = [p for i, p in enumerate(paths) if i != 4]  # files only
    dataset = ImageDataset(check_image_input(paths), lambda im: torch.from_numpy(np.asarray(im.resize((8, 8))).copy()),
                           skip_unreadable=True)
    batches = list(make_loader(dataset, batch_size=4, num_workers=num_workers))
    reasons = [reason for batch in batches for reason in batch[2]]
    assert [bool(r) for r in reasons] == [False, True, False, True, True, False]
    assert "truncated" in reasons[3] and "not an image" in reasons[1]
    assert torch.cat([batch[1] for batch in batches]).tolist() == list(range(6))


def _embedder(**params):
    return ImageEmbedder(**TINY, batch_size=3, **params)


@pytest.mark.parametrize("params", [{}, {"num_workers": 1}, {"cache_dir": True}, {"n_jobs": 2}],
                         ids=["plain", "worker", "cache", "shards"])
def test_embedder_skip_unreadable_lists_the_files_and_returns_nan_rows(tmp_path, params):
    from joblib import parallel_config

    paths, bad = _mixed_files(tmp_path)
    if params.get("cache_dir"):
        params = {**params, "cache_dir": str(tmp_path / "cache")}
    readable = [i for i in range(len(paths)) if i not in bad]
    expected = _embedder().fit_transform([paths[i] for i in readable])
    for _ in range(2 if "cache_dir" in params else 1):  # the second call reads the cache
        embedder = _embedder(skip_unreadable=True, **params)
        with parallel_config(backend="threading"), pytest.warns(UserWarning, match="4 of 7 image files could not"):
            embeddings = embedder.fit_transform(paths)
        assert embeddings.shape == (7, embedder.embedding_dim_)
        assert np.isnan(embeddings).all(axis=1).tolist() == [i in bad for i in range(7)]
        np.testing.assert_allclose(embeddings[readable], expected, atol=1e-5)
        table = embedder.unreadable_
        assert table.index.name == "sample" and table.index.tolist() == sorted(bad)
        assert table["path"].tolist() == [paths[i] for i in sorted(bad)]
        for i, word in bad.items():
            assert word in table.loc[i, "reason"], table.loc[i, "reason"]


def test_embedder_skip_unreadable_with_every_file_readable(tmp_path):
    paths, bad = _mixed_files(tmp_path)
    good = [p for i, p in enumerate(paths) if i not in bad]
    embedder = _embedder(skip_unreadable=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embeddings = embedder.fit_transform(good)
    assert np.isfinite(embeddings).all() and embedder.unreadable_.empty
    assert list(embedder.unreadable_.columns) == ["path", "reason"]


def test_embedder_default_still_raises_naming_the_file(tmp_path):
    paths, bad = _mixed_files(tmp_path)
    embedder = _embedder().fit(None)
    with pytest.raises(FileNotFoundError, match="gone.png"):  # before any decoding
        embedder.transform(paths)
    with pytest.raises(OSError, match=r"notes\.jpg.*skip_unreadable=True"):
        embedder.transform(paths[:4])
    with pytest.raises(OSError, match=r"cut\.jpg.*truncated"):
        embedder.transform([paths[0], paths[3]])
    assert not hasattr(embedder, "unreadable_")
    with pytest.raises(ValueError, match="skip_unreadable"):
        _embedder(skip_unreadable="yes").fit(None)


def test_readable_subset_embeds_each_file_once(tmp_path, monkeypatch):
    from skclip_noise import NeighbourDetector
    from skclip_noise.base import estimator

    paths, bad = _mixed_files(tmp_path)
    paths, y = paths * 2, np.array(["a"] * 7 + ["b"] * 7)
    detector = NeighbourDetector(n_neighbors=2, **TINY)
    X_readable, kept, unreadable = detector._readable_subset(check_image_input(paths, check_paths=False))
    assert unreadable.index.tolist() == sorted(bad) + [i + 7 for i in sorted(bad)]
    assert kept.tolist() == [i for i in range(14) if i % 7 not in bad]
    assert X_readable.data.tolist() == [paths[i] for i in kept]

    def no_second_pass(self, X):
        raise AssertionError("the readable images were embedded a second time")

    monkeypatch.setattr(ImageEmbedder, "transform", no_second_pass)
    detector.fit(X_readable.data, y[kept])
    assert len(detector.label_issues_) == len(kept)
    assert detector not in estimator._PREFETCHED  # used once, then dropped


# ------------------------------- 8. detectors that skip unreadable files (issue 19)


def _labelled_files(tmp_path, digits):
    """36 real digit PNGs of three classes (three labels flipped), a text file named .jpg,
    a JPEG cut short and a missing file, each among the labels of a different class."""
    from skclip_noise import make_noisy_labels

    X, y = digits
    rows = np.concatenate([np.flatnonzero(y == digit)[:12] for digit in (0, 1, 7)])
    names = np.array(["zero", "one", "seven"])[np.searchsorted([0, 1, 7], y[rows])]
    labels, _ = make_noisy_labels(names, "symmetric", 0.1, random_state=0)
    paths = []
    for i, row in enumerate(rows):
        Image.fromarray(X[row]).resize((32, 32)).save(tmp_path / f"{i:02d}.png")
        paths.append(str(tmp_path / f"{i:02d}.png"))
    text = tmp_path / "notes.jpg"
    text.write_text("this is text, not a JPEG")
    cut = _jpeg_cut_short(tmp_path / "cut.jpg")
    bad = {5: str(text), 17: str(cut), 30: str(tmp_path / "gone.png")}
    for position, path in bad.items():
        paths.insert(position, path)
        labels = np.insert(labels, position, labels[position])
    return paths, np.asarray(labels), sorted(bad)


def _skipping_detector(name, **params):
    from skclip_noise import ConsensusDetector, NeighbourDetector

    params = {"n_neighbors": 3, **TINY, **params}
    if name == "consensus":
        return ConsensusDetector(cv=3, random_state=0, **params)
    return NeighbourDetector(**params)


def _count_transforms(monkeypatch):
    calls = []
    transform = ImageEmbedder.transform

    def counted(self, X):
        calls.append(len(X))
        return transform(self, X)

    monkeypatch.setattr(ImageEmbedder, "transform", counted)
    return calls


@pytest.mark.parametrize("name", ["consensus", "neighbour"])
def test_detector_skip_unreadable_judges_the_files_issues_and_the_rest_as_alone(name, tmp_path, digits,
                                                                                 monkeypatch):
    paths, labels, bad = _labelled_files(tmp_path, digits)
    n_samples = len(paths)
    kept = np.setdiff1d(np.arange(n_samples), bad)
    fit_params = {}
    if name == "consensus":  # per-sample fit signals are cut to the readable rows too
        fit_params["pred_probs"] = np.random.default_rng(0).dirichlet(np.ones(3), n_samples)
    reference = _skipping_detector(name).fit(
        [paths[i] for i in kept], labels[kept], **{k: v[kept] for k, v in fit_params.items()}
    )
    calls = _count_transforms(monkeypatch)
    detector = _skipping_detector(name, skip_unreadable=True)
    with pytest.warns(UserWarning, match=r"3 of 39 image files could not be read .*notes\.jpg.*unreadable_"):
        detector.fit(paths, labels, **fit_params)
    assert calls == [n_samples]  # one embedding pass finds the unreadable files and embeds the rest

    table = detector.unreadable_
    assert table.index.name == "sample" and table.index.tolist() == bad
    assert table["path"].tolist() == [paths[i] for i in bad]
    reasons = dict(zip(table.index, table["reason"]))
    assert "not an image" in reasons[5] and "truncated" in reasons[17] and reasons[30] == "no such file"

    issues = detector.label_issues_
    assert len(issues) == n_samples and detector.clean_mask_.shape == (n_samples,)
    assert issues["is_label_issue"].iloc[bad].all() and not detector.clean_mask_[bad].any()
    assert (issues["label_quality"].iloc[bad] == 0).all() and (detector.clean_proba_[bad] == 0).all()
    assert issues["predicted_label"].iloc[bad].isna().all() and issues["suggested_label"].iloc[bad].isna().all()
    assert issues["given_label"].tolist() == labels.tolist()
    assert not issues["predicted_label"].iloc[kept].isna().any()
    assert (issues["issue_type"].iloc[bad] == "unreadable").all()
    assert (issues["issue_type"].iloc[kept] != "unreadable").all()
    if name == "consensus":
        assert detector.outlier_proba_.shape == (n_samples,) and np.isnan(detector.outlier_proba_[bad]).all()
        np.testing.assert_allclose(detector.outlier_proba_[kept], reference.outlier_proba_, atol=1e-6)

    np.testing.assert_array_equal(detector.clean_mask_[kept], reference.clean_mask_)
    np.testing.assert_allclose(detector.clean_proba_[kept], reference.clean_proba_, atol=1e-6)
    np.testing.assert_allclose(issues["label_quality"].iloc[kept], reference.label_issues_["label_quality"],
                               atol=1e-6)
    assert issues["predicted_label"].iloc[kept].tolist() == reference.label_issues_["predicted_label"].tolist()
    assert detector.noise_rate_ == pytest.approx(reference.noise_rate_)  # over the readable pairs
    np.testing.assert_allclose(detector.noise_transition_, reference.noise_transition_)
    # predict_clean(X) without y: the fingerprint is the full X's, missing file included
    np.testing.assert_array_equal(detector.predict_clean(paths), detector.clean_mask_)

    # New pairs: unreadable files are issues, the others judged as by the reference.
    new = [paths[i] for i in (0, 5, 17, 20, 30, 38)]
    new_labels = labels[[0, 5, 17, 20, 30, 38]]
    with pytest.warns(UserWarning, match="3 of 6 image files could not be read"):
        clean = detector.predict_clean(new, new_labels)
    expected = reference.predict_clean([new[0], new[3], new[5]], new_labels[[0, 3, 5]])
    np.testing.assert_array_equal(clean, [expected[0], False, False, expected[1], False, expected[2]])
    with pytest.warns(UserWarning, match="could not be read"):
        proba = detector.clean_proba(new, new_labels)
    assert proba[[1, 2, 4]].tolist() == [0.0, 0.0, 0.0]


def test_detector_skip_unreadable_default_raises_naming_the_file(tmp_path, digits):
    paths, labels, bad = _labelled_files(tmp_path, digits)
    detector = _skipping_detector("neighbour")
    with pytest.raises(FileNotFoundError, match="gone.png"):  # before any work
        detector.fit(paths, labels)
    present = [i for i in range(len(paths)) if i != 30]
    with pytest.raises(OSError, match=r"notes\.jpg.*skip_unreadable=True"):
        detector.fit([paths[i] for i in present], labels[present])
    readable_or_cut = [i for i in range(len(paths)) if i not in (5, 30)]
    with pytest.raises(OSError, match=r"cut\.jpg.*truncated"):
        _skipping_detector("consensus").fit([paths[i] for i in readable_or_cut], labels[readable_or_cut])
    assert not hasattr(detector, "unreadable_")
    with pytest.raises(ValueError, match="skip_unreadable"):
        _skipping_detector("neighbour", skip_unreadable="yes").fit(paths, labels)


def test_detector_skip_unreadable_refuses_a_class_without_readable_images(tmp_path, digits):
    paths, labels, bad = _labelled_files(tmp_path, digits)
    labels = labels.astype(object)
    labels[bad] = "ghost"  # its three images are the three unreadable files
    detector = _skipping_detector("neighbour", n_neighbors=2, skip_unreadable=True)
    with pytest.raises(ValueError, match=r"Every image of class 'ghost' is unreadable"):
        detector.fit(paths, labels)
    assert detector.unreadable_.index.tolist() == bad  # what to fix is known
    with pytest.raises(ValueError, match=r"None of the 6 images can be read \(e\.g\. '.*notes\.jpg'"):
        detector.fit([paths[i] for i in bad] * 2, ["a", "b"] * 3)


def test_detector_skip_unreadable_rechecks_the_readable_samples(tmp_path, digits):
    """A class can become too small for the detector once its unreadable files are out."""
    paths, labels, bad = _labelled_files(tmp_path, digits)
    labels = labels.astype(object)
    labels[[5, 17, 0, 1]] = "small"  # two unreadable, two readable samples
    detector = _skipping_detector("consensus", n_neighbors=2, skip_unreadable=True)
    with pytest.raises(ValueError, match=r"n_neighbors=2 is not below the size of class 'small' \(2 samples\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            detector.fit(paths, labels)


def test_detector_skip_unreadable_is_a_no_op_without_files(digits):
    X, y = digits
    X, y = X[:60].reshape(60, -1).astype(np.float32), y[:60]
    plain = _skipping_detector("neighbour").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        skipping = _skipping_detector("neighbour", skip_unreadable=True).fit(X, y)
    np.testing.assert_array_equal(skipping.clean_mask_, plain.clean_mask_)
    assert skipping.unreadable_.empty and list(skipping.unreadable_.columns) == ["path", "reason"]
    assert not hasattr(skipping.set_params(skip_unreadable=False).fit(X, y), "unreadable_")  # no stale table


def test_trained_tower_skips_unreadable_files_without_an_embedding_pass(tmp_path, digits, monkeypatch):
    """With tuning="peft" the files are found by decoding each once, not by embedding them."""
    from skclip_noise import GMMLossDetector

    paths, labels, bad = _labelled_files(tmp_path, digits)

    def no_embedding(self, X):
        raise AssertionError("a tower that trains needs no embedding pass")

    monkeypatch.setattr(ImageEmbedder, "transform", no_embedding)
    detector = GMMLossDetector(tuning="peft", epochs=1, batch_size=16, random_state=0, skip_unreadable=True, **TINY)
    with pytest.warns(UserWarning, match="3 of 39 image files could not be read"):
        detector.fit(paths, labels)
    assert detector.unreadable_.index.tolist() == bad
    assert detector.loss_.shape == (len(paths) - len(bad),)
    assert not detector.clean_mask_[bad].any() and detector.clean_mask_.shape == (len(paths),)
