"""Base classes and the detector contract shared by every estimator."""

from .classifier import BaseNoiseRobustClassifier, check_validation_data
from .contract import ISSUE_TYPES, DetectorMixin, Scores, issue_types, pandas_index, subset_samples
from .detector import BaseNoiseDetector
from .estimator import ImageEstimatorMixin, is_table

__all__ = [
    "ISSUE_TYPES",
    "BaseNoiseDetector",
    "BaseNoiseRobustClassifier",
    "DetectorMixin",
    "ImageEstimatorMixin",
    "Scores",
    "check_validation_data",
    "issue_types",
    "is_table",
    "pandas_index",
    "subset_samples",
]
