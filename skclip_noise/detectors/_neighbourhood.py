"""The check shared by the detectors that ask a sample's neighbours."""

from __future__ import annotations

import numpy as np

__all__ = ["check_neighbourhood"]


def check_neighbourhood(n_neighbors, encoding):
    """A neighbourhood must fit inside every class: otherwise even the correctly labelled
    samples of the smallest class are outvoted by the other classes around them.

    Raises
    ------
    ValueError
        When ``n_neighbors`` is not below the size of the smallest class, naming it.
    """
    counts = np.bincount(encoding.codes, minlength=len(encoding.classes))
    smallest = int(np.argmin(counts))
    if n_neighbors >= counts[smallest]:
        raise ValueError(
            f"n_neighbors={n_neighbors} is not below the size of class '{encoding.classes[smallest]}' "
            f"({counts[smallest]} samples): its samples could never win their neighbourhood's vote. "
            f"Lower n_neighbors below {counts[smallest]}, or drop or merge that class."
        )
