"""Small image datasets that are already on disk; nothing is ever downloaded.

Every loader returns a tuple ``(X, y)``:

- :func:`load_digits_images` -- scikit-learn's 8x8 digits as ``uint8`` images.
- :func:`load_fashion_mnist` -- Fashion-MNIST read from its IDX ``.gz`` files, as
  installed by Debian's ``dataset-fashion-mnist`` package.
- :func:`load_image_folder` -- image paths and labels from a
  ``root/<class>/<image>`` folder layout (the images are not opened).

:func:`make_image_folder` writes an image array into that folder layout, which is
handy to turn the arrays above into a folder for the command-line interface.
"""

from __future__ import annotations

import numbers
import os
import zlib

import numpy as np

__all__ = [
    "DIGITS_CLASSES",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DEFAULT_PATH",
    "FASHION_MNIST_ENV_VAR",
    "IMAGE_EXTENSIONS",
    "load_digits_images",
    "load_fashion_mnist",
    "load_image_folder",
    "make_image_folder",
]

#: Class names of :func:`load_digits_images`; label ``i`` is ``DIGITS_CLASSES[i]``.
DIGITS_CLASSES = tuple(str(i) for i in range(10))

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

#: Image file extensions that :func:`load_image_folder` picks up by default
#: (compared case-insensitively).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# IDX type codes (third magic byte) -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _as_string_labels(y, class_names):
    """Map integer labels to an object array of class-name strings."""
    names = np.empty(len(class_names), dtype=object)
    names[:] = list(class_names)
    return names[y]


# --------------------------------------------------------------------------- digits


def load_digits_images(*, as_strings=False):
    """Load scikit-learn's handwritten digits as 8x8 ``uint8`` images.

    The 1797 images of :func:`sklearn.datasets.load_digits` have grey levels
    0..16; they are rescaled to 0..255 with ``np.round(x * 255 / 16)``. The data
    ship with scikit-learn, so nothing is downloaded.

    Parameters
    ----------
    as_strings : bool, default=False
        If True, ``y`` holds the class names ``"0"`` .. ``"9"`` (see
        :data:`DIGITS_CLASSES`) instead of the integers 0..9.

    Returns
    -------
    X : ndarray of shape (1797, 8, 8), dtype uint8
        Grey-level images, 0 (background) .. 255 (ink).
    y : ndarray of shape (1797,)
        Digit labels: ``int64`` 0..9, or an object array of the strings
        ``"0"`` .. ``"9"`` when ``as_strings=True``.

    See Also
    --------
    load_fashion_mnist : 28x28 clothing images in ten classes.
    make_image_folder : Write these images into a class-subfolder layout.

    Examples
    --------
    >>> from skclip_noise.datasets import load_digits_images
    >>> X, y = load_digits_images()
    >>> X.shape, X.dtype, int(X.max()), y[:5].tolist()
    ((1797, 8, 8), dtype('uint8'), 255, [0, 1, 2, 3, 4])
    >>> _, y_names = load_digits_images(as_strings=True)
    >>> y_names[:3].tolist()
    ['0', '1', '2']
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)
    y = np.asarray(digits.target, dtype=np.int64)
    if as_strings:
        y = _as_string_labels(y, DIGITS_CLASSES)
    return X, y


# --------------------------------------------------------------------------- IDX


def _decompress(data, filename):
    """Inflate (possibly multi-member) gzip data, or return it unchanged."""
    if data[:2] != b"\x1f\x8b":
        return data  # an uncompressed IDX file is accepted too
    chunks = []
    try:
        while data:
            inflater = zlib.decompressobj(wbits=31)
            chunks.append(inflater.decompress(data))
            if not inflater.eof:
                raise ValueError(
                    f"Corrupt Fashion-MNIST file {filename!r}: the gzip stream is "
                    "truncated (the file is incomplete). Reinstall it, e.g. "
                    "`sudo apt-get install --reinstall dataset-fashion-mnist`."
                )
            data = inflater.unused_data
            if data.strip(b"\x00") == b"":  # trailing zero padding, as gzip allows
                break
    except zlib.error as exc:
        raise ValueError(
            f"Corrupt Fashion-MNIST file {filename!r}: cannot decompress the gzip "
            f"data ({exc}). Reinstall it, e.g. "
            "`sudo apt-get install --reinstall dataset-fashion-mnist`."
        ) from None
    return b"".join(chunks)


def _read_idx(filename):
    """Read one IDX file (gzip-compressed or not) into a native-endian array."""
    with open(filename, "rb") as f:
        raw = f.read()
    data = _decompress(raw, filename)

    def corrupt(reason):
        return ValueError(f"Corrupt IDX file {filename!r}: {reason}.")

    if len(data) < 4:
        raise corrupt(f"it holds only {len(data)} bytes, fewer than the 4-byte magic number")
    if data[0] != 0 or data[1] != 0:
        raise corrupt(
            f"bad magic number 0x{data[:4].hex()} (an IDX file starts with two zero bytes)"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise corrupt(f"unknown data type code 0x{type_code:02x} in the magic number")
    if ndim == 0:
        raise corrupt("the magic number declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise corrupt(f"the header of {header_size} bytes is truncated ({len(data)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_size
    if found < expected:
        raise corrupt(
            f"the header declares shape {shape} ({expected} data bytes) but only "
            f"{found} bytes follow, so the file is truncated"
        )
    if found > expected:
        raise corrupt(
            f"the header declares shape {shape} ({expected} data bytes) but "
            f"{found} bytes follow ({found - expected} unexpected trailing bytes)"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)  # writable, native order


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

    if path is None:
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
            f"path must be a folder holding the Fashion-MNIST IDX files; {folder!r} "
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


# --------------------------------------------------------------------------- folders


def _normalise_extensions(extensions):
    if extensions is None:
        return IMAGE_EXTENSIONS
    if isinstance(extensions, str):
        extensions = [extensions]
    result = set()
    for ext in extensions:
        if not isinstance(ext, str) or not ext.strip(". "):
            raise ValueError(f"extensions must be non-empty strings such as '.png'; got {ext!r}.")
        ext = ext.strip().lower()
        result.add(ext if ext.startswith(".") else "." + ext)
    if not result:
        raise ValueError("extensions must name at least one file extension.")
    return frozenset(result)


def _is_hidden(name):
    return name.startswith(".")


def load_image_folder(root, *, extensions=None):
    """List the images of a ``root/<class>/<image>`` folder with their labels.

    Every visible subfolder of ``root`` is a class, named after the folder; the
    images below it (nested subfolders included) get that label. Images are
    recognised by their file extension and are not opened, so loading is fast and
    ``X`` can be passed on to anything that accepts image paths. Hidden files and
    folders (whose name starts with ``"."``) and files directly in ``root`` are
    ignored.

    Parameters
    ----------
    root : str or path-like
        Folder with one subfolder per class.
    extensions : iterable of str or str, default=None
        File extensions to pick up, with or without the leading dot, compared
        case-insensitively. None means :data:`IMAGE_EXTENSIONS`: ``.jpg``,
        ``.jpeg``, ``.png``, ``.bmp``, ``.gif``, ``.tif``, ``.tiff``, ``.webp``,
        ``.ppm`` and ``.pgm``.

    Returns
    -------
    X : ndarray of shape (n_images,), dtype object
        Absolute image paths (str), sorted by class name, then by path within the
        class, so the order does not depend on the file system.
    y : ndarray of shape (n_images,), dtype object
        Class (subfolder) name of each image.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist, has no class subfolders, or no images with the
        given extensions are found.
    NotADirectoryError
        If ``root`` is not a folder.

    Warns
    -----
    UserWarning
        When some class subfolders hold no image; those classes are left out.

    See Also
    --------
    make_image_folder : Write an image array into this layout.

    Examples
    --------
    >>> import tempfile
    >>> from skclip_noise.datasets import (load_digits_images, load_image_folder,
    ...                                    make_image_folder)
    >>> X, y = load_digits_images(as_strings=True)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = make_image_folder(X[:20], y[:20], tmp + "/digits")
    ...     paths, labels = load_image_folder(root)
    >>> len(paths), labels[:4].tolist()
    (20, ['0', '0', '1', '1'])
    """
    exts = _normalise_extensions(extensions)
    root = os.path.abspath(os.fspath(root))
    if not os.path.exists(root):
        raise FileNotFoundError(f"Image folder {root!r} does not exist.")
    if not os.path.isdir(root):
        raise NotADirectoryError(f"Image folder {root!r} is not a folder.")

    with os.scandir(root) as entries:
        visible = [e for e in entries if not _is_hidden(e.name)]
    classes = sorted(e.name for e in visible if e.is_dir())
    if not classes:
        loose = sum(
            1 for e in visible if e.is_file() and os.path.splitext(e.name)[1].lower() in exts
        )
        hint = (
            f" It holds {loose} image file(s) directly; move each into a subfolder "
            "named after its class."
            if loose
            else ""
        )
        raise FileNotFoundError(
            f"Image folder {root!r} has no class subfolders; expected the layout "
            f"root/<class>/<image>.{hint}"
        )

    paths, labels, empty = [], [], []
    for cls in classes:
        found = []
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, cls), followlinks=True):
            dirnames[:] = [d for d in dirnames if not _is_hidden(d)]
            found.extend(
                os.path.join(dirpath, name)
                for name in filenames
                if not _is_hidden(name) and os.path.splitext(name)[1].lower() in exts
            )
        if not found:
            empty.append(cls)
            continue
        found.sort()
        paths.extend(found)
        labels.extend([cls] * len(found))

    looked_for = ", ".join(sorted(exts))
    if not paths:
        raise FileNotFoundError(
            f"No images found in the class subfolders of {root!r} (looked for the "
            f"extensions {looked_for}; pass extensions= to pick up others)."
        )
    if empty:
        import warnings

        warnings.warn(
            f"{len(empty)} class subfolder(s) of {root!r} hold no image with the "
            f"extensions {looked_for} and are left out: {', '.join(empty)}.",
            UserWarning,
            stacklevel=2,
        )
    X = np.empty(len(paths), dtype=object)
    X[:] = paths
    y = np.empty(len(labels), dtype=object)
    y[:] = labels
    return X, y


def _check_class_folder_name(label):
    name = str(label)
    if name in ("", ".", "..") or name.startswith(".") or "/" in name or "\\" in name:
        raise ValueError(
            f"Label {label!r} cannot be a folder name (it is empty, starts with '.', "
            "or holds a path separator); rename the classes, e.g. replace '/' by '_'."
        )
    if "\x00" in name:
        raise ValueError(f"Label {label!r} cannot be a folder name (it holds a NUL byte).")
    return name


def make_image_folder(X, y, root, *, format="png"):
    """Write images into a ``root/<class>/<image>`` folder layout.

    Image ``i`` is saved as ``root/<str(y[i])>/<i>.<format>``, with ``i``
    zero-padded so that :func:`load_image_folder` lists the images of each class
    in their original order.

    Parameters
    ----------
    X : array-like of shape (n_images, height, width) or (n_images, height, width, 3)
        Grey or RGB images with integer values in 0..255 (``uint8``); a trailing
        channel axis of size 1 is treated as grey.
    y : array-like of shape (n_images,)
        Labels; ``str(label)`` names the class folder, so it must not be empty,
        start with ``"."`` or contain ``"/"`` or ``"\\"``.
    root : str or path-like
        Folder to create. It may exist but must then be empty.
    format : str, default="png"
        File format and extension, e.g. ``"png"``, ``"bmp"``, ``"jpeg"`` (lossy),
        ``"tiff"``, ``"webp"``.

    Returns
    -------
    root : str
        The folder written, as given.

    Raises
    ------
    FileExistsError
        If ``root`` exists and is not empty.
    ValueError
        On bad shapes, values outside 0..255 or labels that cannot be folder
        names.

    See Also
    --------
    load_image_folder : Read the layout back.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skclip_noise.datasets import make_image_folder
    >>> X = np.zeros((4, 8, 8), dtype=np.uint8)
    >>> y = np.array(["cat", "dog", "cat", "dog"])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = make_image_folder(X, y, os.path.join(tmp, "pets"))
    ...     print(sorted(os.listdir(root)), sorted(os.listdir(os.path.join(root, "cat"))))
    ['cat', 'dog'] ['0.png', '2.png']
    """
    from PIL import Image

    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 4 and X.shape[-1] == 1:
        X = X[..., 0]
    if not (X.ndim == 3 or (X.ndim == 4 and X.shape[-1] == 3)):
        raise ValueError(
            "X must have shape (n_images, height, width) or (n_images, height, width, 3); "
            f"got {X.shape}."
        )
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must have shape ({len(X)},); got {y.shape}.")
    if X.dtype != np.uint8:
        if X.dtype == bool or not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"X must hold integers in 0..255 (uint8); got dtype {X.dtype}.")
        if X.size and (
            np.any(X < 0) or np.any(X > 255) or not np.array_equal(X, np.round(X))
        ):
            raise ValueError(
                "X must hold integers in 0..255; convert it first, e.g. "
                "np.round(X * 255).astype(np.uint8) for floats in [0, 1]."
            )
        X = X.astype(np.uint8)

    if not isinstance(format, str) or not format.strip("."):
        raise ValueError(f"format must be a file extension such as 'png'; got {format!r}.")
    ext = "." + format.lower().lstrip(".")
    pil_format = Image.registered_extensions().get(ext)
    if pil_format is None:
        raise ValueError(f"PIL cannot write images with the extension {ext!r}.")

    folders = [_check_class_folder_name(label) for label in y]
    root_str = os.fspath(root)
    if os.path.exists(root_str):
        if not os.path.isdir(root_str):
            raise NotADirectoryError(f"{root_str!r} exists and is not a folder.")
        if os.listdir(root_str):
            raise FileExistsError(
                f"{root_str!r} is not empty; make_image_folder writes into a new or "
                "empty folder only."
            )
    width = len(str(max(len(X) - 1, 0)))
    for cls in sorted(set(folders)):
        os.makedirs(os.path.join(root_str, cls), exist_ok=True)
    for i, (image, cls) in enumerate(zip(X, folders)):
        Image.fromarray(np.ascontiguousarray(image)).save(
            os.path.join(root_str, cls, f"{i:0{width}d}{ext}"), format=pil_format
        )
    return root_str
