"""Small image datasets that are already on disk; nothing is ever downloaded.

Every loader returns a tuple ``(X, y)``:

- :func:`load_digits_images` -- scikit-learn's 8x8 digits as ``uint8`` images.
- :func:`load_fashion_mnist` -- Fashion-MNIST read from its IDX ``.gz`` files, as
  installed by Debian's ``dataset-fashion-mnist`` package.
- :func:`load_image_folder` -- image paths and labels from a
  ``root/<class>/<image>`` folder layout (the images are not opened).

:func:`make_image_folder` writes an image array into that folder layout, which is
handy to turn the arrays above into a folder for the command-line interface.

Modules
-------
:mod:`~skclip_noise.datasets.digits`
    :func:`load_digits_images` and :data:`DIGITS_CLASSES`.
:mod:`~skclip_noise.datasets.fashion_mnist`
    :func:`load_fashion_mnist` and its constants (IDX files are parsed by the
    private ``_idx`` module).
:mod:`~skclip_noise.datasets.image_folder`
    :func:`load_image_folder`, :func:`make_image_folder` and
    :data:`IMAGE_EXTENSIONS`.

Examples
--------
>>> from skclip_noise.datasets import DIGITS_CLASSES, load_digits_images
>>> X, y = load_digits_images()
>>> X.shape, DIGITS_CLASSES[y[0]]
((1797, 8, 8), '0')
"""

from ._idx import _read_idx  # noqa: F401  (kept importable here, as before the split)
from .digits import DIGITS_CLASSES, load_digits_images
from .fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DEFAULT_PATH,
    FASHION_MNIST_ENV_VAR,
    load_fashion_mnist,
)
from .image_folder import IMAGE_EXTENSIONS, load_image_folder, make_image_folder

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
