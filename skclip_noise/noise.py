"""Synthetic label noise for benchmarking noisy-label detection.

:func:`make_noisy_labels` corrupts a clean label vector with the noise models
used in the learning-with-noisy-labels literature (symmetric, asymmetric,
pair-flip and instance-dependent) and reports which labels it changed.
:func:`noise_transition_matrix` measures the realised noise as a row-stochastic
transition matrix.

All functions accept integer or string labels (anything :func:`numpy.unique`
can sort), work on integer codes internally, and return labels of the input's
kind. Randomness comes only from ``random_state``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR100_COARSE_LABELS",
    "NOISE_KINDS",
    "make_noisy_labels",
    "noise_transition_matrix",
]

#: Noise models understood by :func:`make_noisy_labels`.
NOISE_KINDS = ("symmetric", "asymmetric", "pairflip", "instance")

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

# Standard deviation of the per-sample flip rates of Xia et al. (2020).
_INSTANCE_RATE_STD = 0.1


# --------------------------------------------------------------------------- #
# validation helpers
# --------------------------------------------------------------------------- #
def _check_label_vector(y, name="y"):
    """Return ``y`` as a non-empty 1-D ndarray of sortable labels (a view when possible)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of labels; got shape {y.shape}. "
            f"Pass a flat vector, e.g. {name}.ravel()."
        )
    if y.shape[0] == 0:
        raise ValueError(f"{name} is empty; pass at least one label per sample.")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError(
            f"{name} contains NaN labels; drop or fill the unlabelled samples first."
        )
    return y


def _unique_labels(values, name):
    """``np.unique`` that turns incomparable labels into a clear ValueError."""
    try:
        return np.unique(values)
    except TypeError as exc:
        raise ValueError(
            f"{name} mixes label types that cannot be sorted together ({exc}); "
            "use labels of a single type (all ints or all strings)."
        ) from exc


def _encode(values, classes, name):
    """Integer codes of ``values`` in the sorted ``classes``; error on unknown labels."""
    try:
        codes = np.searchsorted(classes, values)
    except TypeError as exc:
        raise ValueError(
            f"{name} labels cannot be compared with the classes {classes.tolist()!r}; "
            "use labels of the same type as the classes."
        ) from exc
    clipped = np.minimum(codes, classes.shape[0] - 1)
    unknown = classes[clipped] != values
    if np.any(unknown):
        missing = _unique_labels(np.asarray(values)[unknown], name)[:5].tolist()
        raise ValueError(
            f"{name} contains labels {missing!r} that are not in classes "
            f"{classes.tolist()!r}; add them to classes or leave classes=None."
        )
    return clipped


def _check_classes(classes, y):
    """Sorted class array: ``np.unique(y)`` or the validated user ``classes``."""
    if classes is None:
        return _unique_labels(y, "y")
    classes_arr = _check_label_vector(classes, "classes")
    sorted_classes = _unique_labels(classes_arr, "classes")
    if sorted_classes.shape[0] != classes_arr.shape[0]:
        raise ValueError("classes contains duplicate labels; list each class once.")
    return sorted_classes


def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise ValueError(f"rate must be a number in [0, 1]; got {rate!r}.")
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(
            f"rate must be in [0, 1] (the share of labels to corrupt); got {rate}."
        )
    return rate


def _check_features(features, n_samples):
    if features is None:
        raise ValueError(
            "kind='instance' needs features: pass features=X, a float array of "
            "shape (n_samples, n_features) such as image embeddings or flattened pixels."
        )
    try:
        X = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"features must be a numeric array of shape (n_samples, n_features) ({exc})."
        ) from exc
    if X.ndim != 2:
        raise ValueError(
            f"features must be 2-D (n_samples, n_features); got shape {X.shape}. "
            "Flatten images first, e.g. X.reshape(len(X), -1)."
        )
    if X.shape[0] != n_samples:
        raise ValueError(
            f"features has {X.shape[0]} rows but y has {n_samples} labels; "
            "pass one feature row per label."
        )
    if X.shape[1] == 0:
        raise ValueError("features has no columns; pass at least one feature.")
    if not np.all(np.isfinite(X)):
        raise ValueError(
            "features contains NaN or infinity; impute or drop those rows first."
        )
    return X


def _check_kind_specific_args(kind, include_true_class, mapping, superclasses, features):
    """Reject parameters that belong to another noise kind (likely a typo in ``kind``)."""
    owners = (
        ("include_true_class=True", include_true_class, "symmetric"),
        ("mapping", mapping is not None, "asymmetric"),
        ("superclasses", superclasses is not None, "asymmetric"),
        ("features", features is not None, "instance"),
    )
    for arg, given, owner in owners:
        if given and kind != owner:
            raise ValueError(
                f"{arg} is only used with kind={owner!r}, not kind={kind!r}; "
                f"remove it or set kind={owner!r}."
            )


def _n_flips(rate, counts):
    """Number of labels to corrupt: ``round(rate * count)``, ties to even like :func:`round`."""
    return np.round(rate * np.asarray(counts, dtype=np.float64)).astype(np.intp)


# --------------------------------------------------------------------------- #
# asymmetric mappings
# --------------------------------------------------------------------------- #
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
    elif isinstance(mapping, Mapping):
        if not mapping:
            raise ValueError("mapping is an empty dict; give at least one source: target pair.")
        pairs = dict(mapping)
        for source, target in pairs.items():
            if source == target:
                raise ValueError(f"mapping sends {source!r} to itself; drop that entry.")
        _encode(np.asarray(list(pairs)), classes, "mapping keys")
        if user_classes:
            _encode(np.asarray(list(pairs.values())), classes, "mapping values")
    else:
        raise ValueError(
            f"mapping must be 'cifar10', 'cifar100' or a dict; got {type(mapping).__name__}."
        )
    return pairs


# --------------------------------------------------------------------------- #
# samplers (all on integer codes)
# --------------------------------------------------------------------------- #
def _select_per_class(codes, n_per_class, rng):
    """Indices of exactly ``n_per_class[c]`` uniformly chosen samples of each class ``c``."""
    n = codes.shape[0]
    order = np.lexsort((rng.random_sample(n), codes))
    sorted_codes = codes[order]
    rank_in_class = np.arange(n) - np.searchsorted(sorted_codes, sorted_codes, side="left")
    return np.sort(order[rank_in_class < n_per_class[sorted_codes]])


def _symmetric(codes, n_classes, rate, include_true_class, rng):
    n = codes.shape[0]
    chosen = np.sort(rng.permutation(n)[: _n_flips(rate, n)])
    if include_true_class:
        new = rng.randint(0, n_classes, size=chosen.shape[0])
    else:
        # An offset in 1..K-1 reaches every other class with equal probability.
        new = (codes[chosen] + rng.randint(1, n_classes, size=chosen.shape[0])) % n_classes
    return chosen, new


def _class_mapped(codes, target_of_class, rate, rng):
    """Flip ``round(rate * n_c)`` samples of every class ``c`` with a target (>= 0)."""
    counts = np.bincount(codes, minlength=target_of_class.shape[0])
    n_per_class = np.where(target_of_class >= 0, _n_flips(rate, counts), 0)
    chosen = _select_per_class(codes, n_per_class, rng)
    return chosen, target_of_class[codes[chosen]]


def _weighted_sample_without_replacement(weights, k, rng):
    """Efraimidis-Spirakis: the ``k`` largest ``log(u) / w`` form a weighted draw."""
    u = 1.0 - rng.random_sample(weights.shape[0])  # in (0, 1], so log(u) is finite
    with np.errstate(divide="ignore"):
        keys = np.log(u) / np.maximum(weights, np.finfo(np.float64).tiny)
    if k >= weights.shape[0]:
        return np.arange(weights.shape[0])
    return np.sort(np.argpartition(-keys, k - 1)[:k])


def _instance(codes, n_classes, rate, X, rng):
    n, n_features = X.shape
    std = _INSTANCE_RATE_STD
    from scipy.stats import truncnorm  # imported on use: scipy.stats costs ~0.5 s

    flip_rates = truncnorm.rvs(
        (0.0 - rate) / std, (1.0 - rate) / std, loc=rate, scale=std, size=n, random_state=rng
    )
    chosen = _weighted_sample_without_replacement(flip_rates, int(_n_flips(rate, n)), rng)
    if chosen.shape[0] == 0:
        return chosen, codes[chosen]
    true = codes[chosen]
    logits = np.empty((chosen.shape[0], n_classes))
    for c in range(n_classes):
        # One projection per true class, drawn even when the class is absent so
        # that the stream of random numbers depends only on (n, d, K).
        W_c = rng.standard_normal((n_features, n_classes))
        in_c = true == c
        logits[in_c] = X[chosen[in_c]] @ W_c
    if not np.all(np.isfinite(logits)):
        raise ValueError(
            "features are too large for the random projection (overflow); "
            "rescale them, e.g. divide by their maximum absolute value."
        )
    # Distribution over the other classes: softmax with the true class at -inf.
    # (Xia et al. then scale it by the flip rate and put 1 - rate on the true class;
    # conditioned on flipping, that is exactly this softmax.)
    logits[np.arange(true.shape[0]), true] = -np.inf
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    cum = np.cumsum(probs, axis=1)
    u = 1.0 - rng.random_sample(true.shape[0])  # in (0, 1]: never lands on a zero-mass class
    new = (cum < u[:, None] * cum[:, -1:]).sum(axis=1)
    return chosen, new


# --------------------------------------------------------------------------- #
# public API
# --------------------------------------------------------------------------- #
def make_noisy_labels(
    y,
    kind="symmetric",
    rate=0.2,
    *,
    random_state=None,
    classes=None,
    include_true_class=False,
    mapping=None,
    features=None,
    superclasses=None,
):
    """Corrupt clean labels with a synthetic noise model.

    The number of corrupted samples is exact, not a binomial draw: ``round(rate * n)``
    samples overall, or ``round(rate * n_c)`` per class for the class-wise kinds
    (``round`` rounds half to even, like Python's :func:`round`).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Clean labels: ints, strings or any labels :func:`numpy.unique` can sort.
        Lists and pandas Series are accepted; ``y`` is never modified.
    kind : {"symmetric", "asymmetric", "pairflip", "instance"}, default="symmetric"
        Noise model.

        - ``"symmetric"``: ``round(rate * n)`` samples chosen uniformly at random
          get a new label drawn uniformly from the *other* classes, so the
          realised noise rate equals ``rate`` (but see ``include_true_class``).
        - ``"asymmetric"``: class-dependent flips given by ``mapping``; in each
          source class ``c`` of the mapping, ``round(rate * n_c)`` samples are
          relabelled to the mapped class. Classes without a mapping are left
          clean, so the overall rate is below ``rate``.
        - ``"pairflip"``: in every class, ``round(rate * n_k)`` samples of the
          ``k``-th class (in sorted class order) become class ``(k + 1) mod K``.
        - ``"instance"``: part-dependent noise of Xia et al. (2020), see Notes.
          Requires ``features``.
    rate : float in [0, 1], default=0.2
        Share of samples (or of each affected class) to corrupt. ``rate=0``
        returns a copy of ``y`` and an all-False mask.
    random_state : int, RandomState instance or None, default=None
        Seed of all random draws; the same seed gives identical output.
    classes : array-like of shape (n_classes,), default=None
        The full set of classes, for when some never occur in ``y``; they can
        then be drawn as noisy labels and count for ``K``. Defaults to
        ``np.unique(y)``. Every label of ``y`` must be in ``classes``.
    include_true_class : bool, default=False
        Only for ``kind="symmetric"``. If True (the convention of the DivideMix
        and DEFT code), the ``round(rate * n)`` chosen samples draw their new
        label uniformly from *all* ``K`` classes, so about one in ``K`` keeps its
        label and the expected realised noise rate is ``rate * (K - 1) / K``.
    mapping : {"cifar10", "cifar100"} or dict, default=None
        Only for (and required by) ``kind="asymmetric"``.

        - ``"cifar10"``: truck -> automobile, bird -> airplane, deer -> horse,
          cat <-> dog (DivideMix / Co-teaching). Labels must be the integers
          0..9 or the names in :data:`CIFAR10_CLASSES`.
        - ``"cifar100"``: each fine class moves to the next fine class (circularly,
          in index order) of its superclass. Labels must be integers 0..99.
        - dict ``{source_label: target_label}``.
    features : array-like of shape (n_samples, n_features), default=None
        Only for (and required by) ``kind="instance"``: one finite feature row
        per sample, e.g. flattened pixels or embeddings. Used as is; the scale
        of the features sets how peaked the target distributions are.
    superclasses : array-like of shape (100,), default=None
        Only with ``mapping="cifar100"``: coarse class of each fine label
        0..99. Defaults to the CIFAR-100 table :data:`CIFAR100_COARSE_LABELS`.

    Returns
    -------
    y_noisy : ndarray of shape (n_samples,)
        Corrupted labels, of the same kind as ``y`` (the dtype may widen to hold
        a longer string label from ``classes`` or ``mapping``).
    is_noisy : ndarray of bool of shape (n_samples,)
        ``y_noisy != y``: True exactly where the label really changed.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or has fewer than two classes, ``rate`` is outside
        [0, 1], ``kind`` or ``mapping`` is unknown, a kind-specific parameter is
        given with another kind, or ``features`` is missing, of the wrong
        length or not finite.

    Notes
    -----
    Instance-dependent noise follows ``get_instance_noisy_label`` of Xia et al.,
    "Part-dependent label noise: towards instance-dependent label noise",
    NeurIPS 2020. Each sample gets a flip rate ``q_i`` drawn from
    ``N(rate, 0.1**2)`` truncated to [0, 1]; each class ``c`` gets a random
    projection ``W_c`` of shape (n_features, K) with standard normal entries. For
    a sample ``x`` of class ``y`` the original noisy-label distribution is
    ``1 - q_i`` on ``y`` and ``q_i * softmax(x @ W_y)`` over the other classes
    (the true class's logit set to ``-inf``). To make the count exact, this
    function picks ``round(rate * n)`` samples to flip by weighted sampling
    without replacement with weights ``q_i`` (so likely flippers are likely
    picked, as in the original), then draws each picked sample's new label from
    ``softmax(x @ W_y)`` over the other classes, i.e. the original distribution
    conditioned on a flip. Which class a sample moves to therefore depends on
    its features.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise.noise import make_noisy_labels
    >>> y = np.repeat([0, 1, 2, 3], 25)
    >>> y_noisy, is_noisy = make_noisy_labels(y, "symmetric", rate=0.2, random_state=0)
    >>> int(is_noisy.sum())
    20
    >>> bool(np.array_equal(is_noisy, y_noisy != y))
    True

    CIFAR-10 asymmetric noise only moves the five mapped classes:

    >>> y = np.repeat(np.arange(10), 10)
    >>> y_noisy, is_noisy = make_noisy_labels(
    ...     y, "asymmetric", rate=0.4, mapping="cifar10", random_state=0)
    >>> sorted(set(zip(y[is_noisy].tolist(), y_noisy[is_noisy].tolist())))
    [(2, 0), (3, 5), (4, 7), (5, 3), (9, 1)]

    String labels come back as strings:

    >>> y = np.array(["cat", "dog", "cat", "dog"])
    >>> make_noisy_labels(y, "pairflip", rate=0.5, random_state=0)[0].tolist()
    ['dog', 'dog', 'cat', 'cat']
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"Unknown noise kind {kind!r}; use one of {list(NOISE_KINDS)}.")
    rate = _check_rate(rate)
    y = _check_label_vector(y, "y")
    _check_kind_specific_args(kind, include_true_class, mapping, superclasses, features)
    class_arr = _check_classes(classes, y)
    X = _check_features(features, y.shape[0]) if kind == "instance" else None

    target_classes = class_arr
    if kind == "asymmetric":
        pairs = _resolve_mapping(mapping, class_arr, superclasses, classes is not None)
        if pairs:
            # Targets of a mapping may lie outside y's classes (e.g. only trucks in y).
            targets = np.asarray(list(pairs.values()))
            target_classes = _unique_labels(
                np.concatenate([class_arr.astype(object), targets.astype(object)]),
                "mapping values",
            ).astype(np.result_type(class_arr.dtype, targets.dtype))
    n_classes = target_classes.shape[0]
    if n_classes < 2:
        raise ValueError(
            f"y has a single class ({target_classes[0]!r}); label noise needs at least "
            "two classes. Pass classes=[...] to list the classes that do not occur in y."
        )
    codes = _encode(y, target_classes, "y")
    if kind == "asymmetric":
        target_of_class = np.full(n_classes, -1, dtype=np.intp)
        if pairs:
            sources = np.asarray(list(pairs)).astype(target_classes.dtype)
            targets = np.asarray(list(pairs.values())).astype(target_classes.dtype)
            target_of_class[_encode(sources, target_classes, "mapping keys")] = _encode(
                targets, target_classes, "mapping values"
            )

    out_dtype = np.result_type(y.dtype, target_classes.dtype)
    y_noisy = y.astype(out_dtype, copy=True)
    if rate == 0.0:
        return y_noisy, np.zeros(y.shape[0], dtype=bool)

    rng = check_random_state(random_state)
    if kind == "symmetric":
        chosen, new = _symmetric(codes, n_classes, rate, include_true_class, rng)
    elif kind == "asymmetric":
        chosen, new = _class_mapped(codes, target_of_class, rate, rng)
    elif kind == "pairflip":
        chosen, new = _class_mapped(codes, (np.arange(n_classes) + 1) % n_classes, rate, rng)
    else:
        chosen, new = _instance(codes, n_classes, rate, X, rng)

    y_noisy[chosen] = target_classes[new]
    is_noisy = np.zeros(y.shape[0], dtype=bool)
    is_noisy[chosen] = new != codes[chosen]
    return y_noisy, is_noisy


def noise_transition_matrix(y_true, y_noisy, *, classes=None, normalize="true"):
    """Empirical label-noise transition matrix.

    Entry ``(i, j)`` is the share (or count) of samples of true class ``i``
    whose noisy label is class ``j``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Clean labels.
    y_noisy : array-like of shape (n_samples,)
        Observed (possibly corrupted) labels.
    classes : array-like of shape (n_classes,), default=None
        Classes indexing the rows and columns, sorted. Defaults to the sorted
        union of the labels in ``y_true`` and ``y_noisy``.
    normalize : {"true", None}, default="true"
        ``"true"``: each row is divided by its total so it sums to 1 (a row of
        a class absent from ``y_true`` stays all zeros). ``None``: raw counts.

    Returns
    -------
    T : ndarray of shape (n_classes, n_classes)
        Transition matrix, float for ``normalize="true"``, int for counts.

    Examples
    --------
    >>> from skclip_noise.noise import noise_transition_matrix
    >>> noise_transition_matrix([0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0])
    array([[0.75, 0.25],
           [0.5 , 0.5 ]])
    >>> noise_transition_matrix(["a", "a", "b"], ["a", "b", "b"], normalize=None)
    array([[1, 1],
           [0, 1]])
    """
    if normalize not in ("true", None):
        raise ValueError(f"normalize must be 'true' or None; got {normalize!r}.")
    y_true = _check_label_vector(y_true, "y_true")
    y_noisy = _check_label_vector(y_noisy, "y_noisy")
    if y_true.shape[0] != y_noisy.shape[0]:
        raise ValueError(
            f"y_true has {y_true.shape[0]} labels but y_noisy has {y_noisy.shape[0]}; "
            "pass one noisy label per clean label."
        )
    if classes is None:
        class_arr = _unique_labels(
            np.concatenate([y_true.astype(object), y_noisy.astype(object)]),
            "y_true and y_noisy",
        ).astype(np.result_type(y_true.dtype, y_noisy.dtype))
    else:
        class_arr = _check_classes(classes, y_true)
    # confusion_matrix silently drops labels outside `labels`; refuse instead.
    true_codes = _encode(y_true, class_arr, "y_true")
    noisy_codes = _encode(y_noisy, class_arr, "y_noisy")
    n_classes = class_arr.shape[0]
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(true_codes, noisy_codes, labels=np.arange(n_classes))
    if normalize is None:
        return counts
    row_totals = counts.sum(axis=1, keepdims=True)
    return np.divide(
        counts, row_totals, out=np.zeros(counts.shape, dtype=np.float64), where=row_totals > 0
    )
