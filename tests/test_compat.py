"""The torchvision shim: the stack imports after ``import skclip_noise``."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import skclip_noise
from skclip_noise import _compat


def test_open_clip_timm_and_torchvision_transforms_work():
    import open_clip
    import timm
    import torchvision
    from torchvision.transforms import v2

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    assert v2.RandAugment(num_ops=2, magnitude=10)(image).size == (32, 32)
    assert torchvision.transforms.RandAugment(num_ops=2, magnitude=10)(image).size == (32, 32)
    assert "skclip-tiny" in skclip_noise.backbones.open_clip_models.list_models()
    assert timm.create_model("test_vit", pretrained=False) is not None
    assert open_clip.get_tokenizer("ViT-B-32") is not None


def test_shim_registers_only_when_the_compiled_ops_cannot_load():
    import torch

    try:
        torch.ops.load_library(_compat._torchvision_extension_path())
        compiled_ops_load = True
    except OSError:
        compiled_ops_load = False
    assert _compat.TORCHVISION_OPS_SHIMMED is (not compiled_ops_load)
    assert (_compat._SHIM_LIBRARY is None) is compiled_ops_load


def test_shim_is_idempotent():
    before = _compat._SHIM_LIBRARY
    assert _compat.ensure_torchvision_importable() is _compat.TORCHVISION_OPS_SHIMMED
    assert _compat._SHIM_LIBRARY is before


@pytest.mark.parametrize("module", ["open_clip", "timm", "torchvision.transforms.v2"])
def test_fresh_interpreter_imports_after_package(module):
    code = f"import skclip_noise, {module}; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_nothing_is_registered_when_the_compiled_ops_load():
    # Simulate a machine whose torchvision matches its torch: loading _C succeeds.
    code = (
        "import torch\n"
        "loaded = []\n"
        "torch.ops.load_library = lambda path: loaded.append(path)\n"
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('compat_alone', {_compat.__file__!r})\n"
        "_compat = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(_compat)  # the module alone, not the package (which imports torchvision)\n"
        "assert loaded and loaded[0].endswith(('.so', '.pyd')), loaded\n"
        "assert _compat.TORCHVISION_OPS_SHIMMED is False\n"
        "assert _compat._SHIM_LIBRARY is None\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
