"""AVLPrompter: coupled vision-language prompts, co-divide and semi-supervised training."""

from __future__ import annotations

import itertools
import time
import warnings

import numpy as np
import torch
from torch.nn import functional as F

from .._warnings import warn_user
from .._param_validation import (
    Options,
    StrOptions,
    constraints_for,
    non_negative_real,
    positive_int,
    positive_real,
    unit_interval,
)
from ..backbones.loading import load_backbone
from ..base import BaseNoiseRobustClassifier, DetectorMixin, Scores, pandas_index
from ..data.inputs import ImageDataset
from ..data.transforms import eval_transform, strong_transform, weak_transform
from ..training.best_epoch import BestEpoch, accuracy
from ..training.device import fitted_device, resolve_device, seed_from_random_state, seeded_torch
from ..training.checkpoint import checkpoint_fingerprint
from ..training.loop import Trainer, evaluate, load_trainable_state, make_loader, trainable_state_dict
from ..training.optim import make_optimizer
from . import _avl_training as _avl
from ._avl_training import AVLNetwork, Peers, avl_loss, cycle_loaders, partner

__all__ = ["AVLPrompter"]


class AVLPrompter(DetectorMixin, BaseNoiseRobustClassifier):
    """AVL-Prompter: a noise-robust CLIP classifier that also flags wrong labels.

    Two peer CLIP networks with MaPLe's coupled deep prompts are trained together,
    both encoders fine-tuned (by default; see ``tuning`` and ``freeze_text``). At the
    start of every epoch each peer's per-sample cross-entropy on the whole training set
    (eval mode, evaluation transform) is fitted with a two-component Gaussian mixture;
    each peer then trains on the division made from its *partner's* losses
    (co-divide): samples whose clean posterior is ``>= threshold`` form the labelled
    set, the rest the unlabelled set. One step's loss is
    ``L = L_x + lambda_u * L_u + lambda_r * L_r``: cross-entropy of the weakly
    augmented labelled images against their labels; FixMatch's cross-entropy of the
    strongly augmented (RandAugment 2/10) unlabelled images against the argmax of
    their weak view where its confidence is ``>= pseudo_label_threshold``; and DivideMix's
    penalty pulling the batch's mean prediction towards the uniform prior.
    Predictions average the peers' softmax outputs.

    It is also a detector (the package's detector contract): after ``fit``, a last
    co-divide on the trained peers gives ``clean_proba_`` (the mean over peers of
    the clean posterior of their division), ``clean_mask_`` (``clean_proba_ >= threshold``),
    ``label_issues_``, ``predict_clean`` and ``clean_proba``.

    **This is a reconstruction.** The authors published no code; it is rebuilt from
    the paper (Hu et al., "Adaptive Vision-Language Prompt Learners for Learning
    with Noisy Labels") and its parts: MaPLe's prompts, DivideMix's co-divide and
    penalty, FixMatch's consistency loss. From the paper: ``n_ctx=2``,
    ``prompt_depth=9``, prompts initialised from "a photo of a", logit scale 100,
    two peers, GMM co-divide at ``threshold=0.5`` (0.6 at 90 % noise), weak views for
    ``L_x``, FixMatch with 0.95, ``lambda_r=1``, SGD lr 0.02, momentum 0.9, weight
    decay 5e-4, batch 64, no warm-up. **Our choices** (the paper does not state
    them, or states them for other losses):

    - ``lambda_u=1``. The paper takes lambda_u "as in DivideMix", whose values
      (25-150) weight a mean-squared error on probabilities; AVL-Prompter's ``L_u``
      is a cross-entropy, which FixMatch weights with 1.
    - ``encoder_lr=5e-4`` for both encoders (the project's fine-tuning rate for CLIP
      towers, 40 times below the prompts' 0.02); the paper gives one rate only.
    - The learning rates follow a cosine schedule over ``epochs`` (the paper gives no
      schedule); ``epochs=10`` by default (the paper trains 60 on CIFAR).
    - ``warmup_epochs=0``: the paper needs no warm-up with a pre-trained CLIP, so
      the first co-divide uses the initial (zero-shot) peers. With a random or
      unaligned text side (the hybrid test CLIPs) set a warm-up: plain
      cross-entropy on all samples before the first co-divide.
    - Each peer is trained in turn within an epoch, on divisions made before either
      trained (DivideMix's order). An epoch of a peer is one pass over its labelled
      set; each labelled batch of ``batch_size`` comes with an unlabelled batch of
      ``unlabeled_ratio * batch_size`` (1 by default, DivideMix's ratio; FixMatch
      uses 7), the unlabelled set being cycled. A peer with no labelled sample
      passes once over its unlabelled set.
    - One forward pass per step over labelled-weak, unlabelled-weak and
      unlabelled-strong images; ``L_r`` is computed on the mean prediction over all
      three; ``L_u`` averages over every unlabelled sample (masked ones count 0).
    - The peers differ by their random deep prompts and coupling layers (seeded
      apart); both start from the same CLIP weights.
    - The detector outputs come from one more co-divide after the last epoch.
    - CLIP's ``logit_scale`` and the text token-embedding table are not trained (a
      fixed scale of 100 replaces the first; MaPLe's prompts use fixed copies of
      the class-name token embeddings, so the second gets no gradient).

    **Non-ViT image towers** (e.g. the hybrid CLIPs with a CNN trunk,
    ``open_clip:skclip-hybrid-mobilenetv2``) have no token sequence for vision
    prompts. There AVLPrompter keeps the text-side deep prompts only (no coupling
    layers) and fine-tunes the image tower at ``encoder_lr`` (with ``tuning="peft"``,
    only its bias terms: BitFit); ``fit`` warns, and ``coupled_`` is False.
    ``prompt_depth`` is then limited by the text tower's layers only.

    **Cost.** Two CLIPs with both encoders trained, plus one evaluation pass per peer
    over the training set per epoch: about twice MaPLe fine-tuning (``n_networks=1``
    halves it). The fitted estimator keeps each peer's trained weights
    (``peer_states_``: about 0.6 GB per ViT-B/32 peer in float32; weights that do not
    train, such as the text encoder's with ``freeze_text`` or the image tower's with
    ``tuning="peft"`` (all but its bias terms with BitFit), are left out and taken
    from the cached backbone when predicting). Evaluation batches
    are padded to ``batch_size``, so that a sample's scores do not depend on the
    other samples in its batch.

    Parameters
    ----------
    backbone : str, default="open_clip:ViT-B-32"
        An open_clip CLIP (the paper: ViT-B/32; ViT-L/14 for WebVision).
    pretrained : str or None, default="openai"
        Weights: an open_clip tag, a local checkpoint path, ``"offline"`` (hybrid
        CLIPs) or None (random).
    n_ctx : int, default=2
        Learnable context tokens (the first ``n_ctx`` words of ``ctx_init``).
    prompt_depth : int, default=9
        Prompted layers (1: shallow prompts only); at most the layers of each tower.
    ctx_init : str or None, default="a photo of a"
        Prompt phrase; the prompt is ``"{ctx_init} {class name}."``. None draws the
        context at random.
    n_networks : {1, 2}, default=2
        Peer networks. With 1 (half the cost) the network divides the data with its
        own losses, which exposes it to confirmation bias (what the peers avoid).
    threshold : float in [0, 1], default=0.5
        Clean-posterior threshold of the co-divide (the paper's tau): clean when the
        posterior is ``>= threshold``.
    lambda_u : float, default=1.0
        Weight of the unlabelled (FixMatch) loss.
    lambda_r : float, default=1.0
        Weight of the uniform-prior penalty.
    pseudo_label_threshold : float in [0, 1], default=0.95
        FixMatch's pseudo-label confidence threshold.
    epochs : int, default=10
    warmup_epochs : int or None, default=0
        Epochs of plain cross-entropy on all samples before the first co-divide; None
        means the paper's (0).
    lr : float, default=0.02
        SGD learning rate of the prompts and coupling layers.
    encoder_lr : float, default=5e-4
        SGD learning rate of the fine-tuned CLIP encoders (and of the image tower's
        bias terms with ``tuning="peft"`` on a non-ViT tower).
    momentum : float, default=0.9
    weight_decay : float, default=5e-4
    batch_size : int, default=64
        Labelled images per step (and evaluation batch size).
    unlabeled_ratio : int, default=1
        Unlabelled images per step, as a multiple of ``batch_size``.
    tuning : {"full", "peft"}, default="full"
        ``"full"`` (the paper's): the image tower fine-tunes at ``encoder_lr``.
        ``"peft"``: on a ViT tower its weights stay as loaded and only the prompts and
        couplings that enter it train (the paper's Table 9 ablation); on other towers
        its bias terms train at ``encoder_lr`` (BitFit); the tower stays in eval mode.
        No ``"frozen"``: FixMatch's augmented views pass through the tower every step.
    freeze_text : bool, default=False
        Keep the text encoder frozen (the paper's Table 9 ablation); the prompts and
        coupling layers always train.
    image_size : int, default=None
        Input side for CNN image towers (None keeps the backbone's own); a ViT
        tower must keep its own.
    class_names : sequence of str or mapping, default=None
        Needed with integer labels (string labels name themselves).
    num_workers : int, default=0
        DataLoader worker processes decoding images. The random training views are
        drawn in the workers, so another value trains another (equally valid) model for
        the same ``random_state``; a checkpoint resumes only with the value it was
        written with.
    device : str, default="auto"
    mixed_precision : {"auto", True, False, "bf16", "fp16"}, default="auto"
    checkpoint_path : str, default=None
        Save the training state after every epoch and resume from it.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_, class_names_, clean_proba_, clean_mask_, predicted_, noise_rate_, noise_transition_, label_issues_
        The detector contract, from the co-divide after the last epoch.
    device_ : str
        The device the fit ran on.
    peer_clean_proba_ : ndarray of shape (n_networks, n_samples)
        Each peer's clean posterior in that last co-divide (from its partner's losses).
    history_ : list of dict
        Per epoch: ``loss``, ``loss_x``, ``loss_u``, ``loss_r``, ``mask_rate``
        (averaged over the steps of all peers), ``n_labelled`` (per peer),
        ``warmup``, ``lr``, ``time`` (seconds, co-divide included).
    coupled_ : bool
        Whether vision prompts were used (ViT image tower).
    best_epoch_ : int
        The epoch whose peers are kept (1-based): the last, or with
        ``fit(X, y, validation_data=(X_val, y_val))`` the one whose averaged prediction
        is most accurate on that clean held-out data.
    peer_states_ : list of dict
        Each peer's trained state (prompts, couplings and the CLIP weights that
        trained, on the CPU); rebuilt on the cached backbone to predict.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise import AVLPrompter
    >>> X = np.random.default_rng(0).integers(0, 256, (16, 32, 32), dtype=np.uint8)
    >>> y = np.array(["cat", "dog"] * 8)
    >>> clf = AVLPrompter("open_clip:skclip-tiny", pretrained=None, prompt_depth=2, epochs=2,
    ...                   batch_size=8, device="cpu", random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape, clf.clean_mask_.shape
    ((16, 2), (16,))
    """

    _parameter_constraints = {
        **constraints_for(
            "backbone", "pretrained", "n_ctx", "threshold", "epochs", "warmup_epochs", "lr", "momentum",
            "weight_decay", "batch_size", "image_size", "class_names", "num_workers", "device",
            "mixed_precision", "checkpoint_path", "random_state", "verbose",
        ),
        "prompt_depth": [positive_int],
        "ctx_init": [str, None],
        "n_networks": [Options(int, {1, 2})],
        "lambda_u": [non_negative_real],
        "lambda_r": [non_negative_real],
        "pseudo_label_threshold": [unit_interval],
        "encoder_lr": [positive_real],
        "unlabeled_ratio": [positive_int],
        # "frozen" would need features computed once; the training views pass through the tower.
        "tuning": [StrOptions({"full", "peft"})],
        "freeze_text": ["boolean"],
    }
    _needs_class_names = True
    _model_params = ("n_ctx", "prompt_depth", "ctx_init", "n_networks", "tuning", "freeze_text", "class_names")
    _global_batch_sizes = ("batch_size",)

    def __init__(
        self,
        backbone="open_clip:ViT-B-32",
        pretrained="openai",
        *,
        n_ctx=2,
        prompt_depth=9,
        ctx_init="a photo of a",
        n_networks=2,
        threshold=0.5,
        lambda_u=1.0,
        lambda_r=1.0,
        pseudo_label_threshold=0.95,
        epochs=10,
        warmup_epochs=0,
        lr=0.02,
        encoder_lr=5e-4,
        momentum=0.9,
        weight_decay=5e-4,
        batch_size=64,
        unlabeled_ratio=1,
        tuning="full",
        freeze_text=False,
        image_size=None,
        class_names=None,
        num_workers=0,
        device="auto",
        mixed_precision="auto",
        checkpoint_path=None,
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.pretrained = pretrained
        self.n_ctx = n_ctx
        self.prompt_depth = prompt_depth
        self.ctx_init = ctx_init
        self.n_networks = n_networks
        self.threshold = threshold
        self.lambda_u = lambda_u
        self.lambda_r = lambda_r
        self.pseudo_label_threshold = pseudo_label_threshold
        self.epochs = epochs
        self.warmup_epochs = warmup_epochs
        self.lr = lr
        self.encoder_lr = encoder_lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.unlabeled_ratio = unlabeled_ratio
        self.tuning = tuning
        self.freeze_text = freeze_text
        self.image_size = image_size
        self.class_names = class_names
        self.num_workers = num_workers
        self.device = device
        self.mixed_precision = mixed_precision
        self.checkpoint_path = checkpoint_path
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks

    def _check_params(self, X_checked, encoding):
        if self._warmup_epochs() > self.epochs:
            raise ValueError(
                f"warmup_epochs={self.warmup_epochs} exceeds epochs={self.epochs}; "
                "warm-up epochs are part of the training epochs."
            )

    # ------------------------------------------------------------------- model

    def _warmup_epochs(self):
        return 0 if self.warmup_epochs is None else int(self.warmup_epochs)  # None: the paper's (none)

    def _load(self, device):
        backbone = load_backbone(self.backbone, self.pretrained, device=device)
        if not backbone.is_clip:
            raise ValueError(f"AVLPrompter needs a CLIP (open_clip) backbone; got {self.backbone!r}.")
        if self.image_size is not None and backbone.tower_kind == "clip_vit":
            own = backbone.preprocess_config.image_size
            if int(self.image_size) != own:
                raise ValueError(
                    f"image_size={self.image_size} but {self.backbone} is a ViT with a fixed input side "
                    f"of {own}; leave image_size=None (it applies to CNN image towers)."
                )
        return backbone

    def _build_peers(self, backbone, class_names, seed, device):
        nets = []
        for k in range(self.n_networks):
            # Each peer's random prompts and couplings from its own seed; its own CLIP copy.
            with seeded_torch(seed + 7919 * k):
                nets.append(AVLNetwork(
                    backbone.trainable_copy(), class_names, backbone.tokenizer,
                    n_ctx=self.n_ctx, prompt_depth=self.prompt_depth, ctx_init=self.ctx_init,
                    freeze_text=bool(self.freeze_text), tuning=self.tuning,
                ))
        return Peers(nets).to(device)

    def _preprocess_config(self, backbone):
        return backbone.preprocess_config.resized(self.image_size)

    def _eval_transform(self, backbone):
        return backbone.preprocess if self.image_size is None else eval_transform(self._preprocess_config(backbone))

    def _peer_logits(self, peers, backbone, X_checked, device):
        """Logits of every peer on X (eval mode, evaluation transform), on the CPU.

        A short last batch is padded (with copies of its last image) to ``batch_size``:
        matrix products of another batch size may sum in another order, and the
        mixture's posterior magnifies those last-bit differences, so a sample's scores
        would depend on which samples share its batch. With one batch shape they do
        not (order and subset invariance of ``predict_proba`` and ``clean_proba``).
        """
        size = self.batch_size
        loader = make_loader(ImageDataset(X_checked, self._eval_transform(backbone)),
                             batch_size=size, num_workers=self.num_workers)

        def forward(batch):
            images = batch[0]
            n = len(images)
            if n < size:
                images = torch.cat([images, images[-1:].expand(size - n, *images.shape[1:])])
            return tuple(net(images)[:n] for net in peers.nets)

        outputs = evaluate(peers, loader, forward, device=device, mixed_precision=self.mixed_precision)
        return list(outputs) if isinstance(outputs, tuple) else [outputs]

    # --------------------------------------------------------------------- fit

    def _fit_model(self, X, y, X_checked, encoding, validation):
        codes = encoding.codes
        device = resolve_device(self.device)
        self.device_ = str(device)
        seed = seed_from_random_state(self.random_state)
        backbone = self._load(device)
        peers = self._build_peers(backbone, encoding.class_names, seed, device)
        self.coupled_ = bool(peers[0].coupled)
        if not self.coupled_:
            warn_user(
                f"{self.backbone}'s image tower ({type(backbone.model.visual).__name__}) is not a ViT, so it "
                "cannot take vision prompts: AVLPrompter uses text-side deep prompts only (no coupling) "
                + (f"and trains only the image tower's bias terms (BitFit) at encoder_lr={self.encoder_lr:g}."
                   if self.tuning == "peft"
                   else f"and fine-tunes the image tower at encoder_lr={self.encoder_lr:g}."),
                UserWarning,
            )
        groups = []
        for net in peers.nets:
            groups.append({"params": net.prompt_parameters(), "lr": self.lr})
            encoder = net.encoder_parameters()
            if encoder:
                groups.append({"params": encoder, "lr": self.encoder_lr})
        optimizer = make_optimizer(groups, ("sgd", self.lr, self.weight_decay), momentum=self.momentum)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.epochs)
        trainer = Trainer(
            peers, optimizer, scheduler=scheduler, device=device, seed=seed,
            mixed_precision=self.mixed_precision, verbose=self.verbose,
            checkpoint_path=self.checkpoint_path, description="AVLPrompter", find_unused_parameters=True,
            fingerprint=checkpoint_fingerprint(self, X_checked, codes, backbone=self.backbone,
                                               pretrained=self.pretrained, validation=validation),
        )
        labels = torch.as_tensor(codes, dtype=torch.long, device=device)
        config = self._preprocess_config(backbone)
        weak, strong = weak_transform(config), strong_transform(config)
        n = X_checked.n_samples
        gmm_seed = seed % (2**31)
        clock = {}
        best = BestEpoch(last_epoch=self.epochs)

        def loader(dataset, batch_size):
            return make_loader(dataset, batch_size=batch_size, shuffle=True, generator=trainer.generator,
                               num_workers=self.num_workers)

        def warm_batches(k):
            for images, index in loader(ImageDataset(X_checked, weak), self.batch_size):
                yield ("warm", k, images, index)

        def ssl_batches(k, labelled):
            lab, unl = np.flatnonzero(labelled), np.flatnonzero(~labelled)
            u_size = self.batch_size * self.unlabeled_ratio
            u_data = _avl.TwoViewDataset(X_checked, weak, strong, indices=unl) if len(unl) else None
            if len(lab) == 0:
                for u_weak, u_strong, _ in loader(u_data, u_size):
                    yield ("ssl", k, None, None, u_weak, u_strong)
                return
            u_iter = cycle_loaders(lambda: loader(u_data, u_size)) if u_data is not None else None
            for images, index in loader(ImageDataset(X_checked, weak, indices=lab), self.batch_size):
                if u_iter is None:
                    yield ("ssl", k, images, index, None, None)
                else:
                    u_weak, u_strong, _ = next(u_iter)
                    yield ("ssl", k, images, index, u_weak, u_strong)

        def batches(epoch):
            clock["start"] = time.perf_counter()
            if epoch < self._warmup_epochs():
                clock["n_labelled"] = [n] * len(peers)
                return itertools.chain.from_iterable(warm_batches(k) for k in range(len(peers)))
            losses = _avl.peer_losses(self._peer_logits(peers, backbone, X_checked, device), codes)
            _, divisions = _avl.co_divide(losses, self.threshold, gmm_seed)
            clock["n_labelled"] = [int(mask.sum()) for _, mask in divisions]
            return itertools.chain.from_iterable(
                ssl_batches(k, divisions[k][1]) for k in range(len(peers))
            )

        def step(batch, epoch):
            kind, k = batch[0], batch[1]
            if kind == "warm":
                _, _, images, index = batch
                return F.cross_entropy(trainer.module(k, images).float(), labels[index])
            _, _, x, index, u_weak, u_strong = batch
            views = [t for t in (x, u_weak, u_strong) if t is not None]
            logits = trainer.module(k, torch.cat(views)).float()
            n_x = 0 if x is None else len(x)
            n_u = 0 if u_weak is None else len(u_weak)
            logits_x = logits[:n_x] if n_x else None
            logits_uw = logits[n_x:n_x + n_u] if n_u else None
            logits_us = logits[n_x + n_u:] if n_u else None
            return avl_loss(logits_x, labels[index] if n_x else None, logits_uw, logits_us,
                            lambda_u=self.lambda_u, lambda_r=self.lambda_r,
                            threshold=self.pseudo_label_threshold)

        def on_epoch_end(epoch, record):
            extra = {"n_labelled": list(clock["n_labelled"]), "warmup": epoch < self._warmup_epochs(),
                     "time": time.perf_counter() - clock["start"]}
            if validation is not None:
                X_val, codes_val = validation
                logits_val = self._peer_logits(peers, backbone, X_val, device)
                extra["val_accuracy"] = accuracy(torch.as_tensor(self._average_proba(logits_val)), codes_val)
                best.update(epoch + 1, extra["val_accuracy"], peers)
            return extra

        self.history_ = trainer.fit(self.epochs, batches, step, on_epoch_end=on_epoch_end,
                                    extra_state={"best_epoch": best})
        best.restore(peers)
        self.best_epoch_ = best.epoch
        self.peer_states_ = [trainable_state_dict(net) for net in peers.nets]

        # The last co-divide, on the trained peers: the detector's verdicts.
        logits = self._peer_logits(peers, backbone, X_checked, device)
        losses = _avl.peer_losses(logits, codes)
        self._mixtures, divisions = _avl.co_divide(losses, self.threshold, gmm_seed)
        self.peer_clean_proba_ = np.stack([proba for proba, _ in divisions])
        self._set_detection(self._scores(logits, losses), codes, X_checked, pandas_index(y, X))

    def _scores(self, logits, losses):
        """Detector scores from each peer's logits and losses: the mean over peers of the
        clean posterior (peer k's from the mixture of its partner's losses)."""
        n_networks = len(logits)
        posteriors = []
        for k in range(n_networks):
            j = partner(k, n_networks)
            posteriors.append(self._mixtures[j].clean_posterior(losses[j]))
        proba = np.clip(np.mean(posteriors, axis=0), 0.0, 1.0)
        average = self._average_proba(logits)
        given = np.mean([np.exp(-loss) for loss in losses], axis=0)  # the peers' mean p(given label)
        return Scores(proba, proba >= self.threshold, average.argmax(axis=1),
                      label_quality=given, suggested_proba=average.max(axis=1))

    @staticmethod
    def _average_proba(logits):
        return torch.stack([lg.float().softmax(dim=1) for lg in logits]).mean(dim=0).numpy().astype(np.float64)

    # --------------------------------------------------------------- after fit

    def _restore_model(self):
        device = fitted_device(self.device_)
        backbone = self._load(device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fit warned about a non-ViT tower already
            peers = self._build_peers(backbone, self.class_names_, 0, device)
        for net, state in zip(peers.nets, self.peer_states_):
            load_trainable_state(net, state)
        return peers, backbone, device

    def _score_pairs(self, X_checked, codes):
        peers, backbone, device = self._fitted_model()
        logits = self._peer_logits(peers, backbone, X_checked, device)
        return self._scores(logits, _avl.peer_losses(logits, codes))

    def _predict_proba(self, X_checked):
        """The mean of the peers' softmax outputs."""
        peers, backbone, device = self._fitted_model()
        return self._average_proba(self._peer_logits(peers, backbone, X_checked, device))
