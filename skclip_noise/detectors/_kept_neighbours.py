"""ConsensusDetector's neighbour evidence: each pair's nearest distinct images, and the
label shares among those of them judged clean so far."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..selection import neighbour_label_counts, query_label_distribution
from ._duplicates import distinct_image_neighbours
from ._neighbourhood import neighbourhood_slots

__all__ = ["KeptNeighbourhoods", "kept_neighbour_distribution"]


def kept_neighbour_distribution(distribution_of, indices, codes, keep, n_classes, slots=None):
    """Label shares among each sample's *kept* neighbours (uniform when none is kept),
    among the neighbours it asks (``slots``, see ``neighbourhood_slots``; None: all)."""
    weights = keep[indices].astype(np.float64)
    if slots is not None:
        weights *= slots
    distribution = distribution_of(indices, codes, n_classes, weights=weights)
    distribution[weights.sum(axis=1) == 0] = 1.0 / n_classes
    return distribution


class KeptNeighbourhoods:
    """The ``n_neighbors`` nearest distinct images of each training pair (copies of one
    image given one label take one place; never a member of the pair's ``groups`` id),
    and the label shares among the kept ones.

    With ``fit_to_class=True`` (``n_neighbors="auto"``) a pair given a class of
    ``m <= n_neighbors`` training images asks its ``m - 1`` nearest, so one small class
    does not shrink every neighbourhood (see ``neighbourhood_slots``).

    Parameters
    ----------
    make_index : callable
        ``make_index(features, rows=None)``, a :class:`~skclip_noise.selection.NeighbourIndex`.
    n_neighbors, n_classes : int
    fit_to_class : bool
    """

    def __init__(self, make_index, n_neighbors, n_classes, fit_to_class):
        self.make_index = make_index
        self.n_neighbors = n_neighbors
        self.n_classes = n_classes
        self.fit_to_class = fit_to_class

    def fit(self, features, codes, units=None, groups=None):
        """Search every training pair's neighbours (``units``, ``groups``: see
        ``distinct_image_neighbours``)."""
        self.index_, self._indices, _ = distinct_image_neighbours(
            self.make_index, features, codes, self.n_neighbors, units=units, groups=groups
        )
        self._codes = codes
        self._slots = self.slots(codes, codes)
        return self

    def slots(self, codes, fit_codes):
        """Which neighbours each pair of ``codes`` asks among training pairs given
        ``fit_codes``; None: all of them."""
        if not self.fit_to_class:
            return None
        class_sizes = np.bincount(self.index_.distinct(fit_codes), minlength=self.n_classes)
        return neighbourhood_slots(codes, class_sizes, self.n_neighbors)

    @property
    def blind(self):
        """The pairs that ask no neighbour (the one sample of its class); None: there are none."""
        return None if self._slots is None else ~self._slots.any(axis=1)

    def shares(self, keep):
        """Label shares among each training pair's kept neighbours (uniform where none is
        kept), as a sparse (n, K) matrix: a pair's neighbours carry at most ``n_neighbors``
        labels, and with many classes a dense array would be as large as the probe's."""
        asked = keep[self._indices]
        if self._slots is not None:
            asked &= self._slots
        shares = neighbour_label_counts(self._indices, self._codes, self.n_classes, slots=asked)
        heard = asked.sum(axis=1)  # counts, so each row's share is exact in any summation order
        shares.data /= np.repeat(heard, np.diff(shares.indptr))
        unheard = np.flatnonzero(heard == 0)
        if len(unheard):
            shares = shares + sparse.csr_matrix(
                (np.full(len(unheard) * self.n_classes, 1.0 / self.n_classes),
                 (np.repeat(unheard, self.n_classes), np.tile(np.arange(self.n_classes), len(unheard)))),
                shape=shares.shape,
            )
        return shares

    def label_counts(self):
        """How many of each training pair's neighbours are given each label (all of them)."""
        return neighbour_label_counts(self._indices, self._codes, self.n_classes, slots=self._slots)

    def release(self):
        """Drop the training pairs' neighbour lists (the search index stays for new pairs)."""
        del self._indices, self._codes, self._slots

    def query(self, features, codes, fit_codes, kept, with_counts=True):
        """(label shares among the kept training neighbours, label counts among all of
        them; None without ``with_counts``) of new pairs ``(features, codes)``, the
        training pairs given ``fit_codes``."""
        indices, _ = self.index_.search(features, self.n_neighbors)
        slots = self.slots(codes, fit_codes)
        shares = kept_neighbour_distribution(query_label_distribution, indices, fit_codes, kept, self.n_classes, slots)
        counts = neighbour_label_counts(indices, fit_codes, self.n_classes, slots=slots) if with_counts else None
        return shares, counts
