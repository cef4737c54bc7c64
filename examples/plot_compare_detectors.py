"""
Compare detectors on every kind of label noise
==============================================

Which detector to trust depends on the kind of noise. We embed all 1,797 real
digits once with real ImageNet MobileNetV2 weights and compare the default
:class:`~skclip_noise.ConsensusDetector`, the training-free
:class:`~skclip_noise.NeighbourDetector` and confident learning (cleanlab's
``prune_by_noise_rate`` rule, as the library implements it, on out-of-fold
probabilities of a logistic regression) on the same embeddings, under seven
noises: four that flip labels by class, and three that depend on the image (a
model's plausible wrong labels on the hard images, images of no class at all, a
long tail). The default detector leads under the first four and with images of
no class, which it types as outliers; under a model's plausible wrong labels and
the long tail it is not ahead. The project's benchmarks (``benchmarks/results/``)
say the same on more data.
"""

# %%
# Embed once
# ----------
# Every detector below accepts the embeddings as X, so the backbone runs once.
# The open-set noise needs images of no class: 64-pixel patches of the two
# photographs that ship with scikit-learn, embedded the same way.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_images
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.preprocessing import StandardScaler

from skclip_noise import ConsensusDetector, ImageEmbedder, NeighbourDetector, detection_report
from skclip_noise.datasets import load_digits_images
from skclip_noise.noise import make_long_tail, make_model_noise, make_noisy_labels, make_open_set
from skclip_noise.report import plot_selection_precision_recall
from skclip_noise.selection import confident_learning_mask

X, y = load_digits_images()
embedder = ImageEmbedder("torchvision:mobilenet_v2", pretrained="offline", image_size=64)
embeddings = embedder.fit_transform(X)

photos = [image.mean(axis=2).astype(np.uint8) for image in load_sample_images().images]
patches = np.stack([photo[r:r + 64, c:c + 64] for photo in photos for r in range(0, 360, 32) for c in range(0, 570, 32)])
outside = embedder.transform(patches)
print(embeddings.shape, outside.shape)


# %%
# The noises
# ----------
# Each yields the features (the open set replaces some), the given labels and the
# truth. The model-based noise gives the hard images the wrong class a logistic
# regression on the pixels finds most plausible for them.

pixels = X.reshape(len(X), -1) / 255.0
folds = StratifiedKFold(5, shuffle=True, random_state=0)
pixel_proba = cross_val_predict(LogisticRegression(max_iter=300), pixels, y, cv=folds, method="predict_proba")
confusable = {1: 7, 7: 1, 3: 8, 8: 3, 5: 6, 6: 5, 4: 9, 9: 4}


def noises():
    for kind, extra in [("symmetric", {}), ("pairflip", {}), ("instance", {"features": pixels}),
                        ("asymmetric", {"mapping": confusable})]:
        y_noisy, is_noisy = make_noisy_labels(y, kind, 0.4, random_state=0, **extra)
        yield f"{kind} 40 %", embeddings, y_noisy, is_noisy
    y_noisy, is_noisy = make_model_noise(y, pixel_proba, 0.3, random_state=0)
    yield "model 30 %", embeddings, y_noisy, is_noisy
    X_open, y_open, is_outlier = make_open_set(embeddings, y, outside, 0.2, random_state=0)
    yield "open set 20 %", X_open, y_open, is_outlier
    kept = make_long_tail(y, 10, random_state=0)
    y_noisy, is_noisy = make_noisy_labels(y[kept], "symmetric", 0.3, random_state=0)
    yield "long tail + sym 30 %", embeddings[kept], y_noisy, is_noisy


# %%
# Fit every detector under every noise
# ------------------------------------
# Confident learning gets out-of-fold probabilities of a logistic regression
# on the standardised embeddings (``C=0.01``, fixed here to keep the example
# short; the benchmarks tune it).


def confident_learning(features, labels):
    proba = cross_val_predict(LogisticRegression(C=0.01, max_iter=500), StandardScaler().fit_transform(features),
                              labels, cv=folds, method="predict_proba")
    return confident_learning_mask(labels, proba)


consensus = {}  # the fitted default detector of each noise, and the truth, for the sections below


def consensus_detector(features, labels):
    consensus[noise] = ConsensusDetector(random_state=0).fit(features, labels), is_noisy
    return consensus[noise][0].clean_mask_


methods = {
    "ConsensusDetector": consensus_detector,
    "NeighbourDetector": lambda F, labels: NeighbourDetector().fit(F, labels).clean_mask_,
    "confident learning": confident_learning,
}
results = {}
for noise, features, y_noisy, is_noisy in noises():
    for name, detect in methods.items():
        results[noise, name] = detection_report(is_noisy, detect(features, y_noisy), output_dict=True)
        print(f"{noise:21s} {name:19s} clean F1 {results[noise, name]['clean_f1']:.3f}  "
              f"noisy F1 {results[noise, name]['noisy_f1']:.3f}")
noise_names = list(dict.fromkeys(noise for noise, _ in results))

# %%
# F1 of the kept (clean) set and of the flagged (noisy) set
# ---------------------------------------------------------

fig, axes = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
width = 0.8 / len(methods)
for ax, side in zip(axes, ["clean_f1", "noisy_f1"]):
    for j, name in enumerate(methods):
        values = [results[noise, name][side] for noise in noise_names]
        ax.bar(np.arange(len(noise_names)) + (j - 1) * width, values, width, label=name)
    ax.set_ylabel(side.replace("_", "-side ").replace("f1", "F1"))
    ax.set_ylim(0, 1)
axes[1].set_xticks(np.arange(len(noise_names)), noise_names, rotation=20)
axes[0].legend(loc="lower left", fontsize=8)
fig.tight_layout()

# %%
# Precision and recall of the clean set as the threshold moves
# ------------------------------------------------------------
# Under pair-flip noise the default detector's clean probability separates the
# flips. Images of no class get evidence spread over every class from its probe
# and neighbours, but their neighbours' labels are as arbitrary as the data
# set's, which no class explains: they are judged issues of their own kind,
# ``issue_type == "outlier"``, with no suggested label.

fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, noise in zip(axes, ["pairflip 40 %", "open set 20 %"]):
    detector, is_noisy = consensus[noise]
    plot_selection_precision_recall(detector.clean_proba_, is_noisy, clean_pred=detector.clean_mask_, ax=ax)
    ax.set_title(f"ConsensusDetector, {noise}")
fig.tight_layout()
plt.show()

detector, is_outlier = consensus["open set 20 %"]
types = detector.label_issues_["issue_type"]
print("images of no class typed outlier:", f"{(types[is_outlier] == 'outlier').mean():.0%};",
      "digits typed outlier:", f"{(types[~is_outlier] == 'outlier').mean():.1%}")

# %%
# Hard images: thirty checked labels decide
# -----------------------------------------
# Whether the wrong labels sit on the hard images cannot be read off the images and
# labels: a hard image with a plausible label looks the same whether someone flipped
# it or not. A person can tell from a few *disputed* pairs (kept, though another class
# is more probable; :func:`~skclip_noise.disputed_pairs`). Here the truth plays that
# person: check thirty, and when more than half are wrong, flag every disputed pair
# (what ``ConsensusDetector(flag_disagreement=True)`` gives).

from skclip_noise import disputed_pairs

for noise in ["model 30 %", "symmetric 40 %", "long tail + sym 30 %"]:
    detector, is_noisy = consensus[noise]
    to_check = disputed_pairs(detector, n_checks=30, random_state=0)
    share_wrong = is_noisy[to_check.index].mean()
    clean = detector.clean_mask_
    if share_wrong > 0.5:
        clean = clean & ~detector.label_issues_.index.isin(disputed_pairs(detector).index)
    best_other = max(results[noise, name]["clean_f1"] for name in methods if name != "ConsensusDetector")
    print(f"{noise:21s} {len(disputed_pairs(detector)):3d} disputed, {share_wrong:.0%} of 30 checked wrong: "
          f"{'flag them all' if share_wrong > 0.5 else 'keep them'}; clean F1 "
          f"{detection_report(is_noisy, clean, output_dict=True)['clean_f1']:.3f} (best other method {best_other:.3f})")
