"""User-like and wrong inputs to the torch estimators that train on images.

DeftClassifier, TurnClassifier's neighbours (AVLPrompter, DualPromptDetector) and the
loss detectors (GMMLossDetector, SmallLossDetector) with a tower that trains
(``tuning="peft"`` or ``"full"``), fed odd labels, odd class names, a checkpoint of
another fit, a single image, validation data of the wrong kind, a last training batch
of one image, and a refit with other settings. Each test pins one bug: the comment
above it says what goes wrong today and what the right behaviour is. Tiny offline
backbones (``open_clip:skclip-tiny`` and ``-tiny-cnn`` with random weights), a few
32x32 images and one epoch, so the whole file runs in seconds.
"""

import os
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from conftest import TINY_CLIP, cat_dog_labels, passthrough_deft, random_images
from skclip_noise import (
    AVLPrompter,
    DualPromptDetector,
    GMMLossDetector,
    SmallLossDetector,
)


def _dual_prompt(**params):
    return DualPromptDetector("open_clip:skclip-tiny", **{
        "pretrained": None, "n_ctx": 4, "n_vpt": 2, "epochs": 2, "batch_size": 8, "device": "cpu",
        "random_state": 0, **params})


def _avl(**params):
    return AVLPrompter("open_clip:skclip-tiny", **{
        "pretrained": None, "prompt_depth": 2, "epochs": 1, "batch_size": 8, "device": "cpu",
        "random_state": 0, **params})


# Today: the checkpoint fingerprint hashes the label *codes* but not the class names, so a
# DualPromptDetector fitted on string labels "car"/"plane" silently resumes the finished
# checkpoint of an earlier fit on "cat"/"dog" (same codes): its context vectors were learnt
# with the other class names in the prompts, and clean_proba_ differs from a fresh fit on
# the same data by up to ~0.45, with no warning. Right: class names that enter the text
# prompts are part of what a checkpoint is bound to; a checkpoint written for other class
# names is not resumed (the fit trains from scratch, as for other data), so the result
# equals a fit without checkpoint.
def test_checkpoint_written_for_other_class_names_is_not_resumed(tmp_path):
    X, y = random_images(), cat_dog_labels()
    renamed = np.where(y == "cat", "car", "plane")  # the same codes, other class names
    path = tmp_path / "prompts.pt"
    _dual_prompt(checkpoint_path=str(path)).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = _dual_prompt(checkpoint_path=str(path)).fit(X, renamed)
    fresh = _dual_prompt().fit(X, renamed)
    np.testing.assert_allclose(resumed.clean_proba_, fresh.clean_proba_, atol=1e-6)
    # as for a checkpoint of other data, the user is told it was not resumed
    assert any("not resumed" in str(w.message) for w in caught)


# Today: class_names with the same name twice is accepted; the two classes get identical
# text prompts, so they cannot be told apart: predict_proba is exactly 0.5 / 0.5 for every
# image and the verdicts are meaningless, silently. Right: a ValueError naming the repeated
# class name, before any training (as for class_names of the wrong length).
@pytest.mark.parametrize("make", [_dual_prompt, _avl], ids=["dual_prompt", "avl"])
def test_duplicate_class_names_are_refused(make):
    X, y = random_images(), np.array([0, 1] * 8)
    with pytest.raises(ValueError, match="class_names"):
        make(class_names=["thing", "thing"]).fit(X, y)


# Today: byte-string labels (as h5py and some label files give them: np.array([b"cat", ...]))
# are accepted as labels, but their class names, which go into the text prompts, are
# str(b"cat") == "b'cat'": the prompts read "... b'cat'." and class_names_ shows
# ["b'cat'", "b'dog'"]. Right: byte labels are decoded for their names (["cat", "dog"]), or
# refused with a clear error asking for str labels.
def test_byte_string_labels_give_readable_class_names():
    X, y = random_images(), cat_dog_labels().astype("S")
    try:
        detector = _dual_prompt(epochs=1).fit(X, y)
    except (TypeError, ValueError) as error:  # a clear refusal is right too
        assert "label" in str(error) or "bytes" in str(error)
        return
    assert detector.class_names_ == ["cat", "dog"]


# Today: a loss detector first fitted with tuning="frozen" (on features) and then refitted
# with tuning="peft" on images keeps the first fit's embeddings_ (20 rows of the old
# features, for 16 training images now): the refit does not replace all fitted state.
# Right: fit ignores any previous fit; embeddings_ exists only after a frozen fit (as the
# docstring says), exactly as on a fresh estimator fitted with tuning="peft".
@pytest.mark.parametrize("cls", [GMMLossDetector, SmallLossDetector], ids=["gmm_loss", "small_loss"])
def test_refit_with_trainable_tower_forgets_the_frozen_fits_embeddings(cls):
    features = np.random.default_rng(0).normal(size=(20, 4))
    detector = cls(epochs=1, batch_size=8, **TINY_CLIP).fit(features, np.array([0, 1] * 10))
    assert detector.embeddings_.shape == (20, 4)
    detector.set_params(tuning="peft").fit(random_images(), cat_dog_labels())
    assert not hasattr(detector, "embeddings_")


# Today: with a CNN image tower at a small input side (CIFAR-like 32x32, image_size=32) its
# last feature map is 1x1, and when the training set leaves a last batch of one image
# (17 images, batch_size=8; for DEFT, whatever size the clean subset happens to have)
# BatchNorm in training mode fails deep inside torch: "ValueError: Expected more than 1
# value per channel when training". Right: training copes with a last batch of one sample
# (e.g. drops or merges it) and the fit succeeds.
@pytest.mark.parametrize("make", [
    pytest.param(lambda: passthrough_deft(backbone="open_clip:skclip-tiny-cnn", image_size=32), id="deft_full"),
    pytest.param(lambda: GMMLossDetector(tuning="full", epochs=1, batch_size=8, image_size=32,
                                         **{**TINY_CLIP, "backbone": "open_clip:skclip-tiny-cnn"}), id="gmm_loss_full"),
])
def test_last_training_batch_of_one_image_does_not_crash(make):
    X, y = random_images(17), cat_dog_labels(17)
    estimator = make().fit(X, y)
    assert estimator.clean_mask_.shape == (17,)


# Today: a checkpoint written with num_workers=0 is resumed by a fit with num_workers=1,
# though the random training views are drawn in the loader's workers (another
# num_workers trains another model for the same random_state, ~5e-3 in predict_proba
# after one epoch): the checkpoint fingerprint ignored num_workers as a parameter that
# "never changes what a fit computes". Right: num_workers is part of what a checkpoint is
# bound to; with another value it is not resumed, with a warning.
def test_checkpoint_is_not_resumed_with_another_num_workers(tmp_path):
    X, y = random_images(), cat_dog_labels()
    path = str(tmp_path / "deft.pt")
    passthrough_deft(num_workers=0, checkpoint_path=path).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        passthrough_deft(num_workers=1, checkpoint_path=path).fit(X, y)
    assert any("not resumed" in str(w.message) for w in caught)


# Today: validation_data=(X_val, y_val) with float images in [0, 255] is refused with
# "Float image arrays must hold values in [0, 1]; X holds [0, 255] ...": it names X, which
# is fine (uint8), not X_val, while errors about y_val do say y_val. Right: the error names
# the validation images (X_val / validation_data), so the user fixes the right array.
def test_validation_image_errors_name_the_validation_images():
    X, y = random_images(), cat_dog_labels()
    X_val = random_images(4, seed=1).astype(np.float64)  # [0, 255] floats: a wrong input
    with pytest.raises(ValueError, match="X_val|validation"):
        passthrough_deft().fit(X, y, validation_data=(X_val, y[:4]))


# Today: DualPromptDetector(tuning="frozen") fitted on images accepts a feature array later
# (X may be embeddings from the same CLIP), but one of another width fails deep inside
# torch: "RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x10 and 48x2)".
# Right: a ValueError naming both widths (the CLIP's embeddings are 48 wide), as
# GMMLossDetector gives in the same situation.
@pytest.mark.parametrize("method", ["predict_proba", "clean_proba"])
def test_dual_prompt_frozen_refuses_features_of_another_width_after_an_image_fit(method):
    X, y = random_images(), cat_dog_labels()
    detector = _dual_prompt(tuning="frozen", epochs=1).fit(X, y)
    features = np.random.default_rng(0).normal(size=(4, 10))
    args = (features,) if method == "predict_proba" else (features, y[:4])
    with pytest.raises(ValueError, match="10"):
        getattr(detector, method)(*args)


# Today: predict on one RGB image of shape (32, 32, 3) (a forgotten batch axis) is read as
# a batch of 32 grey images 32 pixels high and 3 wide, and returns 32 predictions, silently.
# Right: an array whose last axis is 3 (or 4) is an RGB(A) image, not a batch of 3-pixel
# wide grey images: a ValueError saying to pass X[None] (a batch of one), as scikit-learn
# refuses a 1-D sample with "Reshape your data".
def test_single_rgb_image_is_not_read_as_a_batch_of_grey_images():
    X, y = random_images(), cat_dog_labels()
    classifier = passthrough_deft().fit(X, y)
    with pytest.raises(ValueError):
        classifier.predict(X[0])


@pytest.mark.parametrize("n", [9, 17, 25])
def test_a_lone_last_batch_joins_the_one_before_and_every_sample_is_drawn_once(n):
    import torch

    from skclip_noise.training.loop import make_loader

    loader = make_loader(torch.utils.data.TensorDataset(torch.arange(n)), batch_size=8, shuffle=True)
    batches = [batch[0].tolist() for batch in loader]
    assert min(len(batch) for batch in batches) > 1 and len(loader) == len(batches)
    assert sorted(sum(batches, [])) == list(range(n))


# Before: scikit-learn's Interval(Integral) takes a bool for an int, so epochs=True trained
# one epoch and batch_size=True failed inside torch's DataLoader after the backbone had
# loaded. Right: a count parameter refuses True and False before any work.
@pytest.mark.parametrize("params", [{"epochs": True}, {"batch_size": True}, {"num_workers": False}],
                         ids=["epochs", "batch_size", "num_workers"])
def test_count_parameters_refuse_booleans(params):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="Got (True|False) instead"):
        passthrough_deft(**params).fit(random_images(), cat_dog_labels())
