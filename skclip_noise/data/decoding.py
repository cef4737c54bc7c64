"""Decoding image files: the one place a file becomes an RGB PIL image.

:func:`open_image_file` decodes a file completely (``Image.load()``, not only
its header), so a file cut short is refused even when PIL's ``verify()`` passes
it, as it does for truncated JPEGs. It raises :class:`ImageReadError` naming the
file; :func:`unreadable_reason` turns that failure into a short reason for a
list of skipped files (``skip_unreadable=True``, ``skclip-noise detect
--skip-unreadable``). :func:`quick_check_image_file` is the cheap check run on
every file before any work (the header and structure, plus a full decode of a
JPEG that does not end where a complete one does). A photo is turned upright as
its EXIF orientation tag says (:func:`upright_image`).

PIL's ``ImageFile.LOAD_TRUNCATED_IMAGES`` (False unless some code sets it) makes
PIL fill the missing part of a truncated file with grey instead of failing: it
is honoured, but never silently (:func:`warn_if_truncated_images_accepted`).
"""

from __future__ import annotations

import os
import re

import numpy as np
from PIL import Image, ImageFile, ImageOps

from .._warnings import warn_user

__all__ = [
    "ImageReadError",
    "open_image_file",
    "pil_settings",
    "quick_check_image_file",
    "unreadable_reason",
    "upright_image",
    "use_pil_settings",
    "warn_if_truncated_images_accepted",
]

#: Changes whenever decoding gives a file other pixels (2: EXIF orientation applied);
#: part of the embedding cache's key, so that no cache returns embeddings of the old pixels.
DECODING_VERSION = 2

#: The advice every unreadable-file error ends with.
SKIP_HINT = (
    "Remove or replace it, or skip such files: ImageEmbedder(skip_unreadable=True), "
    "skclip-noise detect --skip-unreadable."
)

_JPEG_END = b"\xff\xd9"  # a complete JPEG's last marker (EOI)
_EXIF_ORIENTATION = 0x0112


class _KeepsMessageAcrossWorkers:
    """A DataLoader worker re-raises ``type(error)(traceback text)``: keep the original
    message instead, so users read what went wrong, not a worker's traceback."""

    def __init__(self, *args):
        if len(args) == 1 and isinstance(args[0], str) and args[0].startswith("Caught "):
            first_line, _, rest = args[0].partition("\n")
            marker = f"{type(self).__name__}: "
            if "worker" in first_line and marker in rest:
                args = (rest[rest.rfind(marker) + len(marker):].strip(),)
        super().__init__(*args)
        self.args = args


class ImageReadError(_KeepsMessageAcrossWorkers, OSError):
    """An image file that cannot be decoded; the message names the file.

    ``reason`` (a short line, also in the message) says why; it is kept within a
    process (a DataLoader worker passes only the message on).

    Examples
    --------
    >>> try:
    ...     open_image_file("gone.png")
    ... except ImageReadError as error:  # also an OSError
    ...     print(str(error)[:34])
    ...     print(error.reason)
    Cannot read image file 'gone.png':
    no such file
    """

    reason = None


def pil_to_rgb(image):
    """RGB view of a PIL image; high-bit-depth modes keep their full range.

    16-bit modes (and ``I`` images whose values fit in 16 bits) are scaled by
    ``/ 257``; ``F`` images in [0, 1] by ``* 255``; other ``I``/``F`` images are
    stretched from their own minimum and maximum.

    Examples
    --------
    >>> pil_to_rgb(Image.new("L", (4, 4), 7)).getpixel((0, 0))
    (7, 7, 7)
    """
    if image.mode == "RGB":
        return image
    if not (image.mode.startswith("I;16") or image.mode in ("I", "F")):
        return image.convert("RGB")
    values = np.asarray(image).astype(np.float64)
    if values.size and not np.all(np.isfinite(values)):
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (values.min(), values.max()) if values.size else (0.0, 0.0)
    if image.mode.startswith("I;16") or (image.mode == "I" and low >= 0 and high <= 65535):
        scaled = values / 257.0
    elif image.mode == "F" and low >= 0 and high <= 1:
        scaled = values * 255.0
    else:
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


#: The sizes in PIL's DecompressionBombError: "Image size (N pixels) exceeds limit of M pixels".
_BOMB_SIZES = re.compile(r"\((\d+) pixels\) exceeds limit of (\d+) pixels")


def unreadable_reason(exc):
    """A one-line reason why a file could not be read, for a list of skipped files.

    Examples
    --------
    >>> unreadable_reason(OSError("image file is truncated (187 bytes not processed)"))
    'OSError: image file is truncated (187 bytes not processed)'
    """
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "a directory, not an image file"
    if isinstance(exc, Image.UnidentifiedImageError):
        return "not an image file (PIL cannot identify its format)"
    if isinstance(exc, Image.DecompressionBombError):
        sizes = _BOMB_SIZES.search(str(exc))
        if sizes:
            pixels, limit = (int(number) for number in sizes.groups())
            return f"too large to decode safely ({pixels:,} pixels; PIL's limit is {limit:,})"
        return f"too large to decode safely ({' '.join(str(exc).split())})"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _decode(path):
    with Image.open(path) as image:
        image.load()  # every pixel: a file cut short fails here, not only at verify()
        upright = upright_image(image)
        rgb = pil_to_rgb(upright)
        return rgb.copy() if rgb is image else rgb


def upright_image(image):
    """``image`` turned as its EXIF orientation tag says, as a photo viewer shows it.

    A camera or phone often stores a portrait photo's pixels sideways with a tag
    (values 2-8) that says how to turn them; read as stored, the backbone would
    see, and the report would show, the photo sideways or mirrored. Images without
    the tag (or with 1) are returned as they are, not copied.

    Examples
    --------
    >>> tagged = Image.new("L", (6, 4))
    >>> exif = tagged.getexif()
    >>> exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise
    >>> tagged.save("tagged.jpg", exif=exif)
    >>> upright_image(Image.open("tagged.jpg")).size
    (4, 6)
    """
    if image.getexif().get(_EXIF_ORIENTATION, 1) in (1, None):
        return image
    return ImageOps.exif_transpose(image)


def open_image_file(path):
    """Decode an image file completely into an RGB PIL image.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    PIL.Image.Image
        Mode ``"RGB"``.

    Raises
    ------
    ImageReadError
        The file is missing, not an image, too large, truncated or otherwise
        broken; the message names it and says why (``error.reason``).

    Examples
    --------
    >>> Image.new("L", (5, 3)).save("small.png")
    >>> open_image_file("small.png").size
    (5, 3)
    """
    try:
        return _decode(path)
    except Image.DecompressionBombError as exc:
        error = ImageReadError(
            f"Image file {path!r} is too large to decode safely ({exc}) If you trust it, raise "
            f"PIL's limit first: PIL.Image.MAX_IMAGE_PIXELS = None (or a larger pixel count). {SKIP_HINT}"
        )
        error.reason = unreadable_reason(exc)
        raise error from exc
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, struct.error, ...)
        error = ImageReadError(f"Cannot read image file {path!r}: {exc}. {SKIP_HINT}")
        error.reason = unreadable_reason(exc)
        raise error from exc


def quick_check_image_file(path):
    """Why an image file cannot be read, by a check cheaper than decoding; None if it can.

    PIL's ``verify()`` reads the header and structure without decoding the
    pixels, and passes a JPEG that was cut short: a JPEG that does not end with
    its end-of-image marker is therefore decoded in full. A JPEG with data after
    that marker, or another format cut short in its pixel data, may still pass;
    such files fail when they are decoded.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    str or None
        A one-line reason (see :func:`unreadable_reason`), or None.

    Examples
    --------
    >>> Image.linear_gradient("L").save("whole.jpg")
    >>> quick_check_image_file("whole.jpg") is None
    True
    >>> with open("whole.jpg", "rb") as whole, open("cut.jpg", "wb") as cut:
    ...     _ = cut.write(whole.read()[:-200])
    >>> quick_check_image_file("cut.jpg")
    'OSError: image file is truncated...'
    """
    try:
        with Image.open(path) as image:
            image_format = image.format
            image.verify()
        if image_format == "JPEG" and not _ends_with(path, _JPEG_END):
            _decode(path)
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
        try:  # verify() refuses some files that decode whole (a PNG without its end chunk): decoding decides
            _decode(path)
        except Exception:  # noqa: BLE001
            return unreadable_reason(exc)
    return None


def _ends_with(path, suffix):
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - len(suffix)))
        return handle.read() == suffix


def warn_if_truncated_images_accepted():
    """Warn when PIL is set to accept truncated image files (``LOAD_TRUNCATED_IMAGES``).

    Some code sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True`` process-wide;
    truncated files then decode with their missing part grey, and are neither
    reported nor skipped. The setting is honoured, with this warning.

    Returns
    -------
    bool
        Whether truncated files are accepted.

    Examples
    --------
    >>> warn_if_truncated_images_accepted()
    False
    """
    if not ImageFile.LOAD_TRUNCATED_IMAGES:
        return False
    warn_user(
        "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True (set by your code or a library it "
        "imports): truncated image files are read with their missing part filled in, not "
        "reported or skipped. Set it to False to have them reported.",
        UserWarning,
    )
    return True


def pil_settings():
    """PIL's process-wide settings that decoding honours, to hand to another process.

    A worker process (joblib's, or a DataLoader's under the ``spawn`` start method of
    macOS and Windows) starts with PIL's defaults; :func:`use_pil_settings` there gives
    it the caller's: ``Image.MAX_IMAGE_PIXELS`` (the decompression-bomb limit) and
    ``ImageFile.LOAD_TRUNCATED_IMAGES``.

    Examples
    --------
    >>> sorted(pil_settings())
    ['LOAD_TRUNCATED_IMAGES', 'MAX_IMAGE_PIXELS']
    """
    return {"MAX_IMAGE_PIXELS": Image.MAX_IMAGE_PIXELS, "LOAD_TRUNCATED_IMAGES": ImageFile.LOAD_TRUNCATED_IMAGES}


def use_pil_settings(settings):
    """Set PIL's process-wide settings to ``settings`` (from :func:`pil_settings`)."""
    Image.MAX_IMAGE_PIXELS = settings["MAX_IMAGE_PIXELS"]
    ImageFile.LOAD_TRUNCATED_IMAGES = settings["LOAD_TRUNCATED_IMAGES"]
