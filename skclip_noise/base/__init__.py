"""Base classes and the detector contract shared by every estimator."""

from .classifier import BaseNoiseRobustClassifier, check_validation_data
from .contract import DetectorMixin, Scores, pandas_index, subset_samples
from .detector import BaseNoiseDetector
from .estimator import ImageEstimatorMixin, is_table

__all__ = [
    "BaseNoiseDetector",
    "BaseNoiseRobustClassifier",
    "DetectorMixin",
    "ImageEstimatorMixin",
    "Scores",
    "check_validation_data",
    "is_table",
    "pandas_index",
    "subset_samples",
]
