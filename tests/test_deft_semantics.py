"""DEFT semantics: what DeftClassifier exposes of its detector's verdicts.

DeftClassifier's docstring says its ``clean_proba_``, ``noise_rate_`` and
``label_issues_`` are "the detector's verdicts (the detector contract)"; the
detector contract (BaseNoiseDetector) includes ``noise_transition_`` and the
``suggested_label`` / ``suggested_label_confidence`` columns of ``label_issues_``
"where the detector has a model". ``DeftClassifier._detect`` rebuilds the Scores
from ``clean_proba_``, ``clean_mask_``, ``predicted_`` and ``label_quality`` only,
so everything else the detector said is lost or recomputed.
"""

import warnings

import numpy as np
import pytest
import torch

from skclip_noise import DeftClassifier, DualPromptDetector, NeighbourDetector

torch.set_num_threads(1)

TINY = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8)
    y = np.array(["cat", "dog", "bird"] * 8)
    return X, y


def test_deft_label_issues_keep_the_detectors_suggested_labels(data):
    """DeftClassifier(DualPromptDetector(...)).label_issues_ should be the detector's verdicts.

    Now: the detector's ``label_issues_`` has ``suggested_label`` and
    ``suggested_label_confidence`` (argmax of the positive prompts), but the
    classifier's ``label_issues_`` drops both columns, so a user reading the
    classifier's label issues gets no suggested relabelling.
    Should: the classifier's ``label_issues_`` carries the same columns and values as
    ``detector_.label_issues_``.
    """
    X, y = data
    # threshold 0: on these few images whether the prompts keep any pair turns on the
    # training's random draws, and the columns are what is checked
    detector = DualPromptDetector(n_ctx=2, n_vpt=2, epochs=2, batch_size=8, random_state=0, threshold=0.0, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clf = DeftClassifier(detector, epochs=1, batch_size=8, random_state=0, **TINY).fit(X, y)
    expected = clf.detector_.label_issues_
    assert "suggested_label" in expected.columns
    got = clf.label_issues_
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_array_equal(got["suggested_label"].to_numpy(), expected["suggested_label"].to_numpy())
    np.testing.assert_allclose(got["suggested_label_confidence"].to_numpy(),
                               expected["suggested_label_confidence"].to_numpy())


def test_deft_noise_transition_is_the_detectors(data):
    """DeftClassifier's noise_transition_ should be its detector's estimate.

    Now: with ``NeighbourDetector(rule="rank")``, which estimates ``P(given | true)``
    with HOC (its own ``noise_transition_``), the classifier's ``noise_transition_``
    is a different matrix, recomputed from the binary verdicts, so the same fit
    reports two noise-transition estimates.
    Should: ``clf.noise_transition_`` equals ``clf.detector_.noise_transition_``.
    """
    X, y = data
    detector = NeighbourDetector(n_neighbors=3, rule="rank", **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clf = DeftClassifier(detector, epochs=1, batch_size=8, random_state=0, **TINY).fit(X, y)
    np.testing.assert_allclose(clf.noise_transition_, clf.detector_.noise_transition_)
