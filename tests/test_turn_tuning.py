"""TurnClassifier's ``tuning``: how much of the image tower phase 2 trains.

"full" is TURN (the whole tower); "peft" trains visual prompts on a ViT tower and the
bias terms on others; "frozen" trains the probe on embeddings computed once in both
phases, and takes precomputed embeddings. Tiny random CLIPs on the CPU, random images.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.utils import get_tags

from conftest import TINY_CLIP, cat_dog_labels, random_images

import skclip_noise as skn
from skclip_noise.backbones.loading import load_backbone

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _turn(**params):
    settings = dict(TINY_CLIP, lp_epochs=2, ft_epochs=2, lp_batch_size=8, ft_batch_size=8, random_state=0)
    settings.update(params)
    return skn.TurnClassifier(**settings)


def _tower_state(spec):
    """The loaded tower's weights, by the names the fitted net gives them (``tower.*``)."""
    tower = load_backbone(spec, None, device="cpu").image_tower
    return {f"tower.{name}": value for name, value in tower.state_dict().items()}


def test_frozen_on_images_and_on_their_embeddings_is_the_same_model():
    """Both phases on ImageEmbedder's embeddings: fitted on the images or on those
    embeddings, the classifier is the same, and predicts either input alike."""
    images, y = random_images(16), cat_dog_labels(16)
    Z = skn.ImageEmbedder(TINY_CLIP["backbone"], None, device="cpu").fit_transform(images)
    on_images, on_features = _turn(tuning="frozen").fit(images, y), _turn(tuning="frozen").fit(Z, y)
    np.testing.assert_array_equal(on_images.predict_proba(images), on_features.predict_proba(Z))
    np.testing.assert_array_equal(on_images.clean_proba_, on_features.clean_proba_)
    np.testing.assert_array_equal(on_features.predict_proba(images), on_features.predict_proba(Z))
    assert [record["phase"] for record in on_features.history_] == ["lp", "lp", "ft", "ft"]


def test_frozen_runs_the_tower_once(embedding_passes):
    """Every selection and every epoch read the cached embeddings: one embedding pass."""
    _turn(tuning="frozen", ft_epochs=3).fit(random_images(16), cat_dog_labels(16))
    assert embedding_passes == [16]


def test_frozen_state_is_the_probe_alone():
    """With "frozen" the fitted state holds no tower weight, and pickles with the probe."""
    images, y = random_images(16), cat_dog_labels(16)
    clf = _turn(tuning="frozen").fit(images, y)
    assert sorted(clf.net_state_) == ["linear.bias", "linear.weight", "mean", "scale"]
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(images), clf.predict_proba(images))


def test_peft_on_a_vit_trains_prompts_and_head_not_tower_weights():
    """On a ViT tower, "peft" keeps every loaded tower weight and trains visual prompts."""
    clf = _turn(tuning="peft", n_vpt=2).fit(random_images(16), cat_dog_labels(16))
    loaded = _tower_state(TINY_CLIP["backbone"])
    trained_tower = [name for name in clf.net_state_ if name in loaded]
    assert not trained_tower, f"peft saved (so trained) tower weights: {trained_tower[:5]}"
    assert any("vpt" in name or "prompt" in name for name in clf.net_state_), sorted(clf.net_state_)[:10]


def test_peft_on_a_cnn_tower_trains_its_biases_only():
    """On a tower without visual prompts, "peft" is BitFit: the only tower entries of the
    fitted state are bias terms, and some of them moved."""
    spec = "open_clip:skclip-tiny-cnn"
    clf = _turn(tuning="peft", backbone=spec).fit(random_images(16), cat_dog_labels(16))
    loaded = _tower_state(spec)
    tower_entries = [name for name in clf.net_state_ if name in loaded]
    assert tower_entries and all(name.endswith("bias") or "running" in name or "num_batches" in name
                                 for name in tower_entries), tower_entries[:10]
    biases = [name for name in tower_entries if name.endswith("bias")]
    assert any(not torch.equal(clf.net_state_[name], loaded[name]) for name in biases)


def test_full_trains_tower_weights():
    """"full" (TURN, the default) saves trained tower weights."""
    clf = _turn(ft_lr=0.05).fit(random_images(16), cat_dog_labels(16))
    loaded = _tower_state(TINY_CLIP["backbone"])
    weights = [name for name in clf.net_state_ if name in loaded and name.endswith("weight")]
    assert any(not torch.equal(clf.net_state_[name], loaded[name]) for name in weights)


@pytest.mark.parametrize("fitted_with,changed_to", [("full", "frozen"), ("frozen", "peft")])
def test_set_params_tuning_after_fit_is_refused(fitted_with, changed_to):
    """``tuning`` builds the fitted model: changed after fit, prediction refuses by name."""
    images, y = random_images(16), cat_dog_labels(16)
    clf = _turn(tuning=fitted_with, ft_epochs=1).fit(images, y)
    clf.set_params(tuning=changed_to)
    with pytest.raises(ValueError, match=rf"fitted with tuning='{fitted_with}'.*Refit"):
        clf.predict_proba(images)


def test_features_need_frozen_and_the_tags_say_so():
    """Only "frozen" takes a 2-D array of embeddings; the input tags follow ``tuning``."""
    assert get_tags(_turn(tuning="frozen")).input_tags.two_d_array
    assert not get_tags(_turn()).input_tags.two_d_array
    with pytest.raises(ValueError, match="tuning='full' trains the image tower.*tuning='frozen'"):
        _turn().fit(np.zeros((16, 48)), cat_dog_labels(16))
