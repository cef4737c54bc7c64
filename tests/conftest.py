import os

# Tests never download: hub look-ups must fail at once (and clearly) instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import shutil

import numpy as np
import pytest

import skclip_noise  # noqa: E402,F401  (installs the torchvision shim first)
from skclip_noise.datasets import FASHION_MNIST_DEFAULT_PATH, FASHION_MNIST_ENV_VAR, load_digits_images

# ----------------------------------------------------------------- optional data and tools
# Debian's Fashion-MNIST and Chromium are optional: tests that need them are marked
# ``optional_data`` and skip, saying why, where they are absent. CI runs the suite once with
# both hidden (SKCLIP_NOISE_FASHION_MNIST=<empty folder>, SKCLIP_NOISE_CHROMIUM=""), as on a
# bare machine, and the ``optional_data`` tests once more with them present.

FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
#: Where ``load_fashion_mnist()`` looks when no path is given.
FASHION_MNIST_FOLDER = os.environ.get(FASHION_MNIST_ENV_VAR) or FASHION_MNIST_DEFAULT_PATH
HAVE_FASHION_MNIST = all(
    os.path.isfile(os.path.join(FASHION_MNIST_FOLDER, name)) for name in FASHION_MNIST_FILES
)
FASHION_MNIST_MISSING = (
    f"Fashion-MNIST IDX files absent from {FASHION_MNIST_FOLDER} "
    f"(apt-get install dataset-fashion-mnist, or set {FASHION_MNIST_ENV_VAR} to a folder of them)"
)

#: Debian's Chromium: ``SKCLIP_NOISE_CHROMIUM`` names another binary, or hides it when empty.
CHROMIUM = os.environ.get("SKCLIP_NOISE_CHROMIUM", shutil.which("chromium") or "") or None
CHROMIUM_MISSING = "Debian's chromium is not available (apt-get install chromium; SKCLIP_NOISE_CHROMIUM names another binary)"


#: chromium-driver, which Selenium drives Chromium with: ``SKCLIP_NOISE_CHROMEDRIVER`` names
#: another binary, or hides it when empty.
CHROMEDRIVER = os.environ.get("SKCLIP_NOISE_CHROMEDRIVER", shutil.which("chromedriver") or "") or None


def _selenium_missing():
    reasons = []
    if CHROMIUM is None:
        reasons.append(CHROMIUM_MISSING)
    if CHROMEDRIVER is None:
        reasons.append("Debian's chromium-driver is not available (apt-get install chromium-driver; "
                       "SKCLIP_NOISE_CHROMEDRIVER names another binary)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        reasons.append("selenium is not installed (pip install -e '.[test]')")
    return "; ".join(reasons) or None


SELENIUM_MISSING = _selenium_missing()


def fashion_mnist_marks():
    """The marks of a test that needs the real Fashion-MNIST files."""
    return [pytest.mark.optional_data, pytest.mark.skipif(not HAVE_FASHION_MNIST, reason=FASHION_MNIST_MISSING)]


def chromium_marks():
    """The marks of a test that needs Debian's Chromium."""
    return [pytest.mark.optional_data, pytest.mark.skipif(CHROMIUM is None, reason=CHROMIUM_MISSING)]


def _apply(marks):
    def decorate(test):
        for mark in marks:
            test = mark(test)
        return test

    return decorate


needs_fashion_mnist = _apply(fashion_mnist_marks())
needs_chromium = _apply(chromium_marks())
needs_selenium = _apply([pytest.mark.optional_data,
                         pytest.mark.skipif(SELENIUM_MISSING is not None, reason=SELENIUM_MISSING or "")])


@pytest.fixture(scope="session")
def digits():
    """Real 8x8 digit images (uint8) and their labels."""
    return load_digits_images()


@pytest.fixture
def small_digits(digits):
    X, y = digits
    return X[:40].copy(), y[:40].copy()


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory, digits):
    """A class-subfolder image folder written from 30 digits (PNG files)."""
    from skclip_noise.datasets import make_image_folder

    X, y = digits
    root = tmp_path_factory.mktemp("digits_folder") / "images"
    return make_image_folder(X[:30], y[:30], root)


@pytest.fixture
def rng_guard():
    """Fails the test if the code under test touched numpy's or torch's global RNG."""
    import torch

    numpy_state = np.random.get_state()[1].copy()
    torch_state = torch.get_rng_state().clone()
    yield
    assert np.array_equal(np.random.get_state()[1], numpy_state), "a test touched numpy's global RNG"
    assert torch.equal(torch.get_rng_state(), torch_state), "a test touched torch's global RNG"
