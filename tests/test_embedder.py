"""ImageEmbedder: every X form, the on-disk cache, scikit-learn behaviour."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import (
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

from skclip_noise import ImageEmbedder
from skclip_noise.backbones import offline_weights
from skclip_noise.datasets import load_image_folder

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")
HAS_MOBILENET = offline_weights.list_offline_weights()[0].installed


class GreyDataset(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return torch.from_numpy(self.images[i]).unsqueeze(0), -1  # uint8 (1, H, W)


def test_embeddings_are_unit_norm_and_sized(small_digits, rng_guard):
    X, _ = small_digits
    Z = ImageEmbedder(**TINY).fit_transform(X)
    assert Z.shape == (40, 48) and Z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1, rtol=1e-5)
    raw = ImageEmbedder(**TINY, normalize=False).fit_transform(X)
    np.testing.assert_allclose(Z, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_every_form_of_x_gives_the_same_embeddings(digits_folder, digits):
    paths, labels = load_image_folder(digits_folder)
    X_all, y_all = digits
    # The folder holds the first 30 digits sorted by class: rebuild that order.
    order = np.lexsort((np.arange(30), y_all[:30].astype(str)))
    X = X_all[:30][order]
    embedder = ImageEmbedder(**TINY).fit(X)
    reference = embedder.transform(X)
    for other in (list(paths), pd.Series(paths), np.repeat(X[..., None], 3, -1), X / 255.0, GreyDataset(X)):
        np.testing.assert_allclose(embedder.transform(other), reference, atol=1e-6)


def test_batching_does_not_change_the_result(small_digits):
    X, _ = small_digits
    a = ImageEmbedder(**TINY, batch_size=7).fit_transform(X)
    b = ImageEmbedder(**TINY, batch_size=64).fit_transform(X)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_cache_second_call_only_reads(small_digits, tmp_path, monkeypatch):
    X, _ = small_digits
    embedder = ImageEmbedder(**TINY, cache_dir=tmp_path).fit(X)
    first = embedder.transform(X)
    computed = []
    original = ImageEmbedder._embed

    def counting(self, backbone, dataset, **kwargs):
        computed.append(len(dataset))
        return original(self, backbone, dataset, **kwargs)

    monkeypatch.setattr(ImageEmbedder, "_embed", counting)
    second = clone(embedder).fit(X).transform(X)  # a clone (as in a grid search) reuses the store
    np.testing.assert_array_equal(first, second)
    assert computed == []

    inverted = 255 - X[:3]
    extra = np.concatenate([X[:5], inverted, inverted[:1], X[:3]])  # 3 new images, one twice
    third = embedder.transform(extra)
    assert computed == [3]  # only the new images, each once
    np.testing.assert_allclose(third[:5], first[:5], atol=1e-6)
    np.testing.assert_allclose(third[9:12], first[:3], atol=1e-6)
    np.testing.assert_array_equal(third[8], third[5])
    np.testing.assert_allclose(third[5:8], ImageEmbedder(**TINY).fit(inverted).transform(inverted), atol=1e-6)


def test_cache_is_keyed_by_content_and_backbone(small_digits, tmp_path):
    X, _ = small_digits
    tiny = ImageEmbedder(**TINY, cache_dir=tmp_path).fit(X)
    cnn = ImageEmbedder("open_clip:skclip-tiny-cnn", pretrained=None, device="cpu", cache_dir=tmp_path).fit(X)
    a, b = tiny.transform(X), cnn.transform(X)
    assert len(list(tmp_path.iterdir())) == 2  # one store per backbone
    np.testing.assert_allclose(tiny.transform(X), a, atol=1e-6)
    np.testing.assert_allclose(cnn.transform(X), b, atol=1e-6)
    flipped = X[:, :, ::-1]  # same "names" (positions), other content
    assert not np.allclose(tiny.transform(flipped), a)


def test_cache_with_paths_hashes_file_content(digits_folder, tmp_path):
    paths, _ = load_image_folder(digits_folder)
    embedder = ImageEmbedder(**TINY, cache_dir=tmp_path / "cache").fit()
    first = embedder.transform(paths)
    np.testing.assert_allclose(embedder.transform(paths), first, atol=1e-6)
    assert len(list((tmp_path / "cache").rglob("*.keys.npy"))) == 1


def test_set_output_pandas(small_digits):
    X, _ = small_digits
    frame = ImageEmbedder(**TINY).set_output(transform="pandas").fit_transform(X)
    assert isinstance(frame, pd.DataFrame)
    assert frame.shape == (40, 48)
    assert list(frame.columns[:2]) == ["imageembedder0", "imageembedder1"]


def test_pickle_round_trip(small_digits):
    X, _ = small_digits
    embedder = ImageEmbedder(**TINY).fit(X)
    restored = pickle.loads(pickle.dumps(embedder))
    np.testing.assert_array_equal(restored.transform(X), embedder.transform(X))


def test_fitted_on_a_gpu_transforms_on_this_machine(small_digits):
    X, _ = small_digits
    embedder = ImageEmbedder(**TINY).fit(X)
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    embedder.device_ = "cuda"  # as if unpickled from a GPU machine
    with pytest.warns(RuntimeWarning, match="using the CPU"):
        Z = embedder.transform(X)
    assert Z.shape == (40, 48)


def test_input_is_not_modified(small_digits):
    X, _ = small_digits
    before = X.copy()
    ImageEmbedder(**TINY).fit_transform(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize(
    "params, X, error, message",
    [
        ({}, np.zeros((4, 6)), ValueError, "precomputed features"),
        ({"batch_size": 0}, None, ValueError, "batch_size"),
        ({"num_workers": -1}, None, ValueError, "num_workers"),
        ({"backbone": "open_clip:skclip-tinyy"}, None, ValueError, "Did you mean"),
        ({"mixed_precision": "quarter"}, None, ValueError, "mixed_precision"),
        ({"image_size": 64}, None, ValueError, "native side is 32"),
    ],
)
def test_clear_errors(params, X, error, message):
    with pytest.raises(error, match=message):
        ImageEmbedder(**{**TINY, **params}).fit(X)


def test_transform_before_fit_raises(small_digits):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ImageEmbedder(**TINY).transform(small_digits[0])


def test_image_size_for_cnn_backbones(small_digits):
    X, _ = small_digits
    embedder = ImageEmbedder("timm:test_efficientnet", pretrained=None, device="cpu", image_size=48)
    assert embedder.fit_transform(X).shape[0] == 40


@pytest.mark.parametrize(
    "check",
    [
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
        check_estimator_cloneable,
        check_estimator_repr,
    ],
)
def test_scikit_learn_api_checks(check):
    # The rest of scikit-learn's suite feeds 2-D tabular arrays, which this
    # transformer rightly rejects (its tags say it takes images, not tables).
    check("ImageEmbedder", ImageEmbedder(**TINY))


@pytest.mark.skipif(not HAS_MOBILENET, reason="needs the offline-weights extra (MobileNetV2)")
def test_real_weights_separate_real_digits(digits):
    """Real ImageNet features of real digits feed a linear classifier far above chance."""
    X, y = digits
    X, y = X[:300], y[:300]
    pipeline = make_pipeline(
        ImageEmbedder("torchvision:mobilenet_v2", pretrained="offline", device="cpu", image_size=64),
        LogisticRegression(C=10, max_iter=3000),
    )
    scores = cross_val_score(pipeline, X, y, cv=3)
    assert scores.mean() > 0.8, scores
