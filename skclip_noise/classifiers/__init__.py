"""Noise-robust classifiers: train on what a detector keeps."""

from .deft import DeftClassifier, optimizer_preset

__all__ = ["DeftClassifier", "optimizer_preset"]
