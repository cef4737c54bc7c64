"""The report's images in the order of ``label_issues``' rows, whatever order the table is in."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["image_reader"]


def image_reader(X, index, in_fit_order=False, fit_order=None):
    """A reader of the images of ``X`` (in the order of ``index``, label_issues' rows, or by
    position when ``in_fit_order``) and the checked input (image files' paths, or the image
    array, in that order). ``fit_order``: label_issues' index in fit order, where its
    ``attrs`` hold it (:data:`~skclip_noise.base.contract.FIT_ORDER_ATTR`)."""
    from ..data.inputs import ImageDataset, check_image_input

    ordered = X if in_fit_order and not isinstance(X, (pd.Series, pd.DataFrame)) \
        else _by_sample(X, index, fit_order)
    image_input = check_image_input(ordered, allow_features=True, check_paths=False)
    if image_input.kind == "features":
        raise ValueError("X holds features, not images; pass X=None for cards without thumbnails.")
    if image_input.n_samples != len(index):
        raise ValueError(
            f"X has {image_input.n_samples} samples but label_issues has "
            f"{len(index)} rows; pass the X the detector was fitted on."
        )
    return ImageDataset(image_input), image_input


def _by_sample(X, index, fit_order=None):
    """A pandas ``X`` in the order of label_issues' ``index`` where both name the samples
    (a table sorted after the fit); an array in that order where the index is a
    reordering of its positions (a detector fitted on the array, its table sorted or read
    back from ``label_issues.csv``), or where ``fit_order`` (the index in fit order) places
    each row; by position otherwise, or where label_issues has the default index;
    refused where a pandas ``X`` names other samples."""
    default = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
    if not isinstance(X, (pd.Series, pd.DataFrame)):
        n = len(X) if hasattr(X, "__len__") else None
        if default or not isinstance(X, (np.ndarray, list, tuple)) or n != len(index):
            return X
        positions = None
        if fit_order is not None and len(fit_order) == n:
            positions = pd.Index(fit_order).get_indexer(index)
            positions = positions if (positions >= 0).all() else None
        if positions is None and index.dtype.kind in "iu" and np.array_equal(np.sort(index.to_numpy()), np.arange(n)):
            positions = index.to_numpy()
        if positions is not None:
            return X[positions] if isinstance(X, np.ndarray) else [X[i] for i in positions]
        return X
    if X.index.equals(index) or default:
        return X
    if len(X.index) == len(index) and X.index.is_unique and index.is_unique and index.isin(X.index).all():
        return X.loc[index]
    raise ValueError(
        "X's index names other samples than label_issues' index; pass the X the detector was "
        "fitted on (or X.to_numpy() to match the rows by position)."
    )
