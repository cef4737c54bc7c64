"""An image tower with a new linear classification head, for fine-tuning.

:class:`ImageClassifierNet` is the model that DEFT's phase 2 (model adaptation on the
clean subset), TURN (linear probing, then full fine-tuning) and the loss-based
detectors train: a copy of a backbone's image tower, a feature taken from it, and a
new ``nn.Linear(feature_dim, n_classes)`` head.

Build it from a loaded backbone::

    backbone = load_backbone("open_clip:ViT-B-16", "/path/to/openai.safetensors")
    net = ImageClassifierNet.from_backbone(backbone, n_classes=10, tuning="full")
    optimizer = torch.optim.SGD(net.parameter_groups(5e-4, 5e-3), momentum=0.9)

The image tower is deep-copied, so training never touches the (cached, shared)
backbone; for a CLIP only the image tower is copied and the text tower is not kept.

Tuning modes
------------
``"full"``
    Every parameter of the image tower that the chosen feature depends on trains,
    with the head.
``"linear"``
    Linear probing: the tower is frozen and only the head trains. "Frozen" means
    frozen: the tower's parameters have ``requires_grad=False``, it runs under
    ``torch.no_grad`` and it stays in eval mode even after ``net.train()``, so
    BatchNorm running statistics do not drift and dropout / stochastic depth are off.
``"bitfit"``
    The bias terms of the tower train, with the head (BitFit). The tower follows the
    net's train / eval mode, so BatchNorm running statistics of a CNN tower are
    updated in training mode, as in ordinary fine-tuning.
``"vpt"``
    VPT-deep: ``n_vpt`` learnable prompt tokens per layer of an open_clip ViT image
    tower, appended after the image tokens (after ``ln_pre``), cut back and replaced
    before every block and stripped before pooling (DEFT's reference layout, see
    :func:`skclip_noise.backbones.prompts.vit_forward_with_prompts`); the tower is
    frozen, prompts and head train.

Features
--------
``feature=None`` picks the family's default:

- open_clip ViT tower: ``"pre_projection"``, the pooled CLS feature after ``ln_post``
  and before ``proj`` (DEFT's reference head input); ``"projection"`` is the CLIP
  joint-space embedding (what ``encode_image`` returns).
- open_clip timm trunk (``TimmModel``): ``"pre_projection"`` is the trunk's pooled
  feature, before the CLIP projection head; ``"projection"`` the embedding.
- other open_clip towers (e.g. ``ModifiedResNet``, whose attention pool ends in the
  projection): ``"projection"`` only.
- timm and torchvision models: the pooled feature the model returns with its
  classifier removed; ``feature="pre_projection"`` names the same (there is no
  projection), ``"projection"`` is an error.

Parts of the tower the chosen feature does not use (``proj`` of a ViT, the projection
head of a timm trunk, with ``"pre_projection"``) get ``requires_grad=False`` and are
left out of :meth:`ImageClassifierNet.parameter_groups`.

Precision: the head is float32; the tower keeps the backbone's dtype. Train from a
backbone loaded with ``precision="fp32"`` (and use autocast); a half-precision tower
works for ``tuning="linear"``.
"""

from __future__ import annotations

import copy
from typing import List, Optional

import torch
from torch import nn

from .prompts import apply_bitfit, freeze_module, init_visual_prompts, vit_forward_with_prompts
from .towers import CLIP_TOWER_KINDS, TOWER_KINDS, tower_kind_of

__all__ = ["ImageClassifierNet", "TUNING_MODES", "FEATURES"]

TUNING_MODES = ("full", "linear", "bitfit", "vpt")
FEATURES = ("pre_projection", "projection")

_PROBE_SIZE = 32  # side of the first dummy image used to measure feature widths
_VPT_ALTERNATIVES = (
    "use tuning='full' (fine-tune the whole tower), tuning='bitfit' (train only its "
    "bias terms) or tuning='linear' (frozen tower, train only the head)"
)


class ImageClassifierNet(nn.Module):
    """An image tower plus a new linear head: ``logits = head(feature(images))``.

    Usually built with :meth:`from_backbone`, which copies the backbone's image
    tower. The constructor takes ownership of ``tower`` as given (no copy) and
    changes its ``requires_grad`` flags in place.

    Parameters
    ----------
    tower : torch.nn.Module
        An image tower: an open_clip image tower (``VisionTransformer``,
        ``TimmModel``, ``ModifiedResNet``) or a timm / torchvision model whose
        classifier was removed (its output is the pooled feature).
    n_classes : int
        Number of output logits.
    tuning : {"full", "linear", "bitfit", "vpt"}, default="full"
        Which parameters train; see the module docstring.
    feature : {None, "pre_projection", "projection"}, default=None
        Input of the head; ``None`` is the family's default (``"pre_projection"``
        where it exists). See the module docstring.
    n_vpt : int, default=20
        Prompt tokens per layer for ``tuning="vpt"`` (DEFT reference: 20); ignored
        otherwise.
    input_size : int, default=224
        The tower's input side (``from_backbone`` passes the backbone's). The
        feature width of towers whose width cannot be read from the module is
        measured with a batch-1 forward of a zero image in eval mode under
        ``torch.no_grad`` (no random numbers drawn; training flags restored):
        first at 32 px, which is cheap and gives the same pooled width, then,
        if the tower rejects that size, at ``input_size``.
    tower_kind : str or None, default=None
        The tower's kind (one of :data:`skclip_noise.backbones.towers.TOWER_KINDS`;
        ``from_backbone`` passes ``backbone.tower_kind``); ``None`` infers it with
        :func:`~skclip_noise.backbones.towers.tower_kind_of`. The head treats the
        three open_clip kinds apart and every other kind alike.

    Attributes
    ----------
    tower : torch.nn.Module
        The image tower (for a CLIP, its ``visual`` module only).
    head : torch.nn.Linear
        The new head, ``feature_dim -> n_classes``, float32. Its weight has
        ``nn.Linear``'s default initialisation drawn from torch's global RNG (seed
        it for reproducible heads); its bias is zero.
    prompts : torch.nn.Parameter or None
        ``(n_layers, n_vpt, width)`` visual prompts for ``tuning="vpt"``, drawn
        (before the head) uniformly on ``+-sqrt(6 / (3 * p * p + width))``, ``p``
        the patch size, as in VPT; ``None`` otherwise.
    tuning : str
    feature : str
        The resolved feature (``"pooled"`` for timm / torchvision models).
    feature_dim : int
        Width of :meth:`features` and input width of ``head``.
    n_classes : int

    Raises
    ------
    ValueError
        Unknown ``tuning`` or ``feature``; a feature the tower does not have;
        ``tuning="vpt"`` on a tower that is not an open_clip ViT; ``n_vpt < 1``
        with ``tuning="vpt"``; ``tuning="bitfit"`` on a tower without biases.

    Notes
    -----
    The net starts in training mode, like any new ``nn.Module`` (with
    ``tuning="linear"`` the tower is in eval mode regardless). Call ``net.eval()``
    to compute features for evaluation.

    Examples
    --------
    >>> import torch
    >>> from skclip_noise.backbones import ImageClassifierNet, load_backbone
    >>> backbone = load_backbone("open_clip:skclip-tiny", pretrained=None)
    >>> net = ImageClassifierNet.from_backbone(backbone, n_classes=3, tuning="linear")
    >>> net.eval()(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 3])
    >>> net.feature_dim  # the ViT's pre-projection width
    96
    >>> sum(p.numel() for p in net.parameters() if p.requires_grad)  # the head only: 96 x 3 + 3
    291
    """

    def __init__(
        self,
        tower: nn.Module,
        n_classes: int,
        *,
        tuning: str = "full",
        feature: Optional[str] = None,
        n_vpt: int = 20,
        input_size: int = 224,
        tower_kind: Optional[str] = None,
    ):
        super().__init__()
        if tuning not in TUNING_MODES:
            raise ValueError(f"tuning must be one of {TUNING_MODES}; got {tuning!r}.")
        if feature is not None and feature not in FEATURES:
            raise ValueError(f"feature must be None or one of {FEATURES}; got {feature!r}.")
        if int(n_classes) != n_classes or n_classes < 1:
            raise ValueError(f"n_classes must be a positive integer; got {n_classes!r}.")
        if tower_kind is None:
            tower_kind = tower_kind_of(tower)
        if tower_kind not in TOWER_KINDS:
            raise ValueError(f"tower_kind must be None or one of {TOWER_KINDS}; got {tower_kind!r}.")
        kind = tower_kind
        self._kind = kind
        self.tuning = tuning
        self.n_classes = int(n_classes)
        self.feature = self._resolve_feature(tower, kind, feature)
        self.tower = tower

        # trainable flags of the tower
        if tuning == "full":
            tower.requires_grad_(True)
        elif tuning == "bitfit":
            apply_bitfit(tower)
        else:  # linear, vpt
            freeze_module(tower)
        for p in self._unused_parameters():
            p.requires_grad_(False)

        # visual prompts (drawn before the head), on CPU then moved: same values on any device
        ref = next(iter(tower.parameters()), None)
        device = ref.device if ref is not None else torch.device("cpu")
        if tuning == "vpt":
            if kind != "clip_vit":
                raise ValueError(
                    f"tuning='vpt' needs an open_clip ViT image tower, but this tower is "
                    f"{type(tower).__name__}. For such towers {_VPT_ALTERNATIVES}."
                )
            n_vpt = int(n_vpt)
            if n_vpt < 1:
                raise ValueError(f"n_vpt must be >= 1 for tuning='vpt'; got {n_vpt}.")
            prompts = init_visual_prompts(tower, len(tower.transformer.resblocks), n_vpt)
            self.prompts = nn.Parameter(prompts.to(device))
            self.n_vpt = n_vpt
        else:
            self.register_parameter("prompts", None)
            self.n_vpt = 0

        self.feature_dim = self._measure_feature_dim(int(input_size))
        head = nn.Linear(self.feature_dim, self.n_classes)
        nn.init.zeros_(head.bias)
        self.head = head.to(device)
        self.train(True)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_backbone(
        cls,
        backbone,
        n_classes: int,
        *,
        tuning: str = "full",
        feature: Optional[str] = None,
        n_vpt: int = 20,
    ) -> "ImageClassifierNet":
        """Build the net on a deep copy of a loaded backbone's image tower.

        Only the image tower is copied (for a CLIP, ``backbone.model.visual``; the
        text tower is neither copied nor referenced). The backbone itself is not
        modified.

        Parameters
        ----------
        backbone : skclip_noise.backbones.Backbone
            From :func:`skclip_noise.backbones.load_backbone`.
        n_classes : int
        tuning : {"full", "linear", "bitfit", "vpt"}, default="full"
        feature : {None, "pre_projection", "projection"}, default=None
        n_vpt : int, default=20

        Returns
        -------
        ImageClassifierNet
            On the backbone's device, in training mode.
        """
        tower = copy.deepcopy(backbone.image_tower)
        return cls(
            tower,
            n_classes,
            tuning=tuning,
            feature=feature,
            n_vpt=n_vpt,
            input_size=int(backbone.preprocess_config.image_size),
            tower_kind=backbone.tower_kind or None,
        )

    @staticmethod
    def _resolve_feature(tower, kind, feature):
        if kind not in CLIP_TOWER_KINDS:
            if feature == "projection":
                raise ValueError(
                    f"feature='projection' needs a CLIP image tower; {type(tower).__name__} "
                    "has no projection. Use feature=None (its pooled feature)."
                )
            return "pooled"
        if kind == "clip_vit":
            if feature == "projection" and tower.proj is None:
                raise ValueError("This ViT tower has no projection (proj is None); use feature='pre_projection'.")
            return feature or "pre_projection"
        if kind == "clip_timm":
            has_pool = "pool" in dict(tower.head.named_children())
            if has_pool:  # attention pooling: it ends in the projection
                if feature == "pre_projection":
                    raise ValueError(
                        "This timm trunk pools with attention, which ends in the projection: "
                        "there is no pre-projection feature. Use feature='projection'."
                    )
                return "projection"
            return feature or "pre_projection"
        if feature == "pre_projection":
            raise ValueError(
                f"feature='pre_projection' is not available for a {type(tower).__name__} image "
                "tower (its pooling ends in the projection); use feature='projection'."
            )
        return "projection"

    def _unused_parameters(self) -> List[nn.Parameter]:
        """Tower parameters the chosen feature does not depend on."""
        if self.feature != "pre_projection":
            return []
        if self._kind == "clip_vit":
            return [self.tower.proj] if self.tower.proj is not None else []
        if self._kind == "clip_timm":
            unused = list(self.tower.head.parameters())
            if "proj" not in dict(self.tower.head.named_children()) and "mlp" not in dict(
                self.tower.head.named_children()
            ):
                # projection inside the trunk's classifier (proj='' / 'none' configs)
                classifier = self.tower.trunk.get_classifier()
                unused += list(classifier.parameters()) if isinstance(classifier, nn.Module) else []
            return unused
        return []

    def _measure_feature_dim(self, input_size: int) -> int:
        tower = self.tower
        if self._kind == "clip_vit":
            if self.feature == "projection":
                return int(tower.proj.shape[1])
            if tower.proj is not None:
                return int(tower.proj.shape[0])
        ref = next(iter(tower.parameters()), None)
        dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
        device = ref.device if ref is not None else torch.device("cpu")
        if self._kind == "clip_vit":
            input_size = int(tower.image_size[0])
        # Pooled widths do not depend on the input size: try a small image first (cheap),
        # then the tower's own size (fixed-size ViTs, nets that need large inputs).
        sizes = [input_size] if input_size <= _PROBE_SIZE else [_PROBE_SIZE, input_size]
        modes = {m: m.training for m in tower.modules()}
        tower.eval()
        try:
            for i, size in enumerate(sizes):
                try:
                    with torch.no_grad():
                        out = self._tower_features(torch.zeros(1, 3, size, size, dtype=dtype, device=device))
                    break
                except Exception:
                    if i == len(sizes) - 1:
                        raise
        finally:
            for m, mode in modes.items():
                m.training = mode
        if out.dim() != 2:
            raise ValueError(
                f"The image tower returns features of shape {tuple(out.shape)}; a pooled "
                "(batch, width) feature is needed (remove its classifier, keep its pooling)."
            )
        return int(out.shape[1])

    # ---------------------------------------------------------------------- forward
    def train(self, mode: bool = True):
        """Set training mode; with ``tuning="linear"`` the tower stays in eval mode."""
        super().train(mode)
        if self.tuning == "linear":
            self.tower.eval()
        return self

    def _tower_features(self, images: torch.Tensor) -> torch.Tensor:
        tower, kind = self.tower, self._kind
        if kind == "clip_vit":
            if self.prompts is not None:
                pooled = vit_forward_with_prompts(tower, images, list(self.prompts), project=False)
            else:
                x = tower._embeds(images)
                x = tower.transformer(x)
                pooled, _ = tower._pool(x)
            if self.feature == "projection":
                pooled = pooled @ tower.proj
            return pooled
        if kind == "clip_timm" and self.feature == "pre_projection":
            trunk = tower.trunk
            return trunk.forward_head(trunk.forward_features(images), pre_logits=True)
        out = tower(images)
        if isinstance(out, (tuple, list)):  # towers configured to also return tokens
            out = out[0]
        return out

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The head's input features of a batch of preprocessed images.

        Parameters
        ----------
        images : torch.Tensor of shape (B, 3, H, W)

        Returns
        -------
        torch.Tensor of shape (B, feature_dim)
            Unnormalised, in the tower's dtype. Gradients flow as the tuning mode
            allows (never into the tower with ``tuning="linear"``, which runs it
            under ``torch.no_grad``). Call ``net.eval()`` first for evaluation.
        """
        if self.tuning == "linear":
            with torch.no_grad():
                return self._tower_features(images)
        return self._tower_features(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits, shape ``(B, n_classes)``."""
        feats = self.features(images)
        return self.head(feats.to(self.head.weight.dtype))

    # -------------------------------------------------------------------- optimiser
    def parameter_groups(self, lr_backbone: float, lr_head: Optional[float] = None) -> List[dict]:
        """Optimizer parameter groups holding exactly the trainable parameters, once each.

        Parameters
        ----------
        lr_backbone : float
            Learning rate of the trainable tower parameters (all of them for
            ``"full"``, the biases for ``"bitfit"``).
        lr_head : float or None, default=None
            Learning rate of the new parameters: the head and, for ``"vpt"``, the
            prompts. ``None`` uses ``lr_backbone``.

        Returns
        -------
        list of dict
            ``{"params", "lr", "name"}`` dicts, ``name`` ``"backbone"`` then ``"head"``;
            the backbone group is left out when nothing in the tower trains
            (``"linear"``, ``"vpt"``). Pass to any ``torch.optim`` optimizer;
            other options (weight decay, momentum) come from the optimizer.
        """
        backbone = [p for p in self.tower.parameters() if p.requires_grad]
        new = [p for p in ([self.prompts] if self.prompts is not None else []) if p.requires_grad]
        new += [p for p in self.head.parameters() if p.requires_grad]
        groups = []
        if backbone:
            groups.append({"params": backbone, "lr": float(lr_backbone), "name": "backbone"})
        if new:
            groups.append(
                {"params": new, "lr": float(lr_backbone if lr_head is None else lr_head), "name": "head"}
            )
        return groups

    def extra_repr(self) -> str:
        return (
            f"tuning={self.tuning!r}, feature={self.feature!r}, feature_dim={self.feature_dim}, "
            f"n_classes={self.n_classes}" + (f", n_vpt={self.n_vpt}" if self.prompts is not None else "")
        )
