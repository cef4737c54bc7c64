"""TurnClassifier and AVLPrompter used the way scikit-learn users use estimators.

Pipelines, GridSearchCV / cross_val_score (plain and label-free scoring, routed
``is_noisy``), clone, nested set_params through DeftClassifier(detector=...), pickling
inside a Pipeline, predict_proba columns against ``classes_``, fitting on a subset of the
classes, checkpoints and TurnClassifier's parameter edges were probed and held. Each test
below pins one bug that did not: the comment above it says what goes wrong today and what
the right behaviour is. Tiny offline backbone (``open_clip:skclip-tiny``, random weights),
a few 32x32 images and one epoch, so the file runs in seconds.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from conftest import random_images
from skclip_noise import AVLPrompter


def _avl(**params):
    return AVLPrompter("open_clip:skclip-tiny", **{
        "pretrained": None, "prompt_depth": 2, "epochs": 1, "batch_size": 8, "device": "cpu",
        "random_state": 0, **params})


# Today: AVLPrompter builds its text prompts from the class names, and refuses integer
# labels without class_names ("pass string labels or class_names=[...]"), but boolean labels
# slip past that check (it looks only at dtype kinds "i"/"u"): fit trains silently with the
# prompts "a photo of a False." / "a photo of a True." (class_names_ == ['False', 'True']),
# so a pretrained CLIP's zero-shot start is meaningless. Right: booleans are no more class
# names than ints are; fit raises the same ValueError naming class_names, before training.
def test_avl_boolean_labels_without_class_names_are_refused_like_integers():
    X = random_images()
    y = np.arange(16) % 2 == 0
    with pytest.raises(ValueError, match="class_names"):
        _avl().fit(X, y)
    # With names given, boolean labels are fine.
    clf = _avl(class_names={False: "cat", True: "dog"}).fit(X, y)
    assert clf.class_names_ == ["cat", "dog"]
