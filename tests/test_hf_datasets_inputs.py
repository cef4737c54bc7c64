"""Images held in Hugging Face ``datasets``, as most researchers hold them today.

A user with ``ds = load_dataset(...)`` passes ``ds["image"]`` (in datasets 5 a lazy
``Column`` of PIL images of mixed sizes and modes, not a list), ``ds["label"]`` (a Column
of ints) and ``ds.features["label"].names``; writes the verdicts back with
``ds.add_column`` / ``ds.filter``; or points the command line at a folder in Hugging
Face's ``imagefolder`` layout. Each test says what the user sees and what they should
see: the library either reads the input (lazily, as it reads paths and torch Datasets)
or refuses it before any work with a message naming what to pass instead.

Everything runs on a few tiny in-memory images; the embedding backbone is the random
``open_clip:skclip-tiny``. Image decodes are counted by wrapping the ``datasets`` Image
feature's ``decode_example``.
"""

import json
import os
import tempfile
import warnings

import numpy as np
import pytest

# ``import datasets`` makes its cache folder: keep it out of the user's home.
os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(tempfile.gettempdir(), "skclip-noise-tests-hf-datasets"))
datasets = pytest.importorskip("datasets")

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from conftest import StopFit, class_folders, cli_exit, image_files, issues_table  # noqa: E402
from skclip_noise import (  # noqa: E402
    ConsensusDetector,
    ImageEmbedder,
    LabelMatchDetector,
    NeighbourDetector,
    apply_decisions,
    cli,
    make_noisy_labels,
)
from skclip_noise.report import label_issues_html  # noqa: E402

TINY = dict(pretrained=None, device="cpu")
TINY_CLIP = "open_clip:skclip-tiny"
TINY_FLAGS = ["--backbone", TINY_CLIP, "--pretrained", "none", "--device", "cpu", "--quiet"]


def pil_images(n, *, mixed, seed=0):
    """``n`` small PIL images: of one size and mode, or (``mixed``) of three sizes with
    every third one grey, as a crawled data set has them."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        height = 12 + 2 * (i % 3) if mixed else 12
        image = Image.fromarray(rng.integers(0, 256, (height, 12, 3), dtype=np.uint8))
        images.append(image.convert("L") if mixed and i % 3 == 1 else image)
    return images


def image_dataset(n, *, mixed=True, column="image", names=("cat", "dog")):
    """An in-memory ``datasets.Dataset`` with an Image column (PNG bytes, decoded on
    access) and a ClassLabel column ``label``."""
    features = datasets.Features({column: datasets.Image(), "label": datasets.ClassLabel(names=list(names))})
    labels = [i % len(names) for i in range(n)]
    return datasets.Dataset.from_dict({column: pil_images(n, mixed=mixed), "label": labels}, features=features)


class ListDataset(torch.utils.data.Dataset):
    """The documented route: a torch Dataset of the same images."""

    def __init__(self, images):
        self.images = list(images)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index]


@pytest.fixture
def decodes(monkeypatch):
    """How many images the ``datasets`` Image feature has decoded (``decodes["n"]``)."""
    from datasets.features import image as hf_image

    counter = {"n": 0}
    original = hf_image.Image.decode_example

    def counting(self, *args, **kwargs):
        counter["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(hf_image.Image, "decode_example", counting)
    return counter


@pytest.fixture(scope="module")
def embedder():
    return ImageEmbedder(TINY_CLIP, **TINY).fit(np.zeros((2, 8, 8), dtype=np.uint8))


# ----------------------------------------------------------------- the image column


@pytest.mark.parametrize("entry, fmt", [("transform", None), ("transform", "numpy"), ("transform", "torch"),
                                        ("fit_predict_clean", None)])
def test_image_column_of_mixed_sizes_is_read_or_refused_clearly(embedder, entry, fmt):
    """``embedder.transform(ds["image"])`` or ``detector.fit_predict_clean(ds["image"],
    ds["label"])`` on a data set whose images differ in size and mode (every real crawl;
    the elements are PIL images, numpy arrays or (C, H, W) tensors as ``ds.with_format``
    says). Today: numpy's own "setting an array element with a sequence. The requested
    array has an inhomogeneous shape after 1 dimensions" (the same images as a list get
    a message naming paths or a torch Dataset). Right: each image read as the same
    images in a torch Dataset are, or a refusal that names what to pass. Cause:
    ``check_image_input`` turns any X that is not a list, tuple or torch Dataset into
    one array (``_as_array``)."""
    ds = image_dataset(8)
    column = (ds if fmt is None else ds.with_format(fmt))["image"]
    if entry == "transform":
        run = embedder.transform
    else:
        def run(X):
            return NeighbourDetector(backbone=TINY_CLIP, n_neighbors=2, **TINY).fit_predict_clean(X, ds["label"])
    try:
        result = run(column)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        assert "inhomogeneous" not in message and "array element with a sequence" not in message, message
        assert "torch Dataset" in message or "path" in message, message
    else:
        np.testing.assert_allclose(result, run(ListDataset(ds["image"])), atol=1e-5)


def test_image_column_is_not_decoded_in_full_before_a_label_mismatch(decodes):
    """A user passes a lazy Column of images with labels of another length (a filtered
    label list). Today every image of the data set is decoded, in the main process, into
    one array before the lengths are compared: with 100,000 JPEGs minutes of work and
    gigabytes of memory for a one-line error (here 1,000 decodes). The docs promise that
    images are read lazily, batch by batch. Right: the mismatch is found after checking
    a few items, as for a torch Dataset (two) or a list of paths (none decoded). Cause:
    ``check_image_input`` -> ``_as_array`` -> ``np.asarray(column)``."""
    n = 1000
    ds = image_dataset(n, mixed=False)  # one size: np.asarray succeeds, so only the cost shows
    labels = ds["label"][: n - 1]
    with pytest.raises(ValueError, match="different lengths"):
        NeighbourDetector(backbone=TINY_CLIP, **TINY).fit(ds["image"], labels)
    assert decodes["n"] <= 50, f"{decodes['n']} of {n} images decoded to report a length mismatch"


def test_report_on_an_image_column_reads_only_the_cards_shown(tmp_path, decodes):
    """``label_issues_html(ds["image"], issues, max_items=5)``: the docstring says "Only
    the images shown are read, so the page is cheap for large data sets". Today every
    image of the Column is decoded (1,000 here) to draw 5 thumbnails. Right: about as
    many decodes as cards. Cause: the report checks X with ``check_image_input``, which
    materialises the Column with ``np.asarray``."""
    n = 1000
    ds = image_dataset(n, mixed=False)
    quality = np.linspace(0.0, 1.0, n)
    label_issues_html(ds["image"], issues_table(quality, ds["label"][:]), tmp_path / "report.html", max_items=5)
    assert (tmp_path / "report.html").is_file()
    assert decodes["n"] <= 50, f"{decodes['n']} of {n} images decoded for a page of 5 cards"


def test_same_size_image_column_gives_the_arrays_verdicts(embedder):
    """A CIFAR-like data set (every image 12x12 RGB): ``ds["image"]`` embeds as the
    stacked array does, and the verdicts' rows are the data set's rows (positions
    0..n-1), so they can be written back by position."""
    ds = image_dataset(40, mixed=False)
    array = np.stack([np.asarray(image) for image in ds["image"]])
    np.testing.assert_allclose(embedder.transform(ds["image"]), embedder.transform(array), atol=1e-5)
    detector = NeighbourDetector(backbone=TINY_CLIP, n_neighbors=3, **TINY).fit(ds["image"], ds["label"])
    assert detector.label_issues_.index.tolist() == list(range(40))
    assert detector.clean_mask_.shape == (40,)


@pytest.mark.parametrize("fmt", [None, "numpy"])
def test_column_of_image_paths_is_read_as_paths(tmp_path, embedder, fmt):
    """A data set that stores file paths in a string column (``ds["path"]``, or the
    ``file_name`` of a metadata file) is a sequence of image paths, which the library
    accepts as a list, tuple, array or Series. Today ``ImageEmbedder`` says "X has shape
    (6,). Pass images as a numpy array ... a list or pandas Series of image file paths"
    and the detectors "X is a 1-D array of shape (6,) ... Reshape your data using
    array.reshape(-1, 1)": advice that is wrong for paths. Right: read as paths, the same
    embeddings as ``list(ds["path"])``. Cause: ``inputs._is_path_sequence`` recognises
    only lists, tuples and objects with a ``dtype``."""
    paths = [str(path) for path in image_files(tmp_path / "images", 6)]
    ds = datasets.Dataset.from_dict({"path": paths, "label": [0, 1] * 3})
    column = (ds if fmt is None else ds.with_format(fmt))["path"]
    np.testing.assert_allclose(embedder.transform(column), embedder.transform(paths), atol=1e-5)


def test_undecoded_image_column_is_refused_before_any_work(embedder):
    """``Image(decode=False)`` gives ``{"path": ..., "bytes": ...}`` dicts. Not a
    documented form: read, or refused at once with a TypeError/ValueError naming the
    forms to pass (paths or a torch Dataset), never a crash deep in a DataLoader."""
    ds = image_dataset(6).cast_column("image", datasets.Image(decode=False))
    assert isinstance(ds["image"][0], dict)
    try:
        features = embedder.transform(ds["image"])
    except (TypeError, ValueError) as exc:
        assert "path" in str(exc) or "torch Dataset" in str(exc), str(exc)
    else:
        assert features.shape[0] == 6


# ----------------------------------------------------------------- the data set itself


@pytest.mark.parametrize("whole", ["Dataset", "DatasetDict"])
def test_whole_dataset_as_X_is_read_or_refused_naming_the_image_column(embedder, decodes, whole):
    """A user passes the data set itself (CIFAR-10's columns are ``img`` and ``label``),
    or the DatasetDict ``load_dataset`` returns. Today a Dataset is decoded row by row,
    every image of it (300 here), then refused with "Cannot read X of element type
    dict", and a DatasetDict with "element type DatasetDict": neither names the column
    (``ds["img"]``) or the split (``dd["train"]``) to pass. Right: the image column read
    (a Dataset with one Image feature), or a refusal that names the column / a split,
    without decoding the data set. Cause: ``check_image_input`` -> ``np.asarray(X)``."""
    ds = image_dataset(300, mixed=False, column="img")
    X = ds if whole == "Dataset" else datasets.DatasetDict({"train": ds})
    try:
        features = embedder.transform(X)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        assert "'img'" in message or '"img"' in message or (whole == "DatasetDict" and "train" in message), message
        assert decodes["n"] <= 50, f"{decodes['n']} of 300 images decoded before refusing the data set"
    else:
        assert features.shape[0] == 300


def test_streaming_dataset_is_refused_before_reading_the_stream():
    """An ``IterableDataset`` (``load_dataset(..., streaming=True)``) has no length, and
    every verdict is one row per sample: a refusal is right, before a single example
    is pulled from the stream (which may be a download)."""
    pulled = []

    def record(example, index):
        pulled.append(index)
        return example

    stream = image_dataset(20).to_iterable_dataset().map(record, with_indices=True)
    with pytest.raises(TypeError, match="__len__"):
        NeighbourDetector(backbone=TINY_CLIP, **TINY).fit(stream, [i % 2 for i in range(20)])
    assert pulled == []


# ----------------------------------------------------------------- labels and writing back


@pytest.fixture(scope="module")
def digits_dataset():
    """300 digits as a Dataset of feature vectors with a ClassLabel column of noisy labels."""
    data = load_digits()
    y_noisy, _ = make_noisy_labels(data.target[:300], "symmetric", 0.2, random_state=0)
    features = datasets.Features({
        "features": datasets.Sequence(datasets.Value("float64")),
        "label": datasets.ClassLabel(names=[f"digit {d}" for d in range(10)]),
    })
    return datasets.Dataset.from_dict({"features": (data.data[:300] / 16.0).tolist(), "label": y_noisy.tolist()},
                                      features=features)


def test_label_column_gives_the_same_verdicts_and_writes_back(digits_dataset):
    """``fit(ds["features"], ds["label"])`` (two Columns) gives the verdicts of the numpy
    arrays; ``clean_mask_`` is a bool array of one entry per row, so ``ds.add_column``
    stores it as a bool feature and ``ds.filter``/``ds.select`` keep the clean rows;
    ``label_issues_`` is indexed by row position and its columns add to the data set."""
    ds = digits_dataset
    X, y = np.asarray(ds["features"][:]), np.asarray(ds["label"][:])
    detector = ConsensusDetector(random_state=0).fit(ds["features"], ds["label"])
    reference = ConsensusDetector(random_state=0).fit(X, y)
    np.testing.assert_array_equal(detector.clean_mask_, reference.clean_mask_)
    assert detector.clean_mask_.dtype == bool and detector.clean_mask_.shape == (len(ds),)
    assert detector.label_issues_.index.tolist() == list(range(len(ds)))
    marked = ds.add_column("clean", detector.clean_mask_)
    assert marked.features["clean"] == datasets.Value("bool")
    assert marked["clean"][:] == detector.clean_mask_.tolist()
    kept = ds.filter(lambda _, i: detector.clean_mask_[i], with_indices=True, keep_in_memory=True)
    assert len(kept) == int(detector.clean_mask_.sum())
    assert kept["label"][:] == y[detector.clean_mask_].tolist()
    suggested = ds.add_column("suggested", detector.label_issues_["suggested_label"].to_numpy())
    assert suggested["suggested"][:] == detector.label_issues_["suggested_label"].tolist()


def test_apply_decisions_takes_the_label_column(digits_dataset):
    """``apply_decisions(ds["label"], "decisions.csv")``: the Column is matched by
    position, as a list is; the corrected labels can replace the column."""
    import pandas as pd

    y = np.asarray(digits_dataset["label"][:])
    decisions = pd.DataFrame({"sample": [3, 5], "given_label": [y[3], y[5]], "decision": ["relabel", "drop"],
                              "label": [(y[3] + 1) % 10, ""]})
    labels, keep = apply_decisions(digits_dataset["label"], decisions)
    expected = y.copy()
    expected[3] = (y[3] + 1) % 10
    np.testing.assert_array_equal(labels, expected)
    assert keep.tolist() == [i != 5 for i in range(len(y))]


def test_classlabel_names_as_class_names():
    """``class_names=ds.features["label"].names`` with the Column of ints: the prompts
    are those names. On a subset missing a class (labels 0 and 2 of three names) the
    list cannot be matched by position: refused before any work, naming the mapping
    form, which (``dict(enumerate(names))``) then gives each label its own name."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(6, 48))
    full = datasets.Dataset.from_dict({"label": [0, 1, 2] * 2}, features=datasets.Features(
        {"label": datasets.ClassLabel(names=["cat", "dog", "bird"])}))
    names = full.features["label"].names
    detector = LabelMatchDetector(TINY_CLIP, class_names=names, **TINY).fit(features, full["label"])
    assert detector.class_names_ == ["cat", "dog", "bird"]
    subset = full.filter(lambda example: example["label"] != 1, keep_in_memory=True)
    with pytest.raises(ValueError, match="mapping"):
        LabelMatchDetector(TINY_CLIP, class_names=names, **TINY).fit(features[:4], subset["label"])
    detector = LabelMatchDetector(TINY_CLIP, class_names=dict(enumerate(names)), **TINY).fit(features[:4],
                                                                                            subset["label"])
    assert detector.class_names_ == ["cat", "bird"]


# ----------------------------------------------------------------- the imagefolder layout


def _hf_labels(root, tmp_path):
    """The labels Hugging Face's own ``imagefolder`` loader reads from ``root``, by split."""
    loaded = datasets.load_dataset("imagefolder", data_dir=str(root), cache_dir=str(tmp_path / "hf-cache"))
    out = {}
    for split, part in loaded.items():
        feature = part.features["label"]
        values = part["label"][:]
        out[split] = [feature.int2str(v) if hasattr(feature, "int2str") else v for v in values]
    return out


def _detect(root, tmp_path, capsys):
    """``skclip-noise detect ROOT`` with the detector replaced by ``recorded_fit``'s:
    ("fitted", stderr) once it reaches the fit, else (exit status, stderr)."""
    capsys.readouterr()  # what came before (datasets' progress bars) is not the command's
    try:
        status = cli.main(["detect", str(root), "--output-dir", str(tmp_path / "out"), *TINY_FLAGS])
    except StopFit:
        status = "fitted"
    except SystemExit as exc:  # argparse
        status = exc.code
    return status, capsys.readouterr().err


def test_detect_on_split_folders_does_not_label_images_train_and_test(tmp_path, capsys, recorded_fit):
    """``skclip-noise detect data`` on Hugging Face's imagefolder layout with splits,
    ``data/train/<class>/*.png`` and ``data/test/<class>/*.png`` (which
    ``load_dataset("imagefolder", data_dir="data")`` reads as two splits of the classes
    cat and dog). Today the command fits on the labels 'train' and 'test': every image
    "labelled" by its split, the verdicts meaningless, nothing said. Right: exit 2
    naming the split folders (pass data/train), or the class labels. Cause:
    ``datasets.load_image_folder`` takes every top-level folder as a class."""
    root = tmp_path / "data"
    class_folders(root / "train", per_class=6)
    class_folders(root / "test", per_class=3)
    assert set(_hf_labels(root, tmp_path)["train"]) == {"cat", "dog"}
    status, err = _detect(root, tmp_path, capsys)
    if status == "fitted":
        assert set(recorded_fit["y"]) <= {"cat", "dog"}, f"fitted on the labels {sorted(set(recorded_fit['y']))}"
    else:
        assert status == 2 and "train" in err, (status, err)


@pytest.mark.parametrize("layout", ["class-folders-metadata.csv", "flat-metadata.jsonl"])
def test_detect_does_not_silently_ignore_imagefolder_metadata(tmp_path, capsys, recorded_fit, layout):
    """Hugging Face's imagefolder keeps labels in ``metadata.csv`` / ``metadata.jsonl``
    (columns ``file_name`` and ``label``) beside the images; ``load_dataset`` then takes
    the labels from it. Today ``skclip-noise detect`` never looks at that file: with
    class folders it fits on the folder names, silently dropping the metadata's labels
    (cat/0.png is 'bird' there); with the images beside the file it says "has no class
    subfolders ... move each into a subfolder named after its class", never that the
    labels are in metadata.jsonl nor how to pass them (a CSV of path,label). Right: the
    metadata's labels read, or a message/warning naming the metadata file. Cause:
    ``_cli_inputs.read_detect_input`` / ``datasets.load_image_folder`` know only
    ``class_names.csv``."""
    root = tmp_path / "data"
    if layout.startswith("class-folders"):
        class_folders(root, per_class=6)
        rows = [(f"{c}/{i}.png", "bird" if (c, i) == ("cat", 0) else c) for c in ("cat", "dog") for i in range(6)]
        (root / "metadata.csv").write_text("file_name,label\n" + "".join(f"{f},{label}\n" for f, label in rows))
    else:
        paths = image_files(root, 12)
        rows = [(path.name, ("cat", "dog", "bird")[i % 3]) for i, path in enumerate(paths)]
        (root / "metadata.jsonl").write_text(
            "".join(json.dumps({"file_name": f, "label": label}) + "\n" for f, label in rows))
    hf = dict(zip((f for f, _ in rows), _hf_labels(root, tmp_path)["train"]))
    assert sorted(hf.values()) == sorted(label for _, label in rows)  # what a datasets user expects
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, err = _detect(root, tmp_path, capsys)
    if status == "fitted":
        seen = dict(zip((os.path.relpath(p, root) for p in recorded_fit["X"]), map(str, recorded_fit["y"])))
        warned = any(issubclass(w.category, UserWarning) and "metadata" in str(w.message) for w in caught) \
            or "metadata" in err
        assert seen == dict(rows) or warned, f"metadata labels ignored without a word; fitted on {seen}"
    else:
        assert status == 2 and "metadata" in err, (status, err)


def test_detect_on_metadata_csv_names_the_path_column(tmp_path, capsys):
    """``skclip-noise detect data/metadata.csv`` (an imagefolder metadata file: columns
    ``file_name,label``) is refused at once, exit 2, naming the 'path' column the CSV
    needs and the columns it has, so the user knows to rename ``file_name``."""
    root = tmp_path / "data"
    paths = image_files(root, 6)
    rows = "".join(f"{path.name},{i % 2}\n" for i, path in enumerate(paths))
    (root / "metadata.csv").write_text("file_name,label\n" + rows)
    status, err = cli_exit(["detect", str(root / "metadata.csv"), "--output-dir", str(tmp_path / "out"),
                            *TINY_FLAGS], capsys)
    assert status == 2, err
    assert "'path'" in err and "file_name" in err, err
