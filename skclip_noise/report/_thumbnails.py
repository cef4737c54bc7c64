"""Thumbnails of the HTML page, embedded as PNG data URIs."""

from __future__ import annotations

import base64
import io

__all__ = ["_thumbnail_data_uri"]


def _thumbnail_data_uri(image, size):
    """A PNG data URI of ``image`` fitted into ``size`` x ``size`` pixels.

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
    else:
        image = image.copy()
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{encoded}", image.size
