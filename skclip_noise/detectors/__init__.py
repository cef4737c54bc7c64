"""Noisy-label detectors: judge each (image, given label) pair clean or noisy."""

from ..base import BaseNoiseDetector
from .dual_prompt import DualPromptDetector
from .gmm_loss import GMMLossDetector
from .label_match import LabelMatchDetector
from .small_loss import SmallLossDetector

__all__ = ["BaseNoiseDetector", "DualPromptDetector", "GMMLossDetector", "LabelMatchDetector", "SmallLossDetector"]
