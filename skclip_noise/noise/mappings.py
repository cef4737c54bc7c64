"""Class mappings of asymmetric label noise.

:data:`CIFAR10_CLASSES` and :data:`CIFAR100_COARSE_LABELS` describe the CIFAR label
sets; the ``"cifar10"`` preset is the class-dependent flips of DivideMix /
Co-teaching, the ``"cifar100"`` preset moves each fine class to the next fine class
of its superclass. :func:`~skclip_noise.noise.make_noisy_labels` turns
``mapping=`` into a validated ``{source_label: target_label}`` dict here.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from ._checks import _encode

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR100_COARSE_LABELS",
]

#: CIFAR-10 class names in label-index order (``airplane`` is 0, ``truck`` is 9).
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# Class-dependent flips of DivideMix / Co-teaching: truck -> automobile,
# bird -> airplane, deer -> horse, cat <-> dog.
_CIFAR10_ASYM_PAIRS = ((9, 1), (2, 0), (4, 7), (3, 5), (5, 3))

#: CIFAR-100 coarse (superclass) label of each fine label 0..99, as shipped
#: with the dataset (``coarse_labels`` of the python version).
CIFAR100_COARSE_LABELS = (
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3,
    3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15,
    0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10,
    16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19,
    2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19,
    18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
)  # fmt: skip


def _ints_within(classes, low, high):
    if classes.dtype.kind in "iu":
        return bool(classes.min() >= low and classes.max() <= high)
    if classes.dtype.kind == "O":
        return all(
            isinstance(c, numbers.Integral) and not isinstance(c, bool) and low <= c <= high
            for c in classes
        )
    return False


def _cifar10_mapping(classes):
    if _ints_within(classes, 0, 9):
        return dict(_CIFAR10_ASYM_PAIRS)
    if classes.dtype.kind in "UO" and all(
        isinstance(c, str) and c in CIFAR10_CLASSES for c in classes
    ):
        return {CIFAR10_CLASSES[s]: CIFAR10_CLASSES[t] for s, t in _CIFAR10_ASYM_PAIRS}
    raise ValueError(
        "mapping='cifar10' needs CIFAR-10 labels: integers 0..9 or the class names "
        f"{list(CIFAR10_CLASSES)}; got classes {classes.tolist()[:12]!r}. "
        "Pass a dict {source: target} for other label sets."
    )


def _cifar100_mapping(classes, superclasses):
    if superclasses is None:
        coarse = np.asarray(CIFAR100_COARSE_LABELS)
    else:
        coarse = np.asarray(superclasses)
        if coarse.ndim != 1 or coarse.shape[0] != 100:
            raise ValueError(
                "superclasses must be a 1-D array of length 100 giving the coarse "
                f"class of each CIFAR-100 fine label 0..99; got shape {coarse.shape}."
            )
    if not _ints_within(classes, 0, 99):
        raise ValueError(
            "mapping='cifar100' needs CIFAR-100 fine labels as integers 0..99; got "
            f"classes {classes.tolist()[:12]!r}. Pass a dict {{source: target}} for "
            "other label sets."
        )
    fine = np.arange(100)
    # Sorting by (coarse, fine) lays each superclass out contiguously in fine order;
    # the next element of the same block is the circular successor.
    order = np.lexsort((fine, coarse))
    block_start = np.searchsorted(coarse[order], coarse[order], side="left")
    block_end = np.searchsorted(coarse[order], coarse[order], side="right")
    successor_pos = np.where(np.arange(100) + 1 < block_end, np.arange(100) + 1, block_start)
    target = np.empty(100, dtype=np.intp)
    target[order] = order[successor_pos]
    # Singleton superclasses map to themselves and are left untouched.
    return {int(s): int(t) for s, t in zip(fine, target) if s != t}


def _resolve_mapping(mapping, classes, superclasses, user_classes):
    """Validated ``{source_label: target_label}`` dict for an asymmetric mapping."""
    if mapping is None:
        raise ValueError(
            "kind='asymmetric' needs a class mapping: pass mapping='cifar10', "
            "mapping='cifar100' or a dict {source_label: target_label}."
        )
    if superclasses is not None and not (isinstance(mapping, str) and mapping == "cifar100"):
        raise ValueError(
            "superclasses is only used with mapping='cifar100'; remove it or set "
            "mapping='cifar100'."
        )
    if isinstance(mapping, str):
        if mapping == "cifar10":
            pairs = _cifar10_mapping(classes)
        elif mapping == "cifar100":
            pairs = _cifar100_mapping(classes, superclasses)
        else:
            raise ValueError(
                f"Unknown mapping {mapping!r}; use 'cifar10', 'cifar100' or a dict "
                "{source_label: target_label}."
            )
        # A preset covers the whole dataset; keep the sources present in classes.
        is_known = np.isin(np.asarray(list(pairs)), classes)
        pairs = {s: t for (s, t), keep in zip(pairs.items(), is_known) if keep}
        if user_classes and pairs:  # classes= lists every class, as for a dict mapping
            _encode(np.asarray(list(pairs.values())), classes, f"mapping={mapping!r} values")
    elif isinstance(mapping, Mapping):
        if not mapping:
            raise ValueError("mapping is an empty dict; give at least one source: target pair.")
        pairs = dict(mapping)
        for source, target in pairs.items():
            if source == target:
                raise ValueError(f"mapping sends {source!r} to itself; drop that entry.")
        _encode(np.asarray(list(pairs)), classes, "mapping keys",
                fix="add them to classes" if user_classes else
                "drop those keys, or pass classes=[...] listing every class (also those y lacks).")
        if user_classes:
            _encode(np.asarray(list(pairs.values())), classes, "mapping values")
    else:
        raise ValueError(
            f"mapping must be 'cifar10', 'cifar100' or a dict; got {type(mapping).__name__}."
        )
    return pairs
