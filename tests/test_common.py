"""scikit-learn's own estimator checks on every public estimator of skclip_noise.

Estimators are discovered, not listed: every class reachable through
``skclip_noise.__all__`` (and, recursively, the ``__all__`` of the subpackages it
names) that subclasses :class:`sklearn.base.BaseEstimator` and is not a base class
(name starting with ``Base`` or ``_``, or abstract). A new estimator exported from
the package is therefore checked without editing this file; :func:`fast_instance`
builds it with cheap, offline settings (``device="cpu"``, ``random_state=0``,
``epochs=2``, the tiny random-weight CLIP ``open_clip:skclip-tiny``), wherever it has
such parameters.

Three layers:

1. ``parametrize_with_checks`` (strict xfail) on every estimator that takes 2-D
   tables, with :data:`EXPECTED_FAILED_CHECKS` naming each check that cannot apply.
2. For estimators whose tags say they take no tables (``ImageEmbedder`` reads
   images), scikit-learn's suite yields nothing, so the checks that need no tabular
   data run directly.
3. Detectors have no ``predict``/``transform``, so scikit-learn's checks that
   compare predictions (idempotence, pickling, sample order and subset
   invariance, ``n_features_in_`` at predict time...) look at nothing for them.
   ``test_detector_*`` make the same checks on ``predict_clean`` and
   ``clean_proba``, with data each detector can take (feature tables; for
   ``LabelMatchDetector`` embeddings from its own CLIP; real digit images for
   detectors that take images only), and ``test_image_input_*`` make the basic
   ones on image input for the other estimators that read images.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import types
from collections.abc import Mapping

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_param_validation,
    check_parameters_default_constructible,
    check_set_params,
    check_valid_tag_types,
    parametrize_with_checks,
)

import skclip_noise
from skclip_noise import DeftClassifier, GMMLossDetector, ImageEmbedder, TurnClassifier, make_noisy_labels
from skclip_noise.datasets import load_digits_images

# ----------------------------------------------------------------- discovery


def _is_base_class(cls):
    return inspect.isabstract(cls) or cls.__name__.startswith(("Base", "_"))


def public_estimator_classes(package=skclip_noise):
    """Concrete scikit-learn estimators exported through ``__all__``, recursively."""
    found, seen = {}, set()

    def walk(module):
        if module.__name__ in seen:
            return
        seen.add(module.__name__)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if obj is None:  # a submodule named in __all__ but not imported yet
                obj = importlib.import_module(f"{module.__name__}.{name}")
            if isinstance(obj, types.ModuleType):
                if obj.__name__.startswith(package.__name__ + "."):
                    walk(obj)
            elif inspect.isclass(obj) and issubclass(obj, BaseEstimator) and not _is_base_class(obj):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj

    walk(package)
    return sorted(found.values(), key=lambda cls: cls.__name__)


# ------------------------------------------------------------- fast instances


class _AnyLabelNames(Mapping):
    """``class_names`` for any label: scikit-learn's checks use int labels, which
    text prompts cannot name; strings name themselves."""

    def __getitem__(self, label):
        if isinstance(label, str):
            return label
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            return f"class {label}"
        raise KeyError(label)

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def __repr__(self):
        return "_AnyLabelNames()"


#: Cheap, offline values for parameters of these names, used wherever they exist.
GENERIC_FAST_PARAMS = {
    "device": "cpu",
    "random_state": 0,
    "epochs": 2,
    "verbose": 0,
    "backbone": "open_clip:skclip-tiny",  # tiny random-weight CLIP: no download
    "pretrained": None,
}

#: Per-estimator additions. Anything not listed gets GENERIC_FAST_PARAMS only.
FAST_PARAMS = {
    # Text prompts need class names; the checks' labels are ints.
    "LabelMatchDetector": {"class_names": _AnyLabelNames()},
    # scikit-learn's checks fit on as few as 8 samples; a neighbourhood must be smaller.
    "NeighbourDetector": {"n_neighbors": 1},
    "ConsensusDetector": {"n_neighbors": 1, "cv": 2},
    # The default detector (DEFT phase 1 on ViT-B-16 with OpenAI weights) needs a download.
    "DeftClassifier": {
        "detector": GMMLossDetector(**{k: v for k, v in GENERIC_FAST_PARAMS.items() if k != "verbose"}),
        "batch_size": 8,
    },
    # skclip-tiny has 2 layers per tower (the default prompt_depth is 9); text prompts need names.
    "AVLPrompter": {"prompt_depth": 2, "batch_size": 8, "class_names": _AnyLabelNames()},
    # Two probe epochs and one fine-tuning epoch ("epochs" is not one of its parameters).
    "TurnClassifier": {"lp_epochs": 2, "ft_epochs": 1, "lp_batch_size": 8, "ft_batch_size": 8},
}


def fast_instance(cls):
    """An instance of ``cls`` that fits in well under a second on a CPU."""
    accepted = inspect.signature(cls.__init__).parameters
    params = {k: v for k, v in GENERIC_FAST_PARAMS.items() if k in accepted}
    params.update(FAST_PARAMS.get(cls.__name__, {}))
    return cls(**params)


ESTIMATOR_CLASSES = public_estimator_classes()
ESTIMATORS = [fast_instance(cls) for cls in ESTIMATOR_CLASSES]
#: Estimators that take tables only with ``tuning="frozen"``, checked on tables with it too.
FROZEN_VARIANTS = [  # a head alone on the checks' blobs: a rate that learns them in 5 epochs
    fast_instance(DeftClassifier).set_params(detector="passthrough", tuning="frozen", epochs=5, lr=0.05),
    fast_instance(TurnClassifier).set_params(tuning="frozen", lp_lr=0.05),
]
TABLE_ESTIMATORS = [e for e in ESTIMATORS if get_tags(e).input_tags.two_d_array] + FROZEN_VARIANTS
TABLE_FREE_ESTIMATORS = [e for e in ESTIMATORS if not get_tags(e).input_tags.two_d_array]
DETECTORS = [e for e in ESTIMATORS if hasattr(e, "predict_clean")]
# Image input for those not already checked on images by test_detector_* below.
IMAGE_ESTIMATORS = [
    e for e in ESTIMATORS if get_tags(e).input_tags.three_d_array and (e not in DETECTORS or e in TABLE_ESTIMATORS)
]


def _name(estimator):
    return type(estimator).__name__


# ---------------------------------------------------------- expected failures

_CLIP_WIDTH = (
    "a 2-D X must be embeddings from the detector's own CLIP (48 wide for skclip-tiny) to be "
    "scored against its text embeddings; fit rejects this check's {} table"
)
_COVERED = "; test_{} makes this check on 48-wide embeddings"

EXPECTED_FAILED_CHECKS = {
    "LabelMatchDetector": {
        "check_fit_score_takes_y": _CLIP_WIDTH.format("3-column"),
        "check_estimators_overwrite_params": _CLIP_WIDTH.format("2-column")
        + _COVERED.format("detector_fit_keeps_params_and_inputs"),
        "check_dont_overwrite_parameters": _CLIP_WIDTH.format("3-column")
        + _COVERED.format("detector_fit_keeps_params_and_inputs"),
        "check_estimators_fit_returns_self": _CLIP_WIDTH.format("2-column")
        + _COVERED.format("detector_fit_keeps_params_and_inputs"),
        "check_readonly_memmap_input": _CLIP_WIDTH.format("2-column"),
        "check_n_features_in_after_fitting": _CLIP_WIDTH.format("4-column")
        + _COVERED.format("detector_rejects_bad_input_at_predict"),
        "check_positive_only_tag_during_fit": _CLIP_WIDTH.format("2-column"),
        "check_estimators_dtypes": _CLIP_WIDTH.format("5-column"),
        "check_dtype_object": _CLIP_WIDTH.format("10-column"),
        "check_pipeline_consistency": _CLIP_WIDTH.format("3-column")
        + _COVERED.format("detector_is_deterministic_and_idempotent"),
        "check_estimators_nan_inf": _CLIP_WIDTH.format("3-column")
        + " (NaN in X at fit is rejected before that)"
        + _COVERED.format("detector_rejects_bad_input_at_predict"),
        "check_estimators_pickle": _CLIP_WIDTH.format("3-column")
        + _COVERED.format("detector_pickle_round_trip"),
        "check_f_contiguous_array_estimator": _CLIP_WIDTH.format("3-column"),
        "check_methods_sample_order_invariance": _CLIP_WIDTH.format("3-column")
        + _COVERED.format("detector_new_pairs_order_and_subset_invariance"),
        "check_methods_subset_invariance": _CLIP_WIDTH.format("3-column")
        + _COVERED.format("detector_new_pairs_order_and_subset_invariance"),
        "check_fit2d_1feature": _CLIP_WIDTH.format("1-column")
        + " (the message names the width mismatch, not '1 feature(s)')",
        "check_dict_unchanged": _CLIP_WIDTH.format("3-column")
        + _COVERED.format("detector_rejects_bad_input_at_predict"),
        "check_fit_idempotent": _CLIP_WIDTH.format("2-column")
        + _COVERED.format("detector_is_deterministic_and_idempotent"),
        "check_fit_check_is_fitted": _CLIP_WIDTH.format("2-column")
        + _COVERED.format("detector_rejects_bad_input_at_predict"),
        "check_n_features_in": _CLIP_WIDTH.format("2-column")
        + _COVERED.format("detector_outputs_follow_the_contract"),
        "check_fit2d_predict1d": _CLIP_WIDTH.format("3-column"),
    },
}


def expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(_name(estimator), {})


# ------------------------------------------------- 1. scikit-learn's suite


def test_estimators_are_discovered():
    names = {cls.__name__ for cls in ESTIMATOR_CLASSES}
    assert {"GMMLossDetector", "SmallLossDetector", "LabelMatchDetector", "ImageEmbedder"} <= names
    assert not any(name.startswith("Base") for name in names)
    # Every estimator is checked by one of the two parametrisations below.
    assert {_name(e) for e in TABLE_ESTIMATORS + TABLE_FREE_ESTIMATORS} == names
    # Expected failures only name estimators that exist.
    assert set(EXPECTED_FAILED_CHECKS) <= names


@parametrize_with_checks(TABLE_ESTIMATORS, expected_failed_checks=expected_failed_checks, xfail_strict=True)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# --------------------------------------- 2. estimators that take no tables

#: scikit-learn checks that need no tabular data: they look at the constructor,
#: parameters, tags and repr only.
TABLE_FREE_CHECKS = [
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_valid_tag_types,
    check_no_attributes_set_in_init,
    check_mixin_order,
    check_get_params_invariance,
    check_set_params,
    check_do_not_raise_errors_in_init_or_set_params,
    check_param_validation,
    check_parameters_default_constructible,
]


@pytest.mark.parametrize("check", TABLE_FREE_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("estimator", TABLE_FREE_ESTIMATORS, ids=_name)
def test_sklearn_api_checks_without_tables(estimator, check):
    check(_name(estimator), clone(estimator))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_name)
def test_parameters_are_validated_declaratively_before_X(estimator):
    """Every constructor parameter has a declared constraint, and ``fit`` rejects a bad
    value with scikit-learn's message naming the parameter, before it reads X (the
    check's X is a random table that image-only estimators would reject otherwise)."""
    check_param_validation(_name(estimator), clone(estimator))


# ----------------------------------------------- 3. the detector contract


def _blobs(n_per_class, seed, n_features=6, n_classes=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (n_classes, n_features))
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = centres[y] + rng.normal(0, 1, (len(y), n_features))
    order = rng.permutation(len(y))
    return X[order], y[order]


def _digits(n_train, n_test, embedder=None):
    """Real digit images (or their embeddings), string labels, 20% noise on the training part."""
    images, labels = load_digits_images(as_strings=True)
    X, labels = images[: n_train + n_test], labels[: n_train + n_test].astype(str)
    if embedder is not None:
        X = embedder.fit_transform(X).astype(np.float64)
    y_noisy, _ = make_noisy_labels(labels[:n_train], "symmetric", 0.2, random_state=0)
    return X[:n_train], y_noisy, X[n_train:], labels[n_train:]


class DetectorCase:
    """A detector, data it can take, and the detector fitted on it (shared: do not refit)."""

    def __init__(self, detector):
        self.detector = detector
        self.takes_tables = get_tags(detector).input_tags.two_d_array
        if not self.takes_tables:  # images only
            data = _digits(20, 10)
        elif _name(detector) == "LabelMatchDetector":  # embeddings from its own CLIP
            data = _digits(60, 24, ImageEmbedder(detector.backbone, detector.pretrained, device="cpu"))
        else:
            X, y = _blobs(30, seed=0)
            X_test, y_test = _blobs(8, seed=1)
            data = X, make_noisy_labels(y, "symmetric", 0.2, random_state=0)[0], X_test, y_test
        self.X, self.y, self.X_test, self.y_test = data
        self.fitted = clone(detector).fit(self.X, self.y)

    def new_pair_outputs(self, estimator=None, X=None, y=None):
        estimator = self.fitted if estimator is None else estimator
        X, y = (self.X_test, self.y_test) if X is None else (X, y)
        return estimator.predict_clean(X, y), estimator.clean_proba(X, y)


@pytest.fixture(scope="module", params=DETECTORS, ids=_name)
def case(request):
    return DetectorCase(request.param)


def test_detector_fit_keeps_params_and_inputs(case, rng_guard):
    """check_dont_overwrite_parameters, check_estimators_overwrite_params,
    check_estimators_fit_returns_self; and neither fit nor predict draws from the
    global numpy/torch RNGs (``rng_guard``)."""
    estimator = clone(case.detector)
    params_before = joblib.hash(estimator.get_params())
    X_before, y_before = case.X.copy(), case.y.copy()
    assert estimator.fit(case.X, case.y) is estimator
    assert joblib.hash(estimator.get_params()) == params_before
    np.testing.assert_array_equal(case.X, X_before)
    np.testing.assert_array_equal(case.y, y_before)
    # Fitted state is what fit added, and all of it ends in "_" (private state aside).
    added = set(vars(estimator)) - set(vars(clone(case.detector)))
    public = {a for a in added if not a.startswith("_")}
    assert public and all(a.endswith("_") for a in public), sorted(public)
    case.new_pair_outputs(estimator)


def test_detector_outputs_follow_the_contract(case):
    fitted, X, y, n = case.fitted, case.X, case.y, len(case.y)
    np.testing.assert_array_equal(fitted.classes_, np.unique(y))
    if case.takes_tables:
        assert fitted.n_features_in_ == X.shape[1]
    else:
        assert not hasattr(fitted, "n_features_in_")
    assert fitted.clean_mask_.dtype == bool and fitted.clean_mask_.shape == (n,)
    assert fitted.clean_proba_.dtype == np.float64 and fitted.clean_proba_.shape == (n,)
    assert np.all((fitted.clean_proba_ >= 0) & (fitted.clean_proba_ <= 1))
    assert fitted.noise_rate_ == pytest.approx(1 - fitted.clean_mask_.mean())
    issues = fitted.label_issues_
    assert list(issues.columns)[:5] == [
        "is_label_issue", "label_quality", "given_label", "predicted_label", "issue_type"
    ]
    assert set(issues.columns[5:]) <= {"outlier_score", "suggested_label", "suggested_label_confidence"}
    assert np.all((issues["label_quality"] >= 0) & (issues["label_quality"] <= 1))
    types = issues["issue_type"].astype(str).to_numpy()
    assert set(types) <= {"ok", "label", "outlier"}
    np.testing.assert_array_equal(types == "ok", fitted.clean_mask_)
    outlier = types == "outlier"
    if "outlier_score" in issues:
        assert np.all((issues["outlier_score"] >= 0) & (issues["outlier_score"] <= 1))
        assert np.all(issues["outlier_score"][outlier] > 0.5)
    else:
        assert not outlier.any()
    if "suggested_label" in issues:
        # An image of no class has no suggested label; every other pair has the predicted one.
        assert issues["suggested_label"][outlier].isna().all()
        np.testing.assert_array_equal(issues["suggested_label"][~outlier], issues["predicted_label"][~outlier])
        confidence = issues["suggested_label_confidence"][~outlier]
        assert np.all((confidence >= 0) & (confidence <= 1))
    k = len(fitted.classes_)
    assert fitted.noise_transition_.shape == (k, k) and np.all(fitted.noise_transition_ >= 0)
    np.testing.assert_allclose(fitted.noise_transition_.sum(axis=1), 1.0)
    np.testing.assert_array_equal(issues["is_label_issue"], ~fitted.clean_mask_)
    np.testing.assert_array_equal(issues["given_label"], y)
    # Without y, the fitted data gives the fitted verdicts.
    np.testing.assert_array_equal(fitted.predict_clean(X), fitted.clean_mask_)
    np.testing.assert_array_equal(fitted.clean_proba(X), fitted.clean_proba_)
    # New pairs.
    clean, proba = case.new_pair_outputs()
    assert clean.dtype == bool and clean.shape == (len(case.y_test),)
    assert proba.dtype == np.float64 and proba.shape == (len(case.y_test),)
    assert np.all((proba >= 0) & (proba <= 1))


def test_detector_fit_predict_clean_and_fit_resample_agree_with_fit(case):
    mask = case.fitted.clean_mask_
    np.testing.assert_array_equal(clone(case.detector).fit_predict_clean(case.X, case.y), mask)
    X_clean, y_clean = clone(case.detector).fit_resample(case.X, case.y)
    np.testing.assert_array_equal(X_clean, case.X[mask])
    np.testing.assert_array_equal(y_clean, case.y[mask])


def test_detector_is_deterministic_and_idempotent(case):
    """check_fit_idempotent and check_pipeline_consistency, on predict_clean/clean_proba."""
    X, y, fitted = case.X, case.y, case.fitted
    expected = case.new_pair_outputs()
    # A fresh clone with the same random_state: the same verdicts.
    again = clone(case.detector).fit(X, y)
    np.testing.assert_array_equal(again.clean_proba_, fitted.clean_proba_)
    # Refitting after a fit on other data forgets it.
    half = len(y) // 2
    other = clone(case.detector).fit(X[::-1][:half], y[::-1][:half]).fit(X, y)
    np.testing.assert_array_equal(other.clean_mask_, fitted.clean_mask_)
    np.testing.assert_array_equal(other.clean_proba_, fitted.clean_proba_)
    for outputs in (case.new_pair_outputs(again), case.new_pair_outputs(other)):
        np.testing.assert_array_equal(outputs[0], expected[0])
        np.testing.assert_allclose(outputs[1], expected[1], rtol=1e-9, atol=1e-12)


def test_detector_new_pairs_order_and_subset_invariance(case):
    """check_methods_sample_order_invariance and check_methods_subset_invariance."""
    X_test, y_test = case.X_test, case.y_test
    clean, proba = case.new_pair_outputs()
    order = np.random.default_rng(0).permutation(len(y_test))
    clean_perm, proba_perm = case.new_pair_outputs(X=X_test[order], y=y_test[order])
    np.testing.assert_array_equal(clean_perm, clean[order])
    np.testing.assert_allclose(proba_perm, proba[order], rtol=1e-6, atol=1e-7)
    pieces = [case.new_pair_outputs(X=X_test[i : i + 5], y=y_test[i : i + 5]) for i in range(0, len(y_test), 5)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in pieces]), clean)
    np.testing.assert_allclose(np.concatenate([p[1] for p in pieces]), proba, rtol=1e-6, atol=1e-7)


def test_detector_rejects_bad_input_at_predict(case):
    """check_fit_check_is_fitted, check_n_features_in(_after_fitting), check_estimators_nan_inf
    and check_dict_unchanged, on predict_clean/clean_proba."""
    X, y, X_test, y_test, fitted = case.X, case.y, case.X_test, case.y_test, case.fitted
    for method in ("predict_clean", "clean_proba"):
        with pytest.raises(NotFittedError):
            getattr(clone(case.detector), method)(X_test, y_test)
    state = joblib.hash(vars(fitted))
    if case.takes_tables:
        with pytest.raises(ValueError, match="features"):
            fitted.predict_clean(X_test[:, :-1], y_test)
    with pytest.raises(ValueError, match="pass y"):  # other data needs its labels
        fitted.predict_clean(X_test)
    for bad in (np.nan, np.inf):
        X_bad = X_test.astype(np.float64) / (1 if case.takes_tables else 255)
        X_bad[0, 0] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            fitted.clean_proba(X_bad, y_test)
        X_bad = X.astype(np.float64) / (1 if case.takes_tables else 255)
        X_bad[-1, -1] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            clone(case.detector).fit(X_bad, y)
    case.new_pair_outputs()
    assert joblib.hash(vars(fitted)) == state, "predicting changed the fitted detector"


def test_detector_pickle_round_trip(case):
    """check_estimators_pickle, on predict_clean/clean_proba."""
    loaded = pickle.loads(pickle.dumps(case.fitted))
    np.testing.assert_array_equal(loaded.predict_clean(case.X), case.fitted.clean_mask_)
    for a, b in zip(case.new_pair_outputs(loaded), case.new_pair_outputs()):
        np.testing.assert_array_equal(a, b)


def test_detector_accepts_tables_in_other_forms(case):
    """check_estimators_dtypes, check_dtype_object and pandas input, on a detector's own data."""
    if not case.takes_tables:
        pytest.skip(f"{_name(case.detector)} takes images only")
    X, y = case.X, case.y
    frame = pd.DataFrame(X, index=np.arange(len(X)) * 10)
    for X_other in (X.astype(np.float32), X.astype(object), X.tolist(), frame):
        refitted = clone(case.detector).fit(X_other, y)
        np.testing.assert_array_equal(refitted.clean_mask_, case.fitted.clean_mask_)
    assert refitted.label_issues_.index.equals(frame.index)


def test_detector_fitted_on_features_rejects_images_of_another_width():
    """n_features_in_ also holds when new pairs come as images the detector embeds."""
    for detector in TABLE_ESTIMATORS:
        if not hasattr(detector, "predict_clean") or _name(detector) == "LabelMatchDetector":
            continue  # LabelMatchDetector's features are its CLIP's embeddings by construction
        if getattr(detector, "detector", None) == "passthrough":
            continue  # DeftClassifier without a detector judges every pair clean, reading no X
        X, y = _blobs(10, seed=0)
        fitted = clone(detector).fit(X, y)
        images, _ = load_digits_images()
        with pytest.raises(ValueError, match="fitted on 6 features"):
            fitted.predict_clean(images[:4], y[:4])


# ------------------------------------------------------ 4. image input


@pytest.fixture(scope="module")
def digit_images():
    images, labels = load_digits_images(as_strings=True)
    return images[:24], labels[:24].astype(str), images[24:32], labels[24:32].astype(str)


def _image_outputs(estimator, X, y):
    if hasattr(estimator, "predict_clean"):
        return estimator.predict_clean(X, y), estimator.clean_proba(X, y)
    if hasattr(estimator, "predict_proba"):  # classifiers
        return estimator.predict(X), estimator.predict_proba(X)
    return (estimator.transform(X),)


@pytest.mark.parametrize("estimator", IMAGE_ESTIMATORS, ids=_name)
def test_image_input_fit_predict_pickle(estimator, digit_images, rng_guard):
    X, y, X_test, y_test = digit_images
    with pytest.raises(NotFittedError):
        _image_outputs(clone(estimator), X_test, y_test)
    fitted = clone(estimator)
    params_before = joblib.hash(fitted.get_params())
    assert fitted.fit(X, y) is fitted
    assert joblib.hash(fitted.get_params()) == params_before
    assert not hasattr(fitted, "n_features_in_")  # images have no feature count
    expected = _image_outputs(fitted, X_test, y_test)
    # A first fit on other data (two samples of every class: the neighbour detectors need
    # more samples in a class than neighbours) must leave no trace.
    refitted = clone(estimator).fit(X[4:], y[4:]).fit(X, y)
    loaded = pickle.loads(pickle.dumps(fitted))
    for other in (refitted, loaded):
        for a, b in zip(_image_outputs(other, X_test, y_test), expected):
            np.testing.assert_array_equal(a, b)
    if hasattr(fitted, "transform"):
        assert expected[0].shape == (len(X_test), fitted.embedding_dim_)
        assert len(fitted.get_feature_names_out()) == fitted.embedding_dim_

