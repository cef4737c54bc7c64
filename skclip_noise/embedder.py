"""ImageEmbedder: a scikit-learn transformer from images to embeddings."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import torch
from PIL import ImageFile
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted

from ._warnings import warn_user
from ._param_validation import check_params_of_fit, constraints_for, remember_params_of_fit
from .backbones.loading import check_weights_unchanged, load_backbone, weights_key
from .data.decoding import DECODING_VERSION, pil_settings, use_pil_settings
from .data.inputs import ImageDataset, ImageInput, ImageInputMixin, check_image_input
from .embedding_cache import EmbeddingStore, content_keys
from .training.device import autocast_dtype, fitted_device, resolve_device
from .training.loop import evaluate, make_loader
from .training.preflight import check_image_size

__all__ = ["EMBEDDING_PARAMS", "ImageEmbedder"]

#: The parameters that embed images: changed after fit, new images would not be embedded as
#: the fitted ones were.
EMBEDDING_PARAMS = ("backbone", "pretrained", "image_size")


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
        1, no sharding; -1: all of joblib's workers), cut at multiples of
        ``batch_size`` (at most one shard per batch). The active joblib backend
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
    skip_unreadable : bool, default=False
        What to do with an image file that cannot be read (missing, not an image,
        truncated, too large). False: raise :class:`~skclip_noise.data.inputs.ImageReadError`
        (an ``OSError``) naming it, when the pass reaches it (a missing file before
        any work). True: embed the readable images, return a row of NaN for each
        unreadable file, list them in ``unreadable_`` and warn. Files are decoded
        completely once, in the embedding pass: a JPEG cut short is caught even
        where PIL's ``verify()`` passes it.
    verbose : int, default=0
        Progress bar when > 0.

    Attributes
    ----------
    embedding_dim_ : int
        Width of the embeddings.
    device_ : str
        The device resolved at fit.
    unreadable_ : pandas.DataFrame
        Set by ``transform`` (and ``fit_transform``) with ``skip_unreadable=True``:
        the image files of the last transformed X that could not be read, indexed by
        their position in X (index name ``"sample"``), with the columns ``path`` and
        ``reason``; empty when every image was read. Their rows of the output are NaN:
        drop them with ``X[~np.isnan(embeddings).any(axis=1)]``, or use
        ``unreadable_.index``.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise import ImageEmbedder
    >>> images = np.random.default_rng(0).integers(0, 256, (4, 8, 8), dtype=np.uint8)
    >>> embedder = ImageEmbedder("open_clip:skclip-tiny", pretrained=None, device="cpu")
    >>> embedder.fit_transform(images).shape
    (4, 48)

    Unreadable files skipped instead of raising:

    >>> from PIL import Image
    >>> Image.fromarray(images[0]).save("good.png")
    >>> _ = open("bad.png", "w").write("not an image")
    >>> embedder.set_params(skip_unreadable=True)  # doctest: +ELLIPSIS
    ImageEmbedder(...)
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     embeddings = embedder.transform(["good.png", "bad.png"])
    >>> print(caught[0].message)
    1 of 2 image files could not be read and were skipped (NaN rows), ...
    >>> np.isnan(embeddings).any(axis=1).tolist()
    [False, True]
    >>> embedder.unreadable_.to_dict("index")
    {1: {'path': 'bad.png', 'reason': 'not an image file (PIL cannot identify its format)'}}
    """

    _parameter_constraints = constraints_for(
        "backbone", "pretrained", "image_size", "batch_size", "num_workers", "n_jobs", "device",
        "mixed_precision", "cache_dir", "skip_unreadable", "verbose",
        normalize=["boolean"],
    )
    #: The estimator named in errors about these parameters (an estimator that embeds with
    #: an ImageEmbedder of its own parameters puts its own name here).
    _owner = "ImageEmbedder"

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
        skip_unreadable=False,
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
        self.skip_unreadable = skip_unreadable
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.non_deterministic = False
        tags.transformer_tags.preserves_dtype = ["float32"]  # embeddings are float32, whatever the images'
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
        for name in ("device_", "embedding_dim_", "unreadable_", "_weights_key", "_fit_params"):  # a previous fit's
            self.__dict__.pop(name, None)
        if X is not None:
            check_image_input(X, check_paths=not self.skip_unreadable)
        device = resolve_device(self.device)
        autocast_dtype(device, self.mixed_precision)  # validates the value
        backbone = load_backbone(self.backbone, self.pretrained, device=device)
        check_image_size(backbone, self.image_size, owner=self._owner, spec=self.backbone)
        self.device_ = str(device)
        self.embedding_dim_ = backbone.feature_dim
        self._weights_key = backbone.weights_key  # checked where the backbone is reloaded
        remember_params_of_fit(self, EMBEDDING_PARAMS)
        return self

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
            With ``skip_unreadable=True``, the rows of unreadable files are NaN
            (listed in ``unreadable_``).
        """
        check_is_fitted(self, "embedding_dim_")
        check_params_of_fit(self, EMBEDDING_PARAMS)
        if not self.skip_unreadable:
            return self._transform_checked(check_image_input(X))
        image_input = check_image_input(X, check_paths=False)  # a missing file is one more unreadable one
        embeddings, self.unreadable_ = self._transform_skipping(image_input)
        if len(self.unreadable_):
            warn_user(
                f"{len(self.unreadable_)} of {len(image_input)} image files could not be read and were "
                f"skipped (NaN rows), e.g. {self.unreadable_['path'].iloc[0]!r}: "
                f"{self.unreadable_['reason'].iloc[0]}. They are listed in unreadable_.",
                UserWarning,
            )
        return embeddings

    def _transform_checked(self, image_input, failed=None):
        """Embeddings of every image; with a dict ``failed``, unreadable files are recorded
        there (position: reason) and their rows are NaN, instead of raising."""
        shards = shard_indices(len(image_input), self.n_jobs, self.batch_size)
        if len(shards) > 1:
            return self._transform_in_shards(image_input, shards, failed)
        backbone = self._loaded_backbone()
        dataset = ImageDataset(image_input, self._transform_for(backbone), skip_unreadable=failed is not None)
        if self.cache_dir is None:
            embeddings = self._embed(backbone, dataset, **_failed_kwarg(failed))
        else:
            embeddings = self._embed_with_cache(backbone, dataset, **_failed_kwarg(failed))
        if self.normalize:
            norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
            embeddings = embeddings / np.maximum(norms, 1e-12)  # NaN rows stay NaN
        return embeddings.astype(np.float32, copy=False)

    def _transform_skipping(self, image_input):
        """``(embeddings, unreadable)`` with NaN rows for the files that cannot be read."""
        failed = {}
        present = np.arange(len(image_input))
        if image_input.kind == "paths":
            # Files that cannot even be opened are known from one stat each; the cache's
            # content keys read every file, so they are kept out of the pass.
            for row, path in enumerate(image_input.data):
                if not os.path.isfile(path):
                    failed[row] = "a directory, not an image file" if os.path.isdir(path) else "no such file"
            present = np.setdiff1d(present, np.fromiter(failed, dtype=np.int64, count=len(failed)))
        embeddings = np.full((len(image_input), self.embedding_dim_), np.nan, dtype=np.float32)
        if len(present):
            subset = image_input
            if len(present) < len(image_input):
                subset = ImageInput("paths", image_input.data[present], len(present))
            found = {}
            embeddings[present] = self._transform_checked(subset, found)
            failed.update({int(present[row]): reason for row, reason in found.items()})
        rows = np.array(sorted(failed), dtype=np.int64)
        embeddings[rows] = np.nan
        paths = image_input.data[rows] if image_input.kind == "paths" else [None] * len(rows)
        unreadable = pd.DataFrame(
            {"path": pd.Series(paths, index=rows, dtype=object), "reason": [failed[row] for row in rows]},
            index=pd.Index(rows, name="sample"),
        )
        return embeddings, unreadable

    def _transform_in_shards(self, image_input, shards, failed=None):
        """Embed contiguous shards in parallel on the active joblib backend, in input order."""
        from joblib import Parallel, delayed

        check_weights_unchanged(self.pretrained, getattr(self, "_weights_key", None), type(self).__name__)
        settings = {**self.get_params(), "n_jobs": None, "verbose": 0, "skip_unreadable": False}
        if self.cache_dir is not None:  # a worker process keeps the folder it started in
            settings["cache_dir"] = os.path.abspath(os.path.expanduser(self.cache_dir))
        parts = Parallel(n_jobs=self.n_jobs)(
            delayed(_embed_shard)(settings, _input_subset(image_input, rows), failed is not None, pil_settings())
            for rows in shards
        )
        for note in sorted({note for _, _, note in parts if note}):
            warn_user(note, UserWarning)
        if failed is not None:
            for rows, (_, found, _) in zip(shards, parts):
                failed.update({int(rows[0]) + row: reason for row, reason in found.items()})
        return np.concatenate([embeddings for embeddings, _, _ in parts]).astype(np.float32, copy=False)

    def _embed(self, backbone, dataset, *, failed=None, collected=None):
        """Embeddings in dataset order; unreadable files (with ``failed``) get NaN rows and
        are recorded in ``failed`` under their position in the full input. ``collected``:
        a list that receives each batch's embeddings as it is computed (see ``evaluate``)."""
        loader = make_loader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            pin_memory=backbone.device.type == "cuda",
        )
        dtype = next(backbone.model.parameters()).dtype
        bad_rows, rows_seen = [], 0

        def forward(batch):
            nonlocal rows_seen
            if len(batch) > 2:  # (images, index, reason): a skipping dataset
                for offset, (index, reason) in enumerate(zip(batch[1].tolist(), batch[2])):
                    if reason:
                        failed[int(index)] = reason
                        bad_rows.append(rows_seen + offset)
            rows_seen += len(batch[1])
            return backbone.encode_images(batch[0].to(dtype))

        embeddings = evaluate(
            backbone.model,
            loader,
            forward,
            device=backbone.device,
            mixed_precision=self.mixed_precision,
            verbose=self.verbose,
            description=f"embed {self.backbone}",
            collected=collected,
        ).numpy()
        if bad_rows:
            embeddings[bad_rows] = np.nan  # the placeholders' embeddings mean nothing
        return embeddings

    def _embed_with_cache(self, backbone, dataset, *, failed=None):
        try:
            store = EmbeddingStore(self.cache_dir, self._cache_key(backbone))
        except OSError as exc:
            warn_user(
                f"cache_dir={str(self.cache_dir)!r} cannot be used ({exc}); embedding without "
                "the cache. Pass a writable folder, or cache_dir=None.",
                UserWarning,
            )
            return self._embed(backbone, dataset, **_failed_kwarg(failed))
        keys = content_keys(dataset)
        found, cached = store.lookup(keys)
        missing = np.flatnonzero(~found)
        unique_keys, first = np.unique(keys[missing], return_index=True)
        to_compute = missing[first]
        if len(to_compute):
            found_now, collected = {}, []
            try:
                computed = self._embed(
                    backbone,
                    ImageDataset(dataset.image_input, dataset.transform, indices=to_compute,
                                 skip_unreadable=dataset.skip_unreadable),
                    **_failed_kwarg(None if failed is None else found_now), collected=collected,
                )
            except (KeyboardInterrupt, SystemExit):  # stopped: keep what was embedded, for the rerun
                if collected:
                    done = torch.cat([batch[0] for batch in collected]).float().numpy()
                    _store_readable(store, unique_keys[:len(done)], to_compute[:len(done)], done, found_now)
                raise
            _store_readable(store, unique_keys, to_compute, computed, found_now)
            width = computed.shape[1]
        else:
            width = cached.shape[1]
        embeddings = np.empty((len(keys), width), dtype=np.float32)
        if cached is not None:
            embeddings[found] = cached
        if len(missing):
            source = np.searchsorted(unique_keys, keys[missing])
            embeddings[missing] = computed[source]
            if found_now:  # files with the same bytes as an unreadable one are unreadable too
                for row, first_row in zip(missing, to_compute[source]):
                    if int(first_row) in found_now:
                        failed[int(row)] = found_now[int(first_row)]
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
                f"decoding={DECODING_VERSION}",  # what pixels an image file gives
            ]
            # a truncated file decodes (grey-filled) only under this setting: never served without it
            + (["truncated images accepted"] if ImageFile.LOAD_TRUNCATED_IMAGES else [])
        )


def _store_readable(store, keys, positions, embeddings, unreadable):
    """Add the rows of ``embeddings`` to the cache ``store``, never an unreadable file's
    (``unreadable``: the positions found so)."""
    readable = np.isin(positions, np.fromiter(unreadable, dtype=np.int64, count=len(unreadable)), invert=True)
    store.add(keys[readable], embeddings[readable])


def _failed_kwarg(failed):
    """``failed=`` only when unreadable files are skipped (the plain calls keep their signature)."""
    return {} if failed is None else {"failed": failed}


def shard_indices(n_samples, n_jobs, batch_size=1):
    """Contiguous index ranges, one per effective joblib job (a single one for ``n_jobs=None``),
    cut at multiples of ``batch_size``: each shard runs the batches one process would (a
    batch of another size rounds differently on some kernels).

    Examples
    --------
    >>> [len(rows) for rows in shard_indices(10, 3)]
    [4, 3, 3]
    >>> [len(rows) for rows in shard_indices(40, 2, batch_size=16)]
    [32, 8]
    >>> len(shard_indices(10, None))
    1
    """
    from joblib import effective_n_jobs

    n_batches = -(-n_samples // batch_size)
    n_shards = 1 if n_jobs is None else max(1, min(effective_n_jobs(n_jobs), n_batches))
    return [np.arange(batches[0] * batch_size, min((batches[-1] + 1) * batch_size, n_samples))
            for batches in np.array_split(np.arange(n_batches), n_shards)]


def _input_subset(image_input, rows):
    """The images at the contiguous positions ``rows``, in a form a worker can receive."""
    start, stop = int(rows[0]), int(rows[-1]) + 1
    if image_input.kind == "dataset":
        return torch.utils.data.Subset(image_input.data, range(start, stop))
    if image_input.kind == "paths":  # absolute: a worker process keeps the folder it started in
        return np.array([os.path.abspath(path) for path in image_input.data[start:stop]], dtype=object)
    return image_input.data[start:stop]


def _slow_worker_environment():
    """A warning when this process is a Dask worker whose environment sets
    ``MALLOC_TRIM_THRESHOLD_`` (Dask's nanny does by default), else None: measured, it
    made torch run at less than half speed (``benchmarks/results/scale_out.md``)."""
    distributed = sys.modules.get("distributed")
    threshold = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    if distributed is None or threshold is None:
        return None
    try:
        distributed.get_worker()
    except ValueError:  # not inside a Dask worker
        return None
    return (
        f"The Dask workers run with MALLOC_TRIM_THRESHOLD_={threshold} (set by Dask's nanny), which made torch "
        "embed at less than half speed in the project's measurements. Start the cluster after "
        'dask.config.set({"distributed.nanny.pre-spawn-environ": {}}) (see the GPU and scaling guide).'
    )


def _embed_shard(settings, X, skip_unreadable=False, pil=None):
    """One shard's embeddings, ``{position in the shard: reason}`` of its unreadable
    files and a warning about the worker's environment (or None), in a worker: the
    backbone loads once per worker process. ``pil``: the caller's PIL settings."""
    if pil is not None:
        use_pil_settings(pil)
    embedder = ImageEmbedder(**settings).fit(None)
    found = {} if skip_unreadable else None
    embeddings = embedder._transform_checked(check_image_input(X, check_paths=not skip_unreadable), found)
    return embeddings, found or {}, _slow_worker_environment()
