"""Image folders in the ``root/<class>/<image>`` layout: list them and write them.

:func:`load_image_folder` lists the image paths and class labels of such a folder;
:func:`make_image_folder` writes an image array into that layout.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "load_image_folder",
    "make_image_folder",
]

#: Image file extensions that :func:`load_image_folder` picks up by default
#: (compared case-insensitively).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)


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
