"""Plots of what a detector found: its scores, its selection and its noise estimate.

- :func:`plot_clean_proba` -- the distribution of the clean probability per class.
- :func:`selection_precision_recall_curve` and
  :func:`plot_selection_precision_recall` -- how well thresholding it separates.
- :func:`detection_summary_figure` -- both plots side by side.
- :func:`plot_noise_transition` -- the estimated noise transition matrix.

They use matplotlib's object-oriented API, never call ``plt.show()`` and work
with the non-interactive Agg backend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._checks import (
    _check_proba,
    _check_threshold,
    _check_truth,
    _fitted,
    _is_detector,
    _resolve_labels,
)
from ._transition import (
    _MAX_ANNOTATED_CLASSES,
    _TRANSITION_HIGH,
    _TRANSITION_LOW,
    _cell_text,
    _resolve_transition,
    _text_on_dark,
)

__all__ = [
    "detection_summary_figure",
    "plot_clean_proba",
    "plot_noise_transition",
    "plot_selection_precision_recall",
    "selection_precision_recall_curve",
]

# Colour-blind safe pair (Okabe-Ito blue / orange) and a neutral for "unknown truth".
_CLEAN_COLOUR = "#0072B2"
_NOISY_COLOUR = "#E69F00"
_UNKNOWN_COLOUR = "#5B7083"


def _literal(name):
    """A class name as matplotlib shows it as written: two dollar signs would start mathtext."""
    return name.replace("$", r"\$")


# -------------------------------------------------------------- clean probability


def plot_clean_proba(
    clean_proba,
    y=None,
    *,
    is_noisy=None,
    classes=None,
    ax=None,
    bins=20,
    threshold=0.5,
):
    """Plot the distribution of the clean probability, one row per class.

    The top row shows all samples, each further row the samples of one given
    label. Each row is a histogram scaled to its own height (the counts are
    written at the right). With the ground truth ``is_noisy`` each bar is
    stacked: truly clean samples in blue, truly noisy ones in orange on top, so
    a good detector puts the orange near 0 and the blue near 1.

    Parameters
    ----------
    clean_proba : array-like of shape (n_samples,) or fitted detector
        Probability that each given label is right. A fitted detector may be
        passed instead; its ``clean_proba_`` is used and, unless given, its given
        labels (``label_issues_["given_label"]``) and ``classes_``.
    y : array-like of shape (n_samples,), default=None
        The given labels. Required unless a detector is passed.
    is_noisy : array-like of bool of shape (n_samples,), default=None
        Ground truth, True where the given label is wrong. Without it each row
        is a single histogram.
    classes : array-like, default=None
        The labels to show, in this order (default: the sorted labels of ``y``).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure sized for the number of classes if None.
    bins : int or sequence of float, default=20
        Number of equal-width bins on [0, 1], or the bin edges (edges that zoom in
        leave some scores out of the bars; each row's note counts them).
    threshold : float or None, default=0.5
        Where to draw a dashed vertical line (the usual decision threshold);
        None draws none.

    Returns
    -------
    ax : matplotlib Axes
        Its ``patches`` hold one filled histogram per row (two with ``is_noisy``).

    See Also
    --------
    plot_selection_precision_recall : How well thresholding the score separates.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise.report import plot_clean_proba
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> is_noisy = rng.random(300) < 0.2
    >>> proba = np.where(is_noisy, rng.beta(2, 5, 300), rng.beta(5, 2, 300))
    >>> ax = plot_clean_proba(proba, y, is_noisy=is_noisy)
    >>> len(ax.patches)  # ("all" + 3 classes) x (clean, noisy)
    8
    """
    names = None
    if _is_detector(clean_proba):
        detector = _fitted(clean_proba)
        if y is None:
            y = np.asarray(detector.label_issues_["given_label"])
        if classes is None and hasattr(detector, "classes_"):
            classes = np.asarray(detector.classes_)
            if hasattr(detector, "class_names_") and len(detector.class_names_) == len(classes):
                names = [str(n) for n in detector.class_names_]
        clean_proba = detector.clean_proba_
    if y is None:
        raise ValueError("y (the given labels) is required unless a fitted detector is passed.")
    proba = _check_proba(clean_proba)
    y, classes = _resolve_labels(y, classes, proba.shape[0])
    if names is None:
        names = [str(c) for c in classes.tolist()]
    truth = None if is_noisy is None else _check_truth(is_noisy, proba.shape[0])
    threshold = _check_threshold(threshold)
    edges = np.histogram_bin_edges(proba, bins=bins, range=(0.0, 1.0))
    outside = (proba < edges[0]) | (proba > edges[-1])  # edges that zoom in leave these out of the bars

    rows = [("all samples", np.ones(proba.shape[0], dtype=bool))] if len(classes) > 1 else []
    rows += [(name, y == label) for name, label in zip(names, classes.tolist())]
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7.0, 1.2 + 0.45 * len(rows)), layout="constrained")

    height = 0.82
    n_rows = len(rows)
    for i, (_, members) in enumerate(rows):
        base = float(n_rows - 1 - i)
        if truth is None:
            counts = np.histogram(proba[members], bins=edges)[0]
            scale = height / max(counts.max(), 1)
            ax.stairs(base + counts * scale, edges, baseline=base, fill=True,
                      color=_UNKNOWN_COLOUR, alpha=0.85, linewidth=0)
            note = f"n={int(members.sum())}"
        else:
            clean = np.histogram(proba[members & ~truth], bins=edges)[0]
            noisy = np.histogram(proba[members & truth], bins=edges)[0]
            scale = height / max((clean + noisy).max(), 1)
            ax.stairs(base + clean * scale, edges, baseline=base, fill=True,
                      color=_CLEAN_COLOUR, alpha=0.85, linewidth=0,
                      label="truly clean" if i == 0 else None)
            ax.stairs(base + (clean + noisy) * scale, edges, baseline=base + clean * scale,
                      fill=True, color=_NOISY_COLOUR, alpha=0.95, linewidth=0,
                      label="truly noisy" if i == 0 else None)
            note = f"n={int(members.sum())}, {int((members & truth).sum())} noisy"
        if (members & outside).any():
            note += f", {int((members & outside).sum())} outside the bins"
        ax.text(1.01, base + 0.05, note, transform=ax.get_yaxis_transform(),
                fontsize="x-small", color="0.35", va="bottom", ha="left")
        ax.axhline(base, color="0.75", linewidth=0.6, zorder=0)

    if len(classes) > 1:
        ax.axhline(n_rows - 1 - 0.09, color="0.45", linewidth=0.9, zorder=0)
    if threshold is not None:
        ax.axvline(threshold, color="0.25", linestyle="--", linewidth=1,
                   label=f"threshold {threshold:g}")
    ax.set_yticks(np.arange(n_rows)[::-1] + height / 2, [_literal(name) for name, _ in rows])
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-0.1, n_rows)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("clean probability (chance the given label is right)")
    ax.set_ylabel("given label")
    ax.set_title("Clean probability by given label", pad=24 if truth is not None else 6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    if truth is not None:
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=3, frameon=False,
                  fontsize="small", borderaxespad=0.2)
    return ax


# ---------------------------------------------------------- precision and recall


def selection_precision_recall_curve(clean_proba, is_noisy):
    """Precision and recall of the clean selection ``clean_proba >= t`` for every t.

    Parameters
    ----------
    clean_proba : array-like of shape (n_samples,)
        Probability that each given label is right.
    is_noisy : array-like of bool of shape (n_samples,)
        Ground truth, True where the given label is wrong.

    Returns
    -------
    precision : ndarray of shape (n_thresholds,)
        Share of the selected samples that are truly clean.
    recall : ndarray of shape (n_thresholds,)
        Share of the truly clean samples that are selected (0 when there are no
        truly clean samples).
    thresholds : ndarray of shape (n_thresholds,)
        The distinct values of ``clean_proba``, decreasing; entry ``k`` selects
        the samples with ``clean_proba >= thresholds[k]``, so recall increases.

    Examples
    --------
    >>> from skclip_noise.report import selection_precision_recall_curve
    >>> precision, recall, thresholds = selection_precision_recall_curve(
    ...     [0.9, 0.8, 0.3, 0.1], [False, False, True, False])
    >>> precision.round(3).tolist(), recall.round(3).tolist(), thresholds.tolist()
    ([1.0, 1.0, 0.667, 0.75], [0.333, 0.667, 0.667, 1.0], [0.9, 0.8, 0.3, 0.1])
    """
    proba = _check_proba(clean_proba)
    truth = _check_truth(is_noisy, proba.shape[0])
    order = np.argsort(-proba, kind="mergesort")
    sorted_proba = proba[order]
    true_clean = np.cumsum(~truth[order])
    # the last position of each run of equal scores: a threshold selects whole ties
    ends = np.r_[np.flatnonzero(np.diff(sorted_proba)), proba.shape[0] - 1]
    n_selected = ends + 1
    selected_clean = true_clean[ends]
    n_clean = int(true_clean[-1])
    precision = selected_clean / n_selected
    recall = selected_clean / n_clean if n_clean else np.zeros(ends.shape[0])
    return precision, recall, sorted_proba[ends]


def _operating_point(truth, selected):
    n_selected = int(selected.sum())
    n_clean = int((~truth).sum())
    hits = int((selected & ~truth).sum())
    return (hits / n_clean if n_clean else 0.0), (hits / n_selected if n_selected else 0.0)


def plot_selection_precision_recall(
    clean_proba,
    is_noisy,
    *,
    clean_pred=None,
    threshold=0.5,
    ax=None,
):
    """Plot precision against recall of the clean selection as the threshold moves.

    Keeping the samples with ``clean_proba >= t`` gives, for each ``t``, a
    precision (share of kept samples that are truly clean) and a recall (share
    of truly clean samples that are kept). The curve runs from the strictest
    threshold (left) to keeping everything (right end, precision ``1 - noise
    rate``, drawn as a dashed baseline). The legend gives the average precision.

    Parameters
    ----------
    clean_proba : array-like of shape (n_samples,) or fitted detector
        Probability that each given label is right, or a fitted detector whose
        ``clean_proba_`` (and ``clean_mask_``, as ``clean_pred``) are used.
    is_noisy : array-like of bool of shape (n_samples,)
        Ground truth, True where the given label is wrong.
    clean_pred : array-like of bool of shape (n_samples,), default=None
        The detector's own clean/noisy verdict, marked as a point when given (it
        need not be a threshold on ``clean_proba``).
    threshold : float or None, default=0.5
        Threshold whose operating point is marked; None marks none.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.

    Returns
    -------
    ax : matplotlib Axes
        Its ``lines`` are the curve, the baseline, then the threshold point and
        the ``clean_pred`` point when drawn.

    See Also
    --------
    selection_precision_recall_curve : The numbers behind the curve.
    skclip_noise.metrics.detection_report : Scores of one clean/noisy split.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise.report import plot_selection_precision_recall
    >>> rng = np.random.default_rng(0)
    >>> is_noisy = rng.random(200) < 0.3
    >>> proba = np.clip(0.7 - 0.4 * is_noisy + rng.normal(0, 0.2, 200), 0, 1)
    >>> ax = plot_selection_precision_recall(proba, is_noisy)
    >>> len(ax.lines)  # curve, baseline, threshold point
    3
    """
    if _is_detector(clean_proba):
        detector = _fitted(clean_proba)
        if clean_pred is None and hasattr(detector, "clean_mask_"):
            clean_pred = detector.clean_mask_
        clean_proba = detector.clean_proba_
    proba = _check_proba(clean_proba)
    truth = _check_truth(is_noisy, proba.shape[0])
    threshold = _check_threshold(threshold)
    selected = None if clean_pred is None else _check_truth(clean_pred, proba.shape[0], name="clean_pred")
    precision, recall, _ = selection_precision_recall_curve(proba, truth)
    average_precision = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    baseline = 1.0 - float(truth.mean())

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    ax.plot(np.r_[0.0, recall], np.r_[precision[0], precision], drawstyle="steps-pre",
            color=_CLEAN_COLOUR, linewidth=1.8,
            label=f"threshold on clean_proba (AP = {average_precision:.3f})")
    ax.axhline(baseline, color="0.45", linestyle="--", linewidth=1,
               label=f"keep everything (noise rate {1.0 - baseline:.1%})")
    if threshold is not None:
        r, p = _operating_point(truth, proba >= threshold)
        ax.plot([r], [p], marker="o", markersize=8, linestyle="none", color=_NOISY_COLOUR,
                markeredgecolor="black", label=f"clean_proba >= {threshold:g}: "
                f"P={p:.3f}, R={r:.3f}")
    if selected is not None:  # checked before the figure was made
        r, p = _operating_point(truth, selected)
        ax.plot([r], [p], marker="D", markersize=7, linestyle="none", color="#CC79A7",
                markeredgecolor="black", label=f"detector's verdict: P={p:.3f}, R={r:.3f}")
    low = min(baseline, float(precision.min()))
    ax.set_xlim(0.0, 1.02)
    ax.set_ylim(max(0.0, low - 0.08 * (1.0 - low) - 0.02), 1.02)
    ax.set_xlabel("recall (share of truly clean samples kept)")
    ax.set_ylabel("precision (share of kept samples truly clean)")
    ax.set_title("Clean-sample selection")
    ax.grid(color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="lower left", fontsize="small", frameon=False)
    return ax


def detection_summary_figure(
    clean_proba,
    y=None,
    is_noisy=None,
    *,
    classes=None,
    bins=20,
    threshold=0.5,
    figsize=None,
):
    """:func:`plot_clean_proba` and, with ground truth, the precision-recall plot.

    Parameters
    ----------
    clean_proba : array-like of shape (n_samples,) or fitted detector
        See :func:`plot_clean_proba`.
    y : array-like of shape (n_samples,), default=None
        The given labels; required unless a detector is passed.
    is_noisy : array-like of bool of shape (n_samples,), default=None
        Ground truth. Without it only the distribution is drawn.
    classes, bins, threshold
        As in :func:`plot_clean_proba`.
    figsize : (float, float), default=None
        Figure size in inches; chosen from the number of classes if None.

    Returns
    -------
    fig : matplotlib Figure
        With one or two axes.

    Examples
    --------
    >>> import numpy as np
    >>> from skclip_noise.report import detection_summary_figure
    >>> y = np.repeat([0, 1], 50)
    >>> is_noisy = np.arange(100) % 5 == 0
    >>> fig = detection_summary_figure(np.where(is_noisy, 0.2, 0.8), y, is_noisy)
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt

    n_rows = 2 + (len(pd.unique(np.asarray(y, dtype=object).ravel())) if y is not None else
                  len(getattr(clean_proba, "classes_", [])))
    height = max(4.5, 1.2 + 0.45 * n_rows)
    if is_noisy is None:
        fig, ax = plt.subplots(figsize=figsize or (7.0, height), layout="constrained")
        axes = (ax, None)
    else:
        fig, axes = plt.subplots(1, 2, figsize=figsize or (13.0, height),
                                 layout="constrained", width_ratios=(1.25, 1.0))
    try:
        plot_clean_proba(clean_proba, y, is_noisy=is_noisy, classes=classes, ax=axes[0], bins=bins,
                         threshold=threshold)
        if is_noisy is not None:
            plot_selection_precision_recall(clean_proba, is_noisy, threshold=threshold, ax=axes[1])
    except Exception:
        plt.close(fig)  # bad input leaves no figure open in pyplot
        raise
    return fig


# ------------------------------------------------------------- noise transition


def plot_noise_transition(matrix, classes=None, *, ax=None, title="Estimated label noise"):
    """Draw a noise transition matrix as a heat map: true class down, given label across.

    Cell ``(i, j)`` is the estimated probability that a sample whose true class
    is ``i`` carries the given label ``j``. The diagonal is the share of right
    labels of each class; a dark off-diagonal cell is a pair of classes that
    the labelling confuses. With at most 20 classes each cell shows its value.

    Parameters
    ----------
    matrix : array-like of shape (n_classes, n_classes) or fitted detector
        ``P(given label = j | true class = i)``: rows are the true class,
        columns the given label, entries in [0, 1] and rows summing to 1 (as
        :func:`skclip_noise.noise.noise_transition_matrix` returns). A fitted
        detector may be passed instead; its ``noise_transition_`` is drawn and
        its classes (``class_names_``, else ``classes_``) name the axes.
    classes : array-like of shape (n_classes,), default=None
        Names of the classes, in the order of the rows. Default: the
        detector's classes, else ``0 .. n_classes - 1``.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure sized for the number of classes if None.
        The colour bar takes room from this Axes.
    title : str, default="Estimated label noise"
        Title of the Axes.

    Returns
    -------
    ax : matplotlib Axes
        Its ``images[0]`` holds the matrix; its ``texts`` the cell values, row
        by row; the colour bar is a further Axes of the figure.

    Raises
    ------
    ValueError
        If the matrix is not square, holds NaN, infinite, negative or above-1
        values, or its size differs from the number of classes; or if the
        detector passed has no ``noise_transition_``.

    See Also
    --------
    skclip_noise.noise.noise_transition_matrix : The matrix from known labels.
    label_issues_html : Shows the same matrix on the review page.

    Examples
    --------
    >>> from skclip_noise.noise import noise_transition_matrix
    >>> from skclip_noise.report import plot_noise_transition
    >>> T = noise_transition_matrix([0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 0, 2, 2])
    >>> ax = plot_noise_transition(T, ["cat", "dog", "fox"])
    >>> [t.get_text() for t in ax.texts[:3]]  # first row: true class "cat"
    ['0.75', '0.25', '0.00']
    >>> [t.get_text() for t in ax.get_xticklabels()], ax.get_xlabel()
    (['cat', 'dog', 'fox'], 'given label')
    """
    from matplotlib.colors import LinearSegmentedColormap

    matrix, names = _resolve_transition(matrix, classes)
    n_classes = matrix.shape[0]
    if ax is None:
        import matplotlib.pyplot as plt

        side = min(2.5 + 0.5 * n_classes, 14.0)
        _, ax = plt.subplots(figsize=(side + 1.5, side), layout="constrained")
    colour_map = LinearSegmentedColormap.from_list(
        "noise_transition", [np.divide(_TRANSITION_LOW, 255), np.divide(_TRANSITION_HIGH, 255)]
    )
    image = ax.imshow(matrix, cmap=colour_map, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="P(given label | true class)")
    if n_classes <= _MAX_ANNOTATED_CLASSES:
        fontsize = "small" if n_classes <= 10 else "x-small"
        for (row, column), value in np.ndenumerate(matrix):
            ax.text(column, row, _cell_text(value), ha="center", va="center", fontsize=fontsize,
                    color="white" if _text_on_dark(value) else "black")
    long_names = max(len(name) for name in names) > 3
    names = [_literal(name) for name in names]
    ax.set_xticks(np.arange(n_classes), names, rotation=45 if long_names else 0,
                  ha="right" if long_names else "center", rotation_mode="anchor")
    ax.set_yticks(np.arange(n_classes), names)
    ax.tick_params(length=0)
    ax.set_xlabel("given label")
    ax.set_ylabel("true class")
    ax.set_title(title)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax
