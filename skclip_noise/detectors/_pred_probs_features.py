"""The features of the ``pred_probs``-only route (:func:`skclip_noise.find_label_issues`
without ``features``): the caller's log-probabilities, floored."""

from __future__ import annotations

import numpy as np

from ..selection._common import block_rows_for

__all__ = ["FEATURE_FLOOR_SHARE", "log_proba_features"]

#: The floor of the route's log-probabilities, as a share of the uniform probability 1/K.
FEATURE_FLOOR_SHARE = 0.1


def log_proba_features(pred_probs, *, out=None):
    """The features of the ``pred_probs``-only route: log-probabilities floored at a tenth
    of the uniform probability, in which the probe and the neighbours compare samples by
    the shape of their predicted distribution where it carries information.

    Below the floor a model's probabilities are mostly its own noise (a nearest-neighbour
    model's absent votes, a forest's empty leaves, an SVM's far tail) and, unfloored,
    their logarithms dominate every distance. A logistic regression's far tail does carry
    information (its log-probabilities are its logits less a constant), and the floor
    costs it some: ``benchmarks/results/find_label_issues_models.md``.

    Parameters
    ----------
    pred_probs : array-like of shape (n_samples, n_classes)
    out : ndarray of float32 and that shape, default=None
        Where to write them (``ConsensusDetector`` overwrites its own float32 copy of
        ``pred_probs``, so that the route holds one feature array, not two); None: a
        new array.

    Returns
    -------
    features : ndarray of float32, shape (n_samples, n_classes)

    Examples
    --------
    >>> import numpy as np
    >>> log_proba_features(np.array([[0.9, 0.1, 0.0]])).round(2)
    array([[-0.11, -2.3 , -3.4 ]], dtype=float32)
    """
    pred_probs = np.asarray(pred_probs)
    floor = FEATURE_FLOOR_SHARE / pred_probs.shape[1]
    features = np.empty(pred_probs.shape, dtype=np.float32) if out is None else out
    block_rows = block_rows_for(pred_probs.shape[1])
    for start in range(0, len(pred_probs), block_rows):  # float64 temporaries of one block, not of all rows
        block = np.maximum(pred_probs[start:start + block_rows], floor, dtype=np.float64)
        features[start:start + block_rows] = np.log(block, out=block)
    return features
