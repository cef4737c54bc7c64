"""Realistic noise: a model's plausible wrong labels, images of no class, long tails.

:func:`make_noisy_labels` corrupts labels without looking at the images (apart from
the random projections of ``kind="instance"``). Real data sets differ in three ways
these generators simulate:

- :func:`make_model_noise`: annotators mislabel the *hard* images, and with a class
  that looks plausible. A classifier's out-of-fold probabilities say which images are
  ambiguous and with which class.
- :func:`make_open_set`: crawled data sets hold images of none of the classes that
  still carry one of their labels.
- :func:`make_long_tail`: real class sizes are skewed, so rare classes have few
  examples to learn from.

Each is seeded only by ``random_state`` and never modifies its inputs.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from ._checks import (
    _check_classes,
    _check_imbalance,
    _check_label_vector,
    _check_outside_like_X,
    _check_pred_probs,
    _check_rate,
    _check_samples,
    _check_temperature,
    _encode,
    _unique_labels,
)
from ._samplers import _n_flips, _select_per_class

__all__ = [
    "make_long_tail",
    "make_model_noise",
    "make_open_set",
]


def make_model_noise(y, pred_probs, rate=0.2, *, temperature=0.0, random_state=None, classes=None):
    """Give the most ambiguous samples of each class a model's plausible wrong label.

    Model-based instance-dependent noise: for every sample, the *other* class to which a
    classifier gives the highest probability is the label an annotator would most
    plausibly confuse it with, and that probability says how ambiguous the sample is.
    In every class, the ``round(rate * n_c)`` most ambiguous samples get that class as
    their label.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Clean labels: ints, strings or any labels :func:`numpy.unique` can sort.
        Never modified.
    pred_probs : array-like of shape (n_samples, n_classes)
        Class probabilities of any classifier, columns in the sorted order of the
        classes (a fitted classifier's ``classes_``). Use out-of-fold probabilities,
        e.g. ``cross_val_predict(clf, X, y, method="predict_proba")``: a model that
        saw a sample's label is over-confident on it. Rows must sum to 1.
    rate : float in [0, 1], default=0.2
        Share of each class to relabel; exactly ``round(rate * n_c)`` samples of class
        ``c`` change (``round`` rounds half to even).
    temperature : float >= 0, default=0.0
        How strictly the model's view is followed. ``0``: deterministic, the samples
        with the highest probability of another class are flipped to that class, and
        ``random_state`` only breaks exact ties (equal probabilities). ``T > 0``: the
        flipped samples of each class are drawn without replacement with weights
        ``s_i ** (1 / T)``, where ``s_i`` is the highest other-class probability, and
        the new label ``j`` with probability proportional to ``pred_probs[i, j] ** (1 / T)``
        over the other classes (Gumbel top-k sampling, driven by ``random_state``).
        ``T = 1`` follows the probabilities as they are; a large ``T`` tends to
        class-wise symmetric noise.
    random_state : int, RandomState instance or None, default=None
        Breaks ties (``temperature=0``) or drives the draws (``temperature > 0``);
        the same seed gives identical output.
    classes : array-like of shape (n_classes,), default=None
        All classes in sorted order (a classifier's ``classes_``), naming the columns
        of ``pred_probs``, for when some never occur in ``y``. Defaults to
        ``np.unique(y)``. Unsorted classes are refused: the columns would be read in
        another order than the one given.

    Returns
    -------
    y_noisy : ndarray of shape (n_samples,)
        Labels after the flips, of the same kind as ``y``.
    is_noisy : ndarray of bool of shape (n_samples,)
        ``y_noisy != y``: the flipped samples.

    Raises
    ------
    ValueError
        If ``rate`` is outside [0, 1], ``temperature`` is negative, there are fewer than
        two classes, ``classes`` is not sorted, or ``pred_probs`` is not a
        (n_samples, n_classes) array of probability rows.

    See Also
    --------
    make_noisy_labels : Noise that ignores the images (or uses random projections).

    Notes
    -----
    Noise generated from a trained network's predictions, so that the wrong labels
    depend on the image, is studied e.g. by Algan and Ulusoy, "Label noise types and
    their effects on deep learning" (2020). It is hard for detectors because a model
    trained on the noisy labels finds the flipped labels plausible. The flip of a
    sample is decided by its own row of ``pred_probs``; classes are handled
    independently, so each class loses exactly its share.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise.noise import make_model_noise
    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> pred_probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.3, 0.7],
    ...                        [0.1, 0.9], [0.2, 0.8], [0.55, 0.45], [0.05, 0.95]])
    >>> y_noisy, is_noisy = make_model_noise(y, pred_probs, rate=0.25, random_state=0)
    >>> np.flatnonzero(is_noisy).tolist(), y_noisy.tolist()
    ([3, 6], [0, 0, 0, 1, 1, 1, 0, 1])
    """
    rate = _check_rate(rate)
    temperature = _check_temperature(temperature)
    y = _check_label_vector(y, "y")
    class_arr = _check_classes(classes, y)
    if classes is not None and not np.array_equal(class_arr, np.asarray(classes, dtype=class_arr.dtype)):
        raise ValueError(
            "classes must be sorted: pred_probs' columns are in the sorted order of the classes (a "
            f"classifier's classes_); got {list(classes)[:10]!r}. Pass sorted(classes) and reorder "
            "pred_probs' columns to match."
        )
    if class_arr.shape[0] < 2:
        raise ValueError(
            f"y has a single class ({class_arr.tolist()[0]!r}); label noise needs at least two classes. "
            "Pass classes=[...] to list the classes that do not occur in y."
        )
    codes = _encode(y, class_arr, "y")
    P = _check_pred_probs(pred_probs, y.shape[0], class_arr)
    y_noisy = y.astype(np.result_type(y.dtype, class_arr.dtype), copy=True)
    is_noisy = np.zeros(y.shape[0], dtype=bool)
    if rate == 0.0:
        return y_noisy, is_noisy

    rng = check_random_state(random_state)
    n, n_classes = P.shape
    rows = np.arange(n)
    with np.errstate(divide="ignore"):
        log_p = np.log(P)
    log_p[rows, codes] = -np.inf  # the given class is never a target
    if temperature > 0.0:
        with np.errstate(over="ignore"):
            scaled = log_p / temperature
        if np.isinf(scaled[np.isfinite(log_p)]).any():
            temperature = 0.0  # so small that s ** (1 / T) overflows: its limit, the deterministic rule
        else:
            log_p = scaled + rng.gumbel(size=P.shape)
    # Target: the best other class; exact ties (and rows with no mass elsewhere)
    # are broken uniformly at random among the other classes.
    target_ties = rng.random_sample(P.shape)
    best = log_p.max(axis=1, keepdims=True)
    candidates = log_p == best
    candidates[rows, codes] = False
    new = np.argmax(np.where(candidates, target_ties, -1.0), axis=1)

    # Ambiguity: the highest other-class probability, ranked within each class.
    with np.errstate(divide="ignore"):
        score = np.log(np.max(np.where(np.arange(n_classes) == codes[:, None], 0.0, P), axis=1))
    if temperature > 0.0:
        score = score / temperature + rng.gumbel(size=n)
    order = np.lexsort((rng.random_sample(n), -score, codes))
    sorted_codes = codes[order]
    rank_in_class = rows - np.searchsorted(sorted_codes, sorted_codes, side="left")
    n_per_class = _n_flips(rate, np.bincount(codes, minlength=n_classes))
    chosen = np.sort(order[rank_in_class < n_per_class[sorted_codes]])

    y_noisy[chosen] = class_arr[new[chosen]]
    is_noisy[chosen] = True
    return y_noisy, is_noisy


def make_open_set(X, y, X_outside, rate=0.2, *, random_state=None):
    """Replace a share of each class by images that belong to no class, keeping the labels.

    Open-set noise: web-crawled data sets hold images of something else entirely that
    still carry one of the data set's labels. In every class, ``round(rate * n_c)``
    samples chosen at random are replaced by distinct images drawn at random from
    ``X_outside`` (e.g. Fashion-MNIST items in a digits data set); each keeps the label
    of the image it replaces.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...) or sequence of paths
        The data set: a numpy array of images ``(n_samples, H, W)`` or
        ``(n_samples, H, W, C)`` (or of feature rows ``(n_samples, n_features)``), or a
        list, tuple, numpy array or pandas Series of image file paths (not opened).
        Never modified.
    y : array-like of shape (n_samples,)
        Labels of ``X`` (ints or strings), used to stratify the replacement.
    X_outside : array-like or sequence of paths
        Images of none of the classes, in the same form as ``X``: an array whose
        samples have exactly ``X``'s shape, channels and scale (both integer or both
        float), or paths. Needs at least as many samples as are replaced.
    rate : float in [0, 1], default=0.2
        Share of each class to replace.
    random_state : int, RandomState instance or None, default=None
        Seed of which samples are replaced and by which outside images.

    Returns
    -------
    X_new : ndarray, list or pandas Series
        A new container of ``X``'s kind with the replaced samples: an ndarray of ``X``'s
        dtype for arrays; for paths, a list (from a list or tuple), an object ndarray or
        a pandas Series with ``X``'s index.
    y : ndarray of shape (n_samples,)
        A copy of the labels, unchanged: the outside images keep the labels of the
        images they replaced.
    is_outlier : ndarray of bool of shape (n_samples,)
        True where the sample is an outside image.

    Raises
    ------
    ValueError
        If ``rate`` is outside [0, 1], ``X`` and ``y`` differ in length, ``X_outside`` is
        in another form, shape or scale than ``X``, or has fewer samples than are
        replaced.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise.noise import make_open_set
    >>> X = np.zeros((6, 4, 4), dtype=np.uint8)
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> X_outside = np.full((5, 4, 4), 255, dtype=np.uint8)
    >>> X_new, y_new, is_outlier = make_open_set(X, y, X_outside, rate=1 / 3, random_state=0)
    >>> int(is_outlier.sum()), y_new.tolist()
    (2, [0, 0, 0, 1, 1, 1])
    >>> bool(np.all(X_new[is_outlier] == 255) and np.all(X_new[~is_outlier] == 0))
    True
    >>> X.max()  # X itself is unchanged
    np.uint8(0)

    Paths work the same way:

    >>> paths = [f"img_{i}.png" for i in range(6)]
    >>> outside = ["shoe_0.png", "shoe_1.png"]
    >>> make_open_set(paths, y, outside, rate=1 / 3, random_state=0)[0]
    ['shoe_1.png', 'img_1.png', 'img_2.png', 'img_3.png', 'shoe_0.png', 'img_5.png']
    """
    rate = _check_rate(rate)
    y = _check_label_vector(y, "y")
    form, X_arr = _check_samples(X, "X")
    if X_arr.shape[0] != y.shape[0]:
        raise ValueError(
            f"X has {X_arr.shape[0]} samples but y has {y.shape[0]} labels; "
            "pass one label per sample."
        )
    form_out, outside = _check_samples(X_outside, "X_outside")
    outside = _check_outside_like_X(form, X_arr, form_out, outside)
    codes = _encode(y, _unique_labels(y, "y"), "y")
    n_per_class = _n_flips(rate, np.bincount(codes))
    n_replaced = int(n_per_class.sum())
    if n_replaced > outside.shape[0]:
        raise ValueError(
            f"rate={rate} replaces {n_replaced} samples, each by a different outside image, "
            f"but X_outside has only {outside.shape[0]}; pass more outside images or lower rate."
        )

    X_new = X_arr.copy()
    is_outlier = np.zeros(y.shape[0], dtype=bool)
    if n_replaced:
        rng = check_random_state(random_state)
        replaced = _select_per_class(codes, n_per_class, rng)
        sources = rng.permutation(outside.shape[0])[:n_replaced]
        X_new[replaced] = outside[sources]
        is_outlier[replaced] = True
    return _like_input(X, form, X_new), y.copy(), is_outlier


def _like_input(X, form, X_new):
    """Paths back in the container the user passed; arrays as ndarrays."""
    if form != "paths" or isinstance(X, np.ndarray):
        return X_new
    if hasattr(X, "index") and hasattr(X, "iloc"):  # pandas Series
        import pandas as pd

        return pd.Series(X_new, index=X.index, name=X.name, dtype=object)
    return X_new.tolist()


def make_long_tail(y, imbalance=10, *, n_max=None, class_order="sorted", random_state=None):
    """Indices of a long-tailed subsample: class sizes decay exponentially.

    The ``k``-th class (``k = 0 .. K-1`` in ``class_order``) keeps
    ``floor(n_max * imbalance ** (-k / (K - 1)))`` samples, drawn at random without
    replacement: the exponential profile of the long-tailed CIFAR benchmarks (Cao et
    al., "Learning imbalanced datasets with label-distribution-aware margin loss",
    NeurIPS 2019). The largest class keeps ``n_max`` samples, the smallest about
    ``n_max / imbalance``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels (ints or strings) with at least two classes. Never modified.
    imbalance : float >= 1, default=10
        Size of the largest class divided by the size of the smallest. ``1`` keeps
        ``n_max`` samples of every class.
    n_max : int, default=None
        Samples kept of the first (largest) class. Defaults to the largest value every
        class can supply, i.e. the class size for balanced ``y``.
    class_order : {"sorted", "random"} or array-like of shape (n_classes,), default="sorted"
        Which class is the head and which the tail. ``"sorted"``: the sorted class order
        (the usual convention: class 0 is the largest); ``"random"``: a permutation
        drawn from ``random_state``; or every class listed once, largest first.
    random_state : int, RandomState instance or None, default=None
        Seed of the kept samples (and of the order with ``class_order="random"``).

    Returns
    -------
    indices : ndarray of int of shape (n_kept,)
        Sorted positions of the kept samples: subsample ``X[indices]``,
        ``y[indices]`` and any noise mask with the same indices.

    Raises
    ------
    ValueError
        If ``imbalance`` is below 1 or not a number, ``y`` has a single class,
        ``class_order`` is unknown or does not list every class once, ``n_max`` asks for
        more samples than a class has, or the smallest class would keep no sample.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise.noise import make_long_tail
    >>> y = np.repeat(["a", "b", "c"], 100)
    >>> kept = make_long_tail(y, imbalance=10, random_state=0)
    >>> np.unique(y[kept], return_counts=True)[1].tolist()
    [100, 31, 10]
    >>> kept = make_long_tail(y, imbalance=4, class_order=["c", "b", "a"], random_state=0)
    >>> np.unique(y[kept], return_counts=True)[1].tolist()
    [25, 50, 100]
    """
    imbalance = _check_imbalance(imbalance)
    y = _check_label_vector(y, "y")
    class_arr = _unique_labels(y, "y")
    n_classes = class_arr.shape[0]
    if n_classes < 2:
        raise ValueError(
            f"y has a single class ({class_arr.tolist()[0]!r}); a long tail needs at least two classes."
        )
    codes = _encode(y, class_arr, "y")
    counts = np.bincount(codes, minlength=n_classes)
    rng = check_random_state(random_state)
    rank = _class_rank(class_order, class_arr, rng)  # rank[c]: 0 for the head class
    share = imbalance ** (-rank / (n_classes - 1))
    # A tiny slack keeps float error (e.g. 50 * 0.1 = 4.999...) from losing a sample.
    slack = 1e-9
    feasible = _largest_head(counts, share, slack)
    if n_max is None:
        n_max = feasible
    elif isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) or n_max < 1:
        raise ValueError(f"n_max must be a positive int or None; got {n_max!r}.")
    n_keep = np.floor(n_max * share + slack).astype(np.intp)
    short = np.flatnonzero(n_keep > counts)
    if short.shape[0]:
        c = short[np.argmax(n_keep[short] - counts[short])]
        raise ValueError(
            f"n_max={n_max} with imbalance={imbalance:g} needs {n_keep[c]} samples of class "
            f"{class_arr.tolist()[c]!r}, which has {counts[c]}; lower n_max (at most {feasible} here), "
            "or leave n_max=None."
        )
    if n_keep.min() < 1:
        raise ValueError(
            f"with n_max={n_max} and imbalance={imbalance:g}, the smallest class would keep no sample "
            f"(n_max / imbalance = {n_max / imbalance:.3g}); lower imbalance or use more samples per class."
        )
    return _select_per_class(codes, n_keep, rng)


def _largest_head(counts, share, slack):
    """The largest ``n_max`` whose kept counts ``floor(n_max * share)`` every class can
    supply: below ``(counts + 1) / share`` (rounded down, the kept count may pass the
    class size times its share), found from that bound downwards."""
    n_max = int(np.min(np.floor((counts + 1) / share)))
    while n_max > 0 and (np.floor(n_max * share + slack) > counts).any():
        n_max -= 1
    return n_max


def _class_rank(class_order, classes, rng):
    """Position of each (sorted) class in the head-to-tail order."""
    n_classes = classes.shape[0]
    if isinstance(class_order, str):
        if class_order == "sorted":
            return np.arange(n_classes)
        if class_order == "random":
            return np.argsort(rng.permutation(n_classes))
        raise ValueError(
            f"class_order must be 'sorted', 'random' or a list of every class; got {class_order!r}."
        )
    order = _check_label_vector(class_order, "class_order")
    codes = _encode(order, classes, "class_order", fix="list the classes of y, as they are written there.")
    if order.shape[0] != n_classes or np.unique(codes).shape[0] != n_classes:
        raise ValueError(
            f"class_order must list each of the {n_classes} classes exactly once "
            f"(largest first); got {order.tolist()!r}."
        )
    rank = np.empty(n_classes, dtype=np.intp)
    rank[codes] = np.arange(n_classes)
    return rank
