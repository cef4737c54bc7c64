"""Sequences of images that are read item by item: a Hugging Face ``datasets`` image
column, or any other sized, indexable sequence that is not a list, tuple, array, tensor
or table; and the whole Hugging Face tables that are refused as X."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

__all__ = ["is_lazy_sequence", "looks_like_an_image", "refuse_dataset_tables"]


def is_lazy_sequence(X):
    """Whether X is a sized, indexable sequence read item by item (a Hugging Face image
    column), not a list, tuple, array, tensor, table, mapping or text."""
    return (hasattr(X, "__len__") and hasattr(X, "__getitem__")
            and not isinstance(X, (list, tuple, str, bytes, bytearray, memoryview, os.PathLike, dict, torch.Tensor))
            and not any(hasattr(X, name) for name in ("dtype", "__array__", "iloc", "keys")))


def looks_like_an_image(item):
    """Whether a sequence's item is an image (alone or first in a tuple): a PIL image, or an
    array or tensor of two or more dimensions."""
    if isinstance(item, tuple) and item:
        item = item[0]
    return isinstance(item, Image.Image) or (isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim >= 2)


def refuse_dataset_tables(X):
    """Refuse a whole Hugging Face ``Dataset`` (or ``DatasetDict``) as X, naming the column
    (or split) to pass, before anything is decoded."""
    if not hasattr(X, "column_names"):
        return
    if isinstance(X, dict):  # a DatasetDict: one Dataset per split
        raise TypeError(f"X is a DatasetDict with the splits {list(X)}; pass one split's image column, "
                        f"e.g. X[{next(iter(X), 'train')!r}][<image column>].")
    if not hasattr(X, "features"):
        return
    images = [name for name, feature in X.features.items() if type(feature).__name__ == "Image"]
    column = images[0] if len(images) == 1 else "<image column>"
    raise TypeError(f"X is a Hugging Face Dataset (columns {X.column_names}); pass its image column, "
                    f"X=ds[{column!r}], and its labels as y.")
