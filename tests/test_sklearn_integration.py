"""The detectors and ImageEmbedder inside scikit-learn's and imbalanced-learn's tools.

Real data throughout: scikit-learn's handwritten digits, as 64 pixel features or as
8x8 images, embedded with the tiny random-weight CLIP (``open_clip:skclip-tiny``) or
with the real MobileNetV2 weights of the ``offline-weights`` extra (skipped when it
is not installed), and label noise from :func:`skclip_noise.make_noisy_labels`.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.utils.metadata_routing import MetadataRequest
from sklearn.utils.validation import check_is_fitted

import skclip_noise
from skclip_noise import (
    ConsensusDetector,
    DualPromptDetector,
    GMMLossDetector,
    ImageEmbedder,
    LabelMatchDetector,
    NeighbourDetector,
    SmallLossDetector,
    make_noisy_labels,
)
from skclip_noise.backbones.offline_weights import list_offline_weights
from skclip_noise.metrics import clean_f1_score, noisy_f1_score

imblearn_pipeline = pytest.importorskip("imblearn.pipeline")

#: Fast loss-model settings that separate the digits' wrong labels well (noisy-side
#: F1 about 0.9 at 30% symmetric noise).
FAST = dict(device="cpu", random_state=0, epochs=5, lr=1e-2)
TINY_CLIP = dict(backbone="open_clip:skclip-tiny", pretrained=None)

HAS_OFFLINE_MOBILENET = any(
    e.family == "torchvision" and e.arch == "mobilenet_v2" and e.installed for e in list_offline_weights()
)
MOBILENET = dict(backbone="torchvision:mobilenet_v2", pretrained="offline", image_size=64)


@pytest.fixture(scope="module")
def digit_features(digits):
    """64 real pixel features: 240 noisy training pairs (30% symmetric noise), 120 clean test pairs."""
    images, y = digits
    X = images[:360].reshape(360, -1).astype(np.float64) / 255.0
    y = y[:360]
    y_noisy, is_noisy = make_noisy_labels(y[:240], "symmetric", 0.3, random_state=0)
    return X[:240], y_noisy, is_noisy, X[240:], y[240:]


@pytest.fixture(scope="module")
def digit_images(digits):
    """Real digit images with string labels (the text prompts need names), 20% noise."""
    images, y = digits
    names = y.astype(str)
    y_noisy, is_noisy = make_noisy_labels(names[:40], "symmetric", 0.2, random_state=1)
    return images[:40], y_noisy, is_noisy, images[40:56], names[40:56]


@pytest.fixture(scope="module")
def embedding_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("embedding_cache"))


DETECTOR_KINDS = {
    "gmm": (lambda: GMMLossDetector(**FAST), "features"),
    "small": (lambda: SmallLossDetector(**FAST), "features"),
    "label_match": (lambda: LabelMatchDetector(**TINY_CLIP, device="cpu"), "images"),
    "gmm_on_images": (lambda: GMMLossDetector(**TINY_CLIP, **FAST), "images"),
    "neighbour": (lambda: NeighbourDetector(n_neighbors=5), "features"),
    "consensus": (lambda: ConsensusDetector(n_neighbors=5, random_state=0), "features"),
    "dual_prompt": (
        lambda: DualPromptDetector(**TINY_CLIP, n_ctx=4, n_vpt=2, epochs=2, device="cpu", random_state=0),
        "images",
    ),
    # A classifier that is also a detector (exported from classifiers, so not required above).
    "avl": (
        lambda: skclip_noise.AVLPrompter(**TINY_CLIP, prompt_depth=2, epochs=2, batch_size=8, device="cpu",
                                         random_state=0),
        "images",
    ),
}


def test_every_exported_detector_has_a_kind_here():
    """A new detector gets its clone and pickling tests by adding it to DETECTOR_KINDS."""
    exported = {
        obj
        for obj in vars(skclip_noise.detectors).values()
        if isinstance(obj, type)
        and issubclass(obj, skclip_noise.detectors.BaseNoiseDetector)
        and obj is not skclip_noise.detectors.BaseNoiseDetector
    }
    covered = {type(make()) for make, _ in DETECTOR_KINDS.values()}
    assert exported <= covered, sorted(cls.__name__ for cls in exported - covered)


def _data(kind, digit_features, digit_images):
    if DETECTOR_KINDS[kind][1] == "features":
        X, y_noisy, _, X_new, y_new = digit_features
    else:
        X, y_noisy, _, X_new, y_new = digit_images
    return X, y_noisy, X_new, y_new


def _same_params(a, b):
    pa, pb = a.get_params(deep=True), b.get_params(deep=True)
    assert pa.keys() == pb.keys()
    for key in pa:
        assert repr(pa[key]) == repr(pb[key]), key


# ------------------------------------------------------------------- clone


@pytest.mark.parametrize("kind", ["gmm", "small", "label_match", "dual_prompt"])
def test_clone_of_unfitted_and_fitted_detectors(kind, digit_features, digit_images):
    detector = DETECTOR_KINDS[kind][0]()
    X, y, _, _ = _data(kind, digit_features, digit_images)
    unfitted = clone(detector)
    assert unfitted is not detector
    _same_params(unfitted, detector)

    fitted = clone(detector).fit(X, y)
    copy = clone(fitted)
    _same_params(copy, fitted)
    for name in ("classes_", "clean_mask_", "clean_proba_", "label_issues_", "device_"):
        assert hasattr(fitted, name) and not hasattr(copy, name), name
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    with pytest.raises(NotFittedError):
        copy.predict_clean(X, y)


def test_clone_of_image_embedder(digit_images):
    embedder = ImageEmbedder(**TINY_CLIP, device="cpu", batch_size=16)
    fitted = clone(embedder).fit(digit_images[0])
    copy = clone(fitted)
    _same_params(copy, embedder)
    assert hasattr(fitted, "embedding_dim_") and not hasattr(copy, "embedding_dim_")
    with pytest.raises(NotFittedError):
        copy.transform(digit_images[0])


# ---------------------------------------------------------------- pipelines


def _imblearn_pipe(**detector_params):
    return imblearn_pipeline.Pipeline(
        [("detector", GMMLossDetector(**{**FAST, **detector_params})), ("clf", LogisticRegression(max_iter=2000))]
    )


def test_imblearn_pipeline_params_are_nested():
    pipe = _imblearn_pipe()
    params = pipe.get_params(deep=True)
    assert params["detector__threshold"] == 0.5
    assert params["detector__epochs"] == FAST["epochs"]
    assert params["clf__C"] == 1.0
    pipe.set_params(detector__threshold=0.8, detector__per_class=True, clf__C=0.5)
    assert pipe.named_steps["detector"].threshold == 0.8
    assert pipe.named_steps["detector"].per_class is True
    assert pipe.named_steps["clf"].C == 0.5
    copy = clone(pipe)
    assert copy.get_params()["detector__threshold"] == 0.8
    assert copy.named_steps["detector"] is not pipe.named_steps["detector"]


def test_imblearn_pipeline_drops_noisy_samples_before_the_classifier(digit_features):
    X, y_noisy, is_noisy, X_test, y_test = digit_features
    pipe = _imblearn_pipe().fit(X, y_noisy)
    detector, clf = pipe.named_steps["detector"], pipe.named_steps["clf"]
    kept = detector.clean_mask_
    assert 0.5 * len(X) < kept.sum() < len(X)  # some samples were dropped, not most
    assert noisy_f1_score(is_noisy, kept) > 0.7  # ... and they were mostly the noisy ones
    # The classifier saw exactly the kept samples.
    alone = LogisticRegression(max_iter=2000).fit(X[kept], y_noisy[kept])
    np.testing.assert_allclose(clf.coef_, alone.coef_, rtol=1e-6, atol=1e-8)
    # At predict time the sampler is skipped: every test sample gets a prediction.
    predicted = pipe.predict(X_test)
    assert predicted.shape == (len(X_test),)
    on_noisy = LogisticRegression(max_iter=2000).fit(X, y_noisy).score(X_test, y_test)
    assert pipe.score(X_test, y_test) >= on_noisy - 0.02


def test_grid_search_over_a_nested_detector_parameter(digit_features):
    X, y_noisy, _, X_test, y_test = digit_features
    search = GridSearchCV(_imblearn_pipe(), {"detector__threshold": [0.2, 0.8]}, cv=2)
    search.fit(X, y_noisy)
    assert search.best_params_["detector__threshold"] in (0.2, 0.8)
    assert search.best_estimator_.named_steps["detector"].threshold == search.best_params_["detector__threshold"]
    assert search.score(X_test, y_test) > 0.6


@pytest.mark.parametrize(
    "embedder_params, min_accuracy",
    [
        pytest.param(TINY_CLIP, 0.0, id="tiny-clip"),
        pytest.param(
            MOBILENET,
            0.6,
            id="mobilenet_v2-offline",
            marks=pytest.mark.skipif(not HAS_OFFLINE_MOBILENET, reason="offline-weights extra not installed"),
        ),
    ],
)
def test_sklearn_pipeline_image_embedder_then_classifier(embedder_params, min_accuracy, digits, embedding_cache):
    images, y = digits
    X, y, X_test, y_test = images[:150], y[:150], images[150:225], y[150:225]
    pipe = make_pipeline(
        ImageEmbedder(**embedder_params, device="cpu", batch_size=100, cache_dir=embedding_cache),
        LogisticRegression(max_iter=2000),
    )
    assert pipe.get_params()["imageembedder__backbone"] == embedder_params["backbone"]
    pipe.set_params(imageembedder__batch_size=50, logisticregression__C=2.0)
    pipe.fit(X, y)
    width = pipe.named_steps["imageembedder"].embedding_dim_
    assert pipe.named_steps["logisticregression"].coef_.shape == (10, width)
    assert list(pipe[:-1].get_feature_names_out()[:2]) == ["imageembedder0", "imageembedder1"]
    predicted = pipe.predict(X_test)
    assert predicted.shape == (len(X_test),) and set(predicted) <= set(range(10))
    accuracy = pipe.score(X_test, y_test)
    assert accuracy >= min_accuracy, accuracy
    # A clone refits to the same model (the embeddings now come from the cache).
    again = clone(pipe).fit(X, y)
    np.testing.assert_array_equal(again.predict(X_test), predicted)


# ------------------------------------------------- grid search with routing


class DetectionScorer:
    """A scorer that rates a detector's verdicts on held-out (sample, label) pairs.

    ``scorer(estimator, X, y, is_noisy=None)``: the verdicts are
    ``estimator.predict_clean(X, y)`` (a verdict needs the labels, which
    ``make_scorer`` scorers do not pass to the estimator), compared with the true
    noise mask ``is_noisy``, which metadata routing slices per fold. It requests
    ``is_noisy`` for scoring through ``get_metadata_routing``.
    """

    def __init__(self, metric):
        self.metric = metric
        self.received = []  # (n_samples, is_noisy) of each call, for the test

    def __call__(self, estimator, X, y, is_noisy=None):
        if is_noisy is None:
            raise ValueError("DetectionScorer needs the true noise mask: pass is_noisy (metadata routing).")
        self.received.append((len(y), np.asarray(is_noisy)))
        return self.metric(is_noisy, estimator.predict_clean(X, y))

    def get_metadata_routing(self):
        request = MetadataRequest(owner=type(self).__name__)
        request.score.add_request(param="is_noisy", alias=True)
        return request


def test_grid_search_over_threshold_scores_with_the_routed_noise_mask(digit_features):
    X, y_noisy, is_noisy, _, _ = digit_features
    thresholds = [0.0, 0.3, 0.7, 1.0]
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scorer = DetectionScorer(noisy_f1_score)
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(GMMLossDetector(**FAST), {"threshold": thresholds}, scoring=scorer, cv=cv)
        search.fit(X, y_noisy, is_noisy=is_noisy)

    # The scorer got the mask of each test fold, candidate by candidate, fold by fold.
    folds = [test for _, test in cv.split(X, y_noisy)]
    assert len(scorer.received) == len(thresholds) * len(folds)
    for call, (n, mask) in enumerate(scorer.received):
        test = folds[call % len(folds)]
        assert n == len(test)
        np.testing.assert_array_equal(mask, is_noisy[test])

    scores = dict(zip(thresholds, search.cv_results_["mean_test_score"]))
    assert scores[0.0] == 0.0  # every pair kept: no noisy label found
    # Every pair rejected: noisy-side F1 = 2r / (1 + r) at noise rate r.
    rate = is_noisy.mean()
    assert scores[1.0] == pytest.approx(2 * rate / (1 + rate), abs=0.02)
    # The search picks an interior threshold that really separates the noise.
    assert search.best_params_["threshold"] in (0.3, 0.7)
    assert search.best_score_ > 0.8
    best = search.best_estimator_
    assert best.threshold == search.best_params_["threshold"]
    assert clean_f1_score(is_noisy, best.clean_mask_) > 0.9


def test_routed_scorer_is_needed_for_the_noise_mask(digit_features):
    """Without the routing request the mask never reaches the scorer: a clear error."""
    X, y_noisy, is_noisy, _, _ = digit_features
    unrouted = DetectionScorer(noisy_f1_score)
    unrouted.get_metadata_routing = lambda: MetadataRequest(owner="unrouted")
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(GMMLossDetector(**FAST), {"threshold": [0.5]}, scoring=unrouted, cv=2)
        with pytest.raises((ValueError, TypeError), match="is_noisy"):
            search.fit(X, y_noisy, is_noisy=is_noisy)


# ------------------------------------------------------------------ pickling


@pytest.mark.parametrize("kind", list(DETECTOR_KINDS))
def test_pickled_detector_predicts_the_same_after_reload(kind, digit_features, digit_images):
    X, y, X_new, y_new = _data(kind, digit_features, digit_images)
    fitted = DETECTOR_KINDS[kind][0]().fit(X, y)
    expected_new = fitted.predict_clean(X_new, y_new), fitted.clean_proba(X_new, y_new)

    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict_clean(X), fitted.clean_mask_)
    np.testing.assert_array_equal(loaded.clean_proba(X), fitted.clean_proba_)
    np.testing.assert_array_equal(loaded.predict_clean(X_new, y_new), expected_new[0])
    np.testing.assert_array_equal(loaded.clean_proba(X_new, y_new), expected_new[1])
    with pytest.raises(ValueError, match="pass y"):
        loaded.predict_clean(X_new)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
@pytest.mark.parametrize("kind", [kind for kind in DETECTOR_KINDS if kind not in ("neighbour", "consensus")])  # no torch
def test_detector_fitted_on_a_gpu_reloads_on_a_cpu_machine(kind, digit_features, digit_images):
    X, y, X_new, y_new = _data(kind, digit_features, digit_images)
    fitted = DETECTOR_KINDS[kind][0]().fit(X, y)
    expected = fitted.predict_clean(X_new, y_new), fitted.clean_proba(X_new, y_new)
    # What a fit with device="cuda" on a GPU machine leaves behind.
    fitted.device = "cuda"
    fitted.device_ = "cuda"
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict_clean(X), fitted.clean_mask_)  # stored verdicts
    with pytest.warns(RuntimeWarning, match="fitted on 'cuda'.*using the CPU"):
        clean = loaded.predict_clean(X_new, y_new)
    with warnings.catch_warnings():  # the model is rebuilt once: no need to warn again
        warnings.simplefilter("ignore", RuntimeWarning)
        proba = loaded.clean_proba(X_new, y_new)
    np.testing.assert_array_equal(clean, expected[0])
    np.testing.assert_allclose(proba, expected[1], rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------- fit_resample


class _DigitDataset(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index], -1


@pytest.fixture(scope="module")
def image_forms(digits_folder, digits):
    from skclip_noise.datasets import load_image_folder

    paths, labels = load_image_folder(digits_folder)
    images = digits[0][:30]
    return list(paths), np.asarray(labels).astype(str), images, digits[1][:30].astype(str)


def _resampled(X, y):
    detector = GMMLossDetector(**TINY_CLIP, device="cpu", random_state=0, epochs=2)
    X_clean, y_clean = detector.fit_resample(X, y)
    return X_clean, y_clean, detector.clean_mask_


def test_fit_resample_keeps_a_numpy_array(image_forms, digit_features):
    _, _, images, labels = image_forms
    for X, y in ((images, labels), digit_features[:2]):
        X_clean, y_clean, mask = _resampled(X, y)
        assert type(X_clean) is np.ndarray and type(y_clean) is np.ndarray
        np.testing.assert_array_equal(X_clean, X[mask])
        np.testing.assert_array_equal(y_clean, y[mask])


def test_fit_resample_keeps_a_list_or_tuple_of_paths(image_forms):
    paths, labels, _, _ = image_forms
    for X in (paths, tuple(paths)):
        X_clean, y_clean, mask = _resampled(X, labels)
        assert type(X_clean) is type(X)
        assert list(X_clean) == [p for p, keep in zip(paths, mask) if keep]
        np.testing.assert_array_equal(y_clean, labels[mask])


def test_fit_resample_keeps_a_series_and_its_index(image_forms, digit_features):
    paths, labels, _, _ = image_forms
    index = pd.Index([f"img-{i:02d}" for i in range(len(paths))], name="image_id")
    X, y = pd.Series(paths, index=index), pd.Series(labels, index=index, name="label")
    X_clean, y_clean, mask = _resampled(X, y)
    assert isinstance(X_clean, pd.Series) and isinstance(y_clean, pd.Series)
    assert X_clean.index.equals(index[mask]) and y_clean.index.equals(index[mask])
    assert X_clean.tolist() == X[mask].tolist() and y_clean.name == "label"
    # A DataFrame of features keeps its index too.
    features, y_noisy = digit_features[:2]
    frame = pd.DataFrame(features, index=np.arange(len(features)) * 7 + 3)
    X_clean, y_clean, mask = _resampled(frame, pd.Series(y_noisy, index=frame.index))
    assert isinstance(X_clean, pd.DataFrame) and X_clean.index.equals(frame.index[mask])
    assert y_clean.index.equals(frame.index[mask])


def test_fit_resample_turns_a_dataset_into_a_subset(image_forms):
    _, _, images, labels = image_forms
    dataset = _DigitDataset(images)
    X_clean, y_clean, mask = _resampled(dataset, labels)
    assert isinstance(X_clean, torch.utils.data.Subset)
    assert X_clean.dataset is dataset
    assert list(X_clean.indices) == np.flatnonzero(mask).tolist()
    np.testing.assert_array_equal(y_clean, labels[mask])
    # The same verdicts as on the array the dataset wraps.
    np.testing.assert_array_equal(_resampled(images, labels)[2], mask)
