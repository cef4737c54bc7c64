"""DeftClassifier(tuning="frozen"): a linear head on embeddings computed once.

The glossary's ``tuning="frozen"``: the tower is frozen, its features are computed once
(through the ImageEmbedder cache) and only a head trains; X may then be precomputed
embeddings. Tiny random CLIP on the CPU, random images.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils import get_tags

from conftest import TINY_CLIP, cat_dog_labels, random_images

import skclip_noise as skn

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _frozen(detector="passthrough", **params):
    settings = dict(TINY_CLIP, tuning="frozen", epochs=3, batch_size=8, random_state=0)
    settings.update(params)
    return skn.DeftClassifier(detector, **settings)


def _embeddings(images):
    return skn.ImageEmbedder(TINY_CLIP["backbone"], None, device="cpu").fit_transform(images)


def test_images_and_their_embeddings_give_the_same_classifier():
    """Fitted on images or on the backbone's embeddings of them, the head is the same, and
    each fitted classifier predicts images and embeddings alike."""
    images, y = random_images(16), cat_dog_labels(16)
    Z = _embeddings(images)
    on_images, on_features = _frozen().fit(images, y), _frozen().fit(Z, y)
    np.testing.assert_array_equal(on_images.predict_proba(images), on_features.predict_proba(Z))
    np.testing.assert_array_equal(on_images.predict_proba(Z), on_images.predict_proba(images))
    np.testing.assert_array_equal(on_features.predict_proba(images), on_features.predict_proba(Z))


def test_the_tower_runs_once_per_fit_not_once_per_epoch(embedding_passes):
    """The images go through the tower in one embedding pass, whatever ``epochs``."""
    _frozen(epochs=4).fit(random_images(16), cat_dog_labels(16))
    assert embedding_passes == [16]


def test_the_cache_serves_both_phases(tmp_path):
    """A detector on the same backbone's frozen embeddings takes the classifier's
    ``cache_dir`` when its own is None, so the head's pass reads what the detector wrote."""
    detector = skn.GMMLossDetector(epochs=1, batch_size=8, **TINY_CLIP)
    clf = _frozen(detector, cache_dir=tmp_path).fit(random_images(16), cat_dog_labels(16))
    assert clf.detector_.cache_dir == tmp_path
    assert detector.cache_dir is None  # the caller's detector is not modified
    assert any(tmp_path.iterdir())


def test_features_with_a_detector_that_needs_images_are_refused_before_work():
    """Embeddings with the default detector (DualPromptDetector with ``tuning="peft"``)
    raise a ValueError naming the detector and what to pass, before anything trains."""
    Z = _embeddings(random_images(16))
    with pytest.raises(ValueError, match=r"DualPromptDetector \(tuning='peft'\) needs images.*passthrough"):
        skn.DeftClassifier(**TINY_CLIP, tuning="frozen").fit(Z, cat_dog_labels(16))


def test_features_with_a_frozen_detector():
    """Both phases on embeddings: DualPromptDetector(tuning="frozen") judges them and the
    head trains on the pairs it keeps."""
    Z, y = _embeddings(random_images(16)), cat_dog_labels(16)
    # threshold 0: random images carry no evidence, and whether the prompts' verdicts keep
    # any pair there turns on the training's random draws; what is checked is the route
    detector = skn.DualPromptDetector(**TINY_CLIP, epochs=1, batch_size=8, n_ctx=2, tuning="frozen", threshold=0.0)
    clf = _frozen(detector).fit(Z, y)
    assert clf.predict(Z).shape == (16,)
    assert clf.clean_mask_.sum() == clf.detector_.clean_mask_.sum()


def test_embeddings_of_another_width_are_refused_at_predict():
    """After a fit on images, a feature array that is not the backbone's width is refused
    with the width it should have."""
    clf = _frozen().fit(random_images(16), cat_dog_labels(16))
    with pytest.raises(ValueError, match="48-wide"):
        clf.predict(np.zeros((4, 10)))


def test_validation_data_picks_the_best_epoch():
    """``validation_data`` scores every epoch's head on the validation embeddings."""
    images, y = random_images(16), cat_dog_labels(16)
    clf = _frozen(epochs=3).fit(images, y, validation_data=(images[:8], y[:8]))
    assert [set(record) >= {"val_accuracy"} for record in clf.history_] == [True] * 3
    assert 1 <= clf.best_epoch_ <= 3


def test_input_tags_follow_tuning():
    """Only ``tuning="frozen"`` announces 2-D tables (scikit-learn's input tags)."""
    assert get_tags(_frozen()).input_tags.two_d_array
    assert not get_tags(_frozen(tuning="full")).input_tags.two_d_array
