"""ImageEmbedder: a scikit-learn transformer from images to embeddings."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted

from ._param_validation import constraints_for
from .backbones.loading import check_weights_unchanged, load_backbone, weights_key
from .data.inputs import ImageDataset, ImageInputMixin, check_image_input
from .embedding_cache import EmbeddingStore, content_keys
from .training.device import autocast_dtype, fitted_device, resolve_device
from .training.loop import evaluate, make_loader

__all__ = ["ImageEmbedder"]


class ImageEmbedder(ImageInputMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Turn images into L2-normalised embeddings with a pre-trained backbone.

    CLIP backbones give their image features (the joint image-text space); timm and
    torchvision backbones give their pooled features before the classifier. Images are
    decoded lazily and embedded in batches on the device, so memory does not grow
    with the number of images beyond the output array. With ``cache_dir`` every
    embedding is stored on disk under a key made of the image content and the
    backbone, so a second call (another estimator, a grid search over heads) only
    reads.

    Parameters
    ----------
    backbone : str, default="open_clip:ViT-B-32"
        ``"open_clip:<config>"``, ``"timm:<model>"`` or ``"torchvision:<model>"``.
    pretrained : str, bool or None, default="openai"
        Weights: an open_clip tag, a local checkpoint path, ``"offline"`` for the
        weights of the ``offline-weights`` extra, ``True`` for timm/torchvision hub
        weights, or None for random weights. See :func:`skclip_noise.backbones.load_backbone`.
    normalize : bool, default=True
        L2-normalise each embedding.
    image_size : int, default=None
        Side images are resized to. None keeps the backbone's own preprocessing.
        CNN backbones accept any side, and small images (8 or 28 px) lose nothing at
        64-112 px while costing 4-12x less than 224 px; ViT towers need their native
        side, and another value raises at ``fit``.
    batch_size : int, default=64
    num_workers : int, default=0
        DataLoader worker processes decoding images.
    n_jobs : int, default=None
        Shards of the input embedded in parallel through joblib, one per job (None:
        1, no sharding; -1: all of joblib's workers). The active joblib backend
        decides where they run: local processes by default, the workers of a Dask
        cluster under ``joblib.parallel_config(backend="dask")``, of a Ray cluster
        under ``backend="ray"``. Each worker process loads the backbone once (the
        process cache), resolves ``device`` itself and, with ``cache_dir`` on a
        shared file system, writes into the one embedding cache. The rows come back
        in input order, equal to a single process's.
    device : str, default="auto"
        ``"auto"`` picks cuda, then mps, then cpu, when ``fit`` runs.
    mixed_precision : {"auto", True, False, "bf16", "fp16"}, default="auto"
        Autocast on CUDA by default; full precision on CPU.
    cache_dir : str or path-like, default=None
        Folder of the on-disk embedding cache; None disables it.
    verbose : int, default=0
        Progress bar when > 0.

    Attributes
    ----------
    embedding_dim_ : int
        Width of the embeddings.
    device_ : str
        The device resolved at fit.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise import ImageEmbedder
    >>> images = np.random.default_rng(0).integers(0, 256, (4, 8, 8), dtype=np.uint8)
    >>> embedder = ImageEmbedder("open_clip:skclip-tiny", pretrained=None, device="cpu")
    >>> embedder.fit_transform(images).shape
    (4, 48)
    """

    _parameter_constraints = constraints_for(
        "backbone", "pretrained", "image_size", "batch_size", "num_workers", "n_jobs", "device",
        "mixed_precision", "cache_dir", "verbose",
        normalize=["boolean"],
    )

    def __init__(
        self,
        backbone="open_clip:ViT-B-32",
        pretrained="openai",
        *,
        normalize=True,
        image_size=None,
        batch_size=64,
        num_workers=0,
        n_jobs=None,
        device="auto",
        mixed_precision="auto",
        cache_dir=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.pretrained = pretrained
        self.normalize = normalize
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.n_jobs = n_jobs
        self.device = device
        self.mixed_precision = mixed_precision
        self.cache_dir = cache_dir
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags

    def fit(self, X=None, y=None):
        """Load the backbone and record its embedding width.

        Parameters
        ----------
        X : images, optional
            Checked when given; the embedder learns nothing from the data.
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        if X is not None:
            check_image_input(X)
        device = resolve_device(self.device)
        autocast_dtype(device, self.mixed_precision)  # validates the value
        backbone = load_backbone(self.backbone, self.pretrained, device=device)
        if self.image_size is not None:
            self._check_image_size(backbone)
        self.device_ = str(device)
        self.embedding_dim_ = backbone.feature_dim
        self._weights_key = backbone.weights_key  # checked where the backbone is reloaded
        return self

    def _check_image_size(self, backbone):
        probe = torch.zeros(1, 3, self.image_size, self.image_size, device=backbone.device)
        try:
            with torch.inference_mode():
                backbone.encode_images(probe.to(next(backbone.model.parameters()).dtype))
        except RuntimeError as exc:
            native = backbone.preprocess_config.image_size
            raise ValueError(
                f"{self.backbone} does not accept image_size={self.image_size}; its native "
                f"side is {native}. Use image_size=None (ViT towers need their native side)."
            ) from exc

    def _transform_for(self, backbone):
        return backbone.eval_transform(self.image_size)

    @property
    def _n_features_out(self):
        return self.embedding_dim_

    def _loaded_backbone(self):
        check_weights_unchanged(self.pretrained, getattr(self, "_weights_key", None), type(self).__name__)
        return load_backbone(self.backbone, self.pretrained, device=fitted_device(self.device_))

    def transform(self, X):
        """Embed images.

        Parameters
        ----------
        X : images
            An array ``(N, H, W[, 3])``, a sequence of paths, or a torch Dataset.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, embedding_dim), float32
            One row per image; ``embedding_dim`` is the fitted ``embedding_dim_``.
        """
        check_is_fitted(self, "embedding_dim_")
        image_input = check_image_input(X)
        shards = shard_indices(len(image_input), self.n_jobs)
        if len(shards) > 1:
            return self._transform_in_shards(image_input, shards)
        backbone = self._loaded_backbone()
        dataset = ImageDataset(image_input, self._transform_for(backbone))
        if self.cache_dir is None:
            embeddings = self._embed(backbone, dataset)
        else:
            embeddings = self._embed_with_cache(backbone, dataset)
        if self.normalize:
            norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
            embeddings = embeddings / np.maximum(norms, 1e-12)
        return embeddings.astype(np.float32, copy=False)

    def _transform_in_shards(self, image_input, shards):
        """Embed contiguous shards in parallel on the active joblib backend, in input order."""
        from joblib import Parallel, delayed

        check_weights_unchanged(self.pretrained, getattr(self, "_weights_key", None), type(self).__name__)
        settings = {**self.get_params(), "n_jobs": None, "verbose": 0}
        parts = Parallel(n_jobs=self.n_jobs)(
            delayed(_embed_shard)(settings, _input_subset(image_input, rows)) for rows in shards
        )
        return np.concatenate(parts).astype(np.float32, copy=False)

    def _embed(self, backbone, dataset):
        loader = make_loader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            pin_memory=backbone.device.type == "cuda",
        )
        dtype = next(backbone.model.parameters()).dtype
        embeddings = evaluate(
            backbone.model,
            loader,
            lambda batch: backbone.encode_images(batch[0].to(dtype)),
            device=backbone.device,
            mixed_precision=self.mixed_precision,
            verbose=self.verbose,
            description=f"embed {self.backbone}",
        )
        return embeddings.numpy()

    def _embed_with_cache(self, backbone, dataset):
        try:
            store = EmbeddingStore(self.cache_dir, self._cache_key(backbone))
        except OSError as exc:
            warnings.warn(
                f"cache_dir={str(self.cache_dir)!r} cannot be used ({exc}); embedding without "
                "the cache. Pass a writable folder, or cache_dir=None.",
                UserWarning,
                stacklevel=3,
            )
            return self._embed(backbone, dataset)
        keys = content_keys(dataset)
        found, cached = store.lookup(keys)
        missing = np.flatnonzero(~found)
        unique_keys, first = np.unique(keys[missing], return_index=True)
        to_compute = missing[first]
        if len(to_compute):
            computed = self._embed(
                backbone, ImageDataset(dataset.image_input, dataset.transform, indices=to_compute)
            )
            store.add(unique_keys, computed)
            width = computed.shape[1]
        else:
            width = cached.shape[1]
        embeddings = np.empty((len(keys), width), dtype=np.float32)
        if cached is not None:
            embeddings[found] = cached
        if len(missing):
            embeddings[missing] = computed[np.searchsorted(unique_keys, keys[missing])]
        return embeddings

    def _cache_key(self, backbone):
        dtype = autocast_dtype(backbone.device, self.mixed_precision)
        return "|".join(
            [
                str(backbone.spec),
                repr(weights_key(self.pretrained)),
                backbone.precision,
                str(dtype),
                repr(self._transform_for(backbone)),
            ]
        )


def shard_indices(n_samples, n_jobs):
    """Contiguous index ranges, one per effective joblib job (a single one for ``n_jobs=None``).

    Examples
    --------
    >>> [len(rows) for rows in shard_indices(10, 3)]
    [4, 3, 3]
    >>> len(shard_indices(10, None))
    1
    """
    from joblib import effective_n_jobs

    n_shards = 1 if n_jobs is None else max(1, min(effective_n_jobs(n_jobs), n_samples))
    return np.array_split(np.arange(n_samples), n_shards)


def _input_subset(image_input, rows):
    """The images at the contiguous positions ``rows``, in a form a worker can receive."""
    start, stop = int(rows[0]), int(rows[-1]) + 1
    if image_input.kind == "dataset":
        return torch.utils.data.Subset(image_input.data, range(start, stop))
    return image_input.data[start:stop]


def _embed_shard(settings, X):
    """One shard's embeddings, in a worker: the backbone loads once per worker process."""
    return ImageEmbedder(**settings).fit(None).transform(X)
