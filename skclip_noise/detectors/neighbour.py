"""NeighbourDetector: training-free label checking by the labels of nearest neighbours."""

from __future__ import annotations

from functools import partial

import numpy as np

from .._param_validation import StrOptions, constraints_for, positive_int
from ..base import BaseNoiseDetector, Scores
from ..selection import (
    NeighbourIndex,
    neighbour_label_distribution,
    neighbour_transition_matrix,
    query_label_distribution,
    simifeat_rank,
    simifeat_vote,
)
from ..selection.neighbours import KNN_BACKENDS
from ..training.device import resolve_device
from ._duplicates import distinct_image_neighbours, duplicate_groups, same_label_groups
from ._neighbourhood import resolve_neighbourhood

#: ``n_neighbors="auto"``: SimiFeat's 10, or fewer for a smaller class.
AUTO_NEIGHBOURS = 10

__all__ = ["NeighbourDetector"]


class NeighbourDetector(BaseNoiseDetector):
    """Training-free noisy-label detector: a label must agree with its neighbourhood.

    SimiFeat (Zhu, Dong & Liu, ICML 2022). Images are embedded once by a frozen
    pre-trained backbone (through :class:`~skclip_noise.ImageEmbedder` and its cache),
    or X is given as embeddings; each sample's ``n_neighbors`` nearest neighbours by
    cosine similarity (faiss when installed, else scikit-learn; an approximate IVF
    index from 50,000 samples) vote for their given labels, weighted by similarity, the sample
    itself with weight 1. No model is trained, so nothing memorises the noise.
    Exact copies of one image (identical features) given one label vote once: a copy
    is not the sample's neighbour, and the copies of a neighbour image take one place
    of the neighbourhood (a copy given another label is another voter; see
    :ref:`duplicates`). This departs from SimiFeat only where the features hold copies.

    - ``rule="vote"``: a label is kept when it wins its neighbourhood's vote.
    - ``rule="rank"``: in each class, the estimated number of wrong labels (from a
      transition matrix fitted to neighbour consistency, HOC-style) is flagged: those
      of lowest SimiFeat score, the cosine between the neighbourhood's vote vector and
      the given label's one-hot vector (it weighs how the other votes spread, so its
      order within a class can differ from that of ``clean_proba_``).

    ``clean_proba_`` is the (similarity-weighted) share of the neighbourhood's votes
    that go to the given label, a graded score; ``predicted`` is the label that wins
    the vote. New pairs are judged against the training set: their neighbours are
    searched among the training embeddings (kept in ``embeddings_``), and a label is
    clean when it wins that vote.

    Parameters
    ----------
    backbone : str, default="open_clip:ViT-B-32"
        Backbone spec (see :func:`skclip_noise.backbones.load_backbone`). Ignored when
        X is a feature array.
    pretrained : str, bool or None, default="openai"
    n_neighbors : int or "auto", default="auto"
        Neighbours per sample. ``"auto"``: SimiFeat's 10, or one fewer than the
        smallest class has samples (distinct images, where the features hold copies)
        when that is fewer (``n_neighbors_``); an int must be below every class's size.
    rule : {"vote", "rank"}, default="vote"
    weighted : bool, default=True
        Weight votes by cosine similarity.
    knn_backend : {"auto", "faiss", "sklearn"}, default="auto"
    image_size, batch_size, num_workers, device, mixed_precision, cache_dir, verbose
        Of the embedding pass, as in :class:`~skclip_noise.ImageEmbedder`.
    n_jobs : int, default=None
        The embedding pass's shards, as in :class:`~skclip_noise.ImageEmbedder`, and the
        neighbour search's threads (faiss; None: the machine's OpenMP threads).
    skip_unreadable : bool, default=False
        Image files (X a list of paths) that cannot be read: False raises, naming the
        file; True fits on the readable images, judges each unreadable one a label
        issue and lists it in ``unreadable_`` (see :ref:`unreadable-files`).

    Attributes
    ----------
    classes_, class_names_, clean_proba_, clean_mask_, predicted_, noise_rate_, label_issues_, device_
        The detector contract.
    n_features_in_ : int
        The width of X when ``fit`` got a feature array (absent after a fit on images).
    n_neighbors_ : int
        The neighbours per sample used.
    noise_transition_ : ndarray of shape (n_classes, n_classes)
        ``P(given | true)`` fitted to the consistency of neighbours' labels.
    embeddings_ : ndarray of shape (n_samples, n_features), float32
        The training embeddings (new pairs are searched among them).
    unreadable_ : pandas.DataFrame
        With ``skip_unreadable=True``: the image files of X that could not be read,
        indexed by their position in X (``"sample"``), with the columns ``path`` and
        ``reason``; empty when every file was read (or X is not a list of files).

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise import NeighbourDetector
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 30)
    >>> X = np.eye(3)[y] * 6 + rng.normal(size=(90, 3))
    >>> y_noisy = y.copy(); y_noisy[[0, 40, 80]] = [1, 2, 0]
    >>> detector = NeighbourDetector(n_neighbors=5).fit(X, y_noisy)
    >>> np.flatnonzero(~detector.clean_mask_).tolist()
    [0, 40, 80]
    """

    _has_label_free_score = True

    _parameter_constraints = {
        **constraints_for(
            "backbone", "pretrained", "image_size", "batch_size", "num_workers", "n_jobs", "device", "mixed_precision",
            "cache_dir", "skip_unreadable", "verbose",
        ),
        "n_neighbors": [positive_int, StrOptions({"auto"})],
        "rule": [StrOptions({"vote", "rank"})],
        "weighted": ["boolean"],
        "knn_backend": [StrOptions(set(KNN_BACKENDS))],
    }

    def __init__(
        self,
        backbone="open_clip:ViT-B-32",
        pretrained="openai",
        *,
        n_neighbors="auto",
        rule="vote",
        weighted=True,
        knn_backend="auto",
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
        self.n_neighbors = n_neighbors
        self.rule = rule
        self.weighted = weighted
        self.knn_backend = knn_backend
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
        self.n_neighbors_ = resolve_neighbourhood(self.n_neighbors, AUTO_NEIGHBOURS, encoding)

    def _fit_scores(self, X_checked, codes, encoding):
        self.device_ = str(resolve_device(self.device))
        # Unnormalised: the neighbour index works on unit vectors itself.
        embeddings = np.asarray(self._features(X_checked), dtype=np.float32)
        n_classes = len(encoding.classes)
        units = same_label_groups(duplicate_groups(embeddings), codes)  # copies given one label
        k = self.n_neighbors_ = self._fitted_neighbourhood(codes, units, n_classes)
        # HOC's transition estimate needs a sample and two neighbours, whatever n_neighbors;
        # copies of one image given one label vote once (see distinct_image_neighbours).
        self._neighbour_index, indices, similarities = distinct_image_neighbours(
            partial(NeighbourIndex, backend=self.knn_backend, n_jobs=self.n_jobs), embeddings, codes,
            min(max(k, 2), len(codes) - 1), units=units,
        )
        transition = neighbour_transition_matrix(indices, codes, n_classes, n_consensus=min(3, indices.shape[1] + 1))
        neighbours = indices[:, :k], similarities[:, :k]
        rule = simifeat_vote if self.rule == "vote" else simifeat_rank
        extra = {} if self.rule == "vote" else {"transition_matrix": transition}
        clean = rule(embeddings, codes, n_neighbors=k, n_classes=n_classes,
                     weighted=bool(self.weighted), neighbours=neighbours, **extra)
        self.embeddings_ = embeddings
        votes = self._vote_scores(neighbours, codes, codes, n_classes, own_vote=True)
        return Scores(votes.clean_proba, clean, votes.predicted, suggested_proba=votes.suggested_proba,
                      noise_transition=transition)

    def _fitted_neighbourhood(self, codes, units, n_classes):
        """``n_neighbors_``, with ``"auto"`` also below the smallest class's count of distinct
        images (copies given one label count once): a class of three images each given five
        times has two neighbours of its own, not fourteen."""
        if self.n_neighbors != "auto" or units is None:
            return self.n_neighbors_
        distinct = np.bincount(codes[np.unique(units, return_index=True)[1]], minlength=n_classes)
        return max(1, min(self.n_neighbors_, int(distinct.min()) - 1))

    def _vote_scores(self, neighbours, codes, training_codes, n_classes, own_vote=False):
        """Share of the neighbourhood's votes for each given label; with ``own_vote``
        (training pairs) the sample's own label also votes with weight 1, as in
        SimiFeat's rules."""
        indices, similarities = neighbours
        weights = similarities if self.weighted else None
        if own_vote:
            distribution = neighbour_label_distribution(indices, codes, n_classes, weights=weights, self_weight=1.0)
        else:
            distribution = query_label_distribution(indices, training_codes, n_classes, weights=weights)
        given = distribution[np.arange(len(codes)), codes]
        predicted = distribution.argmax(axis=1)
        clean = given >= distribution.max(axis=1) * (1 - 1e-12)
        return Scores(given, clean, predicted, suggested_proba=distribution.max(axis=1))

    def _score_pairs(self, X_checked, codes):
        queries = self._fitted_features(X_checked)
        neighbours = self._neighbour_index.search(queries, self.n_neighbors_)
        return self._vote_scores(neighbours, codes, self._fit_codes, len(self.classes_))
