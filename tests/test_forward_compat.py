"""The warnings a user sees, and what breaks with our dependencies' releases.

Each test here failed when it was written; its docstring says what a user does, what
they see today and what is right. The library's promise, written beside its
``stacklevel=`` arguments ("the caller of fit", "the caller of predict_clean ...", "past
scikit-learn's set_output wrapper") and pinned by ``test_data.py`` ("past fit and the
label encoding, the user's own line"), is that a warning names the line of the user's
own call, so that Python's default filter shows it once per call site and
``filterwarnings(module=...)`` / ``-W error::UserWarning:mymodule`` apply to it. A
fixed ``stacklevel`` breaks that promise whenever the library reaches the warning through
one more (or one fewer) of its own frames; ``skclip_noise._warnings.warn_user`` now computes
the level for every warning. Tiny data and models only.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
from conftest import TINY_CLIP, cat_dog_labels, class_folders, image_files, random_images

from skclip_noise import ConsensusDetector, DeftClassifier, ImageEmbedder, NeighbourDetector

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")


def _caught(call):
    """Run ``call()``; every warning it raised (the "always" filter, as a first call sees them;
    ResourceWarnings left out: the garbage collector raises them wherever it runs)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ResourceWarning)
        result = call()
    return caught, result


def _where(caught):
    return [f"{os.path.relpath(w.filename)}:{w.lineno}: {str(w.message)[:70]}" for w in caught]


def _assert_all_point_here(caught):
    assert caught, "the call raised no warning to check"
    assert all(w.filename == __file__ for w in caught), _where(caught)


# ------------------------------------------------------ detector warnings reached inside the library


def test_find_label_issues_warnings_point_at_the_users_call():
    """cleanlab's users call ``find_label_issues(labels, pred_probs)``; when their model's
    ``pred_probs`` carry no information, ConsensusDetector warns "the evidence ... predicts
    the given labels no better than the labels' frequencies do ...".

    Today that warning (like the detector's other fit-time warnings: a class smaller than
    cv, the outlier model's doubt) is attributed to ``skclip_noise/filter.py:<line>`` (the
    ``_fit_checked(...)`` call inside ``find_label_issues``; through
    ``fit_pred_probs_detector`` to ``filter.py``'s ``return _fit_checked(...)``): the fixed
    ``stacklevel`` of ``detectors/_consensus_rules.py`` / ``_probe.py`` means "the caller of
    ``fit``", and here the caller is the library. Right: the user's line.
    """
    from skclip_noise.filter import find_label_issues, fit_pred_probs_detector

    labels = np.repeat([0, 1, 2], 60)
    pred_probs = np.random.default_rng(0).dirichlet(np.ones(3), size=180)
    caught, _ = _caught(lambda: find_label_issues(labels, pred_probs))
    _assert_all_point_here(caught)
    caught, _ = _caught(lambda: fit_pred_probs_detector(labels, pred_probs))
    _assert_all_point_here(caught)


@pytest.mark.parametrize("method", ["fit_predict_clean", "fit_resample"])
def test_fit_predict_clean_and_fit_resample_warnings_point_at_the_users_call(method):
    """``detector.fit_predict_clean(X, y)`` / ``fit_resample(X, y)`` (imbalanced-learn's
    verb) on features that do not separate the classes: ConsensusDetector warns that
    the outlier model cannot tell members from outliers, or that the evidence predicts
    nothing.

    Today the warnings are attributed to ``skclip_noise/base/contract.py`` (the
    ``self.fit(X, y, **fit_params)`` line inside those two methods), because their
    ``stacklevel`` counts the frames up to the caller of ``fit``. Right: the user's line, as
    after a plain ``fit``.
    """
    X = np.random.default_rng(0).normal(size=(90, 3))
    y = np.repeat([0, 1, 2], 30)
    detector = ConsensusDetector(random_state=0)
    caught, _ = _caught(lambda: getattr(detector, method)(X, y))
    _assert_all_point_here(caught)


def test_library_warnings_of_a_command_line_run_show_no_python_source(tmp_path, capsys):
    """``skclip-noise detect FOLDER --backbone open_clip:skclip-tiny --pretrained none``
    on images the backbone cannot separate: the command's own warnings read
    ``skclip-noise detect: warning: ...``, but the detector's reach the terminal as Python
    prints a warning:

        /.../skclip_noise/cli.py:391: UserWarning: the outlier model would call 20 of 20 ...
          detector.fit(X, y, **signals)

    a path inside the installed package and a line of its source, which mean nothing to
    someone at a shell prompt. Right: the detector's warnings, like the command's own,
    reach stderr as ``skclip-noise detect: warning: <message>`` (e.g. ``main`` turns the
    warnings raised during a run into such lines); no Python file or source line.
    """
    from skclip_noise import cli

    folder = class_folders(tmp_path / "images", per_class=10)  # random images: nothing to judge by
    argv = ["detect", str(folder), "--backbone", "open_clip:skclip-tiny", "--pretrained", "none",
            "--output-dir", str(tmp_path / "out"), "-q"]
    caught, status = _caught(lambda: cli.main(argv))
    err = capsys.readouterr().err
    assert status == 0, err
    shown = err + "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught)
    assert "the outlier model would call" in shown or "predicts the given labels no better" in shown, shown
    assert ".py:" not in shown and "Warning:" not in shown, shown


# --------------------------------------------------------------- the embedder's own warnings


def test_fit_transform_with_unreadable_files_warns_at_the_users_line(tmp_path):
    """``ImageEmbedder(skip_unreadable=True).fit_transform(paths)`` with one missing file
    warns "1 of 5 image files could not be read and were skipped ...".

    Today the warning is attributed to scikit-learn's ``sklearn/base.py`` (the
    ``self.fit(X).transform(X)`` of ``TransformerMixin.fit_transform``): ``transform``'s
    ``stacklevel=3`` counts exactly one set_output wrapper, and ``fit_transform`` adds a
    frame. (``transform`` itself is right.) Right: the user's line either way.
    """
    paths = [str(p) for p in image_files(tmp_path, 4)] + [str(tmp_path / "missing.png")]
    embedder = ImageEmbedder(**TINY, skip_unreadable=True)
    caught, _ = _caught(lambda: embedder.fit_transform(paths))
    _assert_all_point_here(caught)


@pytest.mark.parametrize("problem", ["unusable_folder", "damaged_shard"])
def test_embedding_cache_warnings_point_at_the_users_call(tmp_path, problem):
    """A ``cache_dir`` that cannot be used (a path below a file), or a cache file found
    damaged (overwritten, truncated by a full disk): ``ImageEmbedder.transform`` warns
    "cache_dir=... cannot be used ...; embedding without the cache" / "Embedding cache
    file ... is damaged ...".

    Today both warnings are attributed to ``skclip_noise/embedder.py`` (the
    ``self._transform_checked(...)`` line of ``transform``): ``embedder.py``'s
    ``_embed_with_cache`` uses ``stacklevel=3`` and ``embedding_cache.py``'s
    ``_discard`` / ``_not_writable`` ``stacklevel=4``, one frame short. Right: the user's line.
    """
    X = random_images(8)
    if problem == "unusable_folder":
        (tmp_path / "file").write_text("x")
        embedder = ImageEmbedder(**TINY, cache_dir=str(tmp_path / "file" / "cache")).fit(X)
    else:
        embedder = ImageEmbedder(**TINY, cache_dir=str(tmp_path / "cache")).fit(X)
        embedder.transform(X)
        shards = [os.path.join(root, name) for root, _, names in os.walk(tmp_path / "cache")
                  for name in names if name.endswith(".emb.npy")]
        assert shards
        for shard in shards:
            with open(shard, "wb") as handle:
                handle.write(b"damaged")
    caught, _ = _caught(lambda: embedder.transform(X))
    _assert_all_point_here(caught)


def test_a_note_from_the_embedding_workers_points_at_the_users_call(monkeypatch):
    """``ImageEmbedder(n_jobs=2).transform(X)`` on a Dask cluster started with the
    nanny's default environment warns "The Dask workers run with MALLOC_TRIM_THRESHOLD_=
    ... Start the cluster after dask.config.set(...)" (here the note is faked and the
    shards run on joblib's threading backend, to stay in one process).

    Today the warning is attributed to scikit-learn's ``sklearn/utils/_set_output.py``:
    ``embedder.py``'s ``_transform_in_shards`` warns with ``stacklevel=4``, which lands on
    the set_output wrapper around ``transform`` (and elsewhere again under
    ``skip_unreadable=True`` or inside a detector). Right: the user's line.
    """
    from joblib import parallel_backend

    from skclip_noise import embedder as embedder_module

    monkeypatch.setattr(embedder_module, "_slow_worker_environment", lambda: "a note from the workers")
    X = random_images(16)
    embedder = ImageEmbedder(**TINY, n_jobs=2, batch_size=4).fit(X)
    with parallel_backend("threading", n_jobs=2):
        caught, _ = _caught(lambda: embedder.transform(X))
    assert [str(w.message) for w in caught] == ["a note from the workers"]
    _assert_all_point_here(caught)


# --------------------------------------------------- training, devices, image decoding, labels


def test_a_checkpoint_of_another_fit_warns_at_the_users_fit(tmp_path):
    """Fitting with ``checkpoint_path=`` where an earlier fit with other parameters left
    its checkpoint warns "The checkpoint ... was written by a fit with another
    parameters, so it is not resumed ...".

    Today the warning is attributed to ``skclip_noise/classifiers/deft.py`` (TURN:
    ``classifiers/turn.py``), the library's call of ``Trainer.fit``: ``training/loop.py``'s
    ``_resume`` warns with ``stacklevel=3``. Right: the user's ``fit`` line.
    """
    X, y = random_images(16), cat_dog_labels(16)
    path = str(tmp_path / "deft.pt")
    settings = dict(**TINY_CLIP, epochs=1, batch_size=8, checkpoint_path=path)
    DeftClassifier("passthrough", **settings).fit(X, y)
    caught, _ = _caught(lambda: DeftClassifier("passthrough", **settings, lr=0.5).fit(X, y))
    assert any("not resumed" in str(w.message) for w in caught), _where(caught)
    _assert_all_point_here(caught)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without the fit-time GPU")
@pytest.mark.parametrize("estimator", ["detector", "embedder"])
def test_a_model_fitted_on_a_missing_gpu_warns_at_the_users_call(estimator):
    """A model fitted on a GPU and unpickled on a laptop (``device_ == "cuda:0"``) warns
    "This estimator was fitted on 'cuda:0', which this machine lacks; using the CPU." at
    its first ``predict_clean`` / ``transform``.

    Today it is attributed to ``skclip_noise/detectors/neighbour.py`` /
    ``skclip_noise/embedder.py``, wherever the library asked ``fitted_device``
    (``training/device.py`` warns with ``stacklevel=3``). Right: the user's line.
    """
    X, y = random_images(16), cat_dog_labels(16)
    if estimator == "detector":
        model = NeighbourDetector(**TINY, n_neighbors=2).fit(X, y)
        model.device_ = "cuda:0"
        caught, _ = _caught(lambda: model.predict_clean(X, y))
    else:
        model = ImageEmbedder(**TINY).fit(X)
        model.device_ = "cuda:0"
        caught, _ = _caught(lambda: model.transform(X))
    assert any("cuda:0" in str(w.message) for w in caught), _where(caught)
    _assert_all_point_here(caught)


def test_truncated_images_setting_is_said_once_per_call_at_the_users_line(tmp_path, monkeypatch):
    """A notebook (or a library it imports) set ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES =
    True``; the library says so ("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True ... Set it
    to False to have them reported.") whenever it reads image files.

    Today ``DeftClassifier.fit(paths, y)`` raises it twice, attributed to two lines of
    ``skclip_noise/classifiers/deft.py`` (one per ``ImageDataset`` the fit builds), and
    ``predict`` once more at one of those lines (which Python's default filter then hides,
    having shown that location); an embedder or detector shows it at
    ``skclip_noise/embedder.py``, the report at ``skclip_noise/report/html.py``.
    ``data/decoding.py`` warns with ``stacklevel=3`` from ``ImageDataset.__init__``. Right:
    at the user's line, so that Python's default filter (once per location) shows it once
    per user call.
    """
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    paths, y = [str(p) for p in image_files(tmp_path, 16)], cat_dog_labels(16)
    caught, _ = _caught(lambda: DeftClassifier("passthrough", **TINY_CLIP, epochs=1, batch_size=8).fit(paths, y))
    truncated = [w for w in caught if "LOAD_TRUNCATED_IMAGES" in str(w.message)]
    _assert_all_point_here(truncated)
    assert len({(w.filename, w.lineno) for w in truncated}) == 1, _where(truncated)  # shown once by default


def test_column_vector_labels_warning_points_at_the_users_fit():
    """``detector.fit(X, y)`` with ``y`` of shape (n, 1) (a DataFrame column kept 2-D)
    warns "A column-vector y was passed when a 1d array was expected ...".

    Today it is attributed to ``skclip_noise/base/detector.py`` (``data/labels.py``'s
    ``check_labels`` warns with ``stacklevel=3``), whereas the same module's other label
    warning finds the first frame outside the package and points at the user's line.
    Right: the user's line, as for that one.
    """
    X = np.random.default_rng(0).normal(size=(12, 4))
    y = np.repeat([0, 1], 6).reshape(-1, 1)
    caught, _ = _caught(lambda: NeighbourDetector(n_neighbors=2).fit(X, y))
    assert any("column-vector" in str(w.message) for w in caught), _where(caught)
    _assert_all_point_here(caught)


# ----------------------------------------------------------------------- numpy 2 (NEP 50)


def test_features_beyond_float32_range_raise_the_librarys_error_without_a_numpy_warning():
    """Features in the 1e39s (unscaled sums, a bad unit): ``fit`` refuses them with
    "X holds values up to 3.11e+39, beyond float32's range ... rescale them first".

    Since numpy 2 (NEP 50), ``largest > np.finfo(np.float32).max`` in
    ``data/features.py::check_feature_values`` casts the Python float ``largest`` to
    float32 before comparing: today numpy's ``RuntimeWarning: overflow encountered in
    cast`` (attributed to ``skclip_noise/data/features.py``) comes first, and under
    ``np.seterr(all="raise")`` (or ``np.errstate(over="raise")``) the user gets
    ``FloatingPointError`` instead of the library's message. The cast of X itself, just
    above, is already wrapped in ``np.errstate(over="ignore")``. Right: the ValueError,
    nothing else (compare with ``float(info.max)``).
    """
    X = np.random.default_rng(0).normal(size=(90, 3)) * 1e39
    y = np.repeat([0, 1, 2], 30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="beyond float32's range"):
            NeighbourDetector().fit(X, y)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], _where(caught)
    with np.errstate(all="raise"), pytest.raises(ValueError, match="beyond float32's range"):
        NeighbourDetector().fit(X, y)
