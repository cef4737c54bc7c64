"""Corrupt clean labels with a synthetic noise model: :func:`make_noisy_labels`."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from ._checks import (
    _check_classes,
    _check_features,
    _check_kind_specific_args,
    _check_label_vector,
    _check_rate,
    _encode,
    _in_dtype_of,
    _unique_labels,
)
from ._samplers import _class_mapped, _instance, _symmetric
from .mappings import _resolve_mapping

__all__ = [
    "NOISE_KINDS",
    "make_noisy_labels",
]

#: Noise models understood by :func:`make_noisy_labels`.
NOISE_KINDS = ("symmetric", "asymmetric", "pairflip", "instance")


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

        A target outside ``y``'s classes is allowed (only trucks in ``y``) unless
        ``classes`` is given: it then lists every class, and a preset or dict that
        sends a label outside it is refused.
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
            targets = _in_dtype_of(list(pairs.values()), class_arr.dtype)
            target_classes = _unique_labels(
                np.concatenate([class_arr.astype(object), targets.astype(object)]),
                "mapping values",
            ).astype(np.result_type(class_arr.dtype, targets.dtype))
    n_classes = target_classes.shape[0]
    if n_classes < 2:
        raise ValueError(
            f"y has a single class ({target_classes[:1].tolist()[0]!r}); label noise needs at least "
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
