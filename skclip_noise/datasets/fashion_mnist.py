"""Fashion-MNIST from its IDX files on disk (never downloads): :func:`load_fashion_mnist`."""

from __future__ import annotations

import numbers
import os

import numpy as np

from ._idx import _read_idx
from ._labels import _as_string_labels

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DEFAULT_PATH",
    "FASHION_MNIST_ENV_VAR",
    "load_fashion_mnist",
]

#: Class names of :func:`load_fashion_mnist`; label ``i`` is
#: ``FASHION_MNIST_CLASSES[i]``.
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
FASHION_MNIST_DEFAULT_PATH = "/usr/share/datasets/fashion-mnist/"

#: Environment variable naming a folder with the Fashion-MNIST IDX files; used
#: when ``load_fashion_mnist`` is called without ``path``.
FASHION_MNIST_ENV_VAR = "SKCLIP_NOISE_FASHION_MNIST"

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _fashion_missing_message(folder, missing, reason):
    return (
        f"Fashion-MNIST not found: {reason} (looked in {folder!r}; missing: "
        f"{', '.join(missing)}). skclip_noise never downloads data. Install the files "
        "with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; it puts them "
        f"in {FASHION_MNIST_DEFAULT_PATH}), or pass path= to a folder holding the four "
        "IDX .gz files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), or set the "
        f"{FASHION_MNIST_ENV_VAR} environment variable to that folder."
    )


def _find_idx_file(folder, name):
    """Return the path of ``name`` in ``folder`` (or its uncompressed twin)."""
    for candidate in (name, name[: -len(".gz")]):
        full = os.path.join(folder, candidate)
        if os.path.isfile(full):
            return full
    return None


def _load_fashion_subset(folder, subset):
    images_name, labels_name = _FASHION_FILES[subset]
    files = {name: _find_idx_file(folder, name) for name in (images_name, labels_name)}
    missing = [name for name, full in files.items() if full is None]
    if missing:
        raise FileNotFoundError(
            _fashion_missing_message(folder, missing, f"the {subset!r} files are absent")
        )
    images = _read_idx(files[images_name])
    labels = _read_idx(files[labels_name])
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{files[images_name]!r} is not an IDX image file: expected unsigned bytes "
            f"of shape (n_images, rows, cols), got {images.dtype} of shape {images.shape}."
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(
            f"{files[labels_name]!r} is not an IDX label file: expected unsigned bytes "
            f"of shape (n_labels,), got {labels.dtype} of shape {labels.shape}."
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{files[images_name]!r} holds {len(images)} images but "
            f"{files[labels_name]!r} holds {len(labels)} labels."
        )
    if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise ValueError(
            f"{files[labels_name]!r} holds label {int(labels.max())}; Fashion-MNIST "
            f"labels are 0..{len(FASHION_MNIST_CLASSES) - 1}."
        )
    return images, labels.astype(np.int64)


def _stratified_indices(y, n_samples, random_state):
    """Sorted indices of exactly ``n_samples`` samples drawn stratified by ``y``.

    Each class gets ``floor(count * n_samples / n)`` samples; the remaining ones go
    to the classes with the largest fractional parts (ties broken at random).
    """
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    n = len(y)
    _, y_index, counts = np.unique(y, return_inverse=True, return_counts=True)
    alloc, fraction = np.divmod(counts * n_samples, n)  # exact integer arithmetic
    remainder = n_samples - int(alloc.sum())
    if remainder:
        tie_break = rng.permutation(len(counts))
        order = np.lexsort((tie_break, -fraction))
        alloc[order[:remainder]] += 1
    chosen = [
        rng.choice(np.flatnonzero(y_index == k), size=int(a), replace=False)
        for k, a in enumerate(alloc)
        if a
    ]
    return np.sort(np.concatenate(chosen))


def load_fashion_mnist(
    path=None, subset=None, *, n_samples=None, random_state=None, as_strings=False
):
    """Load Fashion-MNIST from its IDX files on disk (never downloads).

    The four files ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` are read from
    ``path``; without ``path`` from the folder named by the environment variable
    ``SKCLIP_NOISE_FASHION_MNIST``, else from ``/usr/share/datasets/fashion-mnist/``
    where Debian's ``dataset-fashion-mnist`` package installs them
    (``sudo apt-get install dataset-fashion-mnist``). Uncompressed files without the
    ``.gz`` suffix are accepted too, and so are other datasets in the same layout,
    such as MNIST.

    Parameters
    ----------
    path : str or path-like, default=None
        Folder holding the IDX files. None means ``$SKCLIP_NOISE_FASHION_MNIST`` if
        set, else ``/usr/share/datasets/fashion-mnist/``.
    subset : {"train", "test", "all"} or None, default=None
        Which split to load: the 60000 training images, the 10000 test images, or
        all 70000 (training first). None means ``"train"``.
    n_samples : int, default=None
        If given, return exactly this many images drawn at random from the split,
        stratified so that every class keeps its proportion (up to rounding). The
        drawn samples keep their order in the file. None returns the whole split.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw of ``n_samples``; pass an int for reproducible output.
        Ignored when ``n_samples`` is None.
    as_strings : bool, default=False
        If True, ``y`` holds class names (see :data:`FASHION_MNIST_CLASSES`, e.g.
        ``"Ankle boot"``) instead of the integers 0..9.

    Returns
    -------
    X : ndarray of shape (n_samples, 28, 28), dtype uint8
        Grey-level images, 0 (background) .. 255.
    y : ndarray of shape (n_samples,)
        Labels: ``int64`` 0..9, or an object array of class names when
        ``as_strings=True``.

    Raises
    ------
    FileNotFoundError
        If the folder or the files of the requested split are missing; the message
        says how to install them.
    ValueError
        If a file is corrupt or truncated, or on invalid parameters.

    See Also
    --------
    load_digits_images : 8x8 digit images shipped with scikit-learn.

    Examples
    --------
    >>> from skclip_noise.datasets import load_fashion_mnist, FASHION_MNIST_CLASSES
    >>> X, y = load_fashion_mnist(subset="test")
    >>> X.shape, X.dtype, y.shape
    ((10000, 28, 28), dtype('uint8'), (10000,))
    >>> X_small, y_small = load_fashion_mnist(n_samples=100, random_state=0,
    ...                                       as_strings=True)
    >>> X_small.shape, sorted(set(y_small)) == sorted(FASHION_MNIST_CLASSES)
    ((100, 28, 28), True)
    """
    if subset is None:
        subset = "train"
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test', 'all' or None; got {subset!r}.")
    if n_samples is not None and (
        not isinstance(n_samples, numbers.Integral)
        or isinstance(n_samples, bool)
        or n_samples < 1
    ):
        raise ValueError(f"n_samples must be a positive int or None; got {n_samples!r}.")

    source = "path"
    if path is None:
        source = FASHION_MNIST_ENV_VAR if os.environ.get(FASHION_MNIST_ENV_VAR) else "the default folder"
        path = os.environ.get(FASHION_MNIST_ENV_VAR) or FASHION_MNIST_DEFAULT_PATH
    folder = os.fspath(path)
    if not os.path.exists(folder):
        raise FileNotFoundError(
            _fashion_missing_message(
                folder, ["the folder itself"], "the folder does not exist"
            )
        )
    if not os.path.isdir(folder):
        raise NotADirectoryError(
            f"{source} must be a folder holding the Fashion-MNIST IDX files; {folder!r} "
            "is not a folder."
        )

    splits = ("train", "test") if subset == "all" else (subset,)
    parts = [_load_fashion_subset(folder, split) for split in splits]
    if len(parts) == 1:
        X, y = parts[0]
    else:
        if parts[0][0].shape[1:] != parts[1][0].shape[1:]:
            raise ValueError(
                f"The train images are {parts[0][0].shape[1:]} but the test images "
                f"are {parts[1][0].shape[1:]}; cannot concatenate them."
            )
        X = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])

    if n_samples is not None and n_samples != len(y):
        if n_samples > len(y):
            raise ValueError(
                f"n_samples={n_samples} exceeds the {len(y)} images of subset {subset!r}."
            )
        idx = _stratified_indices(y, n_samples, random_state)
        X, y = X[idx], y[idx]
    if as_strings:
        y = _as_string_labels(y, FASHION_MNIST_CLASSES)
    return X, y
