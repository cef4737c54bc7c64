"""DeftClassifier: DEFT phase 2, adapting a pre-trained image model on the clean subset."""

from __future__ import annotations


import numpy as np
import torch
from sklearn.base import clone
from torch.nn import functional as F

from .._warnings import warn_user
from .._param_validation import (
    HasMethods,
    StrOptions,
    constraints_for,
    non_negative_real,
    positive_real,
)
from ..backbones import parse_backbone_spec
from ..backbones.heads import ImageClassifierNet
from ..backbones.loading import load_backbone
from ..backbones.towers import peft_method_for
from ..base import BaseNoiseRobustClassifier, DetectorMixin, Scores, pandas_index
from ..base.contract import subset_samples
from ..data.inputs import ImageDataset, ImageInput
from ..detectors.dual_prompt import DualPromptDetector
from ..training.best_epoch import BestEpoch, accuracy
from ..training.checkpoint import (
    check_checkpoint_random_state,
    checkpoint_fingerprint,
    sub_checkpoint_path,
)
from ..training.device import resolve_device, seed_from_random_state, seeded_torch, small_model_threads
from ..training.linear_head import StandardizedLinear, head_logits
from ..training.loop import Trainer, evaluate, make_loader, trainable_state_dict
from ..training.optim import OptimizerSettings, make_optimizer, optimizer_preset, resolve_optimizer
from ..training.preflight import check_image_size
from ._fitted_net import FittedNetMixin

__all__ = ["DeftClassifier"]

# tuning="frozen": TURN's linear probe (chosen on a validation split, see TurnClassifier)
_FROZEN_HEAD = OptimizerSettings("adamw", 3e-4, 0.0)


def _warn_if_classes_lost(classes, codes, clean_mask):
    """Warn when the detector kept no sample of some class: it can never be predicted."""
    kept = np.bincount(codes[clean_mask], minlength=len(classes))
    lost = classes[kept == 0]
    if len(lost):
        warn_user(
            f"The detector kept no sample of {len(lost)} of {len(classes)} classes "
            f"({', '.join(map(str, lost[:10]))}{', ...' if len(lost) > 10 else ''}); the classifier cannot "
            "learn them. Check the detector's clean_proba_ per class, or loosen its threshold.",
            UserWarning,
        )


class DeftClassifier(FittedNetMixin, DetectorMixin, BaseNoiseRobustClassifier):
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
        Cloned in ``fit``; None means ``DualPromptDetector(random_state=random_state)``.
        Its parameters (backbone, device, mixed precision, ...) are checked with
        this classifier's, before anything trains. ``"passthrough"``
        skips detection and trains on every sample: plain fine-tuning with
        cross-entropy on the given labels, the baseline DEFT is measured against
        (``backbone`` is then required).
    backbone : str, default=None
        Phase-2 model; None uses the detector's backbone and weights.
    pretrained : str, bool or None, default=None
        Weights of ``backbone`` when it is given (None: random weights).
    tuning : {"full", "peft", "frozen"}, default="full"
        How much of the image tower trains: all of it (on a CLIP ViT tower its
        transformer blocks, as DEFT's reference fine-tunes them: the patch and
        position embeddings and the norms outside the blocks stay frozen);
        parameter-efficiently (VPT on ViT towers, BitFit otherwise: the paper's
        Table 10); or none: a linear head on the backbone's embeddings, computed
        once by :class:`~skclip_noise.ImageEmbedder` (through ``cache_dir``), centred
        and divided by their average spread, trained with AdamW (lr 3e-4, no weight
        decay: TURN's linear probe) unless ``optimizer``, ``lr`` or ``weight_decay``
        say otherwise. X may then be a 2-D array of precomputed embeddings (the
        detector must take them too: ``"passthrough"``, or a detector with
        ``tuning="frozen"``).
    epochs : int, default=10
    optimizer : {"sgd", "adamw"}, default=None
        None picks the tower kind's preset
        (:func:`~skclip_noise.training.optim.optimizer_preset`, DEFT's Table 11), or
        with ``tuning="frozen"`` the linear probe's (above).
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
    cache_dir : str or path-like, default=None
        Embedding cache of ``tuning="frozen"`` (see :class:`~skclip_noise.ImageEmbedder`);
        the detector uses it too when its own ``cache_dir`` is None, so that a detector
        on the same backbone's frozen embeddings and the head share one embedding pass.
    n_jobs : int, default=None
        Embedding shards of ``tuning="frozen"`` run in parallel through joblib; None
        embeds in this process.
    checkpoint_path : str, default=None
        Phase 2's training state is written there after every epoch (with the best
        validation epoch so far), and a later fit on the same data with the same
        parameters resumes from it; the detector phase uses
        ``<stem>.detector<suffix>`` as its ``checkpoint_path`` when it has that
        parameter and it is None. It needs integer random states. A checkpoint of
        another fit (other data, parameters or weights) is not resumed: the fit
        trains from scratch and overwrites it, with a warning.
    num_workers, device, mixed_precision, random_state, verbose
        As for the other torch estimators.

    Attributes
    ----------
    detector_ : detector or None
        The fitted clone of ``detector`` (None with ``detector="passthrough"``).
    clean_mask_ : ndarray of bool
        Which training samples the classifier was trained on (all of them with
        ``"passthrough"``).
    clean_proba_, predicted_, noise_rate_, noise_transition_, label_issues_
        The detector's verdicts (the detector contract: ``predict_clean``,
        ``clean_proba`` and ``fit_resample`` work on the classifier too).
    classes_, class_names_ : ndarray, list of str
        The sorted labels (the columns of :meth:`predict_proba`) and their names.
    net_state_ : dict of tensors
        The trained weights of the network (with ``tuning="frozen"``, of the head).
    device_ : str
        The device the fit ran on.
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

    _model_params = ("tuning", "n_vpt")
    _global_batch_sizes = ("batch_size",)
    _parameter_constraints = {
        **constraints_for(
            "pretrained", "tuning", "epochs", "momentum", "batch_size", "n_vpt", "image_size", "cache_dir",
            "num_workers", "n_jobs", "device", "mixed_precision", "checkpoint_path", "random_state", "verbose",
        ),
        "detector": [HasMethods(["fit", "predict_clean"]), StrOptions({"passthrough"}), None],
        "backbone": [str, None],
        "optimizer": [StrOptions({"sgd", "adamw"}), None],
        "lr": [positive_real, None],
        "weight_decay": [non_negative_real, None],
    }

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
        cache_dir=None,
        num_workers=0,
        n_jobs=None,
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
        self.cache_dir = cache_dir
        self.num_workers = num_workers
        self.n_jobs = n_jobs
        self.device = device
        self.mixed_precision = mixed_precision
        self.checkpoint_path = checkpoint_path
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _accepts_features(self):
        return self.tuning == "frozen"

    @property
    def _skips_unreadable(self):
        """The pairs are judged by the detector, which may skip unreadable files."""
        return bool(getattr(self._phase1_detector(), "skip_unreadable", False))

    def _phase1_detector(self):
        """The fitted detector, or before fit the one fit will clone (None: "passthrough")."""
        return self.__dict__["detector_"] if "detector_" in self.__dict__ else self._make_detector()

    def _check_params(self, X_checked, encoding):
        """Both phases' parameters, before the detector trains."""
        if self.detector == "passthrough" and self.backbone is None:
            raise ValueError('detector="passthrough" needs a backbone; pass DeftClassifier(backbone=...).')
        if self.backbone is None and self.detector is not None and not hasattr(self.detector, "backbone"):
            raise ValueError(
                f"{type(self.detector).__name__} names no backbone; pass DeftClassifier(backbone=...)."
            )
        detector = self._make_detector()
        if detector is not None:
            name = f"the detector {type(detector).__name__}"
            if hasattr(detector, "_validate_params"):
                try:
                    detector._validate_params()
                except ValueError as exc:
                    raise type(exc)(f"DeftClassifier's detector: {exc}") from exc
            check_checkpoint_random_state(
                detector, name=f"DeftClassifier's detector {type(detector).__name__}",
                fix="Pass an integer random_state to the detector (e.g. detector=GMMLossDetector(random_state=0)), "
                    "or checkpoint_path=None.",
            )
            if hasattr(detector, "_check_params"):
                detector._check_params(X_checked, encoding)
            if isinstance(getattr(detector, "backbone", None), str):
                _checked(parse_backbone_spec, detector.backbone, f"{name}'s backbone")
            if isinstance(getattr(detector, "device", None), str):
                _checked(resolve_device, detector.device, f"{name}'s device")
            if X_checked.kind == "features" and not getattr(detector, "_accepts_features", True):
                raise ValueError(
                    f"X is a {X_checked.data.shape[1]}-wide array of precomputed features, but {name} "
                    f"(tuning={getattr(detector, 'tuning', None)!r}) needs images. Pass a detector that takes "
                    "features (DualPromptDetector(tuning='frozen'), ConsensusDetector(), ...), "
                    "detector='passthrough', or the images."
                )
        spec, pretrained = self._phase2_backbone(detector)
        _checked(parse_backbone_spec, spec, "DeftClassifier's backbone")
        device = _checked(resolve_device, self.device, "DeftClassifier's device")
        if self.tuning == "frozen":
            if X_checked.kind != "features":  # its weights and image_size, before phase 1 trains
                self._embedder(device).fit(None)
            return
        # Loaded now (then kept in the process cache): missing weights fail before phase 1 trains.
        backbone = load_backbone(spec, pretrained, device=device)
        if self.image_size is not None:
            check_image_size(backbone, self.image_size, owner="DeftClassifier", spec=spec)

    def set_params(self, **params):
        """Set parameters; ``detector__<name>`` on the default detector (``detector=None``)
        first makes it explicit, ``DualPromptDetector(random_state=random_state)``, so a
        grid search reaches it (``GridSearchCV(DeftClassifier(), {"detector__n_ctx": [8, 16]})``).

        Returns
        -------
        self
        """
        if self.detector is None and "detector" not in params and any(key.startswith("detector__") for key in params):
            self.detector = DualPromptDetector(random_state=params.get("random_state", self.random_state))
        return super().set_params(**params)

    def _make_detector(self):
        """The unfitted detector of phase 1 (None for "passthrough"); its checkpoint goes
        next to this classifier's, and it shares this classifier's embedding cache."""
        if self.detector == "passthrough":
            return None
        if self.detector is None:
            detector = DualPromptDetector(random_state=self.random_state)
        else:
            detector = clone(self.detector)
        own = detector.get_params(deep=False)
        if self.checkpoint_path is not None and "checkpoint_path" in own and own["checkpoint_path"] is None:
            detector.set_params(checkpoint_path=sub_checkpoint_path(self.checkpoint_path, "detector"))
        if self.cache_dir is not None and "cache_dir" in own and own["cache_dir"] is None:
            detector.set_params(cache_dir=self.cache_dir)  # one embedding pass serves both phases
        return detector

    def _phase2_backbone(self, detector):
        if self.backbone is not None:
            return self.backbone, self.pretrained
        return detector.backbone, detector.pretrained

    def _detect(self, X, y, codes):
        """The fitted detector (None for "passthrough") and its scores of the training pairs."""
        if self.detector == "passthrough":
            everything = np.ones(len(codes), dtype=bool)
            return None, Scores(everything.astype(np.float64), everything, codes)
        detector = self._make_detector()
        detector.fit(X, y)
        clean_mask = np.asarray(detector.clean_mask_, dtype=bool)
        if not clean_mask.any():
            raise ValueError("The detector judged every sample noisy; nothing is left to train on.")
        return detector, _detector_scores(detector, clean_mask)

    def _embedding_backbone(self):
        """The phase-2 backbone, whose embeddings ``tuning="frozen"`` trains its head on."""
        return self._phase2_backbone(self._phase1_detector())

    def _net(self, backbone, n_classes):
        tuning = "full" if self.tuning == "full" else peft_method_for(backbone.tower_kind)
        net = ImageClassifierNet.from_backbone(backbone, n_classes, tuning=tuning, n_vpt=self.n_vpt)
        if tuning == "full" and net._kind == "clip_vit":
            # DEFT's reference fine-tunes the transformer blocks (its finetune_list): the
            # patch and position embeddings and the norms outside the blocks stay frozen.
            net.tower.requires_grad_(False)
            net.tower.transformer.resblocks.requires_grad_(True)
        return net

    def _fit_model(self, X, y, X_checked, encoding, validation):
        self.detector_, scores = self._detect(X, y, encoding.codes)
        self._set_detection(scores, encoding.codes, X_checked, pandas_index(y, X))
        _warn_if_classes_lost(self.classes_, encoding.codes, self.clean_mask_)
        spec, pretrained = self._phase2_backbone(self.detector_)
        device = resolve_device(self.device)
        self.device_ = str(device)
        seed = seed_from_random_state(self.random_state)
        self._net_backbone = (spec, pretrained)
        if self.tuning == "frozen":
            self._fit_frozen_head(X_checked, encoding.codes, validation, device, seed)
            return
        backbone = load_backbone(spec, pretrained, device=device)
        with seeded_torch(seed):
            net = self._net(backbone, len(self.classes_)).to(device)
        settings = resolve_optimizer(
            optimizer_preset(backbone.tower_kind), optimizer=self.optimizer, lr=self.lr, weight_decay=self.weight_decay
        )
        optimizer = make_optimizer(net.parameters(), settings, momentum=self.momentum)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        kept = np.flatnonzero(self.clean_mask_)
        fingerprint = checkpoint_fingerprint(self, X_checked, encoding.codes, indices=kept, backbone=spec,
                                             pretrained=pretrained, validation=validation)
        trainer = Trainer(
            net, optimizer, scheduler=scheduler, device=device, seed=seed,
            mixed_precision=self.mixed_precision, verbose=self.verbose,
            checkpoint_path=self.checkpoint_path, description="DeftClassifier", fingerprint=fingerprint,
        )
        targets = torch.as_tensor(encoding.codes, dtype=torch.long, device=device)
        train_data = ImageDataset(X_checked, backbone.train_transform(self.image_size), indices=kept)
        best = BestEpoch(last_epoch=self.epochs)

        def batches(epoch):
            return make_loader(train_data, batch_size=self.batch_size, shuffle=True,
                               generator=trainer.generator, num_workers=self.num_workers)

        def step(batch, epoch):
            images, index = batch
            return F.cross_entropy(trainer.module(images).float(), targets[index])

        def on_epoch_end(epoch, record):
            if validation is None:
                return None
            X_val, codes_val = validation
            score = accuracy(self._logits(net, backbone, X_val, device), codes_val)
            best.update(epoch + 1, score, net)
            return {"val_accuracy": score}

        self.history_ = trainer.fit(self.epochs, batches, step, on_epoch_end=on_epoch_end,
                                    extra_state={"best_epoch": best})
        best.restore(net)
        self.best_epoch_ = best.epoch
        self.net_state_ = trainable_state_dict(net)
        self._net_weights_key = backbone.weights_key

    def _fit_frozen_head(self, X_checked, codes, validation, device, seed):
        """``tuning="frozen"``: a linear head on the embeddings of the kept samples (only
        those are embedded: a file the detector skipped as unreadable is never read)."""
        kept = np.flatnonzero(self.clean_mask_)
        X_kept = ImageInput(X_checked.kind, subset_samples(X_checked.data, self.clean_mask_), len(kept))
        features = torch.as_tensor(self._features(X_kept), dtype=torch.float32)
        with seeded_torch(seed):
            head = StandardizedLinear.fitted_to(features, len(self.classes_)).to(device)
        settings = resolve_optimizer(_FROZEN_HEAD, optimizer=self.optimizer, lr=self.lr,
                                     weight_decay=self.weight_decay)
        optimizer = make_optimizer(head.parameters(), settings, momentum=self.momentum)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        fingerprint = checkpoint_fingerprint(self, features, codes[kept], validation=validation)
        trainer = Trainer(
            head, optimizer, scheduler=scheduler, device=device, seed=seed,
            mixed_precision=self.mixed_precision, verbose=self.verbose,
            checkpoint_path=self.checkpoint_path, description="DeftClassifier", fingerprint=fingerprint,
        )
        targets = torch.as_tensor(codes[kept], dtype=torch.long, device=device)
        train_data = torch.utils.data.TensorDataset(features, torch.arange(len(kept)))
        best = BestEpoch(last_epoch=self.epochs)
        if validation is not None:
            X_val, codes_val = validation
            val_features = torch.as_tensor(self._features(X_val), dtype=torch.float32)

        def batches(epoch):
            return make_loader(train_data, batch_size=self.batch_size, shuffle=True, generator=trainer.generator)

        def step(batch, epoch):
            z, index = batch
            return F.cross_entropy(trainer.module(z).float(), targets[index.to(device)])

        def on_epoch_end(epoch, record):
            if validation is None:
                return None
            score = accuracy(head_logits(head, val_features, device, mixed_precision=self.mixed_precision), codes_val)
            best.update(epoch + 1, score, head)
            return {"val_accuracy": score}

        with small_model_threads(device):
            self.history_ = trainer.fit(self.epochs, batches, step, on_epoch_end=on_epoch_end,
                                        extra_state={"best_epoch": best})
        best.restore(head)
        self.best_epoch_ = best.epoch
        self.net_state_ = trainable_state_dict(head)
        self._check_head_finite(head, features, device)

    def _logits(self, net, backbone, X_checked, device):
        if self.tuning == "frozen":
            return head_logits(net, self._fitted_features(X_checked), device, mixed_precision=self.mixed_precision)
        loader = make_loader(ImageDataset(X_checked, backbone.eval_transform(self.image_size)),
                             batch_size=self.batch_size, num_workers=self.num_workers)
        return evaluate(net, loader, lambda batch: net(batch[0]), device=device,
                        mixed_precision=self.mixed_precision)

    def _score_pairs(self, X_checked, codes):
        if self.detector_ is None:
            everything = np.ones(len(codes), dtype=bool)
            return Scores(everything.astype(np.float64), everything, codes)
        return self.detector_._score_pairs(X_checked, codes)


def _detector_scores(detector, clean_mask):
    """Everything a fitted detector said of the training pairs, read from its public
    attributes (the detector contract): verdicts, label quality, its noise estimate, and
    its suggested labels' confidence and outlier scores where its ``label_issues_`` has them."""
    issues = detector.label_issues_

    def column(name):
        return issues[name].to_numpy(dtype=np.float64) if name in issues.columns else None

    suggested = column("suggested_label_confidence")
    outlier = column("outlier_score")
    if suggested is not None and outlier is not None:  # an outlier's confidence is NaN in the table
        suggested = np.nan_to_num(suggested, nan=0.0)
    return Scores(detector.clean_proba_, clean_mask, detector.predicted_, label_quality=column("label_quality"),
                  suggested_proba=suggested, noise_transition=getattr(detector, "noise_transition_", None),
                  outlier_proba=outlier)


def _checked(check, value, what):
    """``check(value)``, its ValueError prefixed with what was checked."""
    try:
        return check(value)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from exc
