"""
A detector in an imbalanced-learn Pipeline before a classifier
==============================================================

Every detector has imbalanced-learn's sampler verb, ``fit_resample(X, y)``,
which returns the samples it judges clean. In an imbalanced-learn
:class:`~imblearn.pipeline.Pipeline` it therefore drops the suspected label
errors before the classifier trains, and is skipped at prediction time. Here:
real MobileNetV2 embeddings (offline weights), a
:class:`~skclip_noise.GMMLossDetector`, then a scikit-learn
classifier, trained on 1,200 digits with 40 % symmetric label noise and tested
on the other 597, whose labels are clean.
"""

# %%
# Pipelines with and without the detector
# ---------------------------------------
# For each classifier: the same embedder and classifier without a detector,
# with one, and (for reference) trained on the true labels. The embedder's
# on-disk cache means the images are embedded once, whichever pipeline runs
# first.

import shutil
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from skclip_noise import GMMLossDetector, ImageEmbedder, detection_report, make_noisy_labels
from skclip_noise.datasets import load_digits_images

X, y = load_digits_images()
X_train, y_train, X_test, y_test = X[:1200], y[:1200], X[1200:], y[1200:]
y_noisy, is_noisy = make_noisy_labels(y_train, "symmetric", 0.4, random_state=0)

cache_dir = tempfile.mkdtemp(prefix="skclip-noise-embeddings-")  # each pipeline embeds X once in all
embedder = ImageEmbedder("torchvision:mobilenet_v2", pretrained="offline", image_size=64, cache_dir=cache_dir)
classifiers = {
    "5-nearest neighbours": KNeighborsClassifier(n_neighbors=5),
    "logistic regression": LogisticRegression(C=10.0, max_iter=3000),
}

accuracy = {}
for name, classifier in classifiers.items():
    with_detector = Pipeline(
        [
            ("embed", clone(embedder)),
            ("detect", GMMLossDetector(random_state=0)),
            ("classify", clone(classifier)),
        ]
    ).fit(X_train, y_noisy)
    without_detector = Pipeline([("embed", clone(embedder)), ("classify", clone(classifier))])
    without_detector.fit(X_train, y_noisy)
    on_true_labels = clone(without_detector).fit(X_train, y_train)
    accuracy[name] = {
        "noisy labels": without_detector.score(X_test, y_test),
        "noisy labels + detector": with_detector.score(X_test, y_test),
        "true labels (reference)": on_true_labels.score(X_test, y_test),
    }
    print(name, {k: round(v, 3) for k, v in accuracy[name].items()})

# %%
# What the detector dropped
# -------------------------
# The fitted steps stay in the pipeline; the detector's ``clean_mask_`` says
# which training samples the classifier saw. At prediction time the detector
# step is skipped, so every test image gets a prediction.

detector = with_detector.named_steps["detect"]
print(f"kept {detector.clean_mask_.sum()} of {len(y_noisy)} training samples")
print(detection_report(is_noisy, detector.clean_mask_))

# %%
# Test accuracy
# -------------
# How much filtering helps depends on the classifier: one that follows
# individual training samples (nearest neighbours) copies wrong labels, while
# one that averages over many samples is hurt less by symmetric noise.

fig, ax = plt.subplots(figsize=(7, 4))
settings = list(next(iter(accuracy.values())))
width = 0.8 / len(settings)
for j, setting in enumerate(settings):
    values = [accuracy[name][setting] for name in classifiers]
    bars = ax.bar(np.arange(len(classifiers)) + (j - 1) * width, values, width, label=setting)
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
ax.set_xticks(np.arange(len(classifiers)), list(classifiers))
ax.set(ylabel="test accuracy (clean labels)", ylim=(0, 1),
       title="MobileNetV2 embeddings, 40 % symmetric label noise")
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()
plt.show()

# %%
# The detector's parameters are the pipeline's, so they can be searched like any
# other, e.g. ``GridSearchCV(pipeline, {"detect__threshold": [0.3, 0.5, 0.7]})``.

print(with_detector.get_params()["detect__threshold"])
shutil.rmtree(cache_dir)  # the embeddings' temporary cache
