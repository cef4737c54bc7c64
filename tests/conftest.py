import os

# Tests never download: hub look-ups must fail at once (and clearly) instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

import skclip_noise  # noqa: E402,F401  (installs the torchvision shim first)
from skclip_noise.datasets import load_digits_images


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
