"""Image folders in the ``root/<class>/<image>`` layout: list them and write them.

:func:`load_image_folder` lists the image paths and class labels of such a folder;
:func:`make_image_folder` writes an image array into that layout. Class names that
cannot be folder names (``"T-shirt/top"``) are written under a folder-safe name
(``"T-shirt_top"``), and the real names are kept in a mapping file,
:data:`CLASS_NAMES_FILE`, in the root, which :func:`load_image_folder` reads back.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from .._csv import cell_text, spreadsheet_safe
from .._warnings import warn_user
from ._hf_layouts import refuse_hugging_face_layouts

__all__ = [
    "CLASS_NAMES_FILE",
    "IMAGE_EXTENSIONS",
    "load_image_folder",
    "make_image_folder",
]

#: Image file extensions that :func:`load_image_folder` picks up by default
#: (compared case-insensitively).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)


#: Name of the file, in the root of an image folder, that maps folder names to the
#: real class names (a CSV with the header ``folder,class_name``).
#: :func:`make_image_folder` writes it when some class name is not a safe folder
#: name; :func:`load_image_folder` reads it back.
CLASS_NAMES_FILE = "class_names.csv"
_CLASS_NAMES_HEADER = ["folder", "class_name"]

# Characters that are not allowed (or not safe) in a folder name on Linux, macOS or
# Windows: path separators, NUL and other control characters, and Windows' <>:"|?*.
_UNSAFE_CHARACTERS = frozenset('/\\<>:"|?*') | frozenset(chr(code) for code in range(32))


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


def load_image_folder(root, *, extensions=None, exclude=()):
    """List the images of a ``root/<class>/<image>`` folder with their labels.

    Every visible subfolder of ``root`` is a class, named after the folder; the
    images below it (nested subfolders included) get that label. When ``root``
    holds a :data:`CLASS_NAMES_FILE` (``class_names.csv``, as
    :func:`make_image_folder` writes for class names that cannot be folder
    names), the labels are the class names it gives for the folders (e.g.
    ``"T-shirt/top"`` for the folder ``T-shirt_top``); folders it does not list
    keep their own name. Images are
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
    exclude : iterable of str or path-like, default=()
        Folders to leave out wherever they are below ``root`` (e.g. an output folder
        inside it, whose thumbnails would otherwise be read as a class).

    Returns
    -------
    X : ndarray of shape (n_images,), dtype object
        Absolute image paths (str), sorted by class folder name, then by path
        within the class, so the order does not depend on the file system.
    y : ndarray of shape (n_images,), dtype object
        Class name of each image (str): its subfolder's name, or the name
        :data:`CLASS_NAMES_FILE` gives for that subfolder.

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist, has no class subfolders, or no images with the
        given extensions are found.
    NotADirectoryError
        If ``root`` is not a folder.
    ValueError
        If :data:`CLASS_NAMES_FILE` is malformed (its first line must be
        ``folder,class_name``), or gives two folders the same class name. If ``root``
        is laid out for Hugging Face's ``imagefolder`` in a way that would read as
        other classes: split folders (``root/train/<class>/...``), or labels in a
        ``metadata.csv`` / ``metadata.jsonl`` with a ``label`` column.

    Warns
    -----
    UserWarning
        When some class subfolders hold no image; those classes are left out. When a
        folder below ``root`` cannot be listed (no permission); its images are left out.

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

    Class names that cannot be folder names come back as they were:

    >>> import numpy as np
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = make_image_folder(np.zeros((2, 8, 8), np.uint8), ["T-shirt/top", "Bag"],
    ...                              tmp + "/clothes")
    ...     paths, labels = load_image_folder(root)
    >>> labels.tolist()
    ['Bag', 'T-shirt/top']
    """
    exts = _normalise_extensions(extensions)
    root = os.path.abspath(os.fspath(root))
    if not os.path.exists(root):
        raise FileNotFoundError(f"Image folder {root!r} does not exist.")
    if not os.path.isdir(root):
        raise NotADirectoryError(f"Image folder {root!r} is not a folder.")

    excluded = {os.path.realpath(os.fspath(folder)) for folder in exclude}
    with os.scandir(root) as entries:
        visible = [e for e in entries if not _is_hidden(e.name)]
    classes = sorted(e.name for e in visible if e.is_dir() and os.path.realpath(e.path) not in excluded)
    refuse_hugging_face_layouts(root, classes, {e.name for e in visible if e.is_file()})
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

    names = _class_names_of(root, classes)
    # A linked folder is read once, in its own class: a link back up the tree (to root or to
    # another class) would list other classes' images under this one, or loop.
    elsewhere = excluded | {os.path.realpath(root)} | {os.path.realpath(os.path.join(root, c)) for c in classes}
    paths, labels, empty, unlisted = [], [], [], []
    for cls in classes:
        found, seen = [], set()
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, cls), onerror=unlisted.append,
                                                    followlinks=True):
            seen.add(os.path.realpath(dirpath))
            dirnames[:] = [d for d in dirnames if not _is_hidden(d)
                           and os.path.realpath(os.path.join(dirpath, d)) not in seen
                           and os.path.realpath(os.path.join(dirpath, d)) not in elsewhere]
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
        labels.extend([names[cls]] * len(found))

    looked_for = ", ".join(sorted(exts))
    if not paths:
        raise FileNotFoundError(
            f"No images found in the class subfolders of {root!r} (looked for the "
            f"extensions {looked_for}; pass extensions= to pick up others)."
        )

    if unlisted:
        folders = ", ".join(repr(error.filename) for error in unlisted[:5])
        warn_user(
            f"{len(unlisted)} folder(s) below {root!r} cannot be listed ({folders}: {unlisted[0].strerror}); "
            "their images are left out. Give read access to them, or move them out of the folder.",
            UserWarning,
        )
    if empty:
        warn_user(
            f"{len(empty)} class subfolder(s) of {root!r} hold no image with the "
            f"extensions {looked_for} and are left out: {', '.join(empty)}.",
            UserWarning,
        )
    X = np.empty(len(paths), dtype=object)
    X[:] = paths
    y = np.empty(len(labels), dtype=object)
    y[:] = labels
    return X, y


def _safe_folder_name(name):
    """A folder name for the class ``name``: unsafe characters become ``"_"``.

    Path separators, control characters and Windows' ``<>:"|?*`` become ``"_"``,
    as do a leading ``"."`` (hidden folders are skipped when reading) and a
    trailing ``"."`` or space (Windows drops them).
    """
    if name == "":
        raise ValueError("An empty label cannot name a class folder; give every class a name.")
    chars = ["_" if char in _UNSAFE_CHARACTERS else char for char in name]
    if chars[0] == ".":
        chars[0] = "_"
    if chars[-1] in (".", " "):
        chars[-1] = "_"
    return "".join(chars)


def _class_folders(names):
    """``{class name: folder name}`` for the distinct class names; refuses collisions."""
    folders = {}
    owner = {}
    for name in sorted(set(names)):
        folder = _safe_folder_name(name)
        if folder in owner:
            raise ValueError(
                f"The labels {owner[folder]!r} and {name!r} would share the class folder "
                f"{folder!r} (characters that cannot be in folder names become '_'); "
                "rename one of the classes."
            )
        owner[folder] = name
        folders[name] = folder
    renamed = any(folder != name for name, folder in folders.items())
    if renamed and CLASS_NAMES_FILE in owner:
        raise ValueError(
            f"The label {owner[CLASS_NAMES_FILE]!r} would name a class folder "
            f"{CLASS_NAMES_FILE!r}, the file that keeps the real class names; rename the class."
        )
    return folders


def _write_class_names(root, folders):
    path = os.path.join(root, CLASS_NAMES_FILE)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(_CLASS_NAMES_HEADER)
        for name, folder in sorted(folders.items(), key=lambda item: item[1]):
            writer.writerow([spreadsheet_safe(folder), spreadsheet_safe(name)])


def _read_class_names(root):
    """``{folder name: class name}`` from the root's mapping file, or None without one."""
    path = os.path.join(root, CLASS_NAMES_FILE)
    if not os.path.isfile(path):
        return None
    advice = (
        f"it maps class folders to class names (as make_image_folder writes it), with the "
        f"header line {','.join(_CLASS_NAMES_HEADER)} and one line folder,class_name per "
        "class; fix it, or move it out of the folder to use the folder names"
    )
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"Cannot read {path!r} ({exc}): {advice}.") from exc
    if not rows or rows[0] != _CLASS_NAMES_HEADER:
        raise ValueError(f"{path!r} does not start with the expected header: {advice}.")
    mapping = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 2:
            raise ValueError(f"{path!r}, line {line}: expected 2 fields, got {len(row)}: {advice}.")
        folder, name = (cell_text(cell) for cell in row)
        if folder in mapping:
            raise ValueError(f"{path!r}, line {line}: the folder {folder!r} is listed twice: {advice}.")
        mapping[folder] = name
    return mapping


def _class_names_of(root, classes):
    """The real class name of each class folder: read from the mapping file, if any."""
    mapping = _read_class_names(root)
    if mapping is None:
        return {folder: folder for folder in classes}
    names = {folder: mapping.get(folder, folder) for folder in classes}
    seen = {}
    for folder, name in names.items():
        if name in seen:
            raise ValueError(
                f"The class folders {seen[name]!r} and {folder!r} of {root!r} both stand for "
                f"the class {name!r} (see {CLASS_NAMES_FILE}); merge the folders or fix the file."
            )
        seen[name] = folder
    return names


def make_image_folder(X, y, root, *, format="png"):
    """Write images into a ``root/<class>/<image>`` folder layout.

    Image ``i`` is saved as ``root/<folder>/<i>.<format>``, with ``i``
    zero-padded so that :func:`load_image_folder` lists the images of each class
    in their original order. The folder is ``str(y[i])`` made safe for a folder
    name: path separators (``"/"``, ``"\\"``), control characters, Windows'
    ``<>:"|?*``, a leading ``"."`` and a trailing ``"."`` or space become
    ``"_"`` (``"T-shirt/top"`` is written to ``T-shirt_top``). When a folder
    name differs from its class name, every class's folder and real name are
    written to :data:`CLASS_NAMES_FILE` (``class_names.csv``, header
    ``folder,class_name``) in ``root``, which :func:`load_image_folder` reads, so
    the labels come back unchanged.

    Parameters
    ----------
    X : array-like of shape (n_images, height, width) or (n_images, height, width, 3)
        Grey or RGB images with integer values in 0..255 (``uint8``); a trailing
        channel axis of size 1 is treated as grey.
    y : array-like of shape (n_images,)
        Labels; ``str(label)`` is the class name, which must not be empty. Two
        class names that give the same folder name (``"a/b"`` and ``"a_b"``)
        are refused.
    root : str or path-like
        Folder to create. It may exist but must then be empty.
    format : str, default="png"
        File format and extension, one that :func:`load_image_folder` reads
        (:data:`IMAGE_EXTENSIONS`): e.g. ``"png"``, ``"bmp"``, ``"jpeg"`` (lossy),
        ``"tiff"``, ``"webp"``. If writing fails (an image too large for the
        format), what was written is removed and the error raised.

    Returns
    -------
    root : str
        The folder written, as given.

    Raises
    ------
    FileExistsError
        If ``root`` exists and is not empty.
    ValueError
        On no images, images of different shapes, bad shapes, values outside
        0..255 (or floats all within [0, 1], which the library reads as [0, 1]
        everywhere else: convert them first), an empty label, or two labels that
        would share a folder.

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

    A class name with a ``"/"`` gets a folder-safe name, and the real one is kept:

    >>> y = np.array(["T-shirt/top", "Bag", "Bag", "T-shirt/top"])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = make_image_folder(X, y, os.path.join(tmp, "clothes"))
    ...     print(sorted(os.listdir(root)))
    ...     print(open(os.path.join(root, "class_names.csv")).read())
    ['Bag', 'T-shirt_top', 'class_names.csv']
    folder,class_name
    Bag,Bag
    T-shirt_top,T-shirt/top
    <BLANKLINE>
    """
    from PIL import Image

    shapes = {np.shape(image) for image in X} if isinstance(X, (list, tuple)) else set()
    if len(shapes) > 1:
        raise ValueError(
            f"X's images have different shapes ({', '.join(map(str, sorted(shapes)[:3]))}, ...); make_image_folder "
            "writes equal-sized images: resize them first."
        )
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
    if len(X) == 0:
        raise ValueError("X holds no images; pass at least one image to write.")
    if X.dtype != np.uint8:
        if X.dtype == bool or not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"X must hold integers in 0..255 (uint8); got dtype {X.dtype}.")
        in_unit_range = X.dtype.kind == "f" and X.max() <= 1  # read as [0, 1] everywhere else: ambiguous here
        if in_unit_range or np.any(X < 0) or np.any(X > 255) or not np.array_equal(X, np.round(X)):
            raise ValueError(
                "X must hold integers in 0..255; convert it first, e.g. "
                "np.round(X * 255).astype(np.uint8) for floats in [0, 1]."
            )
        X = X.astype(np.uint8)

    if not isinstance(format, str) or not format.strip("."):
        raise ValueError(f"format must be a file extension such as 'png'; got {format!r}.")
    ext = "." + format.lower().lstrip(".")
    if ext not in IMAGE_EXTENSIONS:
        raise ValueError(
            f"format {format!r}: load_image_folder does not read files with the extension {ext!r}; pick one of "
            f"{', '.join(sorted(e.lstrip('.') for e in IMAGE_EXTENSIONS))}."
        )
    pil_format = Image.registered_extensions().get(ext)
    if pil_format is None:
        raise ValueError(f"PIL cannot write images with the extension {ext!r}.")

    names = [str(label) for label in y]
    folder_of = _class_folders(names)
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
    made_root = not os.path.exists(root_str)
    try:
        for folder in sorted(folder_of.values()):
            os.makedirs(os.path.join(root_str, folder), exist_ok=True)
        if any(folder != name for name, folder in folder_of.items()):
            _write_class_names(root_str, folder_of)
        for i, (image, name) in enumerate(zip(X, names)):
            Image.fromarray(np.ascontiguousarray(image)).save(
                os.path.join(root_str, folder_of[name], f"{i:0{width}d}{ext}"), format=pil_format
            )
    except BaseException:
        _remove_written(root_str, made_root)  # a retry finds root as this call found it
        raise
    return root_str


def _remove_written(root, made_root):
    """Remove what :func:`make_image_folder` wrote into ``root`` (new or empty when it began)."""
    import shutil

    if made_root:
        shutil.rmtree(root, ignore_errors=True)
        return
    for entry in os.listdir(root):
        path = os.path.join(root, entry)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
