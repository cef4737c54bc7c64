"""Defects on the session's new ``tuning`` surface (DeftClassifier / TurnClassifier
``tuning="frozen"``, TurnClassifier ``"peft"``, AVLPrompter ``tuning``, SmallLossDetector
``warmup_epochs``).

Every test here fails on the code as it stands and passes once the defect its docstring
names is fixed. Tiny random CLIP on the CPU, random images, one torch thread.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_CLIP, cat_dog_labels, image_files, random_images

import skclip_noise as skn

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _deft(detector="passthrough", **params):
    settings = dict(TINY_CLIP, tuning="frozen", epochs=2, batch_size=8)
    settings.update(params)
    return skn.DeftClassifier(detector, **settings)


def _turn(**params):
    settings = dict(TINY_CLIP, tuning="frozen", lp_epochs=2, ft_epochs=2, lp_batch_size=8, ft_batch_size=8)
    settings.update(params)
    return skn.TurnClassifier(**settings)


def _embeddings(images):
    return skn.ImageEmbedder(TINY_CLIP["backbone"], None, device="cpu").fit_transform(images)


FROZEN_CLASSIFIERS = [pytest.param(_deft, id="DeftClassifier"), pytest.param(_turn, id="TurnClassifier")]


# ------------------------------------------------------------------ validation_data


@pytest.mark.parametrize("make", FROZEN_CLASSIFIERS)
def test_frozen_classifiers_take_validation_data_as_embeddings(make):
    """deft.py:96-98 / turn.py:84-89 and glossary.rst:30-33: with ``tuning="frozen"``
    "X may then be a 2-D array of precomputed embeddings", and ``validation_data`` is
    scored on the validation *embeddings* (deft.py:408-409, _turn_modules.py:115).

    Instead, a classifier fitted on embeddings refuses validation embeddings of the same
    backbone: ``check_validation_data`` (base/classifier.py:38) checks X_val without
    ``allow_features``, so fit raises "validation_data: X_val is a 2-D array ... but this
    estimator needs images" -- a user who precomputed their embeddings must embed the
    validation images again, or cannot use validation_data at all."""
    images, y = random_images(16), cat_dog_labels(16)
    Z = _embeddings(images)
    clf = make(random_state=0).fit(Z, y, validation_data=(Z[:8], y[:8]))
    assert all("val_accuracy" in record for record in clf.history_[-2:])


# ------------------------------------------------------------- checks before work


def test_deft_frozen_checks_image_size_before_the_detector_trains(monkeypatch):
    """Convention (and deft.py:225, "Both phases' parameters, before the detector
    trains"): a bad parameter is refused before expensive work.
    With ``tuning="full"`` an ``image_size`` a ViT tower cannot take is refused before
    phase 1.

    With ``tuning="frozen"``, ``_check_params`` returns early (deft.py:261-262, "the
    embedder loads the weights and checks image_size first"), but the embedder only runs
    after the detector has been fitted: the detector trains in full, then fit fails on
    image_size. (A missing ``pretrained`` file of the phase-2 backbone is found late the
    same way.)"""
    trained = []
    fit = skn.GMMLossDetector.fit

    def recording_fit(self, X, y):
        trained.append(type(self).__name__)
        return fit(self, X, y)

    monkeypatch.setattr(skn.GMMLossDetector, "fit", recording_fit)
    detector = skn.GMMLossDetector(epochs=1, batch_size=8, **TINY_CLIP)
    with pytest.raises(ValueError, match="image_size"):
        _deft(detector, image_size=64).fit(random_images(16), cat_dog_labels(16))
    assert trained == [], "the detector trained before DeftClassifier's image_size was refused"


# ------------------------------------------------------------------ input forms


@pytest.mark.parametrize("make", FROZEN_CLASSIFIERS)
def test_frozen_classifier_on_a_one_column_dataframe_of_paths(make, tmp_path):
    """Convention: bad input gets a clear error that names the problem and the fix, never
    a trace from inside numpy. data/inputs.py:9-12: a one-column DataFrame of paths is
    an image input; the same table fits with ``tuning="full"``.

    With ``tuning="frozen"`` (which also takes feature tables) the DataFrame is read as a
    feature table and fit fails inside ``check_array`` with numpy's "could not convert
    string to float: '/.../0.png'" -- it names neither the column nor what to pass
    (``base/estimator.py:_numeric_table`` has such a message, but is never reached).
    Either the paths should be read, or the error should name the column 'path'."""
    paths = [str(p) for p in image_files(tmp_path / "images", 16)]
    table = pd.DataFrame({"path": paths})
    y = cat_dog_labels(16)
    try:
        clf = make(random_state=0).fit(table, y)
    except ValueError as exc:
        message = str(exc)
        assert "could not convert" not in message and "'path'" in message, message
    else:
        assert clf.predict(table).shape == (16,)


# ------------------------------------------------------------------ batch size


def test_turn_frozen_embeds_with_ft_batch_size(monkeypatch):
    """turn.py:114-115: ``ft_batch_size`` is "Phase-2 batch size; also the batch size of
    every pass over images" (and it is, for the embedding pass of ``tuning="full"``).

    With ``tuning="frozen"`` the embedding pass ignores it: ``_embedder`` reads a
    ``batch_size`` attribute TurnClassifier does not have and falls back to 64
    (base/estimator.py:178), so a user who lowered ``ft_batch_size`` to fit GPU memory still
    embeds 64 images per batch (and ``n_jobs`` shards are cut at multiples of 64)."""
    from skclip_noise import embedder as embedder_module

    batch_sizes = []
    embed = embedder_module.ImageEmbedder._embed

    def recording(self, backbone, dataset, **kwargs):
        batch_sizes.append(self.batch_size)
        return embed(self, backbone, dataset, **kwargs)

    monkeypatch.setattr(embedder_module.ImageEmbedder, "_embed", recording)
    _turn(ft_batch_size=8, random_state=0).fit(random_images(16), cat_dog_labels(16))
    assert batch_sizes and set(batch_sizes) == {8}, batch_sizes


# ------------------------------------------------------- predicting on embeddings


@pytest.mark.parametrize("make", FROZEN_CLASSIFIERS)
def test_pickled_frozen_model_predicts_embeddings_without_loading_the_backbone(make, monkeypatch):
    """_fitted_net.py:23-25 and 27-32: with ``tuning="frozen"`` the fitted state is a
    linear head on the embeddings, restored without the backbone (``backbone`` None); the
    glossary (glossary.rst:30-33) lets X be precomputed embeddings.

    Yet predicting precomputed embeddings with a model fitted on images loads the whole
    backbone (``_fitted_features``, base/estimator.py:261, fits an ImageEmbedder) only to
    read a width the head already stores (``net_state_["mean"]``): on a machine where the
    backbone's weights are not available (offline, weights file gone), a pickled frozen
    model cannot predict embeddings at all."""
    from skclip_noise import embedder as embedder_module

    images, y = random_images(16), cat_dog_labels(16)
    Z = _embeddings(images)
    clf = make(random_state=0).fit(images, y)
    expected = clf.predict_proba(Z)
    restored = pickle.loads(pickle.dumps(clf))

    def unavailable(*args, **kwargs):
        raise OSError("the backbone's weights are not available on this machine")

    monkeypatch.setattr(embedder_module, "load_backbone", unavailable)
    np.testing.assert_array_equal(restored.predict_proba(Z), expected)


# ------------------------------------------------------------------- messages


def test_turn_frozen_divergence_message_names_turn_parameters():
    """Convention: an error names the fix. The end-of-fit check of a frozen head
    (``_check_head_finite``, _fitted_net.py:41-46) raises base/classifier.py:123's "Refit with a
    lower learning rate (lr) or weight decay." -- TurnClassifier has no ``lr`` nor
    ``weight_decay`` parameter; its rates are ``lp_lr`` / ``ft_lr`` (and
    ``lp_weight_decay`` / ``ft_weight_decay``)."""
    Z = _embeddings(random_images(16))
    clf = _turn(ft_epochs=1, ft_lr=3e38, ft_optimizer="sgd", momentum=0.0, ft_batch_size=64, random_state=0)
    with pytest.raises(FloatingPointError) as raised:
        clf.fit(Z, cat_dog_labels(16))
    message = str(raised.value)
    assert "ft_lr" in message and "(lr)" not in message, message


# -------------------------------------------------------- selection edge cases


def test_turn_frozen_fits_when_the_last_selection_keeps_no_sample():
    """glossary.rst:50-54: ``threshold`` is a clean-probability cut-off in [0, 1] (1.0
    included); turn.py:219-221 (Notes): a class with no clean sample still gives its
    most-likely-clean sample.
    With ``tuning="full"``, ``TurnClassifier(threshold=1.0)`` fits (``clean_mask_`` all
    False) and predicts.

    With ``tuning="frozen"`` the same fit fails with the internal "evaluate() got no
    batches.": ``_check_head_finite`` is run on the training embeddings of the clean
    samples (turn.py:441), of which there are none."""
    images, y = random_images(16), cat_dog_labels(16)
    clf = _turn(threshold=1.0, random_state=0).fit(images, y)
    assert not clf.clean_mask_.any()
    assert clf.predict(images).shape == (16,)


# --------------------------------------------------------------- detector contract


def test_deft_predict_clean_skips_what_its_detector_skips(tmp_path):
    """deft.py:139-141: the detector's verdicts, "the detector contract: predict_clean,
    clean_proba and fit_resample work on the classifier too"; glossary.rst:96-106 and
    base/contract.py:232-234: with ``skip_unreadable=True`` an unreadable file is judged a
    label issue, in ``predict_clean(X, y)`` as in fit; deft.py:385-386: the frozen head
    never reads a file the detector skipped.

    Fitted with such a detector, ``DeftClassifier.predict_clean(paths, y)`` raises
    ImageReadError on the unreadable file (advising ``skip_unreadable=True``, which the
    detector already has), where ``clf.detector_.predict_clean(paths, y)`` judges it a
    label issue: ``_scores_for`` (base/contract.py:228-230) reads ``skip_unreadable`` from
    the classifier, which has none, and DeftClassifier._score_pairs (deft.py:441) calls the
    detector's ``_score_pairs`` directly."""
    paths = [str(p) for p in image_files(tmp_path / "images", 16)]
    (tmp_path / "broken.png").write_bytes(b"not an image")
    paths[3] = str(tmp_path / "broken.png")
    y = cat_dog_labels(16)
    detector = skn.GMMLossDetector(epochs=1, batch_size=8, skip_unreadable=True, **TINY_CLIP)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clf = _deft(detector, random_state=0).fit(paths, y)
        expected = clf.detector_.predict_clean(paths, y)
        verdicts = clf.predict_clean(paths, y)
    assert not verdicts[3]
    np.testing.assert_array_equal(verdicts, expected)


# ------------------------------------------------------------- shared value sets


def test_avl_prompter_warmup_epochs_none_is_taken_or_refused_clearly():
    """glossary.rst:7 and 61-65: one name and one value set per concept; the shared
    constraint of ``warmup_epochs`` (_param_validation.py:87) takes None (SmallLossDetector's
    new default, DualPromptDetector's), and AVLPrompter declares that constraint
    (avl.py:221). A bad value must raise an error naming the parameter, never a Python trace.

    ``AVLPrompter(warmup_epochs=None).fit`` passes parameter validation, then
    ``_check_params`` compares ``None > epochs`` (avl.py:305): "TypeError: '>' not
    supported between instances of 'NoneType' and 'int'"."""
    images, y = random_images(16), cat_dog_labels(16)
    clf = skn.AVLPrompter("open_clip:skclip-tiny", pretrained=None, prompt_depth=2, epochs=1, batch_size=8,
                          n_networks=1, warmup_epochs=None, device="cpu", random_state=0)
    try:
        clf.fit(images, y)
    except ValueError as exc:  # InvalidParameterError included
        assert "warmup_epochs" in str(exc), str(exc)
    else:
        assert clf.predict(images).shape == (16,)


# ------------------------------------------------------------------------ docs


def test_turn_docstring_documents_lp_epochs():
    """turn.py:84-89: the new ``tuning`` entry swallowed the ``lp_epochs`` header: the
    Parameters section reads "... and X may be precomputed embeddings. : int, default=20
    Phase-1 epochs (the paper's E_LP)." -- ``lp_epochs`` is undocumented in the API
    reference (numpydoc finds no such parameter) and ``tuning``'s text ends in another
    parameter's type."""
    from numpydoc.docscrape import ClassDoc

    doc = ClassDoc(skn.TurnClassifier, config={"show_class_members": False})
    entries = {name.strip(): param for param in doc["Parameters"] for name in param.name.split(",")}
    assert "lp_epochs" in entries, sorted(entries)
    assert "default=20" not in " ".join(entries["tuning"].desc)


def test_deft_fit_takes_a_missing_file_its_detector_skips(tmp_path):
    """The detector skips unreadable files (``skip_unreadable=True``), a missing one
    included; DeftClassifier refused the missing file before the detector saw it. Now the
    fit judges that pair a label issue and trains on the rest."""
    import os

    paths = image_files(tmp_path, 24)
    os.remove(paths[3])
    detector = skn.NeighbourDetector(n_neighbors=3, skip_unreadable=True, backbone=TINY_CLIP["backbone"],
                                     pretrained=None, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = skn.DeftClassifier(detector, tuning="frozen", epochs=1, batch_size=8, **TINY_CLIP)
        clf.fit(paths, cat_dog_labels(24))
    assert not clf.clean_mask_[3] and clf.clean_mask_.shape == (24,)
