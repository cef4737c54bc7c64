"""Scores for noisy-label detection.

A detector splits a training set into samples it keeps as clean and samples it
flags as noisy. Given the ground-truth mask of wrong labels, these functions
report how pure the kept set is and how many of the wrong labels were caught,
as sample-selection papers (Co-teaching, DivideMix, ...) do.

Conventions for every function here:

- ``is_noisy``: ground truth, True where the label is wrong.
- ``clean_pred``: the detector's decision, True where the sample is kept as clean.

Both accept booleans or 0/1 numbers. A ratio whose denominator is zero (nothing
selected, nothing flagged, no noisy samples, ...) is reported as 0.0 without a
warning; an F1 score is 0.0 when its precision and recall are both 0.
"""

from __future__ import annotations

import numpy as np

from .selection._common import check_bool_mask

__all__ = [
    "clean_f1_score",
    "clean_precision_score",
    "clean_recall_score",
    "detection_report",
    "noisy_f1_score",
    "noisy_precision_score",
    "noisy_recall_score",
]


def _check_masks(is_noisy, clean_pred):
    is_noisy = check_bool_mask(is_noisy, "is_noisy")
    clean_pred = check_bool_mask(clean_pred, "clean_pred")
    if is_noisy.shape[0] != clean_pred.shape[0]:
        raise ValueError(
            f"is_noisy has {is_noisy.shape[0]} entries but clean_pred has "
            f"{clean_pred.shape[0]}; pass one entry per sample in both."
        )
    return is_noisy, clean_pred


def _ratio(numerator, denominator):
    """``numerator / denominator`` as a float, 0.0 when the denominator is 0."""
    return float(numerator) / float(denominator) if denominator else 0.0


def _f1(precision, recall):
    total = precision + recall
    return 2.0 * precision * recall / total if total else 0.0


def _counts(is_noisy, clean_pred):
    truly_clean = ~is_noisy
    return {
        "n_samples": int(is_noisy.shape[0]),
        "n_true_clean": int(np.count_nonzero(truly_clean)),
        "n_true_noisy": int(np.count_nonzero(is_noisy)),
        "n_selected_clean": int(np.count_nonzero(clean_pred)),
        "n_flagged_noisy": int(np.count_nonzero(~clean_pred)),
        "n_selected_truly_clean": int(np.count_nonzero(clean_pred & truly_clean)),
        "n_flagged_truly_noisy": int(np.count_nonzero(~clean_pred & is_noisy)),
    }


def _scores(c):
    clean_precision = _ratio(c["n_selected_truly_clean"], c["n_selected_clean"])
    clean_recall = _ratio(c["n_selected_truly_clean"], c["n_true_clean"])
    noisy_precision = _ratio(c["n_flagged_truly_noisy"], c["n_flagged_noisy"])
    noisy_recall = _ratio(c["n_flagged_truly_noisy"], c["n_true_noisy"])
    return {
        "clean_precision": clean_precision,
        "clean_recall": clean_recall,
        "clean_f1": _f1(clean_precision, clean_recall),
        "noisy_precision": noisy_precision,
        "noisy_recall": noisy_recall,
        "noisy_f1": _f1(noisy_precision, noisy_recall),
        "accuracy": _ratio(
            c["n_selected_truly_clean"] + c["n_flagged_truly_noisy"], c["n_samples"]
        ),
        "true_noise_rate": _ratio(c["n_true_noisy"], c["n_samples"]),
        "estimated_noise_rate": _ratio(c["n_flagged_noisy"], c["n_samples"]),
    }


def detection_report(is_noisy, clean_pred, *, output_dict=False, digits=4):
    """Precision, recall and F1 of a clean/noisy split, for both sides.

    Parameters
    ----------
    is_noisy : array-like of bool of shape (n_samples,)
        Ground truth: True where the label is wrong. 0/1 numbers are accepted.
    clean_pred : array-like of bool of shape (n_samples,)
        Detector output: True where the sample is kept as clean. 0/1 numbers
        are accepted.
    output_dict : bool, default=False
        If True, return a flat dict instead of a text table.
    digits : int, default=4
        Decimal places of the scores in the text table.

    Returns
    -------
    report : str or dict
        Text table (like :func:`sklearn.metrics.classification_report`) or a
        dict with the float scores

        - ``clean_precision``: share of selected samples that are truly clean;
        - ``clean_recall``: share of truly clean samples that are selected;
        - ``clean_f1``;
        - ``noisy_precision``: share of flagged samples that are truly noisy;
        - ``noisy_recall``: share of truly noisy samples that are flagged;
        - ``noisy_f1``;
        - ``accuracy``: share of samples put on the right side;
        - ``true_noise_rate``: share of truly noisy samples;
        - ``estimated_noise_rate``: share of flagged samples;

        and the int counts ``n_samples``, ``n_true_clean``, ``n_true_noisy``,
        ``n_selected_clean``, ``n_flagged_noisy``, ``n_selected_truly_clean``
        and ``n_flagged_truly_noisy``. A ratio with a zero denominator is 0.0
        (no warning), e.g. ``noisy_recall`` when there are no noisy samples.
        In the table, ``support`` counts the truly clean (noisy) samples and
        ``predicted`` the samples kept as clean (flagged as noisy).

    Examples
    --------
    >>> from skclip_noise.metrics import detection_report
    >>> is_noisy = [False, False, False, True, True]
    >>> clean_pred = [True, True, False, False, True]
    >>> report = detection_report(is_noisy, clean_pred, output_dict=True)
    >>> report["clean_precision"], report["clean_recall"], report["noisy_recall"]
    (0.6666666666666666, 0.6666666666666666, 0.5)
    >>> print(detection_report(is_noisy, clean_pred, digits=2))
                  precision     recall   f1-score    support  predicted
    <BLANKLINE>
           clean       0.67       0.67       0.67          3          3
           noisy       0.50       0.50       0.50          2          2
    <BLANKLINE>
        accuracy                             0.60          5
    <BLANKLINE>
    true noise rate       0.40
    estimated noise rate  0.40
    <BLANKLINE>
    """
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 0:
        raise ValueError(f"digits must be a non-negative int; got {digits!r}.")
    is_noisy, clean_pred = _check_masks(is_noisy, clean_pred)
    counts = _counts(is_noisy, clean_pred)
    scores = _scores(counts)
    if output_dict:
        return {**scores, **counts}
    return _format_report(scores, counts, int(digits))


def _format_report(s, c, digits):
    headers = ("precision", "recall", "f1-score", "support", "predicted")
    name_width = len("accuracy") + 4
    col = max(max(len(h) for h in headers) + 2, digits + 4, len(str(c["n_samples"])) + 2)

    def row(name, values):
        cells = "".join(
            f"{v:>{col}.{digits}f}" if isinstance(v, float) else f"{v:>{col}}" for v in values
        )
        return f"{name:>{name_width}}{cells}"

    rate_width = len("estimated noise rate") + 2
    return "\n".join([
        row("", headers),
        "",
        row("clean", (s["clean_precision"], s["clean_recall"], s["clean_f1"],
                      c["n_true_clean"], c["n_selected_clean"])),
        row("noisy", (s["noisy_precision"], s["noisy_recall"], s["noisy_f1"],
                      c["n_true_noisy"], c["n_flagged_noisy"])),
        "",
        row("accuracy", ("", "", s["accuracy"], c["n_samples"])),
        "",
        f"{'true noise rate':<{rate_width}}{s['true_noise_rate']:.{digits}f}",
        f"{'estimated noise rate':<{rate_width}}{s['estimated_noise_rate']:.{digits}f}",
    ]) + "\n"


def clean_precision_score(is_noisy, clean_pred):
    """Share of samples kept as clean whose label is truly clean.

    The purity of the selected set; 0.0 when nothing is selected.

    Parameters
    ----------
    is_noisy : array-like of bool of shape (n_samples,)
        Ground truth: True where the label is wrong.
    clean_pred : array-like of bool of shape (n_samples,)
        Detector output: True where the sample is kept as clean.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from skclip_noise.metrics import clean_precision_score
    >>> clean_precision_score([0, 0, 1, 1], [1, 1, 1, 0])
    0.6666666666666666
    """
    return _scores(_counts(*_check_masks(is_noisy, clean_pred)))["clean_precision"]


def clean_recall_score(is_noisy, clean_pred):
    """Share of truly clean samples that are kept as clean.

    0.0 when there are no clean samples.

    Parameters
    ----------
    is_noisy : array-like of bool of shape (n_samples,)
        Ground truth: True where the label is wrong.
    clean_pred : array-like of bool of shape (n_samples,)
        Detector output: True where the sample is kept as clean.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from skclip_noise.metrics import clean_recall_score
    >>> clean_recall_score([0, 0, 1, 1], [1, 0, 1, 0])
    0.5
    """
    return _scores(_counts(*_check_masks(is_noisy, clean_pred)))["clean_recall"]


def clean_f1_score(is_noisy, clean_pred):
    """Harmonic mean of :func:`clean_precision_score` and :func:`clean_recall_score`.

    0.0 when both are 0.

    Parameters
    ----------
    is_noisy : array-like of bool of shape (n_samples,)
        Ground truth: True where the label is wrong.
    clean_pred : array-like of bool of shape (n_samples,)
        Detector output: True where the sample is kept as clean.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from skclip_noise.metrics import clean_f1_score
    >>> clean_f1_score([0, 0, 1, 1], [1, 0, 1, 0])
    0.5
    """
    return _scores(_counts(*_check_masks(is_noisy, clean_pred)))["clean_f1"]


def noisy_precision_score(is_noisy, clean_pred):
    """Share of flagged samples (not kept as clean) whose label is truly wrong.

    0.0 when nothing is flagged.

    Parameters
    ----------
    is_noisy : array-like of bool of shape (n_samples,)
        Ground truth: True where the label is wrong.
    clean_pred : array-like of bool of shape (n_samples,)
        Detector output: True where the sample is kept as clean.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from skclip_noise.metrics import noisy_precision_score
    >>> noisy_precision_score([0, 0, 1, 1], [1, 0, 0, 1])
    0.5
    """
    return _scores(_counts(*_check_masks(is_noisy, clean_pred)))["noisy_precision"]


def noisy_recall_score(is_noisy, clean_pred):
    """Share of truly noisy samples that are flagged (not kept as clean).

    0.0 when there are no noisy samples.

    Parameters
    ----------
    is_noisy : array-like of bool of shape (n_samples,)
        Ground truth: True where the label is wrong.
    clean_pred : array-like of bool of shape (n_samples,)
        Detector output: True where the sample is kept as clean.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from skclip_noise.metrics import noisy_recall_score
    >>> noisy_recall_score([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    return _scores(_counts(*_check_masks(is_noisy, clean_pred)))["noisy_recall"]


def noisy_f1_score(is_noisy, clean_pred):
    """Harmonic mean of :func:`noisy_precision_score` and :func:`noisy_recall_score`.

    0.0 when both are 0.

    Parameters
    ----------
    is_noisy : array-like of bool of shape (n_samples,)
        Ground truth: True where the label is wrong.
    clean_pred : array-like of bool of shape (n_samples,)
        Detector output: True where the sample is kept as clean.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from skclip_noise.metrics import noisy_f1_score
    >>> noisy_f1_score([0, 0, 1, 1], [1, 0, 0, 1])
    0.5
    """
    return _scores(_counts(*_check_masks(is_noisy, clean_pred)))["noisy_f1"]
