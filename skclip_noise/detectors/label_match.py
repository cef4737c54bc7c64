"""LabelMatchDetector: CLIP zero-shot prediction against the given label."""

from __future__ import annotations

import numpy as np
import torch

from .._param_validation import constraints_for
from ..backbones.loading import load_backbone
from ..base import BaseNoiseDetector, Scores
from ..training.device import fitted_device, resolve_device

__all__ = ["LabelMatchDetector", "class_text_features"]


class LabelMatchDetector(BaseNoiseDetector):
    """Zero-shot baseline: a label is clean when CLIP's zero-shot prediction equals it.

    Each class is described by prompts made from ``templates`` and its name; the text
    embeddings of a class's prompts are L2-normalised, averaged and normalised again
    (CLIP's prompt ensembling). Images are classified by cosine similarity scaled by
    CLIP's logit scale. ``clean_proba_`` is the zero-shot softmax probability of the
    given label; a sample is clean when the zero-shot argmax equals its label.

    Zero-shot quality depends entirely on real CLIP weights: with random text towers
    (the hybrid or test configs) the verdicts mean nothing.

    Parameters
    ----------
    backbone : str, default="open_clip:ViT-B-32"
        An open_clip backbone (the text tower is needed).
    pretrained : str or None, default="openai"
    templates : sequence of str, default=("a photo of a {}.",)
        Prompt templates; ``{}`` is replaced by the class name.
    class_names : sequence of str or mapping, default=None
        Needed with integer labels (string labels are their own names).
    image_size, batch_size, num_workers, n_jobs, device, mixed_precision, cache_dir, verbose
        As in :class:`~skclip_noise.ImageEmbedder`. X may also be image embeddings
        from the same CLIP (an ``ImageEmbedder`` output).
    skip_unreadable : bool, default=False
        Image files (X a list of paths) that cannot be read: False raises, naming the
        file; True fits on the readable images, judges each unreadable one a label
        issue and lists it in ``unreadable_`` (see :ref:`unreadable-files`).

    Attributes
    ----------
    classes_, class_names_, clean_proba_, clean_mask_, predicted_, noise_rate_, noise_transition_, label_issues_
        The detector contract (:class:`~skclip_noise.detectors.BaseNoiseDetector`);
        ``predicted_`` is the zero-shot argmax.
    text_features_ : ndarray of shape (n_classes, embedding_dim)
        The classes' normalised, template-averaged text embeddings.
    logit_scale_ : float
        CLIP's logit scale, which multiplies the cosine similarities.
    device_ : str
        The device the fit ran on.
    unreadable_ : pandas.DataFrame
        With ``skip_unreadable=True``: the image files that could not be read (see
        :ref:`unreadable-files`).

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise import LabelMatchDetector
    >>> images = np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8)
    >>> labels = np.array(["cat", "dog"] * 3)
    >>> detector = LabelMatchDetector("open_clip:skclip-tiny", pretrained=None, device="cpu")
    >>> detector.fit(images, labels).clean_mask_.shape
    (6,)
    """

    _parameter_constraints = constraints_for(
        "backbone", "pretrained", "class_names", "image_size", "batch_size", "num_workers", "n_jobs", "device",
        "mixed_precision", "cache_dir", "skip_unreadable", "verbose",
        templates=[str, list, tuple],
    )
    _needs_class_names = True

    def __init__(
        self,
        backbone="open_clip:ViT-B-32",
        pretrained="openai",
        *,
        templates=("a photo of a {}.",),
        class_names=None,
        image_size=None,
        batch_size=64,
        num_workers=0,
        n_jobs=None,
        device="auto",
        mixed_precision="auto",
        cache_dir=None,
        skip_unreadable=False,
        verbose=0,
    ):
        self.backbone = backbone
        self.pretrained = pretrained
        self.templates = templates
        self.class_names = class_names
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.n_jobs = n_jobs
        self.device = device
        self.mixed_precision = mixed_precision
        self.cache_dir = cache_dir
        self.skip_unreadable = skip_unreadable
        self.verbose = verbose

    def _check_params(self, X_checked, encoding):
        check_templates(self.templates)

    def _fit_scores(self, X_checked, codes, encoding):
        templates = check_templates(self.templates)
        device = resolve_device(self.device)
        backbone = load_backbone(self.backbone, self.pretrained, device=device)
        if not backbone.is_clip:
            raise ValueError(
                f"LabelMatchDetector needs a CLIP (open_clip) backbone with a text tower; got {self.backbone!r}."
            )
        self.device_ = str(device)
        self.text_features_ = class_text_features(backbone, encoding.class_names, templates)
        self.logit_scale_ = float(backbone.model.logit_scale.exp().detach().cpu())
        return self._score_pairs(X_checked, codes)

    def _score_pairs(self, X_checked, codes):
        proba = zero_shot_proba(self._features(X_checked), self.text_features_, self.logit_scale_, self.backbone)
        predicted = proba.argmax(axis=1)
        return Scores(proba[np.arange(len(codes)), codes], predicted == codes, predicted,
                      suggested_proba=proba.max(axis=1))

    def _features(self, X_checked, device=None):
        if X_checked.kind != "features":
            # the fit-time device, or the CPU (with a warning) on a machine without it
            device = str(fitted_device(self.device_))
        return super()._features(X_checked, device)


def zero_shot_proba(features, text_features, logit_scale, backbone_name):
    """CLIP's zero-shot class probabilities of image embeddings ``features``: the softmax
    of ``logit_scale`` times their cosine similarity to each class's text embedding
    (:func:`class_text_features`), as a (n_samples, n_classes) float64 array."""
    width = text_features.shape[1]
    if features.shape[1] != width:
        raise ValueError(
            f"X has {features.shape[1]} features but {backbone_name}'s joint space has "
            f"{width}; pass images, or embeddings from the same CLIP."
        )
    unit = np.asarray(features, dtype=np.float64)
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    logits = logit_scale * unit @ np.asarray(text_features, dtype=np.float64).T
    logits -= logits.max(axis=1, keepdims=True)
    proba = np.exp(logits)
    return proba / proba.sum(axis=1, keepdims=True)


def check_templates(templates):
    """Prompt ``templates`` (a str or a sequence of them) as a list, each a string with one
    ``{}`` for the class name and no other field; refused before any work otherwise.

    Examples
    --------
    >>> check_templates("a photo of a {}.")
    ['a photo of a {}.']
    """
    listed = [templates] if isinstance(templates, str) else list(templates)

    def usable(template):
        if not isinstance(template, str) or "{}" not in template:
            return False
        try:
            prompt = template.format("\x00")
        except (IndexError, KeyError, ValueError):  # another field, e.g. "{x}" or "{0} {1}"
            return False
        return "\x00" in prompt  # "{{}}" holds "{}" but writes no class name

    if not listed or not all(usable(t) for t in listed):
        raise ValueError(
            f"templates must be a non-empty sequence of strings containing '{{}}' for the class name "
            f"(and no other field); got {templates!r}."
        )
    return listed


def zero_shot_backbone(backbone_spec, pretrained, device):
    """The CLIP of ``zero_shot=True``, loaded on ``device``; refused when it has no text tower."""
    backbone = load_backbone(backbone_spec, pretrained, device=device)
    if not backbone.is_clip:
        raise ValueError(f"zero_shot=True needs a CLIP (open_clip) backbone; got {backbone_spec!r}.")
    return backbone


def clip_zero_shot_proba(features, backbone_spec, pretrained, device, class_names, templates):
    """:func:`zero_shot_proba` of CLIP image embeddings ``features`` with the text tower of
    ``backbone_spec`` (loaded on ``device``) and the prompts ``templates`` (a str or a
    sequence of them) of each of ``class_names``."""
    backbone = zero_shot_backbone(backbone_spec, pretrained, device)
    text = class_text_features(backbone, class_names, check_templates(templates))
    return zero_shot_proba(features, text, float(backbone.model.logit_scale.exp()), backbone_spec)


#: Prompts per ``encode_text`` call: 1,000 classes x 80 templates at once would not fit in memory.
PROMPT_BATCH = 1024


def class_prompt_tokens(backbone, class_names, templates):
    """The tokens of every class's prompts (class-major), refused where the tokenizer would
    cut a prompt at its context length or make two classes' prompts alike: the checks of
    :func:`class_text_features`, without the text tower."""
    texts = [t.format(name.replace("_", " ")) for name in class_names for t in templates]
    tokens = torch.as_tensor(backbone.tokenizer(texts))
    _check_prompt_tokens(tokens, backbone.tokenizer([""])[0], texts, class_names, len(templates))
    return tokens


@torch.inference_mode()
def class_text_features(backbone, class_names, templates):
    """L2-normalised text embeddings of each class, averaged over the prompt templates
    (CLIP's zero-shot classifier), as a (n_classes, dim) float array. Refuses prompts the
    tokenizer would cut at its context length, and classes whose prompts it makes alike."""
    tokens = class_prompt_tokens(backbone, class_names, templates)
    features = torch.cat([
        torch.nn.functional.normalize(
            backbone.model.encode_text(tokens[start:start + PROMPT_BATCH].to(backbone.device)).float(), dim=-1)
        for start in range(0, len(tokens), PROMPT_BATCH)
    ])
    features = features.reshape(len(class_names), len(templates), -1).mean(dim=1)
    return torch.nn.functional.normalize(features, dim=-1).cpu().numpy()


def _check_prompt_tokens(tokens, empty, texts, class_names, n_templates):
    """A prompt that fills the whole context was cut (its end lost); two classes whose
    prompts tokenise alike ("r&amp;b" and "r&b", "café" and "cafe" for an uncased
    tokenizer) would get one text embedding and split every sample evenly."""
    full = np.flatnonzero((tokens[:, -1] != torch.as_tensor(empty)[-1]).numpy())
    if full.size:
        raise ValueError(
            f"The prompt {texts[full[0]]!r} fills the text tower's whole context ({tokens.shape[1]} tokens) and "
            "would be cut: shorten the class names (class_names=[...]) or the templates."
        )
    seen = {}
    for name, rows in zip(class_names, tokens.reshape(len(class_names), n_templates, -1)):
        key = rows.numpy().tobytes()
        if key in seen:
            raise ValueError(
                f"classes {seen[key]!r} and {name!r} get the same text prompt (the tokenizer reads them alike), so "
                "they could not be told apart. Give each class a name of its own with class_names=[...]."
            )
        seen[key] = name
