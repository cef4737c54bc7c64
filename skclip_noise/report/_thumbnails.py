"""Thumbnails of the HTML page: PNG data URIs inside the page, or PNG files beside it."""

from __future__ import annotations

import base64
import io
import os
import re
from urllib.parse import quote

__all__ = ["INLINE_THUMBNAIL_LIMIT", "ThumbnailWriter", "_thumbnail_data_uri"]

#: ``thumbnails="auto"``: above this many cards, thumbnails are files beside the page, so
#: the page stays small (about 1 kB of HTML per card instead of 2-20 kB of image data).
INLINE_THUMBNAIL_LIMIT = 1000
THUMBNAIL_MODES = ("auto", "inline", "files")


def _fitted(image, size):
    """``image`` fitted into ``size`` x ``size`` pixels.

    Small images are enlarged by a whole factor with nearest-neighbour sampling
    (crisp pixels); large ones are shrunk with Lanczos. The aspect ratio is kept.
    """
    from PIL import Image

    width, height = image.size
    longest = max(width, height, 1)
    if longest <= size:
        factor = max(1, size // longest)
        if factor > 1:
            image = image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
        return image
    image = image.copy()
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    return image


def _png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _thumbnail_data_uri(image, size):
    """A PNG data URI of ``image`` fitted into ``size`` x ``size`` pixels, and its size."""
    image = _fitted(image, size)
    encoded = base64.b64encode(_png_bytes(image)).decode("ascii")
    return f"data:image/png;base64,{encoded}", image.size


class ThumbnailWriter:
    """Makes each card's ``src``: a data URI (``inline``) or a PNG file in a folder beside
    the page, named after the page (``report.html`` -> ``report_thumbnails/``), referred
    to by a relative path so the page and its folder can move together."""

    def __init__(self, mode, n_cards, page_path, size):
        if mode not in THUMBNAIL_MODES:
            raise ValueError(f"thumbnails must be one of {list(THUMBNAIL_MODES)}; got {mode!r}.")
        if mode == "files" and page_path is None:
            raise ValueError("thumbnails='files' writes them beside the page: pass path (where the page goes).")
        self.as_files = mode == "files" or (mode == "auto" and page_path is not None and n_cards > INLINE_THUMBNAIL_LIMIT)
        self.size = size
        if page_path is not None:
            stem = os.path.splitext(os.path.basename(os.fspath(page_path)))[0]
            self.folder_name = f"{stem}_thumbnails"
            self.folder = os.path.join(os.path.dirname(os.path.abspath(os.fspath(page_path))), self.folder_name)
            _remove_thumbnails(self.folder)  # an earlier page's at this path show other data

    def source(self, image, position):
        """(``src`` of the image element, (width, height))."""
        if not self.as_files:
            return _thumbnail_data_uri(image, self.size)
        image = _fitted(image, self.size)
        if not os.path.isdir(self.folder):
            os.makedirs(self.folder)
            open(os.path.join(self.folder, _MARKER), "wb").close()  # a folder the report may clear again
        name = f"{position:08d}.png"
        with open(os.path.join(self.folder, name), "wb") as handle:
            handle.write(_png_bytes(image))
        return f"{quote(self.folder_name)}/{name}", image.size


#: The file that marks a thumbnails folder as the report's own (a folder of the user's that
#: happens to have the name is never touched).
_MARKER = ".skclip-noise-thumbnails"


def _remove_thumbnails(folder):
    """Remove the thumbnails (``NNNNNNNN.png``) an earlier page wrote into ``folder``, and
    the folder when nothing else is left in it; only in a folder the report made (its
    marker file), and never another file."""
    if not os.path.isfile(os.path.join(folder, _MARKER)):
        return
    for name in os.listdir(folder):
        if re.fullmatch(r"\d{8}\.png", name):
            os.remove(os.path.join(folder, name))
    if os.listdir(folder) == [_MARKER]:
        os.remove(os.path.join(folder, _MARKER))
        os.rmdir(folder)
