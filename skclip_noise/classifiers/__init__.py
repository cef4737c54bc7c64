"""Noise-robust classifiers: train on what a detector keeps."""

from .avl import AVLPrompter
from .deft import DeftClassifier, optimizer_preset
from .turn import TurnClassifier

__all__ = ["AVLPrompter", "DeftClassifier", "TurnClassifier", "optimizer_preset"]
