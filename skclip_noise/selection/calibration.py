"""Temperature scaling of class probabilities, with or without a bias per class."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from ._common import check_label_codes

__all__ = ["BIAS_PENALTY", "TEMPERATURES", "fit_bias_corrected_temperature", "fit_temperature", "temperature_scale"]

#: The temperatures :func:`fit_temperature` tries: 41 log-spaced values in [0.2, 3].
TEMPERATURES = np.exp(np.linspace(np.log(0.2), np.log(3.0), 41))


#: :func:`fit_bias_corrected_temperature`'s L2 penalty on the class biases (per class, on
#: the mean log-loss): a class with a few kept samples moves its bias by a bounded amount.
BIAS_PENALTY = 0.01

#: Probabilities are raised to this before their logarithm.
PROBA_FLOOR = 1e-6


def _floored_log(pred_probs, floor=PROBA_FLOOR):
    return np.log(np.maximum(np.asarray(pred_probs, dtype=np.float64), floor))


def temperature_scale(pred_probs, temperature, *, bias=None, floor=PROBA_FLOOR):
    """``p ** (1 / temperature)``, times ``exp(bias)`` per class when given, renormalised per
    row (probabilities below ``floor`` are raised to it first, so a zero stays finite in
    log space).

    Examples
    --------
    >>> temperature_scale([[0.8, 0.2]], 0.5).round(3).tolist()
    [[0.941, 0.059]]
    >>> temperature_scale([[0.8, 0.2]], 1.0, bias=[0.0, np.log(4)]).round(3).tolist()
    [[0.5, 0.5]]
    """
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number; got {temperature!r}.")
    logits = _floored_log(pred_probs, floor) / temperature
    if bias is not None:
        logits = logits + np.asarray(bias, dtype=np.float64)
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
    rows = _fitted_rows(codes, mask)
    if rows.size == 0:
        return 1.0
    log_probs = _floored_log(probs[rows])
    log_probs -= log_probs.max(axis=1, keepdims=True)
    return _best_temperature(log_probs, codes[rows], temperatures)


def _fitted_rows(codes, mask):
    return np.arange(len(codes)) if mask is None else np.flatnonzero(np.asarray(mask, dtype=bool))


def _best_temperature(shifted_log_probs, given, temperatures):
    """The grid temperature of least log-loss, from log-probabilities shifted to a row maximum of 0.

    -log softmax(log p / t)[y] = logsumexp(log p / t) - log p[y] / t: the logarithms and the
    rows are taken once, not once per temperature (the same losses as temperature_scale's).
    """
    mean_given = shifted_log_probs[np.arange(len(given)), given].mean()
    losses = [np.log(np.exp(shifted_log_probs / t).sum(axis=1)).mean() - mean_given / t for t in temperatures]
    return float(temperatures[int(np.argmin(losses))])


def fit_bias_corrected_temperature(labels, pred_probs, *, mask=None, penalty=BIAS_PENALTY):
    """The temperature and per-class biases that minimise the log-loss of ``labels`` (over ``mask``).

    Bias-corrected temperature scaling (Alexandari, Kundaje and Shrikumar, "Maximum
    likelihood with bias-corrected calibration is hard-to-beat at label shift
    adaptation", ICML 2020): ``softmax(log p / t + b)``. A model that gives a class too
    little probability on the very samples labelled with it (a strongly regularised probe
    and a rare class) gets that class's bias raised; with every class fitted alike the
    biases stay near zero. The temperature starts from :func:`fit_temperature`'s; the
    biases carry an L2 ``penalty`` and are centred (a common shift changes nothing).

    Returns
    -------
    temperature : float
    bias : ndarray of shape (n_classes,)

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([0, 0, 0, 1, 1, 1])
    >>> shy = np.array([[0.9, 0.1], [0.8, 0.2], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6], [0.7, 0.3]])
    >>> temperature, bias = fit_bias_corrected_temperature(labels, shy)
    >>> bool(bias[1] > bias[0])  # class 1 is under-predicted on its own samples
    True
    """
    probs = np.asarray(pred_probs, dtype=np.float64)
    codes = check_label_codes(labels, probs.shape[1], probs.shape[0])
    rows = _fitted_rows(codes, mask)
    n_classes = probs.shape[1]
    if rows.size == 0:
        return 1.0, np.zeros(n_classes)  # fit_temperature's answer for no rows
    log_probs = _floored_log(probs[rows])  # once, for the grid start and the fit
    given = codes[rows]
    start = _best_temperature(log_probs - log_probs.max(axis=1, keepdims=True), given, TEMPERATURES)
    one_hot = np.eye(n_classes)[given]
    rows_given = np.arange(rows.size)

    def loss_and_gradient(theta):
        inverse_temperature, bias = theta[0], theta[1:]
        logits = log_probs * inverse_temperature + bias
        loss = (logsumexp(logits, axis=1) - logits[rows_given, given]).mean() + penalty * (bias**2).sum()
        proba = softmax(logits, axis=1)
        d_inverse = ((proba * log_probs).sum(axis=1) - log_probs[rows_given, given]).mean()
        return loss, np.r_[d_inverse, (proba - one_hot).mean(axis=0) + 2 * penalty * bias]

    bounds = [(1e-3, None)] + [(None, None)] * n_classes  # a positive inverse temperature
    theta = minimize(
        loss_and_gradient, np.r_[1.0 / start, np.zeros(n_classes)], jac=True, method="L-BFGS-B", bounds=bounds
    ).x
    bias = theta[1:] - theta[1:].mean()
    return float(1.0 / theta[0]), bias
