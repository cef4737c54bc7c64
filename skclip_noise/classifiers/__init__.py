"""Noise-robust classifiers: train on what a detector keeps."""

from ..base import BaseNoiseRobustClassifier
from .avl import AVLPrompter
from .deft import DeftClassifier
from .turn import TurnClassifier

__all__ = ["AVLPrompter", "BaseNoiseRobustClassifier", "DeftClassifier", "TurnClassifier"]
