"""DualPromptDetector: DEFT phase 1, a noisy-label detector from dual text prompts."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from sklearn.utils.validation import check_is_fitted
from torch.nn import functional as F

from .._param_validation import StrOptions, constraints_for, non_negative_real
from ..backbones.loading import load_backbone
from ..backbones.prompts import PromptTextEncoder, VisualPromptEncoder, apply_bitfit
from ..backbones.towers import peft_method_for
from ..base import BaseNoiseDetector, Scores
from ..data.inputs import ImageDataset
from ..training.device import fitted_device, resolve_device, seed_from_random_state, seeded_torch
from ..training.distributed import global_masked_mean, is_distributed, rank_share
from ..training.checkpoint import checkpoint_fingerprint
from ..training.loop import Trainer, evaluate, load_trainable_state, make_loader, trainable_state_dict
from ..training.optim import make_optimizer
from ..training.preflight import check_feature_width, check_image_size

__all__ = ["DualPromptDetector"]

_LOG_CLAMP = 1e-5


class _DualPromptModel(nn.Module):
    """Positive and negative class prompts on a CLIP, plus the image side's PEFT.

    ``forward(x)`` returns ``(s_pos, s_neg)``: the logit-scaled cosine similarities
    of the image features with the positive and the negative class prompts, the
    negative ones computed on detached image features (DEFT's first stop-gradient).
    ``x`` is a batch of images, or of precomputed image features when the image side
    is ``"frozen"``. ``image_side`` is ``"vpt"``, ``"bitfit"`` or ``"frozen"``.
    """

    def __init__(self, clip, class_names, tokenizer, n_ctx, n_vpt, image_side):
        super().__init__()
        self.image_side = image_side
        self.text = PromptTextEncoder(clip, class_names, n_ctx=n_ctx, n_prompts=2, tokenizer=tokenizer)
        if image_side == "vpt":
            self.visual = VisualPromptEncoder(clip, n_vpt=n_vpt)
        elif image_side == "bitfit":
            apply_bitfit(clip.visual)
        self.register_buffer("logit_scale", clip.logit_scale.detach().exp().clone())

    def train(self, mode=True):
        super().train(mode)
        if self.image_side != "bitfit":
            # The frozen CLIP is the process cache's shared model: switching it to training
            # mode would change what every other user of the cache computes (BatchNorm).
            self.text.clip.eval()
        return self

    def image_features(self, x):
        if self.image_side == "frozen":
            return x
        if self.image_side == "vpt":
            return self.visual(x)
        return self.text.clip.encode_image(x)

    def forward(self, x):
        image = F.normalize(self.image_features(x).float(), dim=-1)
        text = F.normalize(self.text().float(), dim=-1)  # (2, K, D)
        s_pos = self.logit_scale * image @ text[0].T
        s_neg = self.logit_scale * image.detach() @ text[1].T
        return s_pos, s_neg


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
        if is_distributed():  # the mean over the clean samples of the global batch
            l_sim = global_masked_mean(F.cross_entropy(s_pos, labels, reduction="none"), clean)
        else:
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
    to the negative one: ``p_y = sigmoid(s+_y - s-_y) > threshold`` (0.5). The positive prompts
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
        Visual prompt tokens per layer (``tuning="peft"`` on a ViT tower).
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
    threshold : float in [0, 1], default=0.5
        Clean when ``p_y`` exceeds it (DEFT: 0.5, i.e. ``s+_y > s-_y``). It sets the
        final verdicts; the clean set the prompts train on during fitting is DEFT's
        ``p_y > 0.5`` whatever its value.
    tuning : {"peft", "frozen"}, default="peft"
        How much of the image tower trains (CLIP itself stays frozen in DEFT, so
        ``"full"`` does not apply). ``"peft"``: deep visual prompts (VPT, the
        reference) on ViT towers, the tower's bias terms (BitFit) on other towers.
        ``"frozen"``: image features are computed once (through the ImageEmbedder
        cache) and only the two contexts train; X may then also be a 2-D array of
        image embeddings from the same CLIP.
    class_names : sequence of str or mapping, default=None
        Needed with integer labels (string labels are their own class names).
    image_size : int, default=None
        Input side for CNN image towers (None keeps the backbone's own; ViT towers
        need theirs), as in :class:`~skclip_noise.ImageEmbedder`.
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
        Embedding cache (``tuning="frozen"``).
    skip_unreadable : bool, default=False
        Image files (X a list of paths) that cannot be read: False raises, naming the
        file; True fits on the readable images, judges each unreadable one a label
        issue and lists it in ``unreadable_`` (see
        :ref:`unreadable-files`); with ``tuning`` other than "frozen" each file is
        decoded once before training.
    checkpoint_path : str, default=None
        Save the training state after every epoch and resume from it.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_, class_names_, clean_proba_, clean_mask_, predicted_, noise_rate_, noise_transition_, label_issues_
        The detector contract; ``clean_proba_`` is ``p_y`` of the given label.
    device_ : str
        The device the fit ran on.
    image_side_ : str
        How the image side was used: ``"frozen"``, ``"vpt"`` or ``"bitfit"``.
    history_ : list of dict
        Per epoch: loss, learning rate and the share of each epoch's batches
        judged clean.
    prompt_state_ : dict of tensors
        The learned prompts (CPU), enough to rebuild the model on the cached CLIP.
    unreadable_ : pandas.DataFrame
        With ``skip_unreadable=True``: the image files of X that could not be read,
        indexed by their position in X (``"sample"``), with the columns ``path`` and
        ``reason``; empty when every file was read (or X is not a list of files).

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

    _parameter_constraints = {
        **constraints_for(
            "backbone", "pretrained", "n_ctx", "n_vpt", "epochs", "warmup_epochs", "lr", "momentum",
            "weight_decay", "batch_size", "threshold", "class_names", "image_size", "num_workers", "n_jobs",
            "device", "mixed_precision", "cache_dir", "skip_unreadable", "checkpoint_path", "random_state",
            "verbose",
        ),
        "positive_weight": [non_negative_real],
        "real_world": ["boolean"],
        "tuning": [StrOptions({"peft", "frozen"})],
    }
    _needs_class_names = True
    _model_params = ("n_ctx", "n_vpt", "tuning", "class_names")
    _global_batch_sizes = ("batch_size",)

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
        threshold=0.5,
        tuning="peft",
        class_names=None,
        image_size=None,
        num_workers=0,
        n_jobs=None,
        device="auto",
        mixed_precision="auto",
        cache_dir=None,
        skip_unreadable=False,
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
        self.threshold = threshold
        self.tuning = tuning
        self.class_names = class_names
        self.image_size = image_size
        self.num_workers = num_workers
        self.n_jobs = n_jobs
        self.device = device
        self.mixed_precision = mixed_precision
        self.cache_dir = cache_dir
        self.skip_unreadable = skip_unreadable
        self.checkpoint_path = checkpoint_path
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _accepts_features(self):
        return self.tuning == "frozen"

    def _check_params(self, X_checked, encoding):
        if self._warmup_epochs() > self.epochs:
            given = (f"warmup_epochs={self.warmup_epochs}" if self.warmup_epochs is not None else
                     f"the {self._warmup_epochs()} warm-up epochs of real_world={self.real_world}")
            raise ValueError(
                f"{given} exceed epochs={self.epochs}; warm-up epochs are part of the training epochs. "
                "Raise epochs, or pass warmup_epochs=<at most epochs>."
            )

    def _warmup_epochs(self):
        if self.warmup_epochs is not None:
            return self.warmup_epochs
        return 5 if self.real_world else 1

    # ------------------------------------------------------------------- model

    def _image_side(self, backbone):
        if self.tuning == "frozen":
            return "frozen"
        return peft_method_for(backbone.tower_kind)

    def _build_model(self, device, class_names):
        backbone = load_backbone(self.backbone, self.pretrained, device=device)
        if not backbone.is_clip:
            raise ValueError(
                f"DualPromptDetector needs a CLIP (open_clip) backbone; got {self.backbone!r}."
            )
        image_side = self._image_side(backbone)
        # BitFit trains the tower's biases: never touch the cached model.
        clip = backbone.trainable_copy() if image_side == "bitfit" else backbone.model
        model = _DualPromptModel(clip, class_names, backbone.tokenizer, self.n_ctx, self.n_vpt, image_side)
        return model.to(device), backbone

    def _preflight(self, X_checked, backbone):
        """Refuse, before any work, features of another width and an image size the
        tower cannot take."""
        self._check_feature_width(X_checked, backbone)
        if X_checked.kind != "features":
            check_image_size(backbone, self.image_size, owner="DualPromptDetector", spec=self.backbone)

    def _check_feature_width(self, X_checked, backbone):
        """Refuse features of another width than the tower's embeddings; after fit the one
        check of new samples (their image size was the fit's)."""
        if X_checked.kind == "features":
            check_feature_width(X_checked.data.shape[1], backbone, owner="DualPromptDetector", spec=self.backbone)

    def _inputs(self, X_checked, device=None):
        if self.tuning == "frozen":
            features = self._features(X_checked, None if device is None else str(device))
            return torch.as_tensor(features, dtype=torch.float32)
        return X_checked

    def _dataset(self, inputs, backbone, train):
        if self.tuning == "frozen":
            return torch.utils.data.TensorDataset(inputs, torch.arange(len(inputs)))
        transform = backbone.train_transform(self.image_size) if train else backbone.eval_transform(self.image_size)
        return ImageDataset(inputs, transform)

    def _loader(self, data, *, batch_size=None, **kwargs):
        frozen = self.tuning == "frozen"
        return make_loader(data, batch_size=batch_size or self.batch_size,
                           num_workers=0 if frozen else self.num_workers, **kwargs)

    # --------------------------------------------------------------------- fit

    def _fit_scores(self, X_checked, codes, encoding):
        device = resolve_device(self.device)
        self.device_ = str(device)
        seed = seed_from_random_state(self.random_state)
        with seeded_torch(seed):
            model, backbone = self._build_model(device, encoding.class_names)
        self._preflight(X_checked, backbone)
        self.image_side_ = model.image_side
        inputs = self._inputs(X_checked)
        optimizer = make_optimizer(model.parameters(), ("sgd", self.lr, self.weight_decay), momentum=self.momentum)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        trainer = Trainer(
            model, optimizer, scheduler=scheduler, device=device, seed=seed,
            mixed_precision=self.mixed_precision, verbose=self.verbose,
            checkpoint_path=self.checkpoint_path, description="DualPromptDetector",
            fingerprint=checkpoint_fingerprint(self, X_checked, codes, backbone=self.backbone, pretrained=self.pretrained),
        )
        labels = torch.as_tensor(codes, dtype=torch.long, device=device)
        n_classes = len(encoding.classes)
        train_data = self._dataset(inputs, backbone, train=True)
        warmup_epochs = self._warmup_epochs()

        def batches(epoch):
            return self._loader(train_data, shuffle=True, generator=trainer.generator)

        def step(batch, epoch):
            x, index = batch
            y = labels[index]
            # A fresh complementary label every time a sample is seen.
            offset = rank_share(lambda n: torch.randint(1, n_classes, (n,), generator=trainer.generator),
                                len(y)).to(device)
            s_pos, s_neg = trainer.module(x)
            loss, clean = dual_prompt_loss(
                s_pos.float(), s_neg.float(), y, (y + offset) % n_classes,
                warmup=epoch < warmup_epochs, real_world=self.real_world,
                positive_weight=self.positive_weight,
            )
            return loss, {"clean_share": clean.float().mean()}

        self.history_ = trainer.fit(self.epochs, batches, step)
        self.prompt_state_ = trainable_state_dict(model)
        return self._evaluate(model, inputs, backbone, codes, device)

    def _positive_and_negative_logits(self, model, inputs, backbone, device, verbose=0):
        data = self._dataset(inputs, backbone, train=False)
        frozen = self.tuning == "frozen"
        loader = self._loader(data, batch_size=max(self.batch_size, 256) if frozen else self.batch_size)
        return evaluate(model, loader, lambda batch: model(batch[0]), device=device,
                        mixed_precision=self.mixed_precision, verbose=verbose)

    def _evaluate(self, model, inputs, backbone, codes, device):
        s_pos, s_neg = self._positive_and_negative_logits(model, inputs, backbone, device, self.verbose)
        p = clean_probabilities(s_pos, s_neg)
        codes_t = torch.as_tensor(codes, dtype=torch.long)
        p_given = p.gather(1, codes_t[:, None])[:, 0]
        clean = p_given > self.threshold
        if self.real_world:
            clean &= p.argmax(dim=1) == codes_t
        suggested_proba, predicted = s_pos.softmax(dim=1).max(dim=1)
        return Scores(p_given.numpy().astype(np.float64), clean.numpy(), predicted.numpy(),
                      suggested_proba=suggested_proba.numpy().astype(np.float64))

    # ------------------------------------------------------------ after fit

    def _restore_model(self):
        device = fitted_device(self.device_)
        with torch.random.fork_rng(devices=[]):
            model, backbone = self._build_model(device, self.class_names_)
        load_trainable_state(model, self.prompt_state_)
        return model, backbone, device

    def _score_pairs(self, X_checked, codes):
        model, backbone, device = self._fitted_model()
        self._check_feature_width(X_checked, backbone)
        return self._evaluate(model, self._inputs(X_checked, device), backbone, codes, device)

    def predict(self, X):
        """Classes from the positive prompts alone (DEFT's "w/o adaptation" variant).

        Parameters
        ----------
        X : images (or image embeddings with ``tuning="frozen"``)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)  # raises NotFittedError before classes_ is read
        return self.classes_[proba.argmax(axis=1)]

    def predict_proba(self, X):
        """Softmax over the positive-prompt logits, columns in ``classes_`` order."""
        check_is_fitted(self, "prompt_state_")
        X_checked = self._check_X(X, reset=False)
        model, backbone, device = self._fitted_model()
        self._check_feature_width(X_checked, backbone)
        s_pos, _ = self._positive_and_negative_logits(model, self._inputs(X_checked, device), backbone, device)
        return s_pos.softmax(dim=1).numpy().astype(np.float64)
