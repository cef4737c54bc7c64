"""Look at what a detector found: plots of its scores and an HTML gallery.

- :func:`plot_clean_proba` -- the distribution of the clean probability, one row
  per class, split into truly clean and truly noisy samples when the ground truth
  is known.
- :func:`plot_selection_precision_recall` -- precision and recall of the clean
  selection as the threshold on the clean probability moves, with its numbers
  from :func:`selection_precision_recall_curve`.
- :func:`detection_summary_figure` -- both plots side by side.
- :func:`label_issues_html` -- a self-contained HTML page (one file, thumbnails
  embedded, no scripts, nothing fetched) of the suspected label errors, worst
  first, for a person to review.

Every function takes either the arrays (``clean_proba``, labels, ...) or a fitted
detector, from which it reads ``clean_proba_``, ``clean_mask_``, ``classes_`` and
``label_issues_``. The plots use matplotlib's object-oriented API, never call
``plt.show()`` and work with the non-interactive Agg backend.
"""

from __future__ import annotations

import base64
import html
import io
import os
import warnings

import numpy as np
import pandas as pd

__all__ = [
    "detection_summary_figure",
    "label_issues_html",
    "plot_clean_proba",
    "plot_selection_precision_recall",
    "selection_precision_recall_curve",
]

# Colour-blind safe pair (Okabe-Ito blue / orange) and a neutral for "unknown truth".
_CLEAN_COLOUR = "#0072B2"
_NOISY_COLOUR = "#E69F00"
_UNKNOWN_COLOUR = "#5B7083"


# ------------------------------------------------------------------- input checks


def _is_detector(obj):
    return hasattr(obj, "fit") and not isinstance(obj, (np.ndarray, pd.Series, pd.DataFrame, list, tuple))


def _fitted(detector, attribute="clean_proba_"):
    if not hasattr(detector, attribute):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(
            f"This {type(detector).__name__} is not fitted yet: call fit(X, y) before "
            "reporting on it."
        )
    return detector


def _check_proba(clean_proba, name="clean_proba"):
    proba = np.asarray(clean_proba, dtype=np.float64)
    if proba.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one score per sample); got shape {proba.shape}.")
    if proba.shape[0] == 0:
        raise ValueError(f"{name} is empty; need at least one sample.")
    if not np.all(np.isfinite(proba)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    if proba.min() < 0 or proba.max() > 1:
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; got [{proba.min():.3g}, {proba.max():.3g}]."
        )
    return proba


def _check_truth(is_noisy, n_samples, name="is_noisy"):
    from .metrics import _check_mask

    mask = _check_mask(is_noisy, name)
    if mask.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {mask.shape[0]} entries but there are {n_samples} scores; pass one "
            "entry per sample."
        )
    return mask


def _check_threshold(threshold):
    if threshold is None:
        return None
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1] or None; got {threshold!r}.")
    return threshold


def _resolve_labels(y, classes, n_samples):
    """Labels as a 1-D array, the row order (classes) and the row names."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per sample); got shape {y.shape}.")
    if y.shape[0] != n_samples:
        raise ValueError(
            f"y has {y.shape[0]} labels but there are {n_samples} scores; pass one label per sample."
        )
    if classes is None:
        classes = np.unique(y)
    else:
        classes = np.asarray(classes)
        if classes.ndim != 1 or classes.shape[0] == 0:
            raise ValueError("classes must be a non-empty 1-D sequence of labels.")
        unknown = np.setdiff1d(np.unique(y), classes)
        if unknown.size:
            raise ValueError(
                f"y holds labels that are not in classes, e.g. {unknown[:5].tolist()!r}."
            )
    return y, classes


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
        Number of equal-width bins on [0, 1], or the bin edges.
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
        ax.text(1.01, base + 0.05, note, transform=ax.get_yaxis_transform(),
                fontsize="x-small", color="0.35", va="bottom", ha="left")
        ax.axhline(base, color="0.75", linewidth=0.6, zorder=0)

    if len(classes) > 1:
        ax.axhline(n_rows - 1 - 0.09, color="0.45", linewidth=0.9, zorder=0)
    if threshold is not None:
        ax.axvline(threshold, color="0.25", linestyle="--", linewidth=1,
                   label=f"threshold {threshold:g}")
    ax.set_yticks(np.arange(n_rows)[::-1] + height / 2, [name for name, _ in rows])
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
    if clean_pred is not None:
        selected = _check_truth(clean_pred, proba.shape[0], name="clean_pred")
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

    n_rows = 2 + (len(np.unique(np.asarray(y))) if y is not None else
                  len(getattr(clean_proba, "classes_", [])))
    height = max(4.5, 1.2 + 0.45 * n_rows)
    if is_noisy is None:
        fig, ax = plt.subplots(figsize=figsize or (7.0, height), layout="constrained")
        plot_clean_proba(clean_proba, y, classes=classes, ax=ax, bins=bins, threshold=threshold)
        return fig
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize or (13.0, height),
                                      layout="constrained", width_ratios=(1.25, 1.0))
    plot_clean_proba(clean_proba, y, is_noisy=is_noisy, classes=classes, ax=left, bins=bins,
                     threshold=threshold)
    plot_selection_precision_recall(clean_proba, is_noisy, threshold=threshold, ax=right)
    return fig


# ---------------------------------------------------------------------- HTML page


def _thumbnail_data_uri(image, size):
    """A PNG data URI of ``image`` fitted into ``size`` x ``size`` pixels.

    Small images are enlarged by a whole factor with nearest-neighbour sampling
    (crisp pixels); large ones are shrunk with Lanczos. The aspect ratio is kept.
    """
    from PIL import Image

    width, height = image.size
    longest = max(width, height, 1)
    if longest <= size:
        factor = max(1, size // longest)
        if factor > 1:
            image = image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    else:
        image = image.copy()
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{encoded}", image.size


def _text(value):
    """Escaped display text of a label or index value."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "&mdash;"
    if isinstance(value, (np.generic,)):
        value = value.item()
    return html.escape(str(value), quote=True)


def _score_colour(score):
    """Red (0) through amber to green (1) as an HSL colour."""
    if not np.isfinite(score):
        return "hsl(0, 0%, 60%)"
    return f"hsl({round(120 * min(max(score, 0.0), 1.0))}, 62%, 42%)"


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1f2933;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", sans-serif;
  font-size: 15px; line-height: 1.45; }
header { background: #ffffff; border-bottom: 1px solid #e3e6ea; padding: 22px 32px 18px; }
h1 { margin: 0 0 4px; font-size: 24px; font-weight: 650; letter-spacing: -0.01em; }
.sub { margin: 0 0 16px; color: #52606d; font-size: 14px; }
.stats { display: flex; flex-wrap: wrap; gap: 12px; }
.stat { background: #f4f5f7; border: 1px solid #e3e6ea; border-radius: 10px;
  padding: 8px 16px; min-width: 120px; }
.stat b { display: block; font-size: 22px; font-weight: 650;
  font-variant-numeric: tabular-nums; }
.stat span { color: #52606d; font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.05em; }
.stat.alert b { color: #b42318; }
.note { margin: 14px 0 0; color: #52606d; font-size: 13px; }
main { padding: 24px 32px 40px; }
.grid { display: grid; gap: 16px;
  grid-template-columns: repeat(auto-fill, minmax(var(--card-min), 1fr)); }
.card { background: #ffffff; border: 1px solid #e3e6ea; border-radius: 12px;
  overflow: hidden; display: flex; flex-direction: column;
  box-shadow: 0 1px 2px rgba(16, 24, 40, 0.06); }
.card.kept { opacity: 0.72; }
.thumb { display: flex; align-items: center; justify-content: center;
  height: calc(var(--thumb) + 24px); background: #e9ecf0;
  border-bottom: 1px solid #e3e6ea; position: relative; }
.thumb img { image-rendering: pixelated; image-rendering: crisp-edges;
  max-width: 100%; height: auto; border-radius: 3px;
  box-shadow: 0 0 0 1px rgba(0, 0, 0, 0.08); }
.thumb .missing { color: #7b8794; font-size: 12px; padding: 8px; text-align: center; }
.rank { position: absolute; top: 8px; left: 8px; background: rgba(255, 255, 255, 0.92);
  color: #52606d; border-radius: 999px; padding: 0 8px; font-size: 12px;
  font-variant-numeric: tabular-nums; }
.body { padding: 12px 14px 12px; display: flex; flex-direction: column; gap: 10px; flex: 1; }
.labels { display: grid; grid-template-columns: auto minmax(0, 1fr); align-items: center;
  gap: 6px 10px; }
.labels .k { font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em;
  color: #7b8794; }
.labels .v { padding: 2px 8px; border-radius: 6px; font-weight: 650; font-size: 15px;
  line-height: 1.3; min-width: 0; justify-self: start; max-width: 100%; }
.labels .v span { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2;
  overflow: hidden; overflow-wrap: anywhere; }
.v.given { background: #fdecea; color: #b42318; border: 1px solid #f7c6c0; }
.v.suggested { background: #e7f6ec; color: #067647; border: 1px solid #b7e4c7; }
.score { display: flex; align-items: center; gap: 8px; font-size: 13px; color: #52606d; }
.bar { flex: 1; height: 6px; background: #edf0f3; border-radius: 999px; overflow: hidden; }
.bar span { display: block; height: 100%; border-radius: 999px; }
.score b { color: #1f2933; font-variant-numeric: tabular-nums; }
.meta { display: flex; justify-content: space-between; gap: 8px; font-size: 12px;
  color: #7b8794; border-top: 1px solid #f0f2f4; padding-top: 8px; min-width: 0;
  margin-top: auto; }
.meta > span:first-child { white-space: nowrap; flex-shrink: 0; }
.meta .file { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
.tag { position: absolute; top: 8px; right: 8px; font-size: 11px; color: #52606d;
  background: rgba(255, 255, 255, 0.92); border-radius: 999px; padding: 0 8px; }
.empty { background: #ffffff; border: 1px dashed #cbd2d9; border-radius: 12px;
  padding: 40px; text-align: center; color: #52606d; }
footer { padding: 0 32px 28px; color: #9aa5b1; font-size: 12px; }
"""


def _check_label_issues(label_issues, only_issues):
    if _is_detector(label_issues):
        label_issues = _fitted(label_issues, "label_issues_").label_issues_
    if not isinstance(label_issues, pd.DataFrame):
        raise TypeError(
            "label_issues must be a pandas DataFrame (a detector's label_issues_) or a fitted "
            f"detector; got {type(label_issues).__name__}."
        )
    required = ["label_quality"] + (["is_label_issue"] if only_issues else [])
    missing = [c for c in required if c not in label_issues.columns]
    if missing:
        raise ValueError(
            f"label_issues lacks the column(s) {missing}; it needs cleanlab's columns "
            "is_label_issue, label_quality, given_label and predicted_label."
        )
    return label_issues


def label_issues_html(
    X,
    label_issues,
    path=None,
    *,
    max_items=200,
    thumbnail_size=96,
    title="Suspected label errors",
    only_issues=True,
):
    """Write a self-contained HTML page of the suspected label errors, worst first.

    Each sample is a card with its thumbnail, the given label (red), the
    suggested label (green), the label-quality score and the sample's index.
    Cards are sorted by ``label_quality``, lowest first. A header summarises the
    number of samples, of flagged samples and the estimated noise rate (the
    share flagged). The page is one file: thumbnails are embedded as base64 PNG
    data URIs, the CSS is inline, and there is no script, font or other external
    resource, so it can be mailed or archived as is. All text is HTML-escaped.

    Only the images shown are read, so the page is cheap for large data sets.

    Parameters
    ----------
    X : image array, sequence of image paths, torch Dataset or None
        The images the detector was fitted on, in the same order (see
        :func:`skclip_noise.data.inputs.check_image_input`). None leaves the
        cards without thumbnails (e.g. when the detector was fitted on
        precomputed features).
    label_issues : pandas DataFrame or fitted detector
        A detector's ``label_issues_`` (or the detector itself): one row per
        sample of ``X``, in the same order, with the columns ``label_quality``
        and, as needed, ``is_label_issue``, ``given_label`` and
        ``predicted_label``. Its index is shown as the sample's index.
    path : str or path-like, default=None
        Where to write the page (UTF-8). If None the HTML is returned.
    max_items : int or None, default=200
        Most cards to show (the lowest-scoring ones); None shows all.
    thumbnail_size : int, default=96
        Longest side of a thumbnail in pixels. Smaller images are enlarged by a
        whole factor with nearest-neighbour sampling, so 8x8 digits stay crisp.
    title : str, default="Suspected label errors"
        Page title and heading.
    only_issues : bool, default=True
        Show only the samples with ``is_label_issue`` True; if False, show all
        samples (still worst first), the unflagged ones dimmed.

    Returns
    -------
    str
        The path written to, if ``path`` is given, else the HTML text.

    Warns
    -----
    UserWarning
        When some shown images cannot be read; their cards say so instead.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skclip_noise.report import label_issues_html
    >>> X = np.zeros((3, 8, 8), dtype=np.uint8)
    >>> issues = pd.DataFrame({"is_label_issue": [False, True, True],
    ...                        "label_quality": [0.9, 0.1, 0.3],
    ...                        "given_label": ["cat", "dog", "<b>"],
    ...                        "predicted_label": ["cat", "cat", "cat"]})
    >>> page = label_issues_html(X, issues)
    >>> page.count('class="card'), "&lt;b&gt;" in page, "http" in page
    (2, True, False)
    """
    label_issues = _check_label_issues(label_issues, only_issues)
    if max_items is not None:
        if isinstance(max_items, bool) or int(max_items) != max_items or max_items < 0:
            raise ValueError(f"max_items must be a non-negative int or None; got {max_items!r}.")
        max_items = int(max_items)
    if isinstance(thumbnail_size, bool) or int(thumbnail_size) != thumbnail_size or thumbnail_size < 8:
        raise ValueError(f"thumbnail_size must be an int >= 8; got {thumbnail_size!r}.")
    thumbnail_size = int(thumbnail_size)

    reader = None
    paths = None
    if X is not None:
        from .data.inputs import ImageDataset, check_image_input

        image_input = check_image_input(X, check_paths=False)
        if image_input.kind == "features":  # pragma: no cover - check_image_input refuses
            raise ValueError("X must hold images, not features; pass X=None to omit thumbnails.")
        if image_input.n_samples != len(label_issues):
            raise ValueError(
                f"X has {image_input.n_samples} samples but label_issues has "
                f"{len(label_issues)} rows; pass the X the detector was fitted on."
            )
        reader = ImageDataset(image_input)
        if image_input.kind == "paths":
            paths = image_input.data

    n_samples = len(label_issues)
    quality = pd.to_numeric(label_issues["label_quality"], errors="coerce").to_numpy(dtype=np.float64)
    if "is_label_issue" in label_issues.columns:
        flagged = label_issues["is_label_issue"].fillna(False).to_numpy(dtype=bool)
    else:
        flagged = None
    candidates = np.flatnonzero(flagged) if only_issues else np.arange(n_samples)
    # stable sort, NaN scores last
    order = candidates[np.argsort(quality[candidates], kind="mergesort")]
    n_candidates = order.shape[0]
    if max_items is not None:
        order = order[:max_items]

    given = label_issues["given_label"].to_numpy() if "given_label" in label_issues else None
    predicted = (
        label_issues["predicted_label"].to_numpy() if "predicted_label" in label_issues else None
    )
    index = label_issues.index
    default_index = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1

    cards = []
    unreadable = []
    for rank, position in enumerate(order.tolist(), start=1):
        index_text = _text(index[position])
        sample = f"sample {index_text}" if default_index else f"{index_text} (row {position})"
        given_text = _text(given[position]) if given is not None else "&mdash;"
        suggested_text = _text(predicted[position]) if predicted is not None else "&mdash;"
        if reader is None:
            thumb = '<div class="missing">no image</div>'
        else:
            try:
                uri, (w, h) = _thumbnail_data_uri(reader.load(position), thumbnail_size)
            except Exception as exc:  # noqa: BLE001 - a broken file must not sink the report
                unreadable.append(position)
                thumb = (f'<div class="missing" title="{_text(exc)}">image could not be '
                         "read</div>")
            else:
                thumb = (f'<img src="{uri}" width="{w}" height="{h}" '
                         f'alt="{sample}, given label {given_text}">')
        score = quality[position]
        if not np.isfinite(score):
            score_text = "n/a"
        elif 0 < score < 0.0005:
            score_text = "&lt;0.001"
        else:
            score_text = f"{score:.3f}"
        width = f"{100 * min(max(score, 0.0), 1.0):.1f}%" if np.isfinite(score) else "0%"
        is_kept = flagged is not None and not flagged[position]
        file_html = ""
        tag = '<span class="tag">not flagged</span>' if is_kept else ""
        if paths is not None:
            full = os.fspath(paths[position])
            file_html = (f'<span class="file" title="{_text(full)}">'
                         f"{_text(os.path.basename(full))}</span>")
        cards.append(
            f'<article class="card{" kept" if is_kept else ""}">'
            f'<div class="thumb"><span class="rank">{rank}</span>{thumb}{tag}</div>'
            '<div class="body"><div class="labels">'
            f'<span class="k">Given</span><span class="v given" title="{given_text}">'
            f"<span>{given_text}</span></span>"
            f'<span class="k">Suggested</span><span class="v suggested" '
            f'title="{suggested_text}"><span>{suggested_text}</span></span></div>'
            f'<div class="score"><span>label quality</span><div class="bar"><span style="width:'
            f'{width};background:{_score_colour(score)}"></span></div><b>{score_text}</b></div>'
            f'<div class="meta"><span>{sample}</span>{file_html}</div>'
            "</div></article>"
        )
    if unreadable:
        warnings.warn(
            f"{len(unreadable)} of the {len(order)} images shown could not be read (e.g. sample "
            f"at position {unreadable[0]}); their cards say so.",
            UserWarning,
            stacklevel=2,
        )

    n_flagged = int(flagged.sum()) if flagged is not None else None
    stats = [(f"{n_samples:,}", "samples", "")]
    if n_flagged is not None:
        stats.append((f"{n_flagged:,}", "flagged", " alert" if n_flagged else ""))
        stats.append((f"{n_flagged / n_samples:.1%}" if n_samples else "n/a",
                      "estimated noise rate", ""))
    stats.append((f"{len(order):,}", "shown", ""))
    stats_html = "".join(
        f'<div class="stat{cls}"><b>{value}</b><span>{label}</span></div>'
        for value, label, cls in stats
    )
    what = "flagged samples" if only_issues else "samples"
    note = ""
    if len(order) < n_candidates:
        note = (f'<p class="note">Showing the {len(order):,} lowest-scoring of the '
                f"{n_candidates:,} {what}.</p>")
    if cards:
        body = '<div class="grid">' + "".join(cards) + "</div>"
    else:
        body = (f'<div class="empty">No {what} to show'
                f'{" &mdash; no label was flagged as wrong" if only_issues else ""}.</div>')

    from . import __version__

    safe_title = html.escape(str(title), quote=True)
    card_min = max(thumbnail_size + 40, 210)
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{safe_title}</title>\n<style>{_CSS}"
        f":root {{ --thumb: {thumbnail_size}px; --card-min: {card_min}px; }}\n</style>\n"
        "</head>\n<body>\n"
        f"<header><h1>{safe_title}</h1>"
        f'<p class="sub">{what.capitalize()}, sorted by label quality (the chance that the '
        "given label is right), lowest first. Red: the label in the data; green: the label "
        "the model suggests.</p>"
        f'<div class="stats">{stats_html}</div>{note}</header>\n'
        f"<main>{body}</main>\n"
        f"<footer>Made with skclip_noise {html.escape(__version__)}.</footer>\n"
        "</body>\n</html>\n"
    )
    if path is None:
        return page
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(page)
    return path
