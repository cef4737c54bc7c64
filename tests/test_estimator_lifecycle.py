"""The life of one estimator object: refits on other data, set_params, clone, pickling,
and fits that fail half-way. Each test here is a defect found while auditing that area;
every one compares what a user gets with what the contract (``docs``/``DESIGN.md``,
scikit-learn's conventions, the docstrings) promises."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import warnings

import numpy as np
import pytest
from conftest import TINY_CLIP, image_files, random_images
from sklearn.exceptions import NotFittedError

from skclip_noise import ImageEmbedder

TINY_EMBEDDER = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")


# --------------------------------------------------------------------------- ImageEmbedder


def test_embedder_refit_forgets_unreadable_files_of_an_earlier_transform(tmp_path, one_torch_thread):
    """``fit ignores any previous fit`` (DESIGN.md, the estimator rules).

    Now: an ImageEmbedder(skip_unreadable=True) that once transformed a list with a
    broken file keeps that ``unreadable_`` table through a later ``fit()``: after
    refitting (here after ``set_params(skip_unreadable=False)``, to raise on broken
    files from now on) it still reports ``bad.png`` at position 2 as unreadable, a
    fitted attribute that a freshly fitted embedder does not have and that describes
    data the refitted estimator never saw (the detectors' ``fit`` drops it explicitly).
    Should: ``fit`` forgets ``unreadable_`` like every other state of an earlier use, so
    the refitted embedder has the attributes of a fresh one.
    """
    good = [str(path) for path in image_files(tmp_path / "images", 2)]
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    embedder = ImageEmbedder(**TINY_EMBEDDER, skip_unreadable=True).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        embedder.transform(good + [str(bad)])
    assert list(embedder.unreadable_.index) == [2]

    embedder.set_params(skip_unreadable=False).fit(good)
    fresh = ImageEmbedder(**TINY_EMBEDDER).fit(good)
    assert not hasattr(fresh, "unreadable_")
    assert not hasattr(embedder, "unreadable_"), (
        "the refitted embedder still reports the unreadable files of a transform before the refit:\n"
        f"{embedder.unreadable_}"
    )


def test_embedder_failed_refit_does_not_leave_a_half_fitted_embedder(one_torch_thread):
    """A fit that raises half-way must not leave the earlier fit's state mixed with the
    new parameters (the library's own rule, ``ImageEstimatorMixin._forget_fit``: "a fit
    that failed half-way leaves the estimator unfitted (NotFittedError), not half fitted").

    Now: ``ImageEmbedder`` fitted with the tiny CLIP, then ``set_params(image_size=64)``
    and ``fit()`` raises the clear ValueError (a ViT tower needs its native side, 32) ...
    but the embedder still counts as fitted (the first fit's ``embedding_dim_`` and
    ``device_`` stay) while its parameters are the refused ones, so ``transform`` runs the
    ViT on 64-pixel images and fails deep inside torch with ``RuntimeError: The size of
    tensor a (65) must match the size of tensor b (17)``.
    Should: after the failed refit, ``transform`` raises ``NotFittedError`` (or repeats
    the clear ValueError about ``image_size``), never a tensor-shape error from torch.
    """
    embedder = ImageEmbedder(**TINY_EMBEDDER).fit()
    embedder.set_params(image_size=64)
    with pytest.raises(ValueError, match="image_size"):
        embedder.fit()
    images = random_images(2)
    with pytest.raises((NotFittedError, ValueError)):
        embedder.transform(images)


# ------------------------------------------------ set_params after fit, without a refit


def _tiny_gmm():
    from skclip_noise import GMMLossDetector

    return GMMLossDetector(**TINY_CLIP, epochs=1)


def _tiny_deft():
    from conftest import passthrough_deft

    return passthrough_deft()


def _tiny_turn():
    from skclip_noise import TurnClassifier

    return TurnClassifier(**TINY_CLIP, lp_epochs=1, ft_epochs=1, lp_batch_size=8, ft_batch_size=8)


def _tiny_dual_prompt():
    from skclip_noise import DualPromptDetector

    return DualPromptDetector(**TINY_CLIP, epochs=1, batch_size=8)


def _predict_clean(estimator, X, y):
    return estimator.clean_proba(X, y)


def _predict_proba(estimator, X, y):
    return estimator.predict_proba(X)


@pytest.mark.parametrize(
    "make, change, predict, pickled",
    [
        pytest.param(_tiny_gmm, {"tuning": "full"}, _predict_clean, False, id="GMMLossDetector-tuning"),
        pytest.param(_tiny_gmm, {"tuning": "peft"}, _predict_clean, True, id="GMMLossDetector-tuning-pickled"),
        pytest.param(_tiny_deft, {"image_size": 64}, _predict_proba, False, id="DeftClassifier-image_size"),
        pytest.param(_tiny_turn, {"image_size": 64}, _predict_proba, False, id="TurnClassifier-image_size"),
        pytest.param(_tiny_dual_prompt, {"n_ctx": 4}, _predict_proba, True, id="DualPromptDetector-n_ctx-pickled"),
    ],
)
def test_set_params_after_fit_does_not_break_the_fitted_model(make, change, predict, pickled, one_torch_thread):
    """``set_params`` on a fitted torch estimator, then predict before refitting.

    Now: the trained model is rebuilt (and, for new pairs, fed) from the *current*
    parameters instead of the fit-time ones, so changing a parameter that shapes the
    model (``tuning``, ``image_size``, ``n_ctx``) makes predictions fail deep inside torch:
    ``RuntimeError: The size of tensor a (32) must match the size of tensor b (48)``
    (GMMLossDetector fitted frozen, then ``tuning="full"``: images reach the linear
    probe), ``The size of tensor a (65) must match the size of tensor b (17)`` (Deft and
    TURN with ``image_size=64``: the fitted ViT gets 64-pixel inputs), ``Error(s) in loading
    state_dict ... size mismatch for text.ctx`` (DualPromptDetector after pickling), or
    ``The fitted state does not match the model (missing ['head.bias', ...])``. Whether it
    fails even depends on whether the model happened to be rebuilt before (pickling it
    turns a working estimator into a failing one). SmallLossDetector already keeps its
    fitted rule ("set_params(per_class=...) after fit does not change it").
    Should: a fitted estimator predicts with what ``fit`` built (the same answer as
    before ``set_params``) until it is refitted, or refuses with a ValueError that names
    the changed parameter and says to refit.
    """
    import pickle

    X = random_images(16)
    y = np.array(["cat", "dog"] * 8)
    estimator = make().fit(X, y)
    before = predict(estimator, X[:4], y[:4])
    estimator.set_params(**change)
    if pickled:
        estimator = pickle.loads(pickle.dumps(estimator))
    name = next(iter(change))
    try:
        after = predict(estimator, X[:4], y[:4])
    except ValueError as exc:
        assert name in str(exc), f"a ValueError that does not name {name!r}: {exc}"
        return
    except RuntimeError as exc:
        pytest.fail(f"set_params({change}) after fit: predicting fails deep inside torch: {exc}"[:400])
    np.testing.assert_allclose(after, before)


@pytest.mark.parametrize("name", ["NeighbourDetector", "ConsensusDetector"])
def test_features_of_another_width_after_an_image_fit_name_the_backbone(name, one_torch_thread):
    """A detector fitted on images, asked about a feature array of another width, said
    "queries have 10 features but features have 48." (its neighbour index's words).
    Should: name X's width and the backbone's embeddings it was fitted on."""
    import skclip_noise

    params = dict(backbone=TINY_CLIP["backbone"], pretrained=None, device="cpu", n_neighbors=3)
    if name == "ConsensusDetector":
        params.update(cv=2, random_state=0)
    detector = getattr(skclip_noise, name)(**params).fit(random_images(20), np.array(["cat", "dog"] * 10))
    with pytest.raises(ValueError, match="X has 10 features per sample.*48-wide open_clip:skclip-tiny embeddings"):
        detector.predict_clean(np.random.default_rng(0).random((4, 10)), np.array(["cat", "dog"] * 2))
