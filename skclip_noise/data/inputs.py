"""What users pass as X, checked once and read lazily as PIL images.

Four forms are recognised:

``"images"``
    a numpy array ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``, uint8 or float
    in [0, 1];
``"paths"``
    a list, tuple, numpy array or pandas Series of image file paths (any format PIL
    reads), or a one-column DataFrame of them (as a ``ColumnTransformer`` passes
    ``["path"]`` to an ``ImageEmbedder``; estimators that also take feature tables read a
    DataFrame as one);
``"dataset"``
    a :class:`torch.utils.data.Dataset` whose items are an image or a tuple whose first
    element is the image (PIL image, numpy array ``(H, W[, 1 or 3])`` or ``(C, H, W)``
    tensor with 1 or 3 channels, uint8 or float in [0, 1]); the first items are checked
    like arrays when X is checked, and every item when it is read. So is any other
    sized, indexable sequence of such images that is not a list, tuple, array or table:
    a Hugging Face ``datasets`` image column (``ds["image"]``), read one image at a time
    as a Dataset is (its images may differ in size; none is decoded before it is used).
    A whole Hugging Face ``Dataset`` or ``DatasetDict`` is refused, naming the column
    or split to pass;
``"features"``
    a 2-D float array of precomputed embeddings, for estimators that accept them.

Files (and PIL images in a Dataset) of high bit depth (modes ``I;16``, ``I;16B``,
``I`` and ``F``: 16-bit PNG and TIFF, 32-bit and float TIFF) are read with their full
range, scaled to 8 bits: 16-bit modes (and ``I`` images whose values fit in 16 bits)
by ``/ 257``; ``F`` images in [0, 1] by ``* 255``; other ``I``/``F`` images are
stretched from their own minimum and maximum. Four-channel arrays and tensors
(RGBA) are refused with advice, never guessed; RGBA PIL images and files lose their
alpha channel, as PIL's RGB conversion does.

Errors about one image are :class:`ImageReadError` (an ``OSError``) and
:class:`InvalidImageError` (a ``ValueError``); they name the file or Dataset
position, and keep their type and message when raised inside DataLoader workers.
Image files are decoded completely (:mod:`skclip_noise.data.decoding`), so a file
cut short fails even where PIL's ``verify()`` passes it; an :class:`ImageDataset`
with ``skip_unreadable=True`` reports such files instead of raising.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .decoding import (
    ImageReadError,
    _KeepsMessageAcrossWorkers,
    open_image_file,
    pil_to_rgb,
    pil_settings,
    use_pil_settings,
    warn_if_truncated_images_accepted,
)
from .features import check_feature_values, check_features
from .sequences import is_lazy_sequence, looks_like_an_image, refuse_dataset_tables
from .labels import is_missing

__all__ = [
    "ImageReadError",
    "InvalidImageError",
    "ImageInput",
    "ImageInputMixin",
    "ImageDataset",
    "check_image_input",
    "check_feature_values",
    "check_features",
    "image_to_pil",
]

_IMAGE_INPUT_HELP = (
    "Pass images as a numpy array of shape (N, H, W) or (N, H, W, 3) (uint8, or float in "
    "[0, 1]), a list or pandas Series of image file paths, or a torch Dataset."
)


#: How many leading items of a torch Dataset are checked when X is checked.
_N_CHECKED_ITEMS = 2


class InvalidImageError(_KeepsMessageAcrossWorkers, ValueError):
    """An image (Dataset item) of the wrong shape, type or value range.

    Examples
    --------
    >>> import torch
    >>> try:
    ...     check_image_input(torch.utils.data.TensorDataset(torch.rand(2, 4, 8, 8)))
    ... except InvalidImageError as error:  # also a ValueError
    ...     print(str(error)[:46])
    Dataset item 0 has shape (4, 8, 8): 4 channels
    """


class _ImageTypeError(_KeepsMessageAcrossWorkers, TypeError):
    """A Dataset item that is not an image at all."""


@dataclass(frozen=True)
class ImageInput:
    """A checked X: its form, its length and the data itself (never copied)."""

    kind: str
    data: object
    n_samples: int

    def __len__(self):
        return self.n_samples


def check_image_input(X, *, allow_features=False, check_paths=True):
    """Validate X and say which form it has.

    Parameters
    ----------
    X : array-like, sequence of paths or torch Dataset
        See the module docstring for the forms.
    allow_features : bool, default=False
        Whether a 2-D float array (precomputed embeddings) is acceptable.
    check_paths : bool, default=True
        Whether to check that every path exists (one ``stat`` per file).

    Returns
    -------
    ImageInput

    Examples
    --------
    >>> import numpy as np
    >>> check_image_input(np.zeros((4, 8, 8), dtype=np.uint8)).kind
    'images'
    >>> check_image_input(np.zeros((4, 16)), allow_features=True).kind
    'features'
    """
    if isinstance(X, torch.utils.data.Dataset):
        try:
            n = len(X)
        except TypeError as exc:
            raise TypeError("A torch Dataset used as X must define __len__.") from exc
        _check_not_empty(n)
        for index in range(min(n, _N_CHECKED_ITEMS)):
            _dataset_item_array(X[index], index)
        return ImageInput("dataset", X, n)
    refuse_dataset_tables(X)
    if is_lazy_sequence(X):
        n = len(X)
        _check_not_empty(n)
        first = X[0]
        if isinstance(first, (str, os.PathLike)):
            X = list(X)  # a column of file paths: read below
        elif looks_like_an_image(first):
            for index in range(min(n, _N_CHECKED_ITEMS)):
                _dataset_item_array(X[index], index)
            return ImageInput("dataset", X, n)
        elif isinstance(first, dict) and {"path", "bytes"} & set(first):
            raise TypeError(
                "X's items are dicts of a file's path and bytes: a Hugging Face image column read with "
                "decode=False. Pass it decoded (ds.cast_column(name, datasets.Image())[name]) or its "
                f"file paths. {_IMAGE_INPUT_HELP}"
            )
    X = _single_path_column(X)
    if _is_path_sequence(X):
        paths = np.asarray([os.fspath(p) for p in list(X)], dtype=object)
        _check_not_empty(len(paths))
        if check_paths:
            _check_paths_exist(paths)
        return ImageInput("paths", paths, len(paths))
    if isinstance(X, (str, os.PathLike)):
        raise TypeError(
            f"X is a single path ({os.fspath(X)!r}); pass a list of image paths, or use "
            "skclip_noise.datasets.load_image_folder for a folder of class subfolders."
        )
    array = _as_array(X)
    if array.dtype == object:
        raise TypeError(f"Cannot read X of element type {type(array.flat[0]).__name__}. {_IMAGE_INPUT_HELP}")
    if array.ndim == 1 and allow_features:
        raise ValueError(  # scikit-learn's words, which its estimator checks look for
            f"X is a 1-D array of shape {array.shape}, but features are 2-D (one row per sample) "
            "and images 3-D or 4-D. Reshape your data either using array.reshape(-1, 1) if your data "
            "has a single feature or array.reshape(1, -1) if it contains a single sample."
        )
    if array.ndim == 2:
        if allow_features:
            return ImageInput("features", check_features(array), array.shape[0])
        raise ValueError(
            f"X is a 2-D array of shape {array.shape}, which is read as precomputed features, "
            f"but this estimator needs images. {_IMAGE_INPUT_HELP}"
        )
    return ImageInput("images", _check_image_array(array), array.shape[0])


def _single_path_column(X):
    """The column of a one-column table of paths (what a ColumnTransformer hands over for a
    list of one column name, ``["path"]``); anything else unchanged."""
    columns = getattr(X, "columns", None)
    if columns is not None and len(columns) == 1 and hasattr(X, "iloc") and X.dtypes.iloc[0].kind in "OSU":
        return X.iloc[:, 0]
    return X


def _is_path_sequence(X):
    if hasattr(X, "dtype") and getattr(X.dtype, "kind", "O") not in "OUS":
        return False
    if isinstance(X, (list, tuple)) or hasattr(X, "dtype"):
        if not isinstance(X, (list, tuple)) and not hasattr(X, "tolist"):  # an array-like such as Dask's
            X = np.asarray(X)
        values = list(X.tolist() if hasattr(X, "tolist") else X)
        is_path = [isinstance(v, (str, os.PathLike)) for v in values]
        if values and any(is_path) and not all(is_path):
            _reject_non_paths(values, is_path)
        return len(values) > 0 and all(is_path)
    return False


def _reject_non_paths(values, is_path):
    positions = [i for i, ok in enumerate(is_path) if not ok]
    missing = [i for i in positions if is_missing(values[i])]
    if missing:
        raise ValueError(
            f"X is a list of image paths with missing entries (None/NaN) at position(s) "
            f"{missing[:10]}{' ...' if len(missing) > 10 else ''}: every sample needs an image "
            "file. Drop those samples (and their labels) first."
        )
    kinds = sorted({type(values[i]).__name__ for i in positions})
    raise TypeError(
        f"X mixes image paths with values of type {kinds} at position(s) {positions[:10]}; "
        f"pass only paths. {_IMAGE_INPUT_HELP}"
    )


def _check_paths_exist(paths):
    bad = [p for p in paths if not os.path.isfile(p)]
    if not bad:
        return
    directories = [p for p in bad if os.path.isdir(p)]
    if directories:
        raise IsADirectoryError(
            f"{len(directories)} of {len(paths)} image paths "
            f"{'is a directory' if len(directories) == 1 else 'are directories'}, not image "
            f"files, e.g. {directories[:3]}. Pass the image files inside (for a folder of class "
            "subfolders, skclip_noise.datasets.load_image_folder lists them with their labels)."
        )
    raise FileNotFoundError(
        f"{len(bad)} of {len(paths)} image paths do not exist, e.g. {bad[:3]}."
    )


def _as_array(X):
    try:
        return np.asarray(X)
    except ValueError as exc:
        if not isinstance(X, (list, tuple)):
            raise
        shapes = sorted({tuple(np.shape(x)) for x in X}, key=str)
        raise ValueError(
            f"X is a list of {len(X)} images of different shapes (e.g. {shapes[:3]}), which "
            "cannot form one array. Pass image file paths or a torch Dataset instead (each "
            "image is then resized by the backbone's preprocessing), or resize them to one size."
        ) from exc


def _check_not_empty(n):
    if n == 0:
        raise ValueError(f"X has no samples. {_IMAGE_INPUT_HELP}")


def _check_image_array(array):
    _check_not_empty(array.shape[0] if array.ndim else 0)
    if array.ndim == 4 and array.shape[-1] not in (1, 3) and array.shape[1] in (1, 3):
        raise ValueError(
            f"X has shape {array.shape}, which looks channels-first; images must be "
            "channels-last (N, H, W, 3). Use np.moveaxis(X, 1, -1)."
        )
    if array.ndim == 3 and array.shape[-1] in (3, 4) and array.shape[1] >= 8:
        raise ValueError(
            f"X has shape {array.shape}: one colour image rather than {array.shape[0]} grey images "
            f"{array.shape[-1]} pixels wide? Pass a batch of one, X[None] (shape (1, {', '.join(map(str, array.shape))}))."
        )
    if array.ndim == 4 and array.shape[-1] == 4:
        raise ValueError(
            f"X has shape {array.shape}: 4 channels (RGBA?). Images must have 1 or 3 channels; "
            "drop the alpha channel with X[..., :3]."
        )
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in (1, 3)):
        raise ValueError(f"X has shape {array.shape}. {_IMAGE_INPUT_HELP}")
    _check_pixel_values(array, "X", ValueError)
    return array


def _check_pixel_values(array, what, error):
    """Raise ``error`` unless ``array`` is uint8/bool, int in [0, 255] or float in [0, 1]."""
    if array.dtype == np.uint8 or array.dtype.kind == "b":
        return
    if array.dtype.kind not in "fiu":
        raise error(f"Image arrays must be uint8 or float; {what} has dtype {array.dtype}.")
    if array.size == 0:
        return
    low, high = array.min(), array.max()
    if array.dtype.kind in "iu":
        if low < 0 or high > 255:
            raise error(
                f"Integer image arrays must hold values in [0, 255]; {what} holds [{low}, {high}]. "
                "Scale 16-bit images to 8 bits (e.g. // 257), or pass their file paths, which "
                "are read with their full range."
            )
        return
    if not np.all(np.isfinite(array)):
        raise error(f"{what} contains NaN or infinite pixel values.")
    if low < 0:
        raise error(
            f"Float image arrays must hold values in [0, 1]; {what} holds [{low:.3g}, {high:.3g}]: "
            "negative values look already normalised (mean/std). Pass unnormalised images in "
            "[0, 1]; the estimator applies the backbone's own normalisation."
        )
    if high > 1:
        hint = (
            "values in [0, 255]: divide by 255, or pass uint8"
            if high <= 255 else "divide by the maximum value"
        )
        raise error(
            f"Float image arrays must hold values in [0, 1]; {what} holds [{low:.3g}, "
            f"{high:.3g}], which looks like {hint}."
        )


def _dataset_item_array(item, index):
    """Check one Dataset item; return its image (a PIL image or an (H, W[, C]) array)."""
    what = f"Dataset item {index}"
    if isinstance(item, (tuple, list)):
        if not item:
            raise InvalidImageError(f"{what} is an empty {type(item).__name__}; expected an image.")
        item = item[0]
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, torch.Tensor):
        tensor = item.detach().cpu()
        if tensor.dtype in (torch.bfloat16, torch.float16):
            tensor = tensor.float()
        if tensor.ndim == 3 and tensor.shape[0] in (1, 3, 4):  # tensors are (C, H, W)
            tensor = tensor.permute(1, 2, 0)
        array = tensor.numpy()
    elif isinstance(item, np.ndarray):
        array = item
    else:
        raise _ImageTypeError(
            f"{what} is a {type(item).__name__}; items must be a PIL image, a numpy array "
            "(H, W[, 3]) or a tensor (C, H, W), alone or first in a tuple."
        )
    if array.ndim == 3 and array.shape[-1] == 4:
        raise InvalidImageError(
            f"{what} has shape {tuple(item.shape)}: 4 channels (RGBA?). Images must have 1 or 3 "
            "channels; drop the alpha channel (tensor[:3] or array[..., :3]) or return "
            "image.convert('RGB') from the Dataset."
        )
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3)):
        raise InvalidImageError(
            f"{what} has shape {tuple(item.shape)}; expected one image: (C, H, W) tensor or "
            "(H, W[, C]) array with C = 1 or 3."
        )
    _check_pixel_values(array, what, InvalidImageError)
    return array


def image_to_pil(image):
    """Convert one image (array, tensor or PIL image) to an RGB PIL image.

    Float arrays and tensors are read as [0, 1]; tensors as ``(C, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> image_to_pil(np.zeros((8, 8), dtype=np.uint8)).mode
    'RGB'
    """
    if isinstance(image, Image.Image):
        return pil_to_rgb(image)
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.ndim == 3 and tensor.shape[0] in (1, 3) and tensor.shape[-1] not in (1, 3):
            tensor = tensor.permute(1, 2, 0)
        image = tensor.numpy()
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return Image.fromarray(array).convert("RGB")


def _integer_array_as_uint8(array):
    if array.dtype == np.uint8 or array.dtype.kind == "f":
        return array
    if array.dtype.kind == "b":
        return array.astype(np.float32)
    return array.astype(np.uint8)


class ImageDataset(torch.utils.data.Dataset):
    """Lazily decoded view of an :class:`ImageInput`, yielding ``(image, index)``.

    Images are decoded with PIL inside the DataLoader workers, converted to RGB and
    passed through ``transform``. ``indices`` restricts the view to a subset; the
    returned index is always the position in the full input.

    With ``skip_unreadable=True`` an image file that cannot be decoded does not
    raise: items are ``(image, index, reason)``, where ``reason`` is ``""`` for a
    decoded image and, for an unreadable file, a one-line reason (see
    :func:`~skclip_noise.data.decoding.unreadable_reason`) with a black
    placeholder image. Each file is decoded once, where it is read anyway.

    Examples
    --------
    >>> _ = open("broken.png", "w").write("not an image")
    >>> dataset = ImageDataset(check_image_input(["broken.png"]), skip_unreadable=True)
    >>> image, index, reason = dataset[0]
    >>> image.size, index, reason
    ((32, 32), 0, 'not an image file (PIL cannot identify its format)')
    """

    #: The side of the black image that stands in for an unreadable file.
    PLACEHOLDER_SIDE = 32

    def __init__(self, image_input, transform=None, indices=None, *, skip_unreadable=False):
        if image_input.kind == "features":
            raise ValueError("ImageDataset needs images, not precomputed features.")
        self.image_input = image_input
        self.transform = transform
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)
        self.skip_unreadable = skip_unreadable
        self.pil_settings = pil_settings()
        self._unpickled = False
        if image_input.kind == "paths":
            warn_if_truncated_images_accepted()

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._unpickled = True

    def __len__(self):
        return len(self.image_input) if self.indices is None else len(self.indices)

    def load(self, index):
        """The untransformed RGB PIL image at position ``index`` of the full input."""
        if self._unpickled:
            # A DataLoader worker that did not fork (spawn, forkserver) decodes with the caller's
            # PIL settings; it knows it is one only once started, after unpickling.
            self._unpickled = False
            if multiprocessing.parent_process() is not None:
                use_pil_settings(self.pil_settings)
        kind, data = self.image_input.kind, self.image_input.data
        if kind == "paths":
            return open_image_file(data[index])
        if kind == "images":
            return image_to_pil(_integer_array_as_uint8(data[index]))
        image = _dataset_item_array(data[index], index)
        if isinstance(image, np.ndarray):
            image = _integer_array_as_uint8(image)  # ints in [0, 255] are not [0, 1] floats
        return image_to_pil(image)

    def __getitem__(self, position):
        index = int(position if self.indices is None else self.indices[position])
        reason = ""
        try:
            image = self.load(index)
        except ImageReadError as exc:
            if not self.skip_unreadable:
                raise
            side = self.PLACEHOLDER_SIDE
            image, reason = Image.new("RGB", (side, side)), exc.reason or str(exc)
        if self.transform is not None:
            image = self.transform(image)
        return (image, index, reason) if self.skip_unreadable else (image, index)


class ImageInputMixin:
    """scikit-learn tags of an estimator that reads images, not feature tables.

    X may be an image array ``(N, H, W[, 3])``, image paths (strings) or a torch
    Dataset; a 2-D table is not accepted. Put it before the scikit-learn mixins.

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> from sklearn.utils import get_tags
    >>> class Reader(ImageInputMixin, BaseEstimator):
    ...     pass
    >>> tags = get_tags(Reader()).input_tags
    >>> tags.two_d_array, tags.three_d_array, tags.string
    (False, True, True)
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        return tags
