"""Noisy-label detectors: judge each (image, given label) pair clean or noisy."""

from ._base import BaseNoiseDetector
from .gmm_loss import GMMLossDetector
from .label_match import LabelMatchDetector
from .small_loss import SmallLossDetector

__all__ = ["BaseNoiseDetector", "GMMLossDetector", "LabelMatchDetector", "SmallLossDetector"]
