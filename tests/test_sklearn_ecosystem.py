"""Regression tests for scikit-learn ecosystem conventions that skclip_noise breaks.

Each test here failed when it was written; its docstring says what a user saw and
what they should see. Tiny data only: sklearn's digits (pixels as features, or 8x8
images embedded by the random-weight ``open_clip:skclip-tiny`` on the CPU).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skclip_noise import ConsensusDetector, DeftClassifier, NeighbourDetector, make_noisy_labels
from skclip_noise.metrics import clean_f1_score
from skclip_noise.model_selection import make_detection_scorer

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")


@pytest.fixture(scope="module")
def features():
    """300 digits as 64 pixel features, 20% symmetric label noise."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.data[:300] / 16.0
    y = digits.target[:300]
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    return X, y, y_noisy, is_noisy


@pytest.fixture(scope="module")
def images():
    """120 digit images (uint8, 8x8) with their labels, 20% symmetric noise."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.images[:120] * 16).clip(0, 255).astype(np.uint8)
    y = digits.target[:120]
    y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    return X, y_noisy, is_noisy


# --------------------------------------------------------------------------------------------
# 1. sklearn.set_config(transform_output="pandas") breaks every detector that embeds images


@pytest.mark.parametrize(
    "make_detector",
    [
        lambda: NeighbourDetector(n_neighbors=3, **TINY),
        lambda: ConsensusDetector(n_neighbors=3, cv=2, random_state=0, **TINY),
    ],
    ids=["NeighbourDetector", "ConsensusDetector"],
)
def test_detectors_on_images_fit_under_global_pandas_output(images, make_detector):
    """Many notebooks set ``sklearn.set_config(transform_output="pandas")`` once, at the top.

    Now: fitting a detector on images raises ``ValueError: The truth value of a Series is
    ambiguous`` from ``ImageEstimatorMixin._features``, because the internal
    ``ImageEmbedder.transform`` is wrapped by scikit-learn's set_output machinery and returns
    a DataFrame that ``np.isfinite(...).all()`` cannot be tested in an ``if``.
    Should: the global output setting concerns what users get back from ``transform``; the
    detector's internal embeddings must stay arrays, and the verdicts must be the same as
    without the setting.
    """
    X, y_noisy, _ = images
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = make_detector().fit(X, y_noisy).clean_mask_
        with sklearn.config_context(transform_output="pandas"):
            detector = make_detector().fit(X, y_noisy)
            assert np.array_equal(detector.clean_mask_, expected)
            assert np.isfinite(detector.score(X[:20], y_noisy[:20]))


def test_deft_classifier_fits_under_global_pandas_output(images):
    """Now: ``DeftClassifier(...).fit(images, y)`` inside
    ``sklearn.config_context(transform_output="pandas")`` raises ``ValueError: The truth value
    of a Series is ambiguous`` (its detector embeds the images through a set_output-wrapped
    ``ImageEmbedder.transform``). Should: fit and predict as it does without the setting.
    """
    X, y_noisy, _ = images
    clf = DeftClassifier(NeighbourDetector(n_neighbors=3, **TINY), tuning="frozen", epochs=1, batch_size=32,
                         random_state=0, **TINY)
    with warnings.catch_warnings(), sklearn.config_context(transform_output="pandas"):
        warnings.simplefilter("ignore")
        assert clf.fit(X, y_noisy).predict(X[:5]).shape == (5,)


# --------------------------------------------------------------------------------------------
# 2. pred_probs routed to a detector in imbalanced-learn's Pipeline is silently dropped


def test_imblearn_pipeline_routes_pred_probs_to_the_detector(features):
    """The user guide puts a detector in imbalanced-learn's Pipeline (``fit_resample``) and
    routes ``pred_probs`` with ``set_fit_request(pred_probs=True)``.

    Now: ``imblearn.pipeline.Pipeline([("det", ConsensusDetector(...).set_fit_request(
    pred_probs=True)), ("clf", LogisticRegression())]).fit(X, y, pred_probs=P)`` runs
    without a word but the detector never sees ``P`` (``pred_probs_weight_`` is 0.0 and the
    verdicts are those of a fit without them): the pipeline calls ``fit_resample(X, y)``,
    which takes no fit parameters, so the routed ``pred_probs`` are discarded.
    Should: the detector in the pipeline is fitted with the routed ``pred_probs`` (as
    ``detector.fit(X, y, pred_probs=P)`` is), or the fit raises instead of ignoring them.
    """
    imblearn_pipeline = pytest.importorskip("imblearn.pipeline")
    X, y, y_noisy, _ = features
    oracle = np.eye(10)[y] * 0.9 + 0.01  # a strong, informative model of the true classes
    direct = ConsensusDetector(random_state=0).fit(X, y_noisy, pred_probs=oracle)
    assert direct.pred_probs_weight_ > 0  # the signal is worth something on its own
    with warnings.catch_warnings(), sklearn.config_context(enable_metadata_routing=True):
        warnings.simplefilter("ignore")
        detector = ConsensusDetector(random_state=0).set_fit_request(pred_probs=True)
        pipe = imblearn_pipeline.Pipeline([("det", detector), ("clf", LogisticRegression(max_iter=200))])
        pipe.fit(X, y_noisy, pred_probs=oracle)
    fitted = pipe.named_steps["det"]
    assert fitted.pred_probs_weight_ == pytest.approx(direct.pred_probs_weight_)
    assert np.array_equal(fitted.clean_mask_, direct.clean_mask_)


# --------------------------------------------------------------------------------------------
# 3. make_detection_scorer(metric) cannot rate a Pipeline that ends with a detector


def test_detection_scorer_with_metric_rates_a_pipeline_ending_in_a_detector(features):
    """The user guide fits ``Pipeline([("scale", StandardScaler()), ("detector", detector)])``
    and rates detectors with ``make_detection_scorer(clean_f1_score)`` and a routed
    ``is_noisy``; the label-free ``make_detection_scorer()`` already works on such a pipeline
    (through ``Pipeline.score``).

    Now: ``GridSearchCV(pipe, ..., scoring=make_detection_scorer(clean_f1_score))
    .fit(X, y, is_noisy=is_noisy)`` fails with ``AttributeError: 'Pipeline' object has no
    attribute 'predict_clean'`` from inside the scorer.
    Should: the scorer transforms X through the pipeline's steps and rates the final
    detector's ``predict_clean`` verdicts, giving the same score as on pre-scaled features.
    """
    X, _, y_noisy, is_noisy = features
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("detector", NeighbourDetector())])
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(pipe, {"detector__n_neighbors": [3, 5]}, cv=folds,
                              scoring=make_detection_scorer(clean_f1_score), error_score="raise")
        search.fit(X, y_noisy, is_noisy=is_noisy)
    assert 0.0 <= search.best_score_ <= 1.0


# --------------------------------------------------------------------------------------------
# 4. A DeftClassifier whose fit failed is "fitted" for check_is_fitted


def test_deft_classifier_is_not_fitted_after_its_first_fit_failed(images):
    """Now: when ``fit`` fails after the labels were read (here, ``validation_data`` has a
    class the training labels lack), ``classes_`` is already set, so ``check_is_fitted``
    passes and ``predict`` raises ``AttributeError: 'DeftClassifier' object has no attribute
    '_net_backbone'``.
    Should: an estimator that was never fitted successfully raises ``NotFittedError`` from
    ``predict`` (scikit-learn's convention; Pipelines and notebooks rely on it).
    """
    X, y_noisy, _ = images
    y = y_noisy % 2
    clf = DeftClassifier(NeighbourDetector(n_neighbors=3, **TINY), tuning="frozen", epochs=1, batch_size=32,
                         random_state=0, **TINY)
    with pytest.raises(ValueError, match="not seen during fit"):
        clf.fit(X, y, validation_data=(X[:3], np.array([0, 1, 2])))
    with pytest.raises(NotFittedError):
        clf.predict(X[:3])


# --------------------------------------------------------------------------------------------
# 5. prefer_defaults crashes on a grid whose candidate values are numpy arrays


def test_prefer_defaults_with_an_array_valued_candidate(features):
    """``ConsensusDetector``'s ``Cs`` is array-like (its regularisation path), so a grid such
    as ``{"Cs": [None, np.array([0.1, 1.0])]}`` is natural.

    Now: ``GridSearchCV(..., refit=prefer_defaults({"Cs": None})).fit(X, y)`` runs every fit
    and then fails in the refit rule with ``ValueError: The truth value of an array with more
    than one element is ambiguous`` (``params[name] == value`` compares an array elementwise).
    Should: the candidate whose ``Cs`` is None is recognised as the defaults and the search
    completes (``best_params_ == {"Cs": None}`` unless the array beats it clearly).
    """
    from skclip_noise.model_selection import prefer_defaults

    X, _, y_noisy, _ = features
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(ConsensusDetector(random_state=0), {"Cs": [None, np.array([0.1, 1.0])]}, cv=folds,
                              refit=prefer_defaults({"Cs": None}))
        search.fit(X, y_noisy)
    assert search.best_index_ in (0, 1)


# --------------------------------------------------------------------------------------------
# Found beside the hunt, fixed with it


def test_image_embedder_in_a_column_transformer_with_a_list_of_one_column(tmp_path):
    """ColumnTransformer([("img", ImageEmbedder(...), ["path"])]) hands over a one-column
    DataFrame; it was refused ("Cannot read X of element type str")."""
    from PIL import Image
    from sklearn.compose import ColumnTransformer

    from skclip_noise import ImageEmbedder

    paths = []
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    table = pd.DataFrame({"path": paths, "size": [1.0, 2.0, 3.0]})
    columns = ColumnTransformer([("img", ImageEmbedder(**TINY), ["path"])], remainder="passthrough")
    out = columns.fit_transform(table)
    assert out.shape == (3, 49)
    np.testing.assert_allclose(out[:, :48], ImageEmbedder(**TINY).fit_transform(paths), rtol=1e-5)


def test_image_embedder_says_its_output_dtype():
    """The tags said it preserves float64; its embeddings are float32 whatever the input."""
    from skclip_noise import ImageEmbedder

    assert ImageEmbedder(**TINY).__sklearn_tags__().transformer_tags.preserves_dtype == ["float32"]


@pytest.mark.parametrize("weights", [[-1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [np.nan, 1.0, 1.0, 1.0]])
def test_noise_corrected_accuracy_refuses_weights_that_weigh_nothing_or_less(weights):
    """A negative weight was taken, all-zero weights raised numpy's ZeroDivisionError."""
    from skclip_noise.model_selection import noise_corrected_accuracy_score

    T = np.array([[0.8, 0.2], [0.2, 0.8]])
    with pytest.raises(ValueError, match="sample_weight must hold finite weights >= 0"):
        noise_corrected_accuracy_score(np.array([0, 1, 0, 1]), np.array([0, 1, 1, 1]), T, sample_weight=weights)


def test_noise_corrected_accuracy_names_labels_of_mixed_types():
    """Labels mixing str and int raised a bare TypeError from sorting."""
    from skclip_noise.model_selection import noise_corrected_accuracy_score

    y = np.array(["a", 1, "a", 1], dtype=object)
    with pytest.raises(ValueError, match="mix label types"):
        noise_corrected_accuracy_score(y, y, np.array([[0.8, 0.2], [0.2, 0.8]]))


def test_faiss_threads_read_negative_n_jobs_as_joblib_does():
    """n_jobs=-2 gave faiss every CPU; joblib's convention is all but one."""
    from joblib import effective_n_jobs

    from skclip_noise.selection.neighbours import _faiss_threads

    class FakeFaiss:
        threads = 1

        def omp_get_max_threads(self):
            return self.threads

        def omp_set_num_threads(self, n):
            self.threads = n

    fake = FakeFaiss()
    with _faiss_threads(fake, -2):
        assert fake.threads == effective_n_jobs(-2)
    assert fake.threads == 1
