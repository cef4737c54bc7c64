"""scikit-learn's handwritten digits as 8x8 ``uint8`` images: :func:`load_digits_images`."""

from __future__ import annotations

import numpy as np

from ._labels import _as_string_labels

__all__ = [
    "DIGITS_CLASSES",
    "load_digits_images",
]

#: Class names of :func:`load_digits_images`; label ``i`` is ``DIGITS_CLASSES[i]``.
DIGITS_CLASSES = tuple(str(i) for i in range(10))


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
