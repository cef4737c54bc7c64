"""Regression tests for bugs found by feeding the data-loading surface what users pass.

Each test fails on the code it was written against, for the reason its docstring gives.
They need neither the Debian Fashion-MNIST data nor the network.
"""

import os

import numpy as np
import pytest
from PIL import Image

from skclip_noise.datasets import load_image_folder, make_image_folder


def _png(path, size=(4, 4)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", size).save(path)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_load_image_folder_symlink_loop_does_not_duplicate_images(tmp_path):
    """A class folder holding a symlink to itself lists each image once.

    ``os.walk(followlinks=True)`` has no loop detection, so today the one image of
    class ``a`` is listed ~40 times (until the OS gives up with ELOOP), silently
    duplicating samples and skewing the class balance.
    """
    _png(str(tmp_path / "a" / "1.png"))
    _png(str(tmp_path / "b" / "2.png"))
    try:
        os.symlink(tmp_path / "a", tmp_path / "a" / "self")
    except OSError:
        pytest.skip("cannot create symbolic links here")
    X, y = load_image_folder(tmp_path)
    assert y.tolist() == ["a", "b"], f"{len(X)} paths listed for 2 image files"


def test_make_image_folder_images_of_different_sizes_clear_error(tmp_path):
    """A list of images of different sizes is refused with a clear message, before work.

    Today ``np.asarray`` raises numpy's own "setting an array element with a sequence ...
    inhomogeneous shape" error (``check_image_input`` explains the same input well).
    """
    X = [np.zeros((4, 4), np.uint8), np.zeros((5, 5), np.uint8)]
    with pytest.raises(ValueError) as info:
        make_image_folder(X, ["a", "b"], tmp_path / "out")
    message = str(info.value)
    assert "inhomogeneous" not in message and "setting an array element" not in message
    assert not (tmp_path / "out").exists()


def test_make_image_folder_no_images_does_not_return_missing_folder(tmp_path):
    """Zero images: make_image_folder must raise, or create the folder it returns.

    Today it silently writes nothing and returns a path that does not exist, so the
    next ``load_image_folder(root)`` fails with "does not exist".
    """
    root = tmp_path / "out"
    try:
        result = make_image_folder(np.zeros((0, 4, 4), np.uint8), [], root)
    except ValueError:
        return
    assert os.path.isdir(result), "make_image_folder returned a folder it never created"


def test_make_image_folder_float_binary_images_not_written_black(tmp_path):
    """A float image holding only 0.0 and 1.0 is not silently written as near-black.

    The library reads float images as [0, 1] (``check_image_input``), and
    make_image_folder refuses other floats in [0, 1] with advice; but an all-0/1 float
    array passes its "integers in 0..255" check and 1.0 is written as grey level 1.
    It should either be refused as ambiguous or written as 255.
    """
    X = np.zeros((2, 4, 4))
    X[:, :2] = 1.0
    try:
        root = make_image_folder(X, ["a", "b"], tmp_path / "out")
    except ValueError:
        return
    paths, _ = load_image_folder(root)
    assert np.asarray(Image.open(paths[0])).max() == 255
