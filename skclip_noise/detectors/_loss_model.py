"""Per-sample losses of a classifier trained on the noisy labels.

The loss-based detectors train a classifier on the given labels and read each
sample's cross-entropy in eval mode with the evaluation transform (DivideMix's
``eval_train``). ``tuning`` says how much of the image tower trains:

``"frozen"``
    a linear probe on frozen features (the backbone's embeddings, computed once and
    cached, or X itself when X is a feature array), inputs centred on the training
    mean and divided by their average spread;
``"peft"``
    parameter-efficient tuning of the image tower plus a linear head: deep visual
    prompts (VPT) on ViT towers, bias terms (BitFit) on others;
``"full"``
    full fine-tuning of the image tower plus a linear head.

Losses can be averaged over the last epochs (DivideMix at very high noise) and
cross-fitted (K folds: no sample is scored by a model that trained on it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch.nn import functional as F

from .._param_validation import (
    Integral,
    Interval,
    constraints_for,
    positive_int,
    positive_real,
)
from ..backbones.heads import ImageClassifierNet
from ..backbones.loading import load_backbone
from ..backbones.towers import peft_method_for
from ..data.inputs import ImageDataset
from ..training.checkpoint import (
    CheckpointedValue,
    checkpoint_fingerprint,
    sub_checkpoint_path,
)
from ..training.device import (
    fitted_device,
    resolve_device,
    seed_from_random_state,
    small_model_threads,
    seeded_torch,
)
from ..training.linear_head import StandardizedLinear
from ..training.loop import (
    Trainer,
    evaluate,
    load_trainable_state,
    make_loader,
    trainable_state_dict,
)
from ..training.optim import loss_model_optimizer, make_optimizer
from ..training.preflight import check_image_size

__all__ = ["LOSS_MODEL_CONSTRAINTS", "LOSS_MODEL_PARAMS_DOC", "LossModelMixin", "PairOutputs"]

#: ``_parameter_constraints`` of the loss-model parameters.
LOSS_MODEL_CONSTRAINTS = constraints_for(
    "tuning", "backbone", "pretrained", "epochs", "weight_decay", "batch_size", "image_size",
    "num_workers", "n_jobs", "device", "mixed_precision", "cache_dir", "skip_unreadable", "checkpoint_path",
    "random_state", "verbose",
    lr=[positive_real, None],
    average_last=[positive_int],
    cv=[Interval(Integral, 2, None, closed="left"), None],
)


LOSS_MODEL_PARAMS_DOC = """
    tuning : {"frozen", "peft", "full"}, default="frozen"
        How much of the image tower the classifier whose losses are read trains: a
        linear probe on frozen features, parameter-efficient tuning (VPT on ViT
        towers, BitFit otherwise) plus a linear head, or full fine-tuning.
    backbone : str, default="open_clip:ViT-B-32"
        Backbone spec (see :func:`skclip_noise.backbones.load_backbone`). Ignored when
        X is a feature array.
    pretrained : str, bool or None, default="openai"
        Its weights.
    epochs : int, default=10
        Training epochs of the loss model.
    lr : float, default=None
        Learning rate; None picks AdamW 3e-4 (frozen), SGD 0.03 (peft) or SGD 5e-4
        (full), with a cosine schedule.
    weight_decay : float, default=5e-4
    batch_size : int, default=64
    average_last : int, default=1
        Average each sample's loss over the last ``average_last`` epochs (DivideMix
        uses 5 at very high noise), each epoch's losses min-max normalised first, as
        DivideMix does (the mean is kept on the last epoch's scale).
    cv : int, default=None
        Cross-fitting: with K folds, each sample is scored by a model trained on the
        other folds. New pairs are scored by the average of the K models, which saw
        most training samples: for the cross-fitted verdicts on the training data use
        ``predict_clean(X)`` without ``y`` (or ``clean_mask_``).
    image_size : int, default=None
        Input side for CNN backbones (see :class:`~skclip_noise.ImageEmbedder`).
    num_workers : int, default=0
        DataLoader worker processes decoding images. The random training views are
        drawn in the workers, so another value trains another (equally valid) model for
        the same ``random_state``; a checkpoint resumes only with the value it was
        written with.
    n_jobs : int, default=None
        Embedding shards run in parallel through joblib (see
        :class:`~skclip_noise.ImageEmbedder`); None embeds in this process.
    device : str, default="auto"
    mixed_precision : {"auto", True, False, "bf16", "fp16"}, default="auto"
    cache_dir : str, default=None
        Embedding cache folder (``tuning="frozen"``).
    skip_unreadable : bool, default=False
        Image files (X a list of paths) that cannot be read: False raises, naming the
        file; True fits on the readable images, judges each unreadable one a label
        issue and lists it in ``unreadable_`` (see
        :ref:`unreadable-files`); with ``tuning`` other than "frozen" each file is
        decoded once before training.
    checkpoint_path : str, default=None
        The loss model's training state is written there after every epoch, and a
        later fit on the same data with the same parameters resumes from it (it
        needs an integer ``random_state``; a checkpoint of another fit is not resumed
        but overwritten, with a warning). With ``cv``, fold ``k`` uses
        ``<stem>.fold<k><suffix>``.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0"""


@dataclass
class PairOutputs:
    """Per-sample outputs of the loss model for (sample, given label) pairs."""

    loss: np.ndarray
    proba_given: np.ndarray
    predicted: np.ndarray
    proba_predicted: np.ndarray


class LossModelMixin:
    """Training and scoring of the loss model, for detectors with these parameters:
    ``tuning, backbone, pretrained, epochs, lr, weight_decay, batch_size, average_last,
    cv, image_size, num_workers, n_jobs, device, mixed_precision, cache_dir, skip_unreadable,
    random_state, checkpoint_path, verbose``."""

    _model_params = ("tuning",)
    _global_batch_sizes = ("batch_size",)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = self.tuning == "frozen"  # precomputed features only when frozen
        return tags

    @property
    def _has_label_free_score(self):
        # score() trains its reference on the training embeddings, kept only when frozen.
        return self.tuning == "frozen"

    def _check_params(self, X_checked, encoding):
        if X_checked.kind == "features" and self.tuning != "frozen":
            raise ValueError(
                f"tuning={self.tuning!r} trains the image tower, so X must be images; "
                "with precomputed features use tuning='frozen'."
            )
        if self.average_last > self.epochs:
            raise ValueError(
                f"average_last={self.average_last} exceeds epochs={self.epochs}; "
                "losses can only be averaged over epochs that ran."
            )
        if self.cv is not None:
            _check_folds(encoding.codes, self.cv)
        if self.tuning != "frozen" and self.image_size is not None:  # frozen: the embedder checks it
            backbone = load_backbone(self.backbone, self.pretrained, device=resolve_device(self.device))
            check_image_size(backbone, self.image_size, owner=type(self).__name__, spec=self.backbone)

    # ----------------------------------------------------------------- training

    def _training_outputs(self, X_checked, codes, n_classes, *, batch_keep_ratio=None):
        """Per-sample outputs on the training set (cross-fitted when ``cv`` is set).

        Also stores the fitted model(s) in ``self.loss_models_`` for new pairs.
        """
        self.device_ = str(resolve_device(self.device))
        seed = self._fit_seed = seed_from_random_state(self.random_state)
        inputs = self._loss_model_inputs(X_checked)
        if self.tuning == "frozen":
            self.embeddings_ = inputs.numpy()  # the label-free score's reference trains on them
        n = len(codes)
        if self.cv is None:
            splits = [(np.arange(n), np.arange(n))]
        else:
            splits = list(StratifiedKFold(self.cv, shuffle=True, random_state=seed % (2**31)).split(np.zeros(n), codes))
        loss = np.empty(n)
        proba = np.empty(n)
        predicted = np.empty(n, dtype=np.int64)
        proba_predicted = np.empty(n)
        self.loss_models_ = []
        for fold, (train_idx, score_idx) in enumerate(splits):
            path = self.checkpoint_path if self.cv is None else sub_checkpoint_path(self.checkpoint_path, f"fold{fold}")
            model, out = self._train_one(
                inputs, codes, n_classes, train_idx, score_idx, seed + fold, batch_keep_ratio, path
            )
            self.loss_models_.append(model)
            loss[score_idx], proba[score_idx], predicted[score_idx] = out.loss, out.proba_given, out.predicted
            proba_predicted[score_idx] = out.proba_predicted
        return PairOutputs(loss, proba, predicted, proba_predicted)

    def _loss_model_inputs(self, X_checked, device=None):
        fitted = getattr(self, "loss_models_", None) if device is not None else None
        if X_checked.kind == "features" and self.tuning != "frozen":
            raise ValueError(
                f"{type(self).__name__} was fitted with tuning={self.tuning!r} on images, so it scores "
                "images, not a feature array; pass the images."
            )
        if self.tuning == "frozen":
            inputs = torch.as_tensor(self._features(X_checked, device), dtype=torch.float32)
            if fitted:
                width = fitted[0]["mean"].shape[0]
                if inputs.shape[1] != width:
                    source = "features" if X_checked.kind == "features" else f"{self.backbone} embeddings"
                    raise ValueError(
                        f"X has {inputs.shape[1]} {source} per sample, but {type(self).__name__}'s loss "
                        f"model was fitted on {width}-wide inputs (the {self.backbone} embeddings of the "
                        "images given to fit); pass images, or features of that backbone."
                    )
            return inputs
        return X_checked

    def _build_net(self, inputs, n_classes, train_idx, device):
        if self.tuning == "frozen":
            return StandardizedLinear.fitted_to(inputs[train_idx], n_classes).to(device)
        backbone = load_backbone(self.backbone, self.pretrained, device=device)
        tuning = "full" if self.tuning == "full" else peft_method_for(backbone.tower_kind)
        return ImageClassifierNet.from_backbone(backbone, n_classes, tuning=tuning).to(device)

    def _train_one(self, inputs, codes, n_classes, train_idx, score_idx, seed, batch_keep_ratio, checkpoint_path=None):
        device = torch.device(self.device_)
        targets = torch.as_tensor(codes, dtype=torch.long, device=device)
        with seeded_torch(seed):
            net = self._build_net(inputs, n_classes, train_idx, device)
        optimizer = make_optimizer(
            net.parameters(), loss_model_optimizer(self.tuning, lr=self.lr, weight_decay=self.weight_decay)
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        fingerprint = checkpoint_fingerprint(
            self, inputs, codes, indices=train_idx, checkpoint_path=checkpoint_path,
            backbone=self.backbone if self.tuning != "frozen" else None, pretrained=self.pretrained,
        )
        trainer = Trainer(
            net, optimizer, scheduler=scheduler, device=device, seed=seed,
            mixed_precision=self.mixed_precision, verbose=self.verbose, description=type(self).__name__,
            checkpoint_path=checkpoint_path, fingerprint=fingerprint,
        )
        train_data = self._train_dataset(inputs, train_idx)
        recorded = CheckpointedValue([])  # the outputs of the last epochs, saved with the checkpoint

        def batches(epoch):
            return make_loader(
                train_data, batch_size=self.batch_size, shuffle=True, generator=trainer.generator,
                num_workers=self.num_workers if self.tuning != "frozen" else 0,
            )

        def step(batch, epoch):
            x, index = batch
            per_sample = F.cross_entropy(trainer.module(x).float(), targets[index], reduction="none")
            ratio = None if batch_keep_ratio is None else batch_keep_ratio(epoch)
            if ratio is not None and ratio < 1.0:
                n_keep = max(1, int(round(ratio * len(per_sample))))
                per_sample = torch.topk(per_sample, n_keep, largest=False).values
            return per_sample.mean()

        def on_epoch_end(epoch, record):
            if epoch >= self.epochs - self.average_last:
                recorded.value.append(self._pair_outputs(net, inputs, codes, score_idx, device))

        with small_model_threads(device) if self.tuning == "frozen" else contextlib.nullcontext():
            trainer.fit(self.epochs, batches, step, on_epoch_end=on_epoch_end, extra_state={"recorded": recorded})
        return trainable_state_dict(net), _average_epochs(recorded.value)

    def _train_dataset(self, inputs, train_idx):
        if self.tuning == "frozen":
            return torch.utils.data.TensorDataset(inputs[train_idx], torch.as_tensor(train_idx))
        backbone = load_backbone(self.backbone, self.pretrained, device=self.device_)
        return ImageDataset(inputs, backbone.train_transform(self.image_size), indices=train_idx)

    def _eval_batches(self, inputs, indices, device):
        if self.tuning == "frozen":
            dataset = torch.utils.data.TensorDataset(inputs[indices], torch.as_tensor(indices))
            return make_loader(dataset, batch_size=4096)
        backbone = load_backbone(self.backbone, self.pretrained, device=device)
        dataset = ImageDataset(inputs, backbone.eval_transform(self.image_size), indices=indices)
        return make_loader(dataset, batch_size=self.batch_size, num_workers=self.num_workers)

    def _pair_outputs(self, net, inputs, codes, indices, device):
        logits = evaluate(
            net, self._eval_batches(inputs, indices, device), lambda batch: net(batch[0]),
            device=device, mixed_precision=self.mixed_precision,
        )
        targets = torch.as_tensor(codes[indices], dtype=torch.long)
        loss = F.cross_entropy(logits, targets, reduction="none")
        proba = logits.softmax(dim=1)
        top, predicted = proba.max(dim=1)
        return PairOutputs(
            loss.numpy().astype(np.float64),
            proba.gather(1, targets[:, None])[:, 0].numpy().astype(np.float64),
            predicted.numpy(),
            top.numpy().astype(np.float64),
        )

    # -------------------------------------------------------------- new pairs

    def _new_pair_outputs(self, X_checked, codes):
        """Outputs for new pairs, averaged over the fitted model(s)."""
        nets, device = self._fitted_model()
        inputs = self._loss_model_inputs(X_checked, str(device))
        everything = np.arange(len(codes))
        return _average([self._pair_outputs(net, inputs, codes, everything, device) for net in nets])

    def _restore_model(self):
        """The fitted loss model(s), on the fit-time device (the CPU on a machine without it)."""
        device = fitted_device(self.device_)
        n_classes = len(self.classes_)
        nets = []
        for state in self.loss_models_:
            with torch.random.fork_rng(devices=[]):
                if self.tuning == "frozen":
                    net = StandardizedLinear.empty(state["mean"].shape[0], n_classes)
                else:
                    net = self._build_net(None, n_classes, None, torch.device("cpu"))
            load_trainable_state(net, state)
            nets.append(net.to(device))
        return nets, device


def _average_epochs(outputs):
    """The outputs of the last epochs averaged as DivideMix averages its losses: each
    epoch's losses min-max normalised first, so that every epoch weighs the same (one
    epoch with a large loss would outweigh the others), the mean then put back on the
    last epoch's scale (that of the model that scores new pairs). One epoch: unchanged."""
    if len(outputs) == 1:
        return outputs[0]
    last = outputs[-1].loss
    low, spread = last.min(), np.ptp(last)

    def on_last_scale(loss):
        normalised = (loss - loss.min()) / np.ptp(loss) if np.ptp(loss) > 0 else np.zeros_like(loss)
        return normalised * spread + low

    return _average([replace(o, loss=on_last_scale(o.loss)) for o in outputs])


def _average(outputs):
    loss = np.mean([o.loss for o in outputs], axis=0)
    proba = np.mean([o.proba_given for o in outputs], axis=0)
    return PairOutputs(loss, proba, outputs[-1].predicted, outputs[-1].proba_predicted)


def _check_folds(codes, n_folds):
    counts = np.bincount(codes)
    if counts[counts > 0].min() < n_folds:
        raise ValueError(
            f"cv={n_folds} folds need at least {n_folds} samples of every class; the smallest "
            f"class has {counts[counts > 0].min()}. Lower cv or use cv=None."
        )
