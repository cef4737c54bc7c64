"""Data layer: every form of X, labels, transforms, unreadable files."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from skclip_noise.data.inputs import (
    ImageDataset,
    check_features,
    check_image_input,
    image_to_pil,
)
from skclip_noise.data.fingerprint import input_fingerprint
from skclip_noise.data.labels import LabelEncoding, check_labels
from skclip_noise.data.transforms import (
    PreprocessConfig,
    eval_transform,
    strong_transform,
    weak_transform,
)


class TupleDataset(torch.utils.data.Dataset):
    """A torch Dataset yielding (CHW float tensor, label), like torchvision's."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return torch.from_numpy(self.images[i]).float().div(255).unsqueeze(0), int(self.labels[i])


def _forms(digits_folder, small_digits):
    from skclip_noise.datasets import load_image_folder

    X, y = small_digits
    paths, _ = load_image_folder(digits_folder)
    rgb = np.repeat(X[..., None], 3, axis=-1)
    return {
        "uint8 grey": X,
        "uint8 grey with channel": X[..., None],
        "uint8 rgb": rgb,
        "float grey": X / 255.0,
        "float rgb": rgb.astype(np.float32) / 255,
        "path list": list(paths),
        "path array": np.asarray(paths),
        "path series": pd.Series(paths),
        "torch dataset": TupleDataset(X, y),
    }


@pytest.mark.parametrize(
    "form",
    [
        "uint8 grey",
        "uint8 grey with channel",
        "uint8 rgb",
        "float grey",
        "float rgb",
        "path list",
        "path array",
        "path series",
        "torch dataset",
    ],
)
def test_every_form_of_x_decodes_to_rgb_tensors(form, digits_folder, small_digits):
    X = _forms(digits_folder, small_digits)[form]
    image_input = check_image_input(X)
    assert image_input.kind in {"images", "paths", "dataset"}
    dataset = ImageDataset(image_input, eval_transform(PreprocessConfig(image_size=16)))
    loader = torch.utils.data.DataLoader(dataset, batch_size=8)
    images, index = next(iter(loader))
    assert images.shape == (8, 3, 16, 16)
    assert index.tolist() == list(range(8))
    assert dataset.load(0).mode == "RGB"


def test_all_forms_give_the_same_pixels(digits_folder, small_digits):
    from skclip_noise.datasets import load_image_folder

    X, y = small_digits
    paths, labels = load_image_folder(digits_folder)
    reference = {}
    for form, data in _forms(digits_folder, small_digits).items():
        dataset = ImageDataset(check_image_input(data))
        reference[form] = np.asarray(dataset.load(0))
    # The folder is sorted by class; the arrays keep the original order.
    first_zero = np.asarray(ImageDataset(check_image_input(X)).load(int(np.flatnonzero(y.astype(str) == labels[0])[0])))
    assert np.array_equal(reference["path list"], first_zero)
    for form in ["uint8 grey with channel", "uint8 rgb", "float grey", "float rgb", "torch dataset"]:
        assert np.array_equal(reference[form], reference["uint8 grey"]), form


def test_features_are_only_accepted_when_allowed():
    features = np.random.default_rng(0).normal(size=(5, 4))
    assert check_image_input(features, allow_features=True).kind == "features"
    with pytest.raises(ValueError, match="precomputed features"):
        check_image_input(features)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.zeros((0, 8, 8), dtype=np.uint8), "no samples"),
        (np.zeros((4, 3, 8, 8), dtype=np.uint8), "channels-first"),
        (np.zeros((4, 8, 8, 5), dtype=np.uint8), "shape"),
        (np.full((4, 8, 8), 2.0), r"\[0, 1\]"),
        (np.full((4, 8, 8), np.nan), "NaN"),
        (np.full((4, 8, 8), 300, dtype=np.int32), r"\[0, 255\]"),
        (np.zeros(5), "shape"),
    ],
)
def test_bad_image_arrays_are_named(X, message):
    with pytest.raises(ValueError, match=message):
        check_image_input(X)


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="do not exist"):
        check_image_input([str(tmp_path / "nope.png")])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a jpeg")
    dataset = ImageDataset(check_image_input([str(broken)]))
    with pytest.raises(OSError, match="broken.jpg"):
        dataset[0]
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=1)
    with pytest.raises(OSError, match="broken.jpg"):
        next(iter(loader))


def test_single_path_string_is_rejected_with_advice(tmp_path):
    with pytest.raises(TypeError, match="load_image_folder"):
        check_image_input(str(tmp_path))


def test_grey_and_palette_files_become_rgb(tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((6, 6), 128, dtype=np.uint8)).save(grey)
    palette = tmp_path / "palette.gif"
    Image.fromarray(np.full((6, 6, 3), 50, dtype=np.uint8)).convert("P").save(palette)
    dataset = ImageDataset(check_image_input([str(grey), str(palette)]))
    assert [dataset.load(i).mode for i in range(2)] == ["RGB", "RGB"]
    assert np.asarray(dataset.load(0))[0, 0].tolist() == [128, 128, 128]


def test_subset_view_returns_positions_in_the_full_input(small_digits):
    X, _ = small_digits
    dataset = ImageDataset(check_image_input(X), indices=[5, 2])
    assert len(dataset) == 2
    assert [dataset[i][1] for i in range(2)] == [5, 2]


def test_user_data_is_not_modified(small_digits):
    X, _ = small_digits
    before = X.copy()
    dataset = ImageDataset(check_image_input(X), weak_transform(PreprocessConfig(image_size=16)))
    for i in range(len(dataset)):
        dataset[i]
    assert np.array_equal(X, before)


def test_fingerprint_changes_with_content(small_digits):
    X, _ = small_digits
    other = X.copy()
    other[-1] = 255 - other[-1]
    assert input_fingerprint(check_image_input(X)) == input_fingerprint(check_image_input(X.copy()))
    assert input_fingerprint(check_image_input(X)) != input_fingerprint(check_image_input(other))
    assert input_fingerprint(check_image_input(X)) != input_fingerprint(check_image_input(X[:-1]))


def test_image_to_pil_reads_chw_tensors():
    tensor = torch.zeros(3, 5, 7)
    assert image_to_pil(tensor).size == (7, 5)


def test_check_features_rejects_nan_and_copies():
    X = np.ones((3, 2))
    out = check_features(X)
    out[0, 0] = 5
    assert X[0, 0] == 1
    X[1, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_features(X)


# ------------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "y, classes, names",
    [
        ([3, 1, 3], [1, 3], ["1", "3"]),
        (np.array(["dog", "cat", "dog"]), ["cat", "dog"], ["cat", "dog"]),
        (pd.Series(["b", "a", "b"], index=[10, 11, 12]), ["a", "b"], ["a", "b"]),
        ([1.0, 0.0, 1.0], [0, 1], ["0", "1"]),
        (np.array(["x", "y"], dtype=object), ["x", "y"], ["x", "y"]),
    ],
)
def test_label_encoding_of_ints_and_strings(y, classes, names):
    encoding = LabelEncoding(y)
    assert encoding.classes.tolist() == classes
    assert encoding.class_names == names
    assert encoding.decode(encoding.codes).tolist() == list(np.asarray(y).astype(encoding.classes.dtype))


def test_class_names_as_sequence_or_mapping():
    assert LabelEncoding([0, 1, 0], class_names=["zero", "one"]).class_names == ["zero", "one"]
    assert LabelEncoding([2, 1], class_names={1: "one", 2: "two"}).class_names == ["one", "two"]
    with pytest.raises(ValueError, match="one name per class"):
        LabelEncoding([0, 1, 2], class_names=["a", "b"])
    with pytest.raises(ValueError, match="no entry"):
        LabelEncoding([0, 1], class_names={0: "a"})


def test_unseen_labels_and_label_type_mismatch_are_errors():
    encoding = LabelEncoding(["cat", "dog"])
    with pytest.raises(ValueError, match="not seen during fit.*'cow'"):
        encoding.encode(["cat", "cow"])
    with pytest.raises(ValueError, match="same label type"):
        encoding.encode([0, 1])


@pytest.mark.parametrize(
    "y, message",
    [
        ([1, 1, 1], "at least 2 classes"),
        ([[0, 1], [1, 0]], "1-D"),
        ([0.5, 1.0], "non-integer"),
        ([0, np.nan], "NaN"),
        (["a", None], "missing"),
        (["a", 1], "mixes"),
    ],
)
def test_bad_labels(y, message):
    with pytest.raises(ValueError, match=message):
        LabelEncoding(y)


def test_length_mismatch_is_named():
    with pytest.raises(ValueError, match="3 samples but 2 labels"):
        check_labels([0, 1], 3)


def test_labels_are_copied():
    y = np.array([0, 1, 1])
    out = check_labels(y)
    out[0] = 7
    assert y[0] == 0


# --------------------------------------------------------------------------- transforms


def test_views_have_the_right_size_and_differ(rng_guard):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8))
    config = PreprocessConfig(image_size=24, mean=(0.5,) * 3, std=(0.5,) * 3)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        weak = torch.stack([weak_transform(config)(image) for _ in range(4)])
        strong = torch.stack([strong_transform(config)(image) for _ in range(4)])
    evaluation = eval_transform(config)(image)
    assert weak.shape == strong.shape == (4, 3, 24, 24)
    assert torch.equal(evaluation, eval_transform(config)(image))
    assert not torch.equal(weak[0], weak[1]) or not torch.equal(weak[1], weak[2])
    assert (strong - weak).abs().mean() > 0


def test_preprocess_config_validates_interpolation():
    with pytest.raises(ValueError, match="interpolation"):
        PreprocessConfig(image_size=8, interpolation="lanczos9")


def test_classes_spelt_two_ways_are_named_at_the_callers_line():
    import warnings

    from skclip_noise import NeighbourDetector

    with pytest.warns(UserWarning, match=r"differ only in case or spaces \('Cat ' and 'cat'; 'DOG' and 'dog'\)") as caught:
        LabelEncoding(["cat", "Cat ", "dog", "DOG", "bird"])
    assert caught[0].filename == __file__
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.warns(UserWarning, match="differ only in case or spaces") as caught:
        NeighbourDetector(n_neighbors=2).fit(X, ["sea lion", "Sea  Lion", "seal"] * 10)
    assert caught[0].filename == __file__  # past fit and the label encoding, the user's own line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LabelEncoding(["cat", "cats", "dog"])  # other words, or ints, are not variants
        LabelEncoding([1, 2, 1])
