"""Synthetic label noise for benchmarking noisy-label detection.

:func:`make_noisy_labels` corrupts a clean label vector with the noise models
used in the learning-with-noisy-labels literature (symmetric, asymmetric,
pair-flip and instance-dependent) and reports which labels it changed.
:func:`noise_transition_matrix` measures the realised noise as a row-stochastic
transition matrix. Three generators simulate what real data sets do:
:func:`make_model_noise` gives hard images a classifier's plausible wrong label,
:func:`make_open_set` replaces images by images of no class that keep a label, and
:func:`make_long_tail` subsamples the classes to exponentially decaying sizes.

All functions accept integer or string labels (anything :func:`numpy.unique`
can sort), work on integer codes internally, and return labels of the input's
kind. Randomness comes only from ``random_state``.

Modules
-------
:mod:`~skclip_noise.noise.generate`
    :func:`make_noisy_labels` and :data:`NOISE_KINDS`.
:mod:`~skclip_noise.noise.mappings`
    The class mappings of asymmetric noise: :data:`CIFAR10_CLASSES`,
    :data:`CIFAR100_COARSE_LABELS` and the ``"cifar10"`` / ``"cifar100"`` presets.
:mod:`~skclip_noise.noise.transition`
    :func:`noise_transition_matrix`.
:mod:`~skclip_noise.noise.realistic`
    :func:`make_model_noise`, :func:`make_open_set` and :func:`make_long_tail`.

Examples
--------
>>> import numpy as np
>>> from skclip_noise.noise import make_noisy_labels, noise_transition_matrix
>>> y = np.repeat([0, 1], 10)
>>> y_noisy, is_noisy = make_noisy_labels(y, "pairflip", rate=0.2, random_state=0)
>>> noise_transition_matrix(y, y_noisy)
array([[0.8, 0.2],
       [0.2, 0.8]])
"""

from .generate import NOISE_KINDS, make_noisy_labels
from .mappings import CIFAR10_CLASSES, CIFAR100_COARSE_LABELS
from .realistic import make_long_tail, make_model_noise, make_open_set
from .transition import noise_transition_matrix

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR100_COARSE_LABELS",
    "NOISE_KINDS",
    "make_long_tail",
    "make_model_noise",
    "make_noisy_labels",
    "make_open_set",
    "noise_transition_matrix",
]
