"""AVL-Prompter's pieces: the peer network, the co-divide and the loss terms.

Kept apart from the estimator (:mod:`skclip_noise.classifiers.avl`) so that each
piece can be tested on hand-made tensors:

- :class:`AVLNetwork`: one peer, a CLIP with coupled deep prompts
  (:class:`~skclip_noise.backbones.prompts.CoupledPromptLearner`) whose encoders
  are fine-tuned (``tuning="full"``) or, on request, kept as loaded with only the
  prompts training (``tuning="peft"``; BitFit on a non-ViT image tower, which gets
  text-side deep prompts only, the learner's text-only mode);
- :func:`peer_losses` and :func:`co_divide`: per-sample losses and DivideMix's
  two-component mixture, each peer dividing the training set for the other;
- :func:`fixmatch_loss`, :func:`uniform_prior_penalty` and :func:`avl_loss`:
  ``L = L_x + lambda_u * L_u + lambda_r * L_r``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..backbones.prompts import CoupledPromptLearner, apply_bitfit
from ..data.inputs import ImageDataset
from ..selection import LossMixture

__all__ = [
    "AVLNetwork",
    "Peers",
    "TwoViewDataset",
    "avl_loss",
    "co_divide",
    "cycle_loaders",
    "fixmatch_loss",
    "peer_losses",
    "uniform_prior_penalty",
]


# ---------------------------------------------------------------------------- model


class AVLNetwork(nn.Module):
    """One AVL-Prompter peer: coupled deep prompts on a CLIP whose encoders train.

    Parameters
    ----------
    clip_model : open_clip CLIP
        A model of this peer's own (a trainable copy, never the cached backbone);
        its ``requires_grad`` flags are set here.
    class_names : sequence of str
    tokenizer : callable or None
    n_ctx, prompt_depth, ctx_init
        See :class:`~skclip_noise.backbones.prompts.CoupledPromptLearner`.
    freeze_text : bool, default=False
        Keep the text encoder's weights as loaded (the paper's Table 9 ablation); it
        then also stays in eval mode.
    tuning : {"full", "peft"}, default="full"
        How much of the image tower trains. ``"full"``: all of it, at ``encoder_lr``.
        ``"peft"``: on a ViT tower, none of its weights (the coupled vision prompts
        are the parameter-efficient part); on any other tower (text-only prompts),
        its bias terms only (BitFit). With ``"peft"`` the tower stays in eval mode,
        so no normalisation statistics move.

    Attributes
    ----------
    prompts : CoupledPromptLearner
        Coupled prompts on an open_clip ViT image tower; on any other tower its
        text-only mode (deep text prompts, images through ``clip.encode_image``).
    coupled : bool
        Whether the prompts are coupled (``not prompts.text_only``).
    image_tuning : {"full", "vpt", "bitfit"}
        What trains in the image tower: all of it, none of its weights (only the
        vision prompts that enter it) or its bias terms.

    Notes
    -----
    Two CLIP parameters never train: ``logit_scale`` (AVL-Prompter uses a fixed
    scale of 100) and the text ``token_embedding`` (the prompts carry fixed copies
    of the token embeddings of the class names, MaPLe's layout, so the table gets
    no gradient). Everything else in an encoder that trains (and the image tower's
    bias terms with BitFit) trains at ``encoder_lr``.
    """

    def __init__(self, clip_model, class_names, tokenizer=None, *, n_ctx=2, prompt_depth=9,
                 ctx_init="a photo of a", freeze_text=False, tuning="full"):
        super().__init__()
        if tuning not in ("full", "peft"):  # no "frozen": the training views pass through the tower
            raise ValueError(f"tuning must be 'full' or 'peft'; got {tuning!r}.")
        clip_model.requires_grad_(True)
        # coupled prompts on an open_clip ViT tower, text-side deep prompts only on any other
        self.prompts = CoupledPromptLearner(
            clip_model, class_names, n_ctx=n_ctx, prompt_depth=prompt_depth, ctx_init=ctx_init,
            tokenizer=tokenizer, logit_scale=100.0, freeze_clip=False,
        )
        self.coupled = not self.prompts.text_only
        self.freeze_text = bool(freeze_text)
        self.tuning = tuning
        self.image_tuning = "full" if tuning == "full" else ("vpt" if self.coupled else "bitfit")
        clip = self.prompts.clip
        for name in ("logit_scale", "logit_bias"):
            p = getattr(clip, name, None)
            if isinstance(p, nn.Parameter):
                p.requires_grad_(False)
        self.prompts.text_encoder.token_embedding.requires_grad_(False)
        if self.image_tuning == "vpt":
            clip.visual.requires_grad_(False)
        elif self.image_tuning == "bitfit":
            apply_bitfit(clip.visual)
        if self.freeze_text:
            for p in self.text_parameters():
                p.requires_grad_(False)

    @property
    def clip(self) -> nn.Module:
        return self.prompts.clip

    def text_parameters(self) -> list[nn.Parameter]:
        """Every CLIP parameter outside the image tower and the logit scale/bias."""
        skip = {id(p) for p in self.clip.visual.parameters()}
        for name in ("logit_scale", "logit_bias"):
            p = getattr(self.clip, name, None)
            if isinstance(p, nn.Parameter):
                skip.add(id(p))
        return [p for p in self.clip.parameters() if id(p) not in skip]

    def prompt_parameters(self) -> list[nn.Parameter]:
        """The prompts and coupling layers (trained at ``lr``)."""
        clip_ids = {id(p) for p in self.clip.parameters()}
        return [p for p in self.parameters() if id(p) not in clip_ids and p.requires_grad]

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The CLIP weights that train (at ``encoder_lr``)."""
        return [p for p in self.clip.parameters() if p.requires_grad]

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.tuning == "peft":
            self.clip.visual.eval()
        if mode and self.freeze_text:
            for module in self._text_modules():
                module.eval()
        return self

    def _text_modules(self):
        clip = self.clip
        if getattr(clip, "text", None) is not None:
            return [clip.text]
        return [m for m in (clip.transformer, clip.ln_final, clip.token_embedding) if m is not None]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``100 * cos(image, text)``, shape (B, n_classes)."""
        return self.prompts.logits(images)


# ----------------------------------------------------------------- data


class Peers(nn.Module):
    """The peer networks as one module, so one Trainer and one optimizer drive them."""

    def __init__(self, nets):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def __len__(self):
        return len(self.nets)

    def __getitem__(self, k):
        return self.nets[k]

    def forward(self, k, images):
        """Peer ``k``'s class logits (one forward per step, through DDP when distributed)."""
        return self.nets[k](images)


class TwoViewDataset(ImageDataset):
    """Yields ``(weak view, strong view, index)`` of the same decoded image."""

    def __init__(self, image_input, weak, strong, indices=None):
        super().__init__(image_input, None, indices)
        self.weak, self.strong = weak, strong

    def __getitem__(self, position):
        index = int(position if self.indices is None else self.indices[position])
        image = self.load(index)
        return self.weak(image), self.strong(image), index


# ---------------------------------------------------------------- co-divide


def peer_losses(logits_per_peer: Sequence[torch.Tensor], codes) -> list[np.ndarray]:
    """Per-sample cross-entropy of each peer against the given labels (float64)."""
    targets = torch.as_tensor(np.asarray(codes), dtype=torch.long)
    return [
        F.cross_entropy(logits.float(), targets, reduction="none").numpy().astype(np.float64)
        for logits in logits_per_peer
    ]


def partner(k: int, n_networks: int) -> int:
    """The peer whose losses divide the data for peer ``k`` (itself when alone)."""
    return (k + 1) % n_networks


def co_divide(losses: Sequence[np.ndarray], tau: float, seed: int):
    """DivideMix's co-divide: peer ``k`` gets the division made from its partner's losses.

    A two-component Gaussian mixture is fitted to each peer's min-max normalised
    losses (DivideMix's settings, :class:`~skclip_noise.selection.LossMixture`);
    the clean probability of a sample is the posterior of the low-mean component.

    Parameters
    ----------
    losses : sequence of ndarray of shape (n_samples,)
        ``losses[j]``: per-sample loss of peer ``j`` on the whole training set.
    tau : float
        Samples whose clean probability is ``>= tau`` are labelled, the others
        unlabelled (the paper's Eq. 2).
    seed : int
        Seed of the mixtures.

    Returns
    -------
    mixtures : list of LossMixture
        ``mixtures[j]`` fitted on ``losses[j]``.
    divisions : list of (ndarray of float, ndarray of bool)
        ``divisions[k] = (clean_probability, labelled_mask)`` for peer ``k``,
        computed from the losses of ``partner(k)``: with two peers, peer 0 is
        divided by peer 1 and peer 1 by peer 0; a single peer divides itself.
    """
    n = len(losses)
    mixtures = [LossMixture(loss, seed) for loss in losses]
    divisions = []
    for k in range(n):
        j = partner(k, n)
        proba = mixtures[j].clean_posterior(losses[j])
        divisions.append((proba, proba >= tau))
    return mixtures, divisions


# ------------------------------------------------------------------- losses


def fixmatch_loss(logits_weak: torch.Tensor, logits_strong: torch.Tensor, threshold: float = 0.95):
    """FixMatch's consistency loss on unlabelled samples.

    Pseudo-labels are the argmax of the (detached) softmax of the weak view; the
    cross-entropy of the strong view against them counts where that softmax's
    maximum is ``>= threshold``, averaged over *all* unlabelled samples (masked
    ones contribute 0), as in FixMatch.

    Returns
    -------
    loss : torch.Tensor (scalar)
    mask : torch.Tensor of shape (n,), float
        1 where the pseudo-label is confident enough.
    """
    probs = logits_weak.detach().float().softmax(dim=1)
    confidence, pseudo = probs.max(dim=1)
    mask = (confidence >= threshold).float()
    loss = (F.cross_entropy(logits_strong.float(), pseudo, reduction="none") * mask).mean()
    return loss, mask


def uniform_prior_penalty(logits: torch.Tensor) -> torch.Tensor:
    """DivideMix's regulariser ``sum_c pi_c log(pi_c / mean_i p_ic)`` with a uniform prior ``pi``.

    Zero when the mean prediction over the batch is uniform; grows as the batch's
    predictions collapse onto few classes.
    """
    n_classes = logits.shape[1]
    prior = torch.full((n_classes,), 1.0 / n_classes, device=logits.device)
    mean = logits.float().softmax(dim=1).mean(dim=0)
    return torch.sum(prior * torch.log(prior / mean))


def avl_loss(logits_x: torch.Tensor | None, targets_x: torch.Tensor | None,
             logits_u_weak: torch.Tensor | None, logits_u_strong: torch.Tensor | None, *,
             lambda_u: float, lambda_r: float, threshold: float):
    """``L = L_x + lambda_u * L_u + lambda_r * L_r`` for one mini-batch.

    ``L_x``: cross-entropy of the weak view of the labelled samples against their
    given labels; ``L_u``: :func:`fixmatch_loss`; ``L_r``:
    :func:`uniform_prior_penalty` of the mean prediction over every view in the
    mini-batch (labelled weak, unlabelled weak and strong). A part without samples
    (no labelled or no unlabelled sample this step) contributes 0.

    Returns
    -------
    loss : torch.Tensor (scalar)
    metrics : dict of float tensors
        ``loss_x``, ``loss_u``, ``loss_r`` and ``mask_rate`` (share of unlabelled
        samples above the confidence threshold; 0 without unlabelled samples).
    """
    parts = [t for t in (logits_x, logits_u_weak, logits_u_strong) if t is not None]
    if not parts:
        raise ValueError("avl_loss got an empty mini-batch.")
    zero = parts[0].float().sum() * 0.0
    loss_x = F.cross_entropy(logits_x.float(), targets_x) if logits_x is not None else zero
    if logits_u_weak is not None:
        loss_u, mask = fixmatch_loss(logits_u_weak, logits_u_strong, threshold)
        mask_rate = mask.mean()
    else:
        loss_u, mask_rate = zero, zero.detach()
    loss_r = uniform_prior_penalty(torch.cat([t.float() for t in parts]))
    loss = loss_x + lambda_u * loss_u + lambda_r * loss_r
    metrics = {"loss_x": loss_x.detach(), "loss_u": loss_u.detach(), "loss_r": loss_r.detach(),
               "mask_rate": mask_rate.detach()}
    return loss, metrics


def cycle_loaders(make_iterable):
    """Endless iteration over fresh iterables (a reshuffled loader each pass)."""
    while True:
        empty = True
        for item in make_iterable():
            empty = False
            yield item
        if empty:
            return
