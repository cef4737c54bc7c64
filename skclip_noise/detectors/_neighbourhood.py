"""The neighbourhood size of the detectors that ask a sample's neighbours, and its check."""

from __future__ import annotations

import numpy as np

__all__ = ["check_neighbourhood", "neighbourhood_slots", "resolve_neighbourhood"]


def check_neighbourhood(n_neighbors, encoding, lone_class_fix="Drop or merge that class."):
    """A neighbourhood must fit inside every class: otherwise even the correctly labelled
    samples of the smallest class are outvoted by the other classes around them.
    ``lone_class_fix`` ends the message about a class of one sample.

    Raises
    ------
    ValueError
        When ``n_neighbors`` is not below the size of the smallest class, naming it.
    """
    counts = np.bincount(encoding.codes, minlength=len(encoding.classes))
    smallest = int(np.argmin(counts))
    name = encoding.classes[smallest]
    if counts[smallest] < 2:
        raise ValueError(
            f"class '{name}' has a single sample: no neighbour can share its label. {lone_class_fix}"
        )
    if n_neighbors >= counts[smallest]:
        raise ValueError(
            f"n_neighbors={n_neighbors} is not below the size of class '{name}' "
            f"({counts[smallest]} samples): its samples could never win their neighbourhood's vote. "
            f"Lower n_neighbors below {counts[smallest]} (or pass 'auto'), or drop or merge that class."
        )


def resolve_neighbourhood(n_neighbors, auto_size, encoding):
    """Neighbours per sample: ``n_neighbors``, or for ``"auto"`` ``auto_size`` or one fewer
    than the smallest class has samples, whichever is smaller; checked by
    :func:`check_neighbourhood`."""
    if n_neighbors == "auto":
        n_neighbors = min(auto_size, int(np.bincount(encoding.codes).min()) - 1)
    check_neighbourhood(max(n_neighbors, 1), encoding)
    return n_neighbors


def neighbourhood_slots(codes, class_sizes, n_neighbors):
    """Which of each sample's ``n_neighbors`` nearest neighbours it asks: the first
    ``min(n_neighbors, size of its given class - 1)``, so that its neighbourhood fits
    inside its class; None when every sample asks all of them.

    Returns
    -------
    ndarray of bool of shape (n_samples, n_neighbors) or None
    """
    sizes = np.minimum(n_neighbors, np.asarray(class_sizes)[codes] - 1)
    if sizes.min() >= n_neighbors:
        return None
    return np.arange(n_neighbors) < sizes[:, None]
