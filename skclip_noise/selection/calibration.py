"""Temperature scaling of class probabilities."""

from __future__ import annotations

import numpy as np

from ._common import check_label_codes

__all__ = ["TEMPERATURES", "fit_temperature", "temperature_scale"]

#: The temperatures :func:`fit_temperature` tries: 41 log-spaced values in [0.2, 3].
TEMPERATURES = np.exp(np.linspace(np.log(0.2), np.log(3.0), 41))


#: Probabilities are raised to this before their logarithm.
PROBA_FLOOR = 1e-6


def _floored_log(pred_probs, floor=PROBA_FLOOR):
    return np.log(np.maximum(np.asarray(pred_probs, dtype=np.float64), floor))


def temperature_scale(pred_probs, temperature, *, floor=PROBA_FLOOR):
    """``p ** (1 / temperature)``, renormalised per row (probabilities below ``floor`` are
    raised to it first, so a zero stays finite in log space).

    Examples
    --------
    >>> temperature_scale([[0.8, 0.2]], 0.5).round(3).tolist()
    [[0.941, 0.059]]
    """
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number; got {temperature!r}.")
    logits = _floored_log(pred_probs, floor) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(labels, pred_probs, *, mask=None, temperatures=TEMPERATURES):
    """The temperature that minimises the log-loss of ``labels`` (over ``mask``).

    Probabilities fitted with a regularisation chosen on noisy labels are too flat
    for the samples judged clean; sharpening them to the kept labels' likelihood
    restores the confidence a Bayes rule needs.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([0, 0, 1, 1])
    >>> flat = np.array([[0.6, 0.4], [0.6, 0.4], [0.4, 0.6], [0.4, 0.6]])
    >>> float(fit_temperature(labels, flat)) < 1.0  # right but under-confident: sharpen
    True
    """
    probs = np.asarray(pred_probs, dtype=np.float64)
    codes = check_label_codes(labels, probs.shape[1], probs.shape[0])
    rows = np.arange(len(codes)) if mask is None else np.flatnonzero(np.asarray(mask, dtype=bool))
    if rows.size == 0:
        return 1.0
    # -log softmax(log p / t)[y] = logsumexp(log p / t) - log p[y] / t: the logarithms and the
    # rows are taken once, not once per temperature (the same losses as temperature_scale's).
    log_probs = _floored_log(probs[rows])
    log_probs -= log_probs.max(axis=1, keepdims=True)
    mean_given = log_probs[np.arange(rows.size), codes[rows]].mean()
    losses = [np.log(np.exp(log_probs / t).sum(axis=1)).mean() - mean_given / t for t in temperatures]
    return float(temperatures[int(np.argmin(losses))])
