"""The training machinery the torch estimators share, driven the way users drive it.

``validation_data`` and best-epoch keeping, checkpoints (resume, a checkpoint of another
fit, a checkpoint_path that cannot be written), and the loop's divergence guard, exercised
through DeftClassifier, AVLPrompter and the loss detectors on the offline tiny backbones
(``open_clip:skclip-tiny`` with random weights, 32x32 images, one to three epochs). Each
test pins one bug: its docstring says what a user sees today and what they should see.
"""

import os
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from conftest import TINY_CLIP, cat_dog_labels, passthrough_deft, random_images
from skclip_noise import AVLPrompter, DeftClassifier, GMMLossDetector
from skclip_noise.training import loop


def _avl(**params):
    return AVLPrompter("open_clip:skclip-tiny", **{
        "pretrained": None, "prompt_depth": 2, "epochs": 3, "batch_size": 8, "device": "cpu",
        "random_state": 0, **params})


# ------------------------------------------------------------ checkpoints and validation


@pytest.mark.parametrize("make", [lambda **p: passthrough_deft(epochs=3, **p), _avl], ids=["deft", "avl"])
def test_checkpoint_written_with_validation_data_is_not_resumed_without_it(tmp_path, make):
    """A fit *without* ``validation_data`` silently resumes the finished checkpoint of a fit
    *with* it.

    Today: the checkpoint's fingerprint is compared only on the keys the new fit has, so the
    stored "validation data" entry is never looked at; the resumed fit restores the saved
    best-epoch weights (here epoch 1 of 3: random weights score the same on every epoch and
    the first one is kept), reports ``best_epoch_ == 1`` and a history with ``val_accuracy``,
    and predicts differently from the same fit without a checkpoint (which keeps the last
    epoch), with no warning. Right: a checkpoint written for other validation data (or for
    validation data at all) is not resumed, as for other training data: the fit trains from
    scratch, says so in a warning, and equals a fit without checkpoint.
    """
    X, y = random_images(), cat_dog_labels()
    X_val, y_val = random_images(8, seed=1), cat_dog_labels(8)
    path = tmp_path / "run.pt"
    make(checkpoint_path=str(path)).fit(X, y, validation_data=(X_val, y_val))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = make(checkpoint_path=str(path)).fit(X, y)
    fresh = make().fit(X, y)
    assert resumed.best_epoch_ == fresh.best_epoch_ == 3
    assert all("val_accuracy" not in record for record in resumed.history_)
    np.testing.assert_allclose(resumed.predict_proba(X), fresh.predict_proba(X), atol=1e-6)
    assert any("not resumed" in str(w.message) for w in caught)


class _EpochCounter:
    """Counts the training epochs that start (monkeypatched over Trainer._run_epoch)."""

    def __init__(self, monkeypatch):
        self.epochs = 0
        original = loop.Trainer._run_epoch

        def run_epoch(trainer, *args, **kwargs):
            self.epochs += 1
            return original(trainer, *args, **kwargs)

        monkeypatch.setattr(loop.Trainer, "_run_epoch", run_epoch)


@pytest.mark.parametrize("make", [
    lambda path: GMMLossDetector(**TINY_CLIP, tuning="peft", epochs=2, batch_size=8, checkpoint_path=path),
    lambda path: passthrough_deft(epochs=2, checkpoint_path=path),
], ids=["gmm-peft", "deft"])
def test_checkpoint_path_that_cannot_be_written_fails_before_training(tmp_path, monkeypatch, make):
    """``checkpoint_path`` in a folder that cannot be created (here: below a regular file; a
    read-only folder or ``/proc`` behaves alike) is found out only after the first epoch has
    trained.

    Today: the first epoch trains, then saving the checkpoint raises a bare
    ``FileExistsError: [Errno 17] File exists: '.../notes.txt'`` from ``os.makedirs``
    (``PermissionError`` / ``FileNotFoundError`` from ``tempfile.mkstemp`` for a read-only
    folder), which names neither ``checkpoint_path`` nor a fix; on a real run that is an
    epoch (and in DeftClassifier the whole detector phase) thrown away. Right: a clear
    error naming ``checkpoint_path`` and the folder, raised before any epoch trains.
    """
    X, y = random_images(), cat_dog_labels()
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder")
    counter = _EpochCounter(monkeypatch)
    with pytest.raises((ValueError, OSError)) as raised:
        make(str(blocker / "run.pt")).fit(X, y)
    assert counter.epochs == 0, "an epoch trained before the unwritable checkpoint_path was reported"
    # the message names the parameter (not merely a path that happens to contain the word)
    assert "checkpoint_path" in str(raised.value).replace(str(tmp_path), "<tmp>")


# ------------------------------------------------------------------ divergence guard


def test_divergence_in_the_last_step_is_not_a_silent_nan_model():
    """Training that diverges in its very last optimisation step returns a fitted model
    whose every prediction is NaN.

    Today: the loop's guard looks only at each step's loss (computed *before* the step), so
    a step that turns the weights into NaN is caught only if another step follows; with
    ``epochs=1`` and an absurd ``lr=1e6`` (the second and last step diverges) ``fit``
    succeeds without a word and ``predict_proba`` is all NaN (``predict`` then answers
    the first class for everything). With one step more the same setting raises the
    loop's ``FloatingPointError`` ("Training diverged: lower the learning rate"). Right:
    the same ``FloatingPointError`` (or at least finite probabilities), never a fitted
    model of NaN weights.
    """
    X, y = random_images(), cat_dog_labels()
    clf = passthrough_deft(epochs=1, lr=1e6)
    try:
        clf.fit(X, y)
    except FloatingPointError:
        return
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all(), f"fit succeeded but predict_proba is {proba[:2]}"


def _deft_with_detector(path):
    """DEFT with a loss detector: the detector phase trains first, with its checkpoint
    next to the classifier's (``<stem>.detector<suffix>``)."""
    detector = GMMLossDetector(**TINY_CLIP, tuning="peft", epochs=1, batch_size=8)
    return DeftClassifier(detector, **{**TINY_CLIP, "epochs": 1, "batch_size": 8, "checkpoint_path": path})


@pytest.mark.parametrize("kind", ["existing folder", "slash", "slash, no detector"])
def test_checkpoint_path_naming_a_folder_fails_before_training(tmp_path, monkeypatch, kind):
    """``checkpoint_path`` naming a folder (``"runs"`` that exists, or ``"runs/"``) instead of
    a file in it.

    Today, existing folder: the detector phase trains (its checkpoint becomes the file
    ``runs.detector`` beside the folder), then phase 2 fails with "Cannot read the training
    checkpoint '.../runs' (IsADirectoryError ...); it is truncated or not a checkpoint
    written by skclip_noise. Delete it": a wrong diagnosis and the advice to delete the
    user's folder. ``"runs/"``: the detector trains and writes the hidden file
    ``runs/.detector``, then the same message. ``"runs/"`` without a detector: an epoch
    trains, then a bare ``NotADirectoryError`` from ``os.replace``, and a stray
    ``tmpXXXX.tmp`` file is left in the parent folder. Right: before anything trains, a
    clear error that ``checkpoint_path`` names a folder and must name a file (e.g.
    ``runs/deft.pt``); never advice to delete it; no stray temporary files.
    """
    X, y = random_images(), cat_dog_labels()
    folder = tmp_path / "runs"
    if kind == "existing folder":
        folder.mkdir()
        path = str(folder)
    else:
        path = str(folder) + os.sep
    make = _deft_with_detector if kind != "slash, no detector" else (lambda p: passthrough_deft(checkpoint_path=p))
    counter = _EpochCounter(monkeypatch)
    with pytest.raises((ValueError, OSError)) as raised:
        make(path).fit(X, y)
    message = str(raised.value).replace(str(tmp_path), "<tmp>")
    assert counter.epochs == 0, f"{counter.epochs} epoch(s) trained before: {message}"
    assert "checkpoint_path" in message and ("folder" in message or "directory" in message), message
    assert "delete" not in message.lower(), message
    assert not list(tmp_path.rglob("*.tmp")), "a temporary checkpoint file was left behind"


def test_validation_labels_of_another_length_name_x_val():
    """``validation_data=(X_val, y_val)`` with one label fewer than ``X_val`` has images.

    Today: "X and y_val have different lengths: 8 samples but 7 labels." -- it names X,
    which has 16 samples and is fine, so the user looks at the wrong array. Right: the
    message names ``X_val`` (as the other validation_data errors do: "validation_data:
    X_val ...").
    """
    X, y = random_images(), cat_dog_labels()
    with pytest.raises(ValueError, match="different lengths") as raised:
        passthrough_deft().fit(X, y, validation_data=(X[:8], y[:7]))
    assert "X_val" in str(raised.value), str(raised.value)


def test_end_of_fit_check_reads_only_images_the_model_trained_on(tmp_path):
    """Review of the end-of-fit finite check: it predicted the first 8 files, one of which the
    detector (skip_unreadable=True) had skipped as unreadable, and the fit that used to work failed."""
    from PIL import Image

    from skclip_noise import NeighbourDetector

    images = random_images(24)
    paths = []
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    (tmp_path / "2.png").write_bytes(b"not an image")
    detector = NeighbourDetector(n_neighbors=3, skip_unreadable=True, backbone=TINY_CLIP["backbone"], pretrained=None,
                                 device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = DeftClassifier(detector, tuning="frozen", epochs=1, batch_size=8, **TINY_CLIP).fit(paths, cat_dog_labels(24))
    assert not clf.clean_mask_[2] and clf.predict(paths[3:5]).shape == (2,)
