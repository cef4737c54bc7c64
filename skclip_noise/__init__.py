"""skclip_noise: find wrongly labelled images and train classifiers that resist them.

Pre-trained vision-language models (open_clip's CLIP) and image backbones (timm,
torchvision) behind a scikit-learn API.
"""

from . import _compat  # noqa: F401  (must run before torchvision is first imported)
from . import backbones, classifiers, datasets, decisions, detectors, filter, metrics, model_selection, noise, report, selection
from .classifiers import AVLPrompter, DeftClassifier, TurnClassifier
from .detectors import (
    ConsensusDetector,
    DualPromptDetector,
    GMMLossDetector,
    LabelMatchDetector,
    NeighbourDetector,
    SmallLossDetector,
)
from .decisions import apply_decisions, disputed_pairs
from .embedder import ImageEmbedder
from .exceptions import PretrainedWeightsUnavailableError
from .filter import find_label_issues
from .metrics import detection_report
from .noise import make_noisy_labels, noise_transition_matrix

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("skclip-noise")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "AVLPrompter",
    "ConsensusDetector",
    "DeftClassifier",
    "DualPromptDetector",
    "GMMLossDetector",
    "ImageEmbedder",
    "LabelMatchDetector",
    "NeighbourDetector",
    "SmallLossDetector",
    "TurnClassifier",
    "PretrainedWeightsUnavailableError",
    "apply_decisions",
    "backbones",
    "classifiers",
    "datasets",
    "decisions",
    "detection_report",
    "detectors",
    "disputed_pairs",
    "find_label_issues",
    "make_noisy_labels",
    "metrics",
    "model_selection",
    "noise",
    "noise_transition_matrix",
    "report",
    "selection",
    "__version__",
]
