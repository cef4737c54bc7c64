"""Noisy-label detectors: judge each (image, given label) pair clean or noisy."""

from ..base import BaseNoiseDetector
from .consensus import ConsensusDetector
from .dual_prompt import DualPromptDetector
from .gmm_loss import GMMLossDetector
from .label_match import LabelMatchDetector
from .neighbour import NeighbourDetector
from .small_loss import SmallLossDetector

__all__ = [
    "BaseNoiseDetector",
    "ConsensusDetector",
    "DualPromptDetector",
    "GMMLossDetector",
    "LabelMatchDetector",
    "NeighbourDetector",
    "SmallLossDetector",
]
