"""ImageEmbedder: regression tests from a bug hunt on inputs and the embedding cache."""

import os

import numpy as np
import torch

from skclip_noise import ImageEmbedder
from skclip_noise.backbones import load_backbone
from skclip_noise.backbones.loading import clear_backbone_cache

TINY_SPEC = dict(backbone="open_clip:skclip-tiny", device="cpu")


def _rewrite_same_size_same_mtime(checkpoint, state_dict):
    """Overwrite ``checkpoint`` with other weights of the same byte size, then put its
    modification time back (as ``cp -p``, ``rsync -t`` or a tar extraction can)."""
    before = os.stat(checkpoint)
    for value in state_dict.values():
        if value.is_floating_point():
            value.mul_(1.5)
    torch.save(state_dict, checkpoint)
    os.utime(checkpoint, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(checkpoint).st_size == before.st_size


def test_cache_does_not_serve_embeddings_of_other_checkpoint_weights(tmp_path):
    """The cache key names a ``pretrained=`` checkpoint by (path, size, mtime), not by
    its content: a checkpoint overwritten by other weights of the same size with its
    mtime restored gets the old checkpoint's embeddings from ``cache_dir`` (a cache hit
    for other inputs). Image files are keyed by their bytes; weights should be too."""
    X = np.random.default_rng(0).integers(0, 256, (4, 8, 8), dtype=np.uint8)
    state = {k: v.clone() for k, v in load_backbone("open_clip:skclip-tiny", None).model.state_dict().items()}
    checkpoint = tmp_path / "weights.pt"
    torch.save(state, checkpoint)
    cache = tmp_path / "cache"
    old = ImageEmbedder(**TINY_SPEC, pretrained=str(checkpoint), cache_dir=cache).fit().transform(X)

    _rewrite_same_size_same_mtime(checkpoint, state)
    clear_backbone_cache()  # a new process: only the disk cache remembers the old weights
    try:
        expected = ImageEmbedder(**TINY_SPEC, pretrained=str(checkpoint)).fit().transform(X)
        assert np.abs(expected - old).max() > 1e-3  # the weights really differ
        clear_backbone_cache()
        got = ImageEmbedder(**TINY_SPEC, pretrained=str(checkpoint), cache_dir=cache).fit().transform(X)
    finally:
        clear_backbone_cache()
    np.testing.assert_allclose(got, expected, atol=1e-5)
