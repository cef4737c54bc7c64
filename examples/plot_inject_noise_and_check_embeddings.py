"""
Inject label noise into real images and see how much pretrained features reveal
================================================================================

Real digits get 40% symmetric label noise. Real ImageNet MobileNetV2 features
(offline weights, no download) feed a GMMLossDetector (a linear probe's per-sample
losses split by a two-component mixture), and its verdicts are scored against the
injected truth. The plot shows the realised noise transition matrix.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from skclip_noise import (
    GMMLossDetector,
    ImageEmbedder,
    detection_report,
    make_noisy_labels,
    noise_transition_matrix,
)
from skclip_noise.datasets import load_digits_images

X, y = load_digits_images()
X, y = X[:600], y[:600]
y_noisy, is_noisy = make_noisy_labels(y, "symmetric", 0.4, random_state=0)

embeddings = ImageEmbedder("torchvision:mobilenet_v2", pretrained="offline", image_size=64).fit_transform(X)
detector = GMMLossDetector(random_state=0).fit(embeddings, y_noisy)
print(detection_report(is_noisy, detector.clean_mask_))

fig, ax = plt.subplots(figsize=(4, 4))
ax.imshow(noise_transition_matrix(y, y_noisy), cmap="viridis")
ax.set(xlabel="noisy label", ylabel="true label", title="Realised noise transitions")
fig.tight_layout()
fig.savefig("noise_transitions.png")
