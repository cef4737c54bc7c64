"""What every estimator of the package does the same way before and after training.

:class:`ImageEstimatorMixin` owns the ``fit`` preamble (parameters validated
declaratively before X is touched, then X, labels and class names checked), the
input tags, the frozen feature extractor, and the model rebuilt once after ``fit``
or unpickling (never on every ``predict`` call), and the split of image files
that cannot be read from those that can (:meth:`ImageEstimatorMixin._readable_subset`).
"""

from __future__ import annotations

import os
import warnings
import weakref

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.utils.validation import _check_feature_names, check_array

from .._warnings import warn_user
from .._param_validation import check_params_of_fit, remember_params_of_fit
from ..backbones.loading import check_weights_unchanged, weights_key
from ..data.inputs import ImageDataset, ImageInput, _single_path_column, check_image_input
from ..data.labels import LabelEncoding, check_distinct_prompts, check_labels
from ..embedder import EMBEDDING_PARAMS, ImageEmbedder
from ..training.checkpoint import check_checkpoint_destination, check_checkpoint_random_state
from ..training.device import fitted_device
from ..training.distributed import check_global_batch_size
from ..training.loop import make_loader

__all__ = ["ImageEstimatorMixin", "is_table"]

# Trained models rebuilt from each fitted estimator's state, outside the estimators
# themselves: predicting must not change an estimator's __dict__ (scikit-learn's rule),
# and pickles must not carry the model. An entry goes with its estimator.
_FITTED_MODELS = weakref.WeakKeyDictionary()
# Embeddings of the readable images computed while splitting off unreadable files
# (_readable_subset), kept for the estimator's next _features call on those images.
_PREFETCHED = weakref.WeakKeyDictionary()


def is_table(X):
    """Whether X is a 2-D table (array, DataFrame, nested list) rather than images or paths
    (a one-column table of strings is a column of paths).

    Parameters
    ----------
    X : object

    Examples
    --------
    >>> import numpy as np
    >>> is_table(np.zeros((3, 4))), is_table(np.zeros((3, 8, 8))), is_table(["a.png"])
    (True, False, False)
    """
    if isinstance(X, (torch.utils.data.Dataset, str, os.PathLike)) or _single_path_column(X) is not X:
        return False  # a one-column table of paths holds paths
    ndim = getattr(X, "ndim", None)
    if ndim is None and isinstance(X, (list, tuple)) and X and not isinstance(X[0], (str, os.PathLike)):
        ndim = np.ndim(X[0]) + 1
    return ndim == 2


#: Attributes scikit-learn keeps on an estimator (``set_output``, metadata requests, callbacks):
#: configuration, never a fit's state.
_SKLEARN_STATE = ("_sklearn", "_metadata_request", "_parent_callback", "_skl_")

class ImageEstimatorMixin:
    """Shared input handling of the torch estimators; put it before ``BaseEstimator``.

    Subclasses set ``_parameter_constraints`` (see
    :mod:`skclip_noise._param_validation`), may override :meth:`_check_params` for
    rules across parameters, set ``_accepts_features`` when X may be a 2-D array of
    embeddings and ``_needs_class_names`` when they build text prompts, and
    implement ``_restore_model()`` when they predict from a stored state.
    """

    #: whether X may be a 2-D array of precomputed features
    _accepts_features = False
    #: whether the estimator builds text prompts (integer labels then need class_names)
    _needs_class_names = False
    #: the parameters the fitted model is built from besides EMBEDDING_PARAMS (a
    #: network's shape, its prompts): changed after fit, prediction is refused
    _model_params = ()
    #: the batch sizes of training steps, split over the ranks under torchrun
    _global_batch_sizes = ()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.two_d_array = bool(self._accepts_features)
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        return tags

    @property
    def _skips_unreadable(self):
        """Whether image files that cannot be read are judged, not refused (``skip_unreadable``)."""
        return bool(getattr(self, "skip_unreadable", False))

    def _takes_frozen_tuning(self):
        """Whether ``tuning="frozen"`` (which takes precomputed features) is one of this estimator's values."""
        return any("frozen" in getattr(constraint, "options", ())
                   for constraint in getattr(self, "_parameter_constraints", {}).get("tuning", ()))

    # ------------------------------------------------------------ checks

    def _check_params(self, X_checked, encoding):
        """Rules across parameters, and between parameters and the data; single values
        are checked by ``_parameter_constraints``."""

    def _check_X(self, X, *, reset):
        feature_table = self._accepts_features and is_table(X)
        if feature_table:
            _check_feature_names(self, X, reset=reset)  # a table's column names, as scikit-learn keeps them
        elif reset and hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if sp.issparse(X) or feature_table:
            _check_rows_of_one_length(X)
            # scikit-learn's own errors for sparse, complex and empty tables; object
            # tables of numbers become numeric (NaN is left to check_image_input).
            X = _numeric_table(X, check_array(X, accept_sparse=False, dtype="numeric", ensure_all_finite=False))
        if not self._accepts_features and is_table(X) and self._takes_frozen_tuning():
            raise ValueError(
                f"X is a 2-D array of shape {np.shape(X)}, read as precomputed features, but "
                f"tuning={self.tuning!r} trains the image tower, so X must be images. With precomputed "
                "embeddings use tuning='frozen'."
            )
        # With skip_unreadable a missing file is one more unreadable one, not an error here.
        X_checked = check_image_input(X, allow_features=self._accepts_features,
                                      check_paths=not self._skips_unreadable)
        if X_checked.kind == "features":
            n_features = X_checked.data.shape[1]
            if reset:
                self.n_features_in_ = n_features
            elif hasattr(self, "n_features_in_") and n_features != self.n_features_in_:
                raise ValueError(
                    f"X has {n_features} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input (the width of the features it was fitted on)."
                )
        elif reset and hasattr(self, "n_features_in_"):
            del self.n_features_in_
        if reset:
            remember_params_of_fit(self, EMBEDDING_PARAMS + self._model_params)
        else:  # new images are embedded, and the model rebuilt, with the parameters of fit
            check_params_of_fit(self, self._model_params + EMBEDDING_PARAMS * (X_checked.kind != "features"))
        return X_checked

    def _forget_fit(self):
        """Forget a fit: its model, every public fitted attribute (``*_``) and the private
        state a fit made (its training embeddings, neighbour index, probe, ...), so that a
        fit that failed half-way leaves the estimator unfitted (``NotFittedError``), not half
        fitted, and its pickle ships nothing of the earlier fit. Private attributes the
        estimator had before fitting stay, as do scikit-learn's (``set_output``,
        metadata requests)."""
        _FITTED_MODELS.pop(self, None)
        unfitted = self.__dict__.get("_unfitted_attributes")
        for name in list(vars(self)):
            made_by_fit = (unfitted is not None and name.startswith("_") and name not in unfitted
                           and name != "_unfitted_attributes" and not name.startswith(_SKLEARN_STATE))
            if made_by_fit or (name.endswith("_") and not name.startswith("_")):
                delattr(self, name)

    def _check_fit_inputs(self, X, y):
        """The ``fit`` preamble: parameters, then X, then labels. Returns
        ``(X_checked, encoding)`` and forgets any previous fit's model and fitted attributes."""
        self._validate_params()
        check_checkpoint_random_state(self)  # a checkpoint that could never resume: before any work
        check_checkpoint_destination(self)
        for name in self._global_batch_sizes:
            check_global_batch_size(getattr(self, name), name)
        self._forget_fit()  # a previous fit's attributes: one this fit does not set must not linger
        self._unfitted_attributes = frozenset(vars(self))
        try:
            return self._checked_fit_data(X, y)
        except BaseException:  # refused: not fitted, though _check_X set n_features_in_
            self._forget_fit()
            raise

    def _checked_fit_data(self, X, y):
        """:meth:`_check_fit_inputs` after the previous fit is forgotten: X, then labels."""
        self._weights_key = weights_key(getattr(self, "pretrained", None))
        X_checked = self._check_X(X, reset=True)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "it learns from (sample, given label) pairs."
            )
        if X_checked.n_samples < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples of 2 classes; got "
                f"n_samples={X_checked.n_samples}."
            )
        labels = check_labels(y, X_checked.n_samples, keep_float=True)
        encoding = LabelEncoding(labels, getattr(self, "class_names", None))
        if self._needs_class_names and encoding.classes.dtype.kind in "iufb" and self.class_names is None:
            raise ValueError(  # ints and bools name no class: "a photo of a True." says nothing
                f"{type(self).__name__} builds text prompts from class names: pass string labels "
                "or class_names=[...] (one per class, in sorted label order)."
            )
        if self._needs_class_names:
            check_distinct_prompts(encoding.class_names)
        self._check_params(X_checked, encoding)
        self.classes_ = encoding.classes
        self.class_names_ = list(encoding.class_names)
        self._encoding = encoding
        return X_checked, encoding

    # -------------------------------------------------- frozen features

    def _embedding_backbone(self):
        """``(backbone, pretrained)`` of the frozen embeddings (an estimator may take another's)."""
        return self.backbone, self.pretrained

    def _embedder(self, device=None, **overrides):
        """The frozen feature extractor named by this estimator's parameters."""
        settings = dict(
            image_size=getattr(self, "image_size", None),
            batch_size=getattr(self, "batch_size", 64),
            num_workers=self.num_workers,
            n_jobs=getattr(self, "n_jobs", None),
            device=self.device if device is None else str(device),
            mixed_precision=self.mixed_precision,
            cache_dir=getattr(self, "cache_dir", None),
            verbose=self.verbose,
        )
        settings.update(overrides)
        embedder = ImageEmbedder(*self._embedding_backbone(), **settings)
        embedder._owner = type(self).__name__  # its errors name the estimator whose parameters they are
        # Arrays whatever sklearn.set_config(transform_output=...) says: that setting is for the user's transforms.
        return embedder.set_output(transform="default")

    @property
    def _embeds_frozen(self):
        """Whether images reach the model as frozen embeddings (:meth:`_features`), not
        as decoded pixels of a tower that trains (``tuning`` "peft" or "full")."""
        return getattr(self, "tuning", "frozen") == "frozen"

    def _readable_subset(self, X_checked, device=None):
        """Split off the image files that cannot be read, decoding each file once.

        Where the estimator embeds images with its frozen backbone, the split is that
        embedding pass (so a file cut short is caught even where PIL's ``verify()``
        passes it), and the embeddings of the readable images are kept for this
        estimator's next :meth:`_features` call on them: fitting on ``X_readable``
        does not embed them again. Where a tower trains on the pixels (``tuning``
        "peft" or "full"), every file is decoded once, without a model
        (``num_workers`` processes), before training reads the readable ones.

        Parameters
        ----------
        X_checked : ImageInput
        device : str, default=None
            The device of the embedding pass (default: the ``device`` parameter).

        Returns
        -------
        X_readable : ImageInput
            The readable images (``X_checked`` itself when all are, or when X is
            not a list of files).
        kept : ndarray of int
            Their positions in ``X_checked``.
        unreadable : pandas.DataFrame
            The others, indexed by position (``"sample"``), with the columns
            ``path`` and ``reason`` (see ``ImageEmbedder.unreadable_``).
        """
        n_samples = X_checked.n_samples
        if X_checked.kind != "paths":
            return X_checked, np.arange(n_samples), unreadable_frame([], [], [])
        features = None
        if self._embeds_frozen:
            embedder = self._embedder(device, skip_unreadable=True).fit(None)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r".*image files could not be read", category=UserWarning)
                features = embedder.transform(X_checked.data)  # the caller reports what was skipped
            unreadable = embedder.unreadable_
        else:
            unreadable = _undecodable_files(X_checked, getattr(self, "num_workers", 0))
        kept = np.setdiff1d(np.arange(n_samples), unreadable.index.to_numpy())
        X_readable = X_checked
        if len(kept) < n_samples:
            X_readable = ImageInput("paths", X_checked.data[kept], len(kept))
        if features is not None and len(kept):
            _PREFETCHED[self] = (X_readable.data, features[kept])
        return X_readable, kept, unreadable

    def _fitted_readable_subset(self, X_checked):
        """:meth:`_readable_subset` for a fitted estimator, on the device it runs on (its
        fit-time one, or the CPU on a machine without it)."""
        device = getattr(self, "device_", None)
        return self._readable_subset(X_checked, None if device is None else str(fitted_device(device)))

    def _warn_unreadable(self, unreadable, n_samples, consequence):
        """Warn that the files of ``unreadable`` (from :meth:`_readable_subset`) were passed
        over, and with what ``consequence``; nothing when every file was read."""
        if len(unreadable):
            warn_user(
                f"{len(unreadable)} of {n_samples} image files could not be read (e.g. "
                f"{unreadable['path'].iloc[0]!r}: {unreadable['reason'].iloc[0]}); {consequence}.",
                UserWarning,
            )

    def _drop_prefetched(self):
        """Forget embeddings :meth:`_readable_subset` kept that no ``_features`` call used."""
        _PREFETCHED.pop(self, None)

    def _fitted_features(self, X_checked):
        """Float32 features of X for a fitted estimator, embedded on the device it runs on
        (its fit-time one, or the CPU on a machine without it)."""
        device = None if X_checked.kind == "features" else fitted_device(self.device_)
        if X_checked.kind == "features" and not hasattr(self, "n_features_in_"):  # fitted on images
            width = self._embedding_width()
            if X_checked.data.shape[1] != width:
                raise ValueError(
                    f"X has {X_checked.data.shape[1]} features per sample, but {type(self).__name__} was fitted "
                    f"on the {width}-wide {self._embedding_backbone()[0]} embeddings of the images given to fit; pass images, "
                    "or embeddings of that backbone."
                )
        return np.asarray(self._features(X_checked, device), dtype=np.float32)

    def _embedding_width(self):
        """The width of the backbone's embeddings, which a fitted estimator's feature input must have."""
        return self._embedder(fitted_device(self.device_)).fit(None).embedding_dim_

    def _features(self, X_checked, device=None):
        """Features of X: X itself when it is a feature array, else frozen embeddings.

        ``device`` overrides the ``device`` parameter: a fitted estimator passes the
        device it runs on (its fit-time one, or the CPU on a machine without it).
        Embeddings that :meth:`_readable_subset` computed for these images are used
        (once) instead of embedding them again.
        """
        if X_checked.kind == "features":
            return X_checked.data
        self._check_weights_unchanged()
        prefetched = _PREFETCHED.pop(self, None)
        if prefetched is not None and _same_paths(prefetched[0], X_checked):
            features = prefetched[1]
        else:
            features = self._embedder(device).fit(None).transform(X_checked.data)
        if not np.isfinite(features).all():  # feature arrays are checked on input; embeddings here
            raise ValueError(f"{self._embedding_backbone()[0]} gave NaN or infinite embeddings; check its weights and precision.")
        fitted_width = getattr(self, "n_features_in_", None)  # set when fitted on features
        if fitted_width is not None and features.shape[1] != fitted_width:
            raise ValueError(
                f"{type(self).__name__} was fitted on {fitted_width} features, but {self._embedding_backbone()[0]} "
                f"embeds these images into {features.shape[1]}; pass features like those of fit, "
                "or images when they were embeddings from this backbone."
            )
        return features

    # ------------------------------------------------------ fitted model

    def _restore_model(self):  # pragma: no cover - implemented where needed
        raise NotImplementedError

    def _check_weights_unchanged(self):
        """Refuse to rebuild on a ``pretrained`` file that changed since fit."""
        check_weights_unchanged(getattr(self, "pretrained", None), self.__dict__.get("_weights_key"),
                                type(self).__name__)

    def _fitted_model(self):
        """The trained model, rebuilt from the fitted state once per fit or unpickling."""
        model = _FITTED_MODELS.get(self)
        if model is None:
            self._check_weights_unchanged()
            model = _FITTED_MODELS[self] = self._restore_model()
        return model


def _check_rows_of_one_length(X):
    """Refuse a list of feature rows of different lengths (numpy's "inhomogeneous shape" otherwise)."""
    if isinstance(X, (list, tuple)):
        lengths = sorted({len(row) if hasattr(row, "__len__") else 1 for row in X})
        if len(lengths) > 1:
            raise ValueError(
                f"X is a list of feature rows of different lengths ({', '.join(map(str, lengths[:5]))}); "
                "every sample needs the same number of features."
            )


def _numeric_table(X, checked):
    """``checked`` (``X`` through ``check_array``) as numbers; a table with text or
    categories is refused, naming its non-numeric columns, rather than read as images."""
    if checked.dtype != object:
        return checked
    try:
        return checked.astype(np.float64)
    except (TypeError, ValueError):
        if isinstance(X, pd.DataFrame):
            columns = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
            where = f"columns {columns[:10]} are not numeric"
        else:
            value = next(v for v in checked.ravel() if not isinstance(v, (int, float, np.number)))
            where = f"it holds the non-numeric value {value!r}"
        raise ValueError(
            f"X is read as a feature table, but {where}: encode categories and text as numbers first "
            "(e.g. sklearn.preprocessing.OneHotEncoder in a Pipeline), or drop them."
        ) from None


def _same_paths(paths, X_checked):
    """Whether ``X_checked`` is the list of files ``paths`` (same files, same order)."""
    if X_checked.kind != "paths":
        return False
    return X_checked.data is paths or (len(X_checked.data) == len(paths) and np.array_equal(X_checked.data, paths))


def unreadable_frame(rows, paths, reasons):
    """The table of unreadable files: indexed by position (``"sample"``), with the
    columns ``path`` and ``reason`` (as ``ImageEmbedder.unreadable_``).

    Examples
    --------
    >>> unreadable_frame([3], ["a.png"], ["no such file"]).to_dict("index")
    {3: {'path': 'a.png', 'reason': 'no such file'}}
    """
    return pd.DataFrame(
        {"path": pd.Series(list(paths), dtype=object), "reason": pd.Series(list(reasons), dtype=object)}
    ).set_axis(pd.Index(np.asarray(rows, dtype=np.int64), name="sample"))


def _no_pixels(image):
    """The transform of a decoding check: the image was decoded; nothing else is needed."""
    return torch.empty(0)


def _undecodable_files(X_checked, num_workers):
    """The files of ``X_checked`` (paths) that cannot be decoded, decoding each one
    completely once (in ``num_workers`` DataLoader workers), as :func:`unreadable_frame`."""
    dataset = ImageDataset(X_checked, _no_pixels, skip_unreadable=True)
    failed = {}
    for _, indices, reasons in make_loader(dataset, batch_size=64, num_workers=num_workers):
        failed.update({int(index): reason for index, reason in zip(indices.tolist(), reasons) if reason})
    rows = sorted(failed)
    return unreadable_frame(rows, X_checked.data[rows].tolist() if rows else [], [failed[row] for row in rows])
