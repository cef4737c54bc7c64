"""What users pass as X, checked once and read lazily as PIL images.

Four forms are recognised:

``"images"``
    a numpy array ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``, uint8 or float
    in [0, 1];
``"paths"``
    a list, tuple, numpy array or pandas Series of image file paths (any format PIL
    reads);
``"dataset"``
    a :class:`torch.utils.data.Dataset` whose items are an image or a tuple whose first
    element is the image (PIL image, numpy array or ``(C, H, W)`` tensor);
``"features"``
    a 2-D float array of precomputed embeddings, for estimators that accept them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = [
    "ImageInput",
    "ImageInputMixin",
    "ImageDataset",
    "check_image_input",
    "check_features",
    "image_to_pil",
    "input_fingerprint",
]

_IMAGE_INPUT_HELP = (
    "Pass images as a numpy array of shape (N, H, W) or (N, H, W, 3) (uint8, or float in "
    "[0, 1]), a list or pandas Series of image file paths, or a torch Dataset."
)


@dataclass(frozen=True)
class ImageInput:
    """A checked X: its form, its length and the data itself (never copied)."""

    kind: str
    data: object
    n_samples: int

    def __len__(self):
        return self.n_samples


def check_features(X, *, name="X"):
    """Return a 2-D float32 copy of a feature array, rejecting NaN and inf.

    Examples
    --------
    >>> check_features([[0.5, 1.0], [1.0, 0.0]]).shape
    (2, 2)
    """
    X = np.array(X, dtype=np.float32, copy=True)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D feature array; got shape {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); need at least one sample and one feature.")
    if not np.all(np.isfinite(X)):
        raise ValueError(
            f"{name} contains NaN or infinite values; remove or impute them before fitting."
        )
    return X


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
        return ImageInput("dataset", X, n)
    if _is_path_sequence(X):
        paths = np.asarray([os.fspath(p) for p in list(X)], dtype=object)
        _check_not_empty(len(paths))
        if check_paths:
            missing = [p for p in paths if not os.path.isfile(p)]
            if missing:
                raise FileNotFoundError(
                    f"{len(missing)} of {len(paths)} image paths do not exist, e.g. {missing[:3]}."
                )
        return ImageInput("paths", paths, len(paths))
    if isinstance(X, (str, os.PathLike)):
        raise TypeError(
            f"X is a single path ({os.fspath(X)!r}); pass a list of image paths, or use "
            "skclip_noise.datasets.load_image_folder for a folder of class subfolders."
        )
    array = np.asarray(X)
    if array.dtype == object:
        raise TypeError(f"Cannot read X of element type {type(array.flat[0]).__name__}. {_IMAGE_INPUT_HELP}")
    if array.ndim == 2:
        if allow_features:
            return ImageInput("features", check_features(array), array.shape[0])
        raise ValueError(
            f"X is a 2-D array of shape {array.shape}, which is read as precomputed features, "
            f"but this estimator needs images. {_IMAGE_INPUT_HELP}"
        )
    return ImageInput("images", _check_image_array(array), array.shape[0])


def _is_path_sequence(X):
    if hasattr(X, "dtype") and getattr(X.dtype, "kind", "O") not in "OUS":
        return False
    if isinstance(X, (list, tuple)) or hasattr(X, "dtype"):
        values = list(X.tolist() if hasattr(X, "tolist") else X)
        return len(values) > 0 and all(isinstance(v, (str, os.PathLike)) for v in values)
    return False


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
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in (1, 3)):
        raise ValueError(f"X has shape {array.shape}. {_IMAGE_INPUT_HELP}")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "fiub":
        raise ValueError(f"Image arrays must be uint8 or float; got dtype {array.dtype}.")
    if array.dtype.kind in "iub":
        if array.min() < 0 or array.max() > 255:
            raise ValueError(
                "Integer image arrays must hold values in [0, 255]; "
                f"got [{array.min()}, {array.max()}]."
            )
        return array
    if not np.all(np.isfinite(array)):
        raise ValueError("X contains NaN or infinite pixel values.")
    if array.min() < 0 or array.max() > 1:
        raise ValueError(
            f"Float image arrays must hold values in [0, 1]; got [{array.min():.3g}, "
            f"{array.max():.3g}]. Divide uint8 images by 255, or pass them as uint8."
        )
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
        return image if image.mode == "RGB" else image.convert("RGB")
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


def _open_image(path):
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise OSError(f"Cannot read image file {path!r}: {exc}. Remove or replace it.") from exc


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
    """

    def __init__(self, image_input, transform=None, indices=None):
        if image_input.kind == "features":
            raise ValueError("ImageDataset needs images, not precomputed features.")
        self.image_input = image_input
        self.transform = transform
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)

    def __len__(self):
        return len(self.image_input) if self.indices is None else len(self.indices)

    def load(self, index):
        """The untransformed RGB PIL image at position ``index`` of the full input."""
        kind, data = self.image_input.kind, self.image_input.data
        if kind == "paths":
            return _open_image(data[index])
        if kind == "images":
            return image_to_pil(_integer_array_as_uint8(data[index]))
        item = data[index]
        if isinstance(item, (tuple, list)):
            item = item[0]
        return image_to_pil(item)

    def __getitem__(self, position):
        index = int(position if self.indices is None else self.indices[position])
        image = self.load(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, index


def input_fingerprint(image_input):
    """A cheap fingerprint of X: its form, length and a hash of a few samples.

    Used to check that the X given to ``predict_clean(X)`` without labels is the
    data the estimator was fitted on.

    Examples
    --------
    >>> import numpy as np
    >>> a = check_image_input(np.zeros((5, 8, 8), dtype=np.uint8))
    >>> input_fingerprint(a) == input_fingerprint(a)
    True
    """
    digest = hashlib.sha1(f"{image_input.kind}:{image_input.n_samples}".encode())
    n = image_input.n_samples
    probe = np.unique(np.linspace(0, n - 1, num=min(n, 8)).astype(np.int64))
    data = image_input.data
    if image_input.kind in ("images", "features"):
        digest.update(np.ascontiguousarray(data[probe]).tobytes())
    elif image_input.kind == "paths":
        digest.update("\0".join(data[probe].tolist()).encode())
    else:
        reader = ImageDataset(image_input)
        for index in probe.tolist():
            digest.update(np.asarray(reader.load(index)).tobytes())
    return digest.hexdigest()


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
