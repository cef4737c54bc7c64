"""DualPromptDetector: DEFT phase 1, a noisy-label detector from dual text prompts."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._param_validation import check_positive_ints
from ..backbones.loading import load_backbone
from ..backbones.prompts import (
    PromptTextEncoder,
    VisualPromptEncoder,
    apply_bitfit,
    require_vit,
)
from ..data.inputs import ImageDataset
from ..embedder import fitted_device
from ..training.device import resolve_device, seed_from_random_state
from ..training.loop import Trainer, evaluate, make_loader
from ._base import BaseNoiseDetector, Scores

__all__ = ["DualPromptDetector"]

PEFT_MODES = ("vpt", "bitfit", "none")
_LOG_CLAMP = 1e-5


class _DualPromptModel(nn.Module):
    """Positive and negative class prompts on a CLIP, plus the image side's PEFT.

    ``forward(x)`` returns ``(s_pos, s_neg)``: the logit-scaled cosine similarities
    of the image features with the positive and the negative class prompts, the
    negative ones computed on detached image features (DEFT's first stop-gradient).
    ``x`` is a batch of images, or of precomputed image features with ``peft="none"``.
    """

    def __init__(self, clip, class_names, tokenizer, n_ctx, n_vpt, peft):
        super().__init__()
        self.peft = peft
        self.text = PromptTextEncoder(clip, class_names, n_ctx=n_ctx, n_prompts=2, tokenizer=tokenizer)
        if peft == "vpt":
            self.visual = VisualPromptEncoder(clip, n_vpt=n_vpt)
        elif peft == "bitfit":
            apply_bitfit(clip.visual)
        self.register_buffer("logit_scale", clip.logit_scale.detach().exp().clone())

    def train(self, mode=True):
        super().train(mode)
        if self.peft != "bitfit":
            # The frozen CLIP is the process cache's shared model: switching it to training
            # mode would change what every other user of the cache computes (BatchNorm).
            self.text.clip.eval()
        return self

    def image_features(self, x):
        if self.peft == "none":
            return x
        if self.peft == "vpt":
            return self.visual(x)
        return self.text.clip.encode_image(x)

    def forward(self, x):
        image = F.normalize(self.image_features(x).float(), dim=-1)
        text = F.normalize(self.text().float(), dim=-1)  # (2, K, D)
        s_pos = self.logit_scale * image @ text[0].T
        s_neg = self.logit_scale * image.detach() @ text[1].T
        return s_pos, s_neg

    def trainable_state(self):
        return {k: v.detach().cpu().clone() for k, v in self.named_parameters() if v.requires_grad}


def clean_probabilities(s_pos, s_neg):
    """``p_c = sigmoid(stop_grad(s+_c) - s-_c)``: the softmax over the pair {s+, s-}
    with s+ detached (DEFT's second stop-gradient)."""
    return torch.sigmoid(s_pos.detach() - s_neg)


def dual_prompt_loss(s_pos, s_neg, labels, complementary, *, warmup, real_world, positive_weight):
    """DEFT's per-batch loss ``L_sim + L_dp`` and the batch's clean mask.

    ``L_sim`` is the cross-entropy of ``s_pos`` against the labels over the whole batch
    during warm-up and over the batch's clean samples afterwards (skipped, not NaN,
    when none is clean). ``L_dp`` pushes the clean probability of a complementary
    label down and that of ``yhat`` up, where ``yhat`` is the given label during
    warm-up, afterwards the given label for clean samples and ``argmax(s_pos)`` for
    the others. Because of the stop-gradients, ``L_dp`` trains only the negative
    context and ``L_sim`` the positive context and the image-side prompts.
    """
    p = clean_probabilities(s_pos, s_neg)
    rows = torch.arange(len(labels), device=labels.device)
    clean = p[rows, labels].detach() > 0.5
    if real_world:
        clean &= p.detach().argmax(dim=1) == labels
    if warmup:
        yhat = labels
        l_sim = F.cross_entropy(s_pos, labels)
    else:
        yhat = torch.where(clean, labels, s_pos.detach().argmax(dim=1))
        l_sim = F.cross_entropy(s_pos[clean], labels[clean]) if clean.any() else s_pos.sum() * 0.0
    negative_term = -torch.log((1.0 - p[rows, complementary]).clamp_min(_LOG_CLAMP)).mean()
    positive_term = -torch.log(p[rows, yhat].clamp_min(_LOG_CLAMP)).mean()
    loss = l_sim + negative_term + positive_weight * positive_term
    return loss, clean


class DualPromptDetector(BaseNoiseDetector):
    """DEFT's noisy-label detector: learned positive and negative text prompts.

    Every class gets a positive prompt and a negative prompt, both made of learnable
    context tokens shared by all classes followed by the class name (CoOp). A sample
    is clean when its image is closer to the positive prompt of its given label than
    to the negative one: ``p_y = sigmoid(s+_y - s-_y) > 0.5``. The positive prompts
    and the image side's visual prompts (VPT) learn to classify the samples judged
    clean; the negative prompts learn to sit between the images of a class and those
    of other classes (complementary labels). CLIP itself stays frozen. After training
    one evaluation pass (eval mode, evaluation transform) scores every sample.

    This follows the official DEFT code as recorded in the project's
    ``reference/methods.md``. Where that code differs from a library's needs:
    the clean mask comes from one deterministic evaluation pass after training
    instead of the last epoch's augmented batches; an all-noisy batch skips
    ``L_sim`` instead of producing NaN; weights stay fp32 with autocast instead of
    pure fp16; CLIP's own normalisation is used.

    Parameters
    ----------
    backbone : str, default="open_clip:ViT-B-16"
        An open_clip CLIP.
    pretrained : str or None, default="openai"
    n_ctx : int, default=16
        Context tokens of each prompt (initialised N(0, 0.02)).
    n_vpt : int, default=20
        Visual prompt tokens per layer (``peft="vpt"``).
    epochs : int, default=10
    warmup_epochs : int, default=None
        Epochs that train on all samples with the given labels; None means 1, or 5
        with ``real_world=True`` (the reference settings).
    lr : float, default=0.03
        SGD learning rate (momentum 0.9), cosine-annealed per epoch.
    momentum : float, default=0.9
    weight_decay : float, default=5e-4
    batch_size : int, default=64
    positive_weight : float, default=1.0
        Weight of the positive term of ``L_dp`` (the paper's appendix uses 0.25 for
        severe noise).
    real_world : bool, default=False
        Also require ``argmax_c p_c == y`` for a clean verdict, and warm up 5 epochs.
    peft : {"vpt", "bitfit", "none"}, default="vpt"
        Image-side tuning. ``"vpt"`` (the reference) needs a ViT image tower;
        ``"bitfit"`` tunes the image tower's bias terms (for CNN towers); ``"none"``
        freezes the image side, so image features are computed once (through the
        ImageEmbedder cache) and only the two contexts train. With ``"none"`` X may
        also be a 2-D array of image embeddings from the same CLIP.
    class_names : sequence of str or mapping, default=None
        Needed with integer labels (string labels are their own class names).
    image_size : int, default=None
        Input side for CNN image towers (None keeps the backbone's own; ViT towers
        need theirs), as in :class:`~skclip_noise.ImageEmbedder`.
    num_workers : int, default=0
    device : str, default="auto"
    mixed_precision : {"auto", True, False, "bf16", "fp16"}, default="auto"
    cache_dir : str, default=None
        Embedding cache (``peft="none"``).
    checkpoint_path : str, default=None
        Save the training state after every epoch and resume from it.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_, clean_proba_, clean_mask_, noise_rate_, label_issues_
        The detector contract; ``clean_proba_`` is ``p_y`` of the given label.
    history_ : list of dict
        Per epoch: loss, learning rate and the share of each epoch's batches
        judged clean.
    prompt_state_ : dict of tensors
        The learned prompts (CPU), enough to rebuild the model on the cached CLIP.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise import DualPromptDetector
    >>> images = np.random.default_rng(0).integers(0, 256, (8, 32, 32), dtype=np.uint8)
    >>> labels = np.array(["cat", "dog"] * 4)
    >>> detector = DualPromptDetector("open_clip:skclip-tiny", pretrained=None, n_ctx=4, n_vpt=2,
    ...                               epochs=2, batch_size=4, device="cpu", random_state=0)
    >>> detector.fit(images, labels).clean_mask_.shape
    (8,)
    """

    def __init__(
        self,
        backbone="open_clip:ViT-B-16",
        pretrained="openai",
        *,
        n_ctx=16,
        n_vpt=20,
        epochs=10,
        warmup_epochs=None,
        lr=0.03,
        momentum=0.9,
        weight_decay=5e-4,
        batch_size=64,
        positive_weight=1.0,
        real_world=False,
        peft="vpt",
        class_names=None,
        image_size=None,
        num_workers=0,
        device="auto",
        mixed_precision="auto",
        cache_dir=None,
        checkpoint_path=None,
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.pretrained = pretrained
        self.n_ctx = n_ctx
        self.n_vpt = n_vpt
        self.epochs = epochs
        self.warmup_epochs = warmup_epochs
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.positive_weight = positive_weight
        self.real_world = real_world
        self.peft = peft
        self.class_names = class_names
        self.image_size = image_size
        self.num_workers = num_workers
        self.device = device
        self.mixed_precision = mixed_precision
        self.cache_dir = cache_dir
        self.checkpoint_path = checkpoint_path
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _accepts_features(self):
        return self.peft == "none"

    def _check_params(self, X_checked):
        if self.peft not in PEFT_MODES:
            raise ValueError(f"peft must be one of {PEFT_MODES}; got {self.peft!r}.")
        check_positive_ints(self, "n_ctx", "epochs", "batch_size")
        if self.peft == "vpt":
            check_positive_ints(self, "n_vpt", context=" with peft='vpt'")
        warmup = self._warmup_epochs()
        if not isinstance(warmup, (int, np.integer)) or not 0 <= warmup <= self.epochs:
            raise ValueError(f"warmup_epochs must be an int in [0, epochs={self.epochs}]; got {warmup!r}.")

    def _warmup_epochs(self):
        if self.warmup_epochs is not None:
            return self.warmup_epochs
        return 5 if self.real_world else 1

    # ------------------------------------------------------------------- model

    def _build_model(self, device, class_names):
        backbone = load_backbone(self.backbone, self.pretrained, device=device)
        if not backbone.is_clip:
            raise ValueError(
                f"DualPromptDetector needs a CLIP (open_clip) backbone; got {self.backbone!r}."
            )
        clip = backbone.model
        if self.peft == "vpt":
            require_vit(clip, "VPT (peft='vpt')")
        elif self.peft == "bitfit":
            clip = backbone.trainable_copy()  # biases train: never touch the cached model
        model = _DualPromptModel(clip, class_names, backbone.tokenizer, self.n_ctx, self.n_vpt, self.peft)
        return model.to(device), backbone

    def _inputs(self, X_checked, device=None):
        if self.peft == "none":
            features = self._features(X_checked, None if device is None else str(device))
            return torch.as_tensor(features, dtype=torch.float32)
        return X_checked

    def _dataset(self, inputs, backbone, train):
        if self.peft == "none":
            return torch.utils.data.TensorDataset(inputs, torch.arange(len(inputs)))
        transform = backbone.train_transform(self.image_size) if train else backbone.eval_transform(self.image_size)
        return ImageDataset(inputs, transform)

    # --------------------------------------------------------------------- fit

    def _fit_scores(self, X_checked, codes, encoding):
        self._check_params(X_checked)
        self._require_class_names(encoding)
        device = resolve_device(self.device)
        self.device_ = str(device)
        seed = seed_from_random_state(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, backbone = self._build_model(device, encoding.class_names)
        inputs = self._inputs(X_checked)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(trainable, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        trainer = Trainer(
            model, optimizer, scheduler=scheduler, device=device, seed=seed,
            mixed_precision=self.mixed_precision, verbose=self.verbose,
            checkpoint_path=self.checkpoint_path, description="DualPromptDetector",
        )
        labels = torch.as_tensor(codes, dtype=torch.long, device=device)
        n_classes = len(encoding.classes)
        train_data = self._dataset(inputs, backbone, train=True)
        warmup_epochs = self._warmup_epochs()

        def batches(epoch):
            return make_loader(
                train_data, batch_size=self.batch_size, shuffle=True, generator=trainer.generator,
                num_workers=0 if self.peft == "none" else self.num_workers,
            )

        def step(batch, epoch):
            x, index = batch
            y = labels[index]
            # A fresh complementary label every time a sample is seen.
            offset = torch.randint(1, n_classes, (len(y),), generator=trainer.generator).to(device)
            s_pos, s_neg = model(x)
            loss, clean = dual_prompt_loss(
                s_pos.float(), s_neg.float(), y, (y + offset) % n_classes,
                warmup=epoch < warmup_epochs, real_world=self.real_world,
                positive_weight=self.positive_weight,
            )
            return loss, {"clean_share": clean.float().mean()}

        self.history_ = trainer.fit(self.epochs, batches, step)
        self.prompt_state_ = model.trainable_state()
        self._class_names_fit = list(encoding.class_names)
        return self._evaluate(model, inputs, backbone, codes, device)

    def _evaluate(self, model, inputs, backbone, codes, device):
        data = self._dataset(inputs, backbone, train=False)
        loader = make_loader(data, batch_size=max(self.batch_size, 256) if self.peft == "none" else self.batch_size,
                             num_workers=0 if self.peft == "none" else self.num_workers)
        s_pos, s_neg = evaluate(model, loader, lambda batch: model(batch[0]), device=device,
                                mixed_precision=self.mixed_precision, verbose=self.verbose)
        p = clean_probabilities(s_pos, s_neg)
        codes_t = torch.as_tensor(codes, dtype=torch.long)
        p_given = p.gather(1, codes_t[:, None])[:, 0]
        clean = p_given > 0.5
        if self.real_world:
            clean &= p.argmax(dim=1) == codes_t
        return Scores(p_given.numpy().astype(np.float64), clean.numpy(), s_pos.argmax(dim=1).numpy())

    # ------------------------------------------------------------ after fit

    def _restored_model(self):
        device = fitted_device(self.device_)
        with torch.random.fork_rng(devices=[]):
            model, backbone = self._build_model(device, self._class_names_fit)
        missing, unexpected = model.load_state_dict(self.prompt_state_, strict=False)
        if unexpected:
            raise ValueError(f"Fitted prompt state does not fit the model: unexpected {unexpected[:5]}.")
        return model, backbone, device

    def _score_pairs(self, X_checked, codes):
        model, backbone, device = self._restored_model()
        return self._evaluate(model, self._inputs(X_checked, device), backbone, codes, device)

    def predict(self, X):
        """Classes from the positive prompts alone (DEFT's "w/o adaptation" variant).

        Parameters
        ----------
        X : images (or image embeddings with ``peft="none"``)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)  # raises NotFittedError before classes_ is read
        return self.classes_[proba.argmax(axis=1)]

    def predict_proba(self, X):
        """Softmax over the positive-prompt logits, columns in ``classes_`` order."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "prompt_state_")
        X_checked = self._check_X(X, reset=False)
        model, backbone, device = self._restored_model()
        data = self._dataset(self._inputs(X_checked, device), backbone, train=False)
        loader = make_loader(data, batch_size=self.batch_size, num_workers=0 if self.peft == "none" else self.num_workers)
        s_pos, _ = evaluate(model, loader, lambda batch: model(batch[0]), device=device,
                            mixed_precision=self.mixed_precision)
        return s_pos.softmax(dim=1).numpy().astype(np.float64)
