"""DeftClassifier: DEFT phase 2, adapting a pre-trained image model on the clean subset."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted
from torch.nn import functional as F

from .._param_validation import check_positive_ints
from ..backbones.heads import ImageClassifierNet, peft_tuning_for
from ..backbones.loading import load_backbone
from ..data.inputs import ImageDataset, ImageInputMixin, check_image_input
from ..data.labels import LabelEncoding, check_labels
from ..detectors.dual_prompt import DualPromptDetector
from ..embedder import fitted_device
from ..training.device import resolve_device, seed_from_random_state
from ..training.loop import Trainer, cpu_state_dict, evaluate, make_loader
from ._validation import check_validation_data

__all__ = ["DeftClassifier", "optimizer_preset"]

TUNINGS = ("full", "peft", "none")

# The paper's Table 11 (phase-2 optimisers per backbone family); CLIP image towers use
# the reference code's phase-2 setting.
_PRESETS = {
    "clip": ("sgd", 5e-4, 5e-4),
    "vit": ("sgd", 1e-2, 1e-5),
    "mae": ("adamw", 1e-4, 1e-3),
    "convnext": ("adamw", 1e-4, 1e-4),
    "cnn": ("adamw", 1e-3, 1e-5),  # ResNet-50's setting, for other CNNs too
}


def optimizer_preset(backbone):
    """``(optimizer, lr, weight_decay)`` for a backbone spec, after DEFT's Table 11.

    Examples
    --------
    >>> optimizer_preset("timm:resnet50.a1_in1k")
    ('adamw', 0.001, 1e-05)
    >>> optimizer_preset("open_clip:ViT-B-16")
    ('sgd', 0.0005, 0.0005)
    """
    family, _, name = str(backbone).partition(":")
    name = name.lower()
    if family.replace("-", "_") == "open_clip":
        return _PRESETS["clip"]
    if "mae" in name:
        return _PRESETS["mae"]
    if "convnext" in name:
        return _PRESETS["convnext"]
    if "vit" in name or "deit" in name:
        return _PRESETS["vit"]
    return _PRESETS["cnn"]


def _warn_if_classes_lost(classes, codes, clean_mask):
    """Warn when the detector kept no sample of some class: it can never be predicted."""
    kept = np.bincount(codes[clean_mask], minlength=len(classes))
    lost = classes[kept == 0]
    if len(lost):
        warnings.warn(
            f"The detector kept no sample of {len(lost)} of {len(classes)} classes "
            f"({', '.join(map(str, lost[:10]))}{', ...' if len(lost) > 10 else ''}); the classifier cannot "
            "learn them. Check the detector's clean_proba_ per class, or loosen its threshold.",
            UserWarning,
            stacklevel=3,
        )


class DeftClassifier(ImageInputMixin, ClassifierMixin, BaseEstimator):
    """Train an image classifier only on the samples a noisy-label detector keeps.

    DEFT's second phase: a detector (by default :class:`DualPromptDetector`, DEFT's
    phase 1; any detector of this package works) judges every training pair, then a
    pre-trained image model with a new linear head is fine-tuned with cross-entropy
    on the pairs judged clean. The reference fine-tunes the CLIP image tower (its
    pre-projection CLS feature) with SGD lr 5e-4, momentum 0.9, weight decay 5e-4 and
    a cosine schedule for 10 epochs; other backbone families get the optimisers of
    the paper's Table 11 unless ``optimizer``, ``lr`` or ``weight_decay`` are given.

    The paper's "best" accuracy picks the best epoch on the test set; here the last
    epoch is kept, or the best one on ``validation_data`` passed to :meth:`fit`.

    Parameters
    ----------
    detector : detector, "passthrough" or None, default=None
        Cloned in ``fit``; None means ``DualPromptDetector()``. ``"passthrough"``
        skips detection and trains on every sample: plain fine-tuning with
        cross-entropy on the given labels, the baseline DEFT is measured against
        (``backbone`` is then required).
    backbone : str, default=None
        Phase-2 model; None uses the detector's backbone and weights.
    pretrained : str, bool or None, default=None
        Weights of ``backbone`` when it is given (None: random weights).
    tuning : {"full", "peft", "none"}, default="full"
        Full fine-tuning; PEFT (VPT on ViT towers, BitFit otherwise: the paper's
        Table 10); or a linear head on the frozen tower.
    epochs : int, default=10
    optimizer : {"sgd", "adamw"}, default=None
        None picks the backbone family's preset (:func:`optimizer_preset`).
    lr, weight_decay : float, default=None
        None picks the preset's.
    momentum : float, default=0.9
        SGD momentum.
    batch_size : int, default=64
    n_vpt : int, default=20
        Prompt tokens per layer for ``tuning="peft"`` on ViT towers.
    image_size : int, default=None
        Input side for CNN backbones (None keeps the backbone's own), as in
        :class:`~skclip_noise.ImageEmbedder`.
    num_workers, device, mixed_precision, checkpoint_path, random_state, verbose
        As for the other torch estimators.

    Attributes
    ----------
    detector_ : detector or None
        The fitted clone of ``detector`` (None with ``detector="passthrough"``).
    clean_mask_ : ndarray of bool
        Which training samples the classifier was trained on.
    classes_ : ndarray
    history_ : list of dict
        Per epoch: loss, learning rate and, with validation data, ``val_accuracy``.
    best_epoch_ : int
        The epoch whose weights are kept (1-based).

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise import DeftClassifier, GMMLossDetector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, (16, 8, 8), dtype=np.uint8)
    >>> y = np.array([0, 1] * 8)
    >>> tiny = dict(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu", random_state=0)
    >>> clf = DeftClassifier(GMMLossDetector(epochs=2, **tiny), epochs=1, batch_size=8, **tiny)
    >>> clf.fit(X, y).predict(X).shape
    (16,)
    """

    def __init__(
        self,
        detector=None,
        *,
        backbone=None,
        pretrained=None,
        tuning="full",
        epochs=10,
        optimizer=None,
        lr=None,
        weight_decay=None,
        momentum=0.9,
        batch_size=64,
        n_vpt=20,
        image_size=None,
        num_workers=0,
        device="auto",
        mixed_precision="auto",
        checkpoint_path=None,
        random_state=None,
        verbose=0,
    ):
        self.detector = detector
        self.backbone = backbone
        self.pretrained = pretrained
        self.tuning = tuning
        self.epochs = epochs
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.batch_size = batch_size
        self.n_vpt = n_vpt
        self.image_size = image_size
        self.num_workers = num_workers
        self.device = device
        self.mixed_precision = mixed_precision
        self.checkpoint_path = checkpoint_path
        self.random_state = random_state
        self.verbose = verbose

    def _phase2_backbone(self, detector):
        if self.backbone is not None:
            return self.backbone, self.pretrained
        if detector is None:
            raise ValueError('detector="passthrough" needs a backbone; pass DeftClassifier(backbone=...).')
        if not hasattr(detector, "backbone"):
            raise ValueError(
                f"{type(detector).__name__} names no backbone; pass DeftClassifier(backbone=...)."
            )
        return detector.backbone, detector.pretrained

    def _detect(self, X, y, n_samples):
        """The fitted detector (None for "passthrough") and the mask of samples to train on."""
        if isinstance(self.detector, str):
            if self.detector != "passthrough":
                raise ValueError(f'detector must be a detector, None or "passthrough"; got {self.detector!r}.')
            return None, np.ones(n_samples, dtype=bool)
        detector = DualPromptDetector() if self.detector is None else clone(self.detector)
        detector.fit(X, y)
        clean_mask = np.asarray(detector.clean_mask_, dtype=bool)
        if not clean_mask.any():
            raise ValueError("The detector judged every sample noisy; nothing is left to train on.")
        return detector, clean_mask

    def _check_params(self):
        if self.tuning not in TUNINGS:
            raise ValueError(f"tuning must be one of {TUNINGS}; got {self.tuning!r}.")
        if self.optimizer not in (None, "sgd", "adamw"):
            raise ValueError(f"optimizer must be None, 'sgd' or 'adamw'; got {self.optimizer!r}.")
        check_positive_ints(self, "epochs", "batch_size")

    def _net(self, backbone, n_classes):
        tuning = {"full": "full", "none": "linear"}.get(self.tuning) or peft_tuning_for(backbone.image_tower)
        return ImageClassifierNet.from_backbone(backbone, n_classes, tuning=tuning, n_vpt=self.n_vpt)

    def _make_optimizer(self, net, spec):
        kind, lr, weight_decay = optimizer_preset(spec)
        kind = self.optimizer or kind
        lr = self.lr if self.lr is not None else lr
        weight_decay = self.weight_decay if self.weight_decay is not None else weight_decay
        params = [p for p in net.parameters() if p.requires_grad]
        if kind == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=self.momentum, weight_decay=weight_decay)
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def fit(self, X, y, validation_data=None):
        """Detect the noisy labels, then train on the clean samples.

        Parameters
        ----------
        X : images
            An array ``(N, H, W[, 3])``, image paths, or a torch Dataset.
        y : array-like of shape (n_samples,)
            The given, possibly wrong, labels.
        validation_data : tuple (X_val, y_val), default=None
            Clean held-out data (never the test set) to keep the best epoch.

        Returns
        -------
        self
        """
        self._check_params()
        X_checked = check_image_input(X)
        labels = check_labels(y, X_checked.n_samples)
        encoding = LabelEncoding(labels)
        self.detector_, self.clean_mask_ = self._detect(X, y, X_checked.n_samples)
        self.classes_ = encoding.classes
        _warn_if_classes_lost(self.classes_, encoding.codes, self.clean_mask_)
        spec, pretrained = self._phase2_backbone(self.detector_)
        device = resolve_device(self.device)
        self.device_ = str(device)
        seed = seed_from_random_state(self.random_state)
        backbone = load_backbone(spec, pretrained, device=device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = self._net(backbone, len(self.classes_)).to(device)
        optimizer = self._make_optimizer(net, spec)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        trainer = Trainer(
            net, optimizer, scheduler=scheduler, device=device, seed=seed,
            mixed_precision=self.mixed_precision, verbose=self.verbose,
            checkpoint_path=self.checkpoint_path, description="DeftClassifier",
        )
        targets = torch.as_tensor(encoding.codes, dtype=torch.long, device=device)
        train_data = ImageDataset(
            X_checked, backbone.train_transform(self.image_size), indices=np.flatnonzero(self.clean_mask_)
        )
        validation = check_validation_data(validation_data, encoding)
        best = {"accuracy": -1.0, "epoch": self.epochs, "state": None}

        def batches(epoch):
            return make_loader(train_data, batch_size=self.batch_size, shuffle=True,
                               generator=trainer.generator, num_workers=self.num_workers)

        def step(batch, epoch):
            images, index = batch
            return F.cross_entropy(net(images).float(), targets[index])

        def on_epoch_end(epoch, record):
            if validation is None:
                return None
            X_val, codes_val = validation
            accuracy = float((self._logits(net, backbone, X_val, device).argmax(1).numpy() == codes_val).mean())
            if accuracy > best["accuracy"]:
                best.update(accuracy=accuracy, epoch=epoch + 1, state=cpu_state_dict(net))
            return {"val_accuracy": accuracy}

        self.history_ = trainer.fit(self.epochs, batches, step, on_epoch_end=on_epoch_end)
        if best["state"] is not None:
            net.load_state_dict(best["state"])
        self.best_epoch_ = best["epoch"]
        self.net_state_ = cpu_state_dict(net)
        self._phase2 = (spec, pretrained)
        return self

    def _logits(self, net, backbone, X_checked, device):
        loader = make_loader(ImageDataset(X_checked, backbone.eval_transform(self.image_size)), batch_size=self.batch_size,
                             num_workers=self.num_workers)
        return evaluate(net, loader, lambda batch: net(batch[0]), device=device,
                        mixed_precision=self.mixed_precision)

    def _restored(self):
        device = fitted_device(self.device_)
        backbone = load_backbone(*self._phase2, device=device)
        with torch.random.fork_rng(devices=[]):
            net = self._net(backbone, len(self.classes_))
        net.load_state_dict(self.net_state_)
        return net.to(device), backbone, device

    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, "net_state_")
        net, backbone, device = self._restored()
        logits = self._logits(net, backbone, check_image_input(X), device)
        return logits.softmax(dim=1).numpy().astype(np.float64)

    def predict(self, X):
        """Predicted classes."""
        proba = self.predict_proba(X)  # raises NotFittedError before classes_ is read
        return self.classes_[proba.argmax(axis=1)]


