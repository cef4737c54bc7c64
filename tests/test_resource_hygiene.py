"""Regression tests from a bug hunt on what a run leaves behind in a long-lived process (a
notebook, a web service, a grid search): process-wide state it changes and does not restore,
threads it starts, files it leaves next to its outputs, and memory its registries keep.

Checked and found correct (see the passing tests, which pin the valuable part): no
``ResourceWarning`` from image files, CSVs, checkpoints, the embedding cache or the report's
thumbnails (broken files included); DataLoader workers and faiss leave no child process;
torch's thread count, grad mode and default dtype, numpy's error state, PIL's limits, warnings
filters, the working directory, the environment and matplotlib's rcParams are as before a fit;
the cached backbone is never changed by a fit; the registries of fitted models are weak and
``clear_backbone_cache`` frees the backbone; pickles hold what predict/score read.

The first two tests run in a fresh interpreter: what they check is process-wide and happens
once per process (an earlier test would already have done it).
"""

import gc
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import warnings
import weakref

import numpy as np
import pytest
import torch
from conftest import TINY_CLIP, cat_dog_labels, image_files, issues_table, random_images

import skclip_noise
from skclip_noise import ConsensusDetector, GMMLossDetector, NeighbourDetector

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.filterwarnings("ignore::UserWarning")]  # random features: the detectors' advice

TINY_EMBEDDER = {k: v for k, v in TINY_CLIP.items() if k != "random_state"}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fresh_python(code):
    """Run ``code`` in a new interpreter; return the JSON object it prints last."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_loading_an_open_clip_backbone_adds_no_handler_to_the_root_logger():
    """Python's logging HOWTO ("Configuring Logging for a Library"): a library adds no
    handler other than ``NullHandler``, and ``logging.basicConfig`` "does nothing if the root
    logger already has handlers configured". The library already guards the root logger
    around open_clip's model building (``backbones/loading.py``, ``_quiet_root_logger``).

    A user fits any estimator on an open_clip backbone (the default backbone is one) in a
    fresh process, here ``ImageEmbedder("open_clip:skclip-tiny", pretrained=None).fit()``, and
    then configures their application's logging with ``logging.basicConfig(level=INFO,
    format=...)``.

    Now: open_clip's ``create_model`` calls the module-level ``logging.info``, which runs
    ``basicConfig()`` on a root logger without handlers: after the fit the root logger has a
    ``StreamHandler(<stderr>)`` the user never added, so the user's ``basicConfig`` is
    silently ignored (level stays WARNING, their format and file are not used, their INFO
    messages vanish). Lowering the root level to ERROR around the call does not prevent it.
    Should: the root logger's handlers are as before the fit (e.g. a ``NullHandler`` on the
    root logger while open_clip builds the model when it has none, removed after), so the
    user's ``basicConfig`` takes effect.
    """
    result = _fresh_python("""
        import json, logging
        from skclip_noise import ImageEmbedder
        root = logging.getLogger()
        before = [type(h).__name__ for h in root.handlers]
        ImageEmbedder("open_clip:skclip-tiny", pretrained=None, device="cpu").fit()
        after = [type(h).__name__ for h in root.handlers]
        logging.basicConfig(level=logging.INFO)
        print(json.dumps({"before": before, "after": after, "level": logging.getLevelName(root.level)}))
    """)
    assert result["before"] == []
    assert result["after"] == [], (
        f"fitting left the root logger with handlers {result['after']}; the user's "
        f"logging.basicConfig(level=logging.INFO) then did nothing (root level {result['level']})"
    )
    assert result["level"] == "INFO"


def test_a_quiet_fit_starts_no_thread_and_leaves_the_multiprocessing_start_method_unset():
    """``verbose=0`` (the default of every estimator): no progress output. Python's
    ``multiprocessing``: the start method may be chosen once per process with
    ``set_start_method`` (PyTorch's advice for CUDA in subprocesses: ``"spawn"``), which
    raises ``RuntimeError("context has already been set")`` once anything fixed it.

    A user fits ``GMMLossDetector(epochs=1)`` on a feature array (no backbone is loaded), with
    the default ``verbose=0``, then calls ``multiprocessing.set_start_method("spawn")``.

    Now: ``training/loop.py`` wraps every epoch and evaluation pass in ``tqdm(..., disable=True)``.
    Even disabled, tqdm's ``__new__`` creates its multiprocessing write lock, which fixes the
    start method to "fork" (``set_start_method("spawn")`` then raises), and starts its
    ``tqdm_monitor`` thread, which wakes every 10 s for the life of the process.
    Should: with ``verbose=0`` the batches are iterated without tqdm (e.g. ``batches if not
    verbose else tqdm(batches, ...)``): no new thread, the start method still unset.
    """
    result = _fresh_python("""
        import json, multiprocessing, threading
        import numpy as np
        from skclip_noise import GMMLossDetector
        before = sorted(t.name for t in threading.enumerate())
        X = np.random.default_rng(0).normal(size=(20, 8))
        GMMLossDetector(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu", epochs=1,
                        random_state=0).fit(X, np.repeat([0, 1], 10))
        after = sorted(t.name for t in threading.enumerate())
        print(json.dumps({"new_threads": sorted(set(after) - set(before)),
                          "start_method": multiprocessing.get_start_method(allow_none=True)}))
    """)
    assert result["new_threads"] == [], f"a fit with verbose=0 left threads running: {result['new_threads']}"
    assert result["start_method"] is None, (
        f"a fit with verbose=0 fixed multiprocessing's start method to {result['start_method']!r}: "
        "multiprocessing.set_start_method('spawn') now raises RuntimeError"
    )


def test_rewriting_a_report_leaves_no_thumbnails_of_other_data_beside_it(tmp_path):
    """``label_issues_html(..., thumbnails="files")``: "PNG files in a folder beside the page
    (``report.html`` -> ``report_thumbnails/``)", "referred to by a relative path so the page
    and its folder can move together" (``report/_thumbnails.py``). The command line removes a
    previous run's outputs because they "describe other data" (``cli.py``, ``run_detect``).

    A user writes the review page of 10 images to ``report.html`` with thumbnail files, then
    (after fixing labels, or on the next batch of data) writes the page of 3 other images to
    the same path, and shares ``report.html`` with its folder.

    Now: ``ThumbnailWriter`` only adds ``<position>.png`` files: the folder still holds the
    10 thumbnails of the first data set, 7 of them (plus any overwritten name's history) of
    images the new page never shows, shipped along with it.
    Should: after the write the folder holds exactly the thumbnails the page refers to (the
    folder's old ``*.png`` thumbnails removed, or the folder written afresh and swapped in).
    """
    page = tmp_path / "report.html"
    first = issues_table(np.linspace(0.01, 0.4, 10), ["cat", "dog"] * 5)
    skclip_noise.report.label_issues_html(random_images(10, seed=1), first, page, thumbnails="files")
    second = issues_table(np.array([0.1, 0.2, 0.3]), ["cat", "dog", "cat"])
    skclip_noise.report.label_issues_html(random_images(3, seed=2), second, page, thumbnails="files")

    referred = set(re.findall(r'src="report_thumbnails/([^"]+)"', page.read_text(encoding="utf-8")))
    on_disk = {name for name in os.listdir(tmp_path / "report_thumbnails") if not name.startswith(".")}  # a marker
    assert len(referred) == 3
    assert on_disk == referred, (
        f"report_thumbnails/ keeps {len(on_disk - referred)} thumbnails of an earlier page's images "
        f"that report.html does not show: {sorted(on_disk - referred)}"
    )
    # a folder of the user's that happens to have the name (no marker) is never cleared
    own = tmp_path / "mine_thumbnails"
    own.mkdir()
    (own / "00000007.png").write_bytes(b"the user's")
    skclip_noise.report.label_issues_html(random_images(3, seed=2), second, tmp_path / "mine.html")
    assert (own / "00000007.png").read_bytes() == b"the user's"


# ------------------------------------------------------------------ passing: pinned behaviour


def _global_state():
    import matplotlib
    from PIL import Image, ImageFile

    root = logging.getLogger()
    return dict(
        threads=torch.get_num_threads(), grad=torch.is_grad_enabled(), dtype=torch.get_default_dtype(),
        deterministic=torch.are_deterministic_algorithms_enabled(), np_err=np.geterr(),
        np_print=np.get_printoptions(), filters=list(warnings.filters), pil=(Image.MAX_IMAGE_PIXELS,
        ImageFile.LOAD_TRUNCATED_IMAGES), cwd=os.getcwd(), env=dict(os.environ),
        root=(root.level, list(root.handlers)), rc=repr(sorted(matplotlib.rcParams.items())),
    )


def test_public_calls_restore_process_wide_settings_and_close_their_files(tmp_path, monkeypatch):
    """Passing; pins what the library restores after changing it on purpose: torch's thread
    count (``small_model_threads`` around a frozen head), faiss's OpenMP threads
    (``n_jobs``), the root logger's level (``_quiet_root_logger``), warnings filters (its
    ``catch_warnings`` blocks); and that no file handle is left to the garbage collector
    (``ResourceWarning`` as an error) across image files with broken ones, the embedding
    cache, a checkpoint, the report's thumbnails and its plots.
    """
    import matplotlib.pyplot as plt

    paths = [str(p) for p in image_files(tmp_path / "images", 12)]
    (tmp_path / "broken.png").write_text("not an image")
    paths.append(str(tmp_path / "broken.png"))
    y = list(cat_dog_labels(13))
    features = np.random.default_rng(0).normal(size=(40, 8))
    skclip_noise.ImageEmbedder(**TINY_EMBEDDER).fit().transform(random_images(2))  # lazy imports, cached backbone
    torch.set_num_threads(2)  # what the frozen head's block lowers to 1
    unraisable = []  # a ResourceWarning from a file's __del__ is not raised: it goes to this hook
    monkeypatch.setattr(sys, "unraisablehook", lambda report: unraisable.append(repr(report.exc_value)))
    try:
        before, faiss_before = _global_state(), _faiss_threads()
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            ConsensusDetector(**TINY_CLIP, cv=2, skip_unreadable=True, cache_dir=tmp_path / "cache").fit(paths, y)
            detector = NeighbourDetector(**TINY_EMBEDDER, skip_unreadable=True).fit(paths, y)
            detector.clean_proba(paths, y)
            skclip_noise.report.label_issues_html(paths, detector, tmp_path / "r.html", thumbnails="files")
            GMMLossDetector(**TINY_CLIP, epochs=2, checkpoint_path=tmp_path / "ck.pt").fit(features, np.repeat([0, 1], 20))
            skclip_noise.DeftClassifier(NeighbourDetector(**TINY_EMBEDDER, knn_backend="sklearn", n_jobs=2),
                                        **TINY_CLIP, tuning="frozen", epochs=1).fit(features, np.repeat([0, 1], 20))
            plt.close(skclip_noise.report.detection_summary_figure(detector))
            gc.collect()
        after, faiss_after = _global_state(), _faiss_threads()
    finally:
        torch.set_num_threads(1)
    assert unraisable == []
    assert {k: (before[k], after[k]) for k in before if before[k] != after[k]} == {}
    assert faiss_before == faiss_after


def _faiss_threads():
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is optional
        return None
    return faiss.omp_get_max_threads()


def test_many_fits_leave_no_fitted_model_prefetched_embeddings_or_backbone_behind(tmp_path):
    """Passing; pins the design that keeps a long-lived process bounded: the fitted models
    and prefetched embeddings live in ``WeakKeyDictionary`` registries keyed by the estimator
    (``base/estimator.py``), so 30 fits leave nothing once the estimators are gone, and
    ``clear_backbone_cache()`` "frees their memory" (its docstring): no fitted estimator,
    registry or other cache keeps the backbone alive after it.
    """
    from skclip_noise.backbones import clear_backbone_cache, load_backbone
    from skclip_noise.base import estimator as registries

    paths = [str(p) for p in image_files(tmp_path, 8)]
    y = cat_dog_labels(8)
    features = np.random.default_rng(0).normal(size=(20, 6))
    clear_backbone_cache()
    backbone = weakref.ref(load_backbone("open_clip:skclip-tiny", None).model)
    n_models, n_prefetched = len(registries._FITTED_MODELS), len(registries._PREFETCHED)  # other tests' estimators
    fitted = []
    for i in range(15):
        gmm = GMMLossDetector(**TINY_CLIP, epochs=1).fit(features, np.repeat([0, 1], 10))
        gmm.clean_proba(features[:4], [0, 1, 0, 1])  # rebuilds and registers its model
        neighbour = NeighbourDetector(**TINY_EMBEDDER, skip_unreadable=True).fit(paths, y)  # prefetches
        fitted += [weakref.ref(gmm), weakref.ref(neighbour)]
    assert len(registries._FITTED_MODELS) > n_models
    del gmm, neighbour
    clear_backbone_cache()
    gc.collect()
    assert [ref for ref in fitted if ref() is not None] == []
    assert len(registries._FITTED_MODELS) <= n_models and len(registries._PREFETCHED) <= n_prefetched
    assert backbone() is None, "the backbone outlived clear_backbone_cache() and every estimator"
