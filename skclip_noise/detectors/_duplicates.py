"""Samples that are not independent: exact copies of one image, and the caller's ``groups``.

Web-crawled and merged data sets hold copies of one image, usually with the same label,
so an annotator's mistake is copied too. A copy's label is then no independent
evidence about the other: a probe cross-fitted with the copies in different folds has
trained on the very pair it judges (its "out-of-fold" probability has memorised the
flip), and the copy is the nearest neighbour, voting for the same label. Both signals
treat the members of a group given the same label as one: they share a fold, never
ask each other as neighbours, and take one place together in another sample's
neighbourhood (a copy given another label is a second opinion on the image: it may
train the probe that judges the other, and is asked as a neighbour).
Exact copies are found from the features (:func:`duplicate_groups`); near-copies only
the caller's ``groups`` can tie together.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

from ..data.labels import missing_positions
from ..selection._common import block_rows_for

__all__ = [
    "DistinctImageIndex", "check_groups", "copied_samples", "distinct_image_neighbours", "duplicate_groups",
    "grouped_folds", "judged_groups", "merged_groups", "neighbours_outside_groups", "same_label_groups",
]


def duplicate_groups(features):
    """Group ids of the rows of ``features`` (identical rows share one), or None when
    every row is unique.

    Rows are grouped by a 64-bit hash of their bits (the sum of the bit patterns times
    random odd multipliers, in wrapping integer arithmetic: exact whatever the summation
    order), and each row is then compared with the first row of its hash: a row that
    differs (a collision: among a million distinct rows, a chance of about 3 in 10^8)
    is kept apart.

    Returns
    -------
    ndarray of int64 of shape (n_samples,) or None
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    n_samples, n_features = features.shape
    multipliers = np.random.default_rng(0).integers(1, 2**63, size=n_features, dtype=np.uint64) | np.uint64(1)
    hashes = np.empty(n_samples, dtype=np.uint64)
    block_rows = max(1, block_rows_for(n_features) // 4)
    for start in range(0, n_samples, block_rows):  # uint64 products in bounded blocks
        bits = features[start:start + block_rows].view(np.uint32).astype(np.uint64)
        hashes[start:start + block_rows] = (bits * multipliers).sum(axis=1, dtype=np.uint64)
    _, first, candidate, counts = np.unique(hashes, return_index=True, return_inverse=True, return_counts=True)
    if counts.max() == 1:
        return None
    groups = candidate
    representative = first[groups]
    for start in range(0, n_samples, block_rows):
        rows = slice(start, start + block_rows)
        differs = (features[rows] != features[representative[rows]]).any(axis=1)
        groups[start + np.flatnonzero(differs)] = len(counts) + start + np.flatnonzero(differs)
    _, groups = np.unique(groups, return_inverse=True)
    return groups if np.bincount(groups).max() > 1 else None


def judged_groups(features, codes, groups=None, find_copies=True):
    """``(copies, units, judged)``: the exact copies among the rows of ``features`` (None
    without any, or without ``find_copies``); those copies split by given label (the
    images a neighbourhood counts once, see :func:`distinct_image_neighbours`); and the
    groups a detector judges as one sample: the copies and the caller's ``groups`` (int
    codes) merged, split by given label (the units themselves without ``groups``)."""
    copies = duplicate_groups(features) if find_copies else None
    units = same_label_groups(copies, codes)
    return copies, units, units if groups is None else same_label_groups(merged_groups(copies, groups), codes)


def copied_samples(copies):
    """How many samples have an exact copy among the others (``n_duplicates_``)."""
    return 0 if copies is None else int((np.bincount(copies)[copies] > 1).sum())


def check_groups(groups, n_samples):
    """``groups`` (one id per sample, as scikit-learn's ``GroupKFold`` takes them) as
    int codes, after checking them."""
    ids = np.asarray(groups)
    if ids.ndim != 1 or len(ids) != n_samples:
        raise ValueError(
            f"groups must hold one id per sample ({n_samples}); got shape {ids.shape}. Give a sample that "
            "belongs to no group an id of its own."
        )
    if missing_positions(ids).size:
        raise ValueError(
            "groups holds NaN or a missing id; give every sample an id (one of its own for a sample in no group)."
        )
    try:
        return np.unique(ids, return_inverse=True)[1].ravel()
    except TypeError as error:
        raise ValueError(f"groups must be ids of one type that sort (ints or strings); {error}.") from None


def same_label_groups(groups, codes):
    """``groups`` split by the given label (None when that leaves every group single)."""
    if groups is None:
        return None
    _, split = np.unique(np.stack([groups, codes], axis=1), axis=0, return_inverse=True)
    split = split.ravel()
    return split if np.bincount(split).max() > 1 else None


def grouped_folds(codes, groups, n_folds, random_state):
    """``n_folds`` (train, test) splits that never part a group: the groups are split
    stratified by their first member's label, and each sample follows its group (the
    detector has checked that the groups fill the folds: ``check_folds``)."""
    first = np.unique(groups, return_index=True)[1]
    fold_of_group = np.empty(len(first), dtype=np.int64)
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    for fold, (_, test) in enumerate(splitter.split(np.zeros((len(first), 1)), codes[first])):
        fold_of_group[test] = fold
    fold_of_sample = fold_of_group[groups]
    return [(np.flatnonzero(fold_of_sample != fold), np.flatnonzero(fold_of_sample == fold))
            for fold in range(n_folds)]


def merged_groups(*groupings):
    """The finest grouping that keeps together every group of each ``groupings`` entry
    (None entries are skipped), or None when every sample is alone."""
    groupings = [g for g in groupings if g is not None]
    if not groupings:
        return None
    if len(groupings) == 1:
        merged = groupings[0]
    else:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n_samples = len(groupings[0])
        rows = np.concatenate([np.arange(n_samples)] * len(groupings))
        graph = coo_matrix((np.ones(len(rows)), (rows, np.concatenate([_first_member(g) for g in groupings]))),
                           shape=(n_samples, n_samples))
        merged = connected_components(graph, directed=False)[1]
    return merged if np.bincount(merged).max() > 1 else None


def _first_member(groups):
    """Each sample's first fellow member (itself when it comes first)."""
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    return first[inverse.ravel()]


def neighbours_outside_groups(index, groups, n_neighbors):
    """Every sample's ``n_neighbors`` nearest neighbours outside its own group, one place
    per other group (its nearest member), as ``index.search(None, n_neighbors)`` returns
    them (``groups=None``: that search).

    A member of a group of ``s`` samples is searched among ``2 n_neighbors + s - 1``
    candidates, in chunks of bounded memory. Where those hold fewer other groups than
    places (large groups in tight clusters: frames of videos), the last places go to
    further members of other groups, then to its own group's, never to itself: searching
    on until every place had a group of its own cost 9 times the fit on 50,000 samples
    in tight groups of 100.
    """
    n_samples = index.n_samples
    if groups is None:
        return index.search(None, n_neighbors)
    indices = np.empty((n_samples, n_neighbors), dtype=np.int64)
    similarities = np.empty((n_samples, n_neighbors), dtype=np.float32)
    width = np.minimum(2 * n_neighbors + np.bincount(groups)[groups] - 1, n_samples - 1)
    for candidates in np.unique(width):
        same_width = np.flatnonzero(width == candidates)
        chunk = max(1, min(block_rows_for(index.n_features), 2**24 // (candidates + 1)))
        for begin in range(0, len(same_width), chunk):
            rows = same_width[begin:begin + chunk]
            ids, sims = index.search(index.indexed_features(rows), candidates + 1)  # itself among them
            keep = np.argsort(_candidate_ranks(ids, rows, groups), axis=1, kind="stable")[:, :n_neighbors]
            indices[rows] = np.take_along_axis(ids, keep, 1)
            similarities[rows] = np.take_along_axis(sims, keep, 1)
    return indices, similarities


def _candidate_ranks(ids, rows, groups):
    """Each candidate neighbour's rank (0 first): 0 the nearest member of another group,
    1 a further member of another group, 2 a member of the row's own group, 3 the row itself."""
    candidate_groups = groups[ids]
    own = candidate_groups == groups[rows][:, None]
    order = np.argsort(candidate_groups, axis=1, kind="stable")  # nearest first within a group
    ranked = np.take_along_axis(candidate_groups, order, 1)
    first_sorted = np.ones(ranked.shape, dtype=bool)
    first_sorted[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    first = np.empty_like(first_sorted)
    np.put_along_axis(first, order, first_sorted, 1)
    return np.where(ids == rows[:, None], 3, np.where(own, 2, np.where(first, 0, 1)))


class DistinctImageIndex:
    """A neighbour index over ``rows`` of the samples (all of them when None) whose
    searches return sample indices: see :func:`distinct_image_neighbours`."""

    def __init__(self, index, rows=None):
        self.index, self.rows = index, rows

    def search(self, queries, n_neighbors):
        """``index.search`` (new ``queries`` among the indexed rows), as sample indices."""
        indices, similarities = self.index.search(queries, n_neighbors)
        return (indices if self.rows is None else self.rows[indices]), similarities

    def distinct(self, values):
        """The indexed samples' ``values`` (one per sample)."""
        return values if self.rows is None else values[self.rows]


def distinct_image_neighbours(make_index, features, codes, n_neighbors, units=None, groups=None):
    """``(index, indices, similarities)``: every sample's ``n_neighbors`` nearest neighbours
    outside its ``groups`` (see :func:`neighbours_outside_groups`), each image counted once
    per label it was given, and the :class:`DistinctImageIndex` that searches new queries
    among the same rows.

    Without that, the copies of one neighbour image (a placeholder crawled from many pages)
    fill several places of a neighbourhood with one annotator's label. With ``units`` (the
    sets of identical rows given one label, ``same_label_groups(copies, codes)``), the
    index (``make_index(features, rows=rows)``, the rows read in place) holds the first of
    each set; a set of copies given another label is another row (another opinion). It
    holds every row without ``units``, or where fewer than ``n_neighbors + 1`` distinct
    rows are left.
    """
    if units is None or units.max() < n_neighbors:
        index = make_index(features)
        return (DistinctImageIndex(index), *neighbours_outside_groups(index, groups, n_neighbors))
    rows = np.unique(units, return_index=True)[1]
    index = make_index(features, rows=rows)
    unit_groups = None if groups is None else same_label_groups(groups[rows], codes[rows])
    unit_indices, similarities = neighbours_outside_groups(index, unit_groups, n_neighbors)
    return DistinctImageIndex(index, rows), rows[unit_indices[units]], similarities[units]
