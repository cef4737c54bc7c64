"""A self-contained HTML page of the suspected label errors, for a person to review.

The page loads nothing from elsewhere: the CSS and the review script are inline, and
thumbnails are embedded as base64 PNG data URIs (or, for thousands of cards, PNG files
in a folder beside the page).
"""

from __future__ import annotations

import html
import os

import numpy as np
import pandas as pd

from .._warnings import warn_user
from .._detector_inputs import issue_flags
from .._files import replaced_file
from .._shown_text import with_controls_shown
from ..base.contract import FIT_ORDER_ATTR
from ..data.labels import label_text
from ._checks import (
    _check_label_issues,
    _check_label_quality,
    _check_page_path,
    _check_sizes,
    _check_suggestion_confidence,
    _check_switches,
    _check_unique_samples,
    _is_detector,
)
from ._page_style import _CSS, REPORT_ROOT, scoped
from ._quality import (
    _QUALITY_LEGEND,
    _quality_colour,
    _quality_text,
    _quality_title,
    _quality_width,
)
from ._review import PAGE_SIZE, REVIEW_CSS, REVIEW_SCRIPT, report_key, review_actions, review_toolbar
from ._samples import image_reader
from ._sections import SECTIONS, disputed_positions, grouped_cards, read_issue_types
from ._thumbnails import ThumbnailWriter
from ._transition import (
    _MAX_ANNOTATED_CLASSES,
    _cell_colour,
    _cell_text,
    _resolve_transition,
    _text_on_dark,
)

__all__ = ["label_issues_html"]


#: Outside the report's element, the page alone: no margin around it (a notebook's cell,
#: where the report is not the body's child, is left as it is).
_STANDALONE_CSS = (f"body:has(> .{REPORT_ROOT}) {{ margin: 0; background: #f4f5f7; }}\n"
                   f".{REPORT_ROOT}:focus {{ outline: none; }}\n")


def _text(value):
    """Escaped display text of a label or index value (its hidden characters shown)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "&mdash;"
    return html.escape(with_controls_shown(label_text(value)), quote=True)


def _section_cards(members, kind, max_items):
    """The cards one section shows of its ``members`` (worst first): the worst
    ``max_items``, but for the disputed pairs a random draw of them, since a person
    decides by the share of wrong labels among those shown (the worst would bias it)."""
    if kind != "disputed" or max_items is None or len(members) <= max_items:
        return members[:max_items]
    return members[np.sort(np.random.default_rng(0).choice(len(members), max_items, replace=False))]


def _label_values(column):
    """A label column's values as Python objects, missing ones None: a nullable integer
    column with a missing value would otherwise turn into floats (label 4 shown "4.0")."""
    return column.to_numpy(dtype=object, na_value=None)


def _attribute(value):
    # A carriage return as a character reference: HTML parsing turns a raw one into a newline.
    return html.escape(label_text(value), quote=True).replace("\r", "&#13;")


def _review_classes(detector, classes, label_issues):
    """The classes offered for relabelling, as text."""
    if classes is None and detector is not None:
        classes = getattr(detector, "classes_", None)
    if classes is None:
        columns = [c for c in ("given_label", "suggested_label", "predicted_label") if c in label_issues.columns]
        values = pd.unique(np.concatenate([_label_values(label_issues[c].dropna()) for c in columns])) if columns else []
        classes = sorted(values, key=lambda value: (str(type(value)), value))
    return [label_text(value) for value in classes]


def _transition_html(matrix, names):
    """The transition matrix as a table whose cell colours make a heat map."""
    names = [html.escape(with_controls_shown(name), quote=True) for name in names]
    annotate = len(names) <= _MAX_ANNOTATED_CLASSES
    rows = []
    for row, true_name in enumerate(names):
        cells = []
        for column, given_name in enumerate(names):
            value = float(matrix[row, column])
            diagonal = ' class="diag"' if row == column else ""
            text_colour = "#ffffff" if _text_on_dark(value) else "#000000"
            cells.append(
                f'<td{diagonal} title="true {true_name}, given {given_name}: {value:.3f}" '
                f'style="background:{_cell_colour(value)};color:{text_colour}">'
                f'{_cell_text(value) if annotate else ""}</td>'
            )
        rows.append(f'<tr><th scope="row">{true_name}</th>{"".join(cells)}</tr>')
    header = "".join(f'<th scope="col">{name}</th>' for name in names)
    return (
        '<section class="transition"><h2>Estimated label noise</h2><table class="heatmap">'
        "<caption>Rows: the true class; columns: the given label; each cell is the estimated "
        "share of the row's samples that carry the column's label.</caption>"
        f'<thead><tr><th class="corner">true \\ given</th>{header}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></section>'
    )


def label_issues_html(
    X,
    label_issues,
    path=None,
    *,
    max_items=200,
    thumbnail_size=96,
    title="Suspected label errors",
    only_issues=True,
    noise_transition=None,
    classes=None,
    review=True,
    thumbnails="auto",
    disputed=None,
):
    """Write a self-contained HTML page of the suspected label errors, worst first.

    Each sample is a card with its thumbnail, the given label (red), the
    suggested label (green), the label-quality score and the sample's index.
    Cards are sorted by ``label_quality``, lowest first. The score is shown as a
    figure (three decimals, or scientific notation below 0.01, e.g. ``3.2e-05``,
    so that tiny scores stay distinct) and as a bar on a log scale (empty at
    ``1e-12``, half at ``1e-6``, full at 1), so the worse of two flagged cards
    has the smaller figure and the shorter bar. A header summarises the
    number of samples, of flagged samples and the estimated noise rate (the
    share flagged). With a noise transition matrix, a heat map of it (a table
    with coloured cells) comes before the cards. The page loads nothing from
    elsewhere (no CDN, no font, no server): the CSS and the review script are
    inline and thumbnails are embedded as base64 PNG data URIs, so it works from
    ``file://``, offline, and can be mailed or archived as is; above 1,000 cards
    the thumbnails go to a folder beside the page instead (``thumbnails``). All
    text is HTML-escaped.

    With ``review=True`` each card can be decided, with the mouse or the keyboard
    (``j``/``k`` next and previous, ``a`` accept the suggested label, ``g`` keep
    the given one, ``x`` drop the image, ``1``-``9`` and ``0`` the class of that
    number, ``c`` type a class, ``u`` undo). Decisions are kept in the browser
    (``localStorage``, under a key made from the report's samples and labels, so
    two reports never mix) and survive a reload; a counter shows the progress and
    filters select a given class, a kind of issue, or the (un)decided cards.
    "Export decisions" downloads ``decisions.csv`` (``sample,given_label,decision,label``,
    and ``path`` when ``X`` holds paths), which :func:`skclip_noise.apply_decisions` and
    ``skclip-noise apply`` apply.

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
        ``predicted_label``. Its index is shown as the sample's index. With a
        ``suggested_label`` column, that label is the suggested one (instead of
        ``predicted_label``); a ``suggested_label_confidence`` column (in
        [0, 1], NaN for none) is shown on each card as a percentage. With an
        ``issue_type`` column (``"label"``, ``"outlier"``, ``"unreadable"``,
        ``"ok"``), the cards are grouped by it: wrong labels, then images of no
        class (shown without a suggested label), then unreadable files.
    path : str or path-like, default=None
        Where to write the page (UTF-8). If None the HTML is returned.
    max_items : int or None, default=200
        Most cards to show (the lowest-scoring ones); None shows all. With an
        ``issue_type`` column, the most of each kind.
    thumbnail_size : int, default=96
        Longest side of a thumbnail in pixels. Smaller images are enlarged by a
        whole factor with nearest-neighbour sampling, so 8x8 digits stay crisp.
    title : str, default="Suspected label errors"
        Page title and heading.
    only_issues : bool, default=True
        Show only the samples with ``is_label_issue`` True; if False, show all
        samples (still worst first), the unflagged ones dimmed.
    noise_transition : array-like of shape (n_classes, n_classes) or fitted detector, default=None
        Estimated ``P(given label = j | true class = i)``, rows the true class
        (see :func:`plot_noise_transition`), shown as a heat map with its
        values (up to 20 classes). If None and ``label_issues`` is a detector
        with a ``noise_transition_``, that one is shown.
    classes : array-like of shape (n_classes,), default=None
        Names of the rows and columns of ``noise_transition``, in its order.
        Default: the detector's classes, else ``0 .. n_classes - 1``. Also the
        classes offered for relabelling (default: the detector's classes, else the
        given and suggested labels).
    review : bool, default=True
        Add the review controls and their inline script; False: a static page with
        no script at all.
    thumbnails : {"auto", "inline", "files"}, default="auto"
        ``"inline"``: data URIs in the page; ``"files"``: PNG files in a folder
        beside the page (``report.html`` -> ``report_thumbnails/``; needs ``path``),
        loaded as they scroll into view; ``"auto"``: files above 1,000 cards when
        ``path`` is given, else inline.
    disputed : pandas DataFrame or array-like, default=None
        Kept pairs for a person to check, as :func:`skclip_noise.disputed_pairs`
        draws them (``disputed_pairs(detector, n_checks=30)``, or their index), shown
        in a section of their own with what to decide from them: if more than half
        of their labels are wrong, flag every disputed pair (``flag_disagreement``).

    Returns
    -------
    str
        The path written to, if ``path`` is given, else the HTML text.

    Raises
    ------
    ValueError
        If ``noise_transition`` is not a square matrix of probabilities with
        one row per class, or ``suggested_label_confidence`` is outside [0, 1].

    Warns
    -----
    UserWarning
        When some shown images cannot be read; their cards say so instead.

    See Also
    --------
    plot_noise_transition : The same transition matrix as a matplotlib figure.
    plot_clean_proba : The distribution of ``label_quality`` per class.

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

    The estimated noise, as a heat map above the cards:

    >>> page = label_issues_html(X, issues, noise_transition=[[0.9, 0.1], [0.3, 0.7]],
    ...                          classes=["cat", "dog"])
    >>> page.count("<td"), 'title="true dog, given cat: 0.300"' in page
    (4, True)

    Tiny scores stay apart, in figures and in bar lengths:

    >>> import re
    >>> issues["label_quality"] = [0.9, 3.2e-05, 4.1e-09]
    >>> page = label_issues_html(None, issues)
    >>> re.findall(r"width:([0-9.]+%)[^>]*></span></div><b>([^<]+)</b>", page)
    [('30.1%', '4.1e-09'), ('62.5%', '3.2e-05')]
    """
    detector = label_issues if _is_detector(label_issues) else None
    _check_switches(only_issues=only_issues, review=review)
    label_issues = _check_label_issues(label_issues, only_issues)
    max_items, thumbnail_size = _check_sizes(max_items, thumbnail_size)
    if noise_transition is None and getattr(detector, "noise_transition_", None) is not None:
        noise_transition = detector
    transition = "" if noise_transition is None else _transition_html(
        *_resolve_transition(noise_transition, classes)
    )
    confidence = _check_suggestion_confidence(label_issues)
    quality = _check_label_quality(label_issues)
    if review:
        _check_unique_samples(label_issues)
    path = None if path is None else os.path.expanduser(os.fspath(path))  # "~/report.html" as a shell reads it
    _check_page_path(path)
    # a detector's own label_issues_ is in X's order whatever y's index says (a shuffled Series)
    in_fit_order = detector is not None
    reader, image_input = (None, None) if X is None else image_reader(
        X, label_issues.index, in_fit_order, label_issues.attrs.get(FIT_ORDER_ATTR))
    paths = image_input.data if image_input is not None and image_input.kind == "paths" else None
    review_classes = _review_classes(detector, classes, label_issues) if review else None

    n_samples = len(label_issues)
    if "is_label_issue" in label_issues.columns:
        flagged = issue_flags(label_issues)
    else:
        flagged = None
    candidates = np.flatnonzero(flagged) if only_issues else np.arange(n_samples)
    types = read_issue_types(label_issues)
    n_disputed = 0
    if disputed is not None:  # a section of their own, so the cards are grouped by kind
        to_check, n_disputed = disputed_positions(label_issues, flagged, disputed, detector)
        types = (np.where(flagged, "label", "ok") if types is None else types).astype(object)
        types[to_check] = "disputed"
        if only_issues:
            candidates = np.union1d(candidates, to_check)
    # stable sort, NaN scores last
    order = candidates[np.argsort(quality[candidates], kind="mergesort")]
    n_candidates = order.shape[0]
    if types is not None:  # each group shows its own worst cards, so no kind hides another
        order = np.concatenate([_section_cards(order[types[order] == kind], kind, max_items) for kind, _, _ in SECTIONS])
    elif max_items is not None:
        order = order[:max_items]

    thumbnail_source = ThumbnailWriter(thumbnails, len(order), path, thumbnail_size)
    given = _label_values(label_issues["given_label"]) if "given_label" in label_issues else None
    suggested_column = next(
        (c for c in ("suggested_label", "predicted_label") if c in label_issues.columns), None
    )
    suggested = _label_values(label_issues[suggested_column]) if suggested_column else None
    index = label_issues.index
    default_index = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1

    cards = []
    unreadable = []
    for rank, position in enumerate(order.tolist(), start=1):
        index_text = _text(index[position])
        sample = f"sample {index_text}" if default_index else f"{index_text} (row {position})"
        given_text = _text(given[position]) if given is not None else "&mdash;"
        suggested_text = _text(suggested[position]) if suggested is not None else "&mdash;"
        if types is not None and types[position] == "outlier":
            suggested_text = "none of these classes"
        if reader is None:
            thumb = '<div class="missing">no image</div>'
        else:
            try:
                uri, (w, h) = thumbnail_source.source(reader.load(position), position)
            except Exception as exc:  # noqa: BLE001 - a broken file must not sink the report
                unreadable.append(position)
                thumb = (f'<div class="missing" title="{_text(exc)}">image could not be '
                         "read</div>")
            else:
                thumb = (f'<img src="{uri}" width="{w}" height="{h}" loading="lazy" '
                         f'alt="{sample}, given label {given_text}">')
        score = float(quality[position])
        is_kept = flagged is not None and not flagged[position]
        is_disputed = types is not None and types[position] == "disputed"
        file_html = ""
        tag = f'<span class="tag">{"disputed" if is_disputed else "not flagged"}</span>' if is_kept else ""
        if paths is not None:
            full = os.fspath(paths[position])
            file_html = (f'<span class="file" title="{_text(full)}">'
                         f"{_text(os.path.basename(full))}</span>")
        confidence_html = ""
        if confidence is not None:
            value = confidence[position]
            confidence_html = ('<span class="k">Confidence</span><span class="conf">'
                               f'{"&mdash;" if np.isnan(value) else f"{value:.1%}"}</span>')
        review_data = actions = ""
        if review:
            kind = types[position] if types is not None else ("ok" if is_kept else "label")
            offered = "" if kind in ("outlier", "unreadable") or suggested is None else label_text(suggested[position])
            given_raw = "" if given is None else _attribute(given[position])
            review_data = (f' data-sample="{_attribute(index[position])}" data-given="{given_raw}"'
                           f' data-suggested="{_attribute(offered)}" data-kind="{kind}"')
            if paths is not None:  # exported with the decision, which then follows its image
                review_data += f' data-path="{_attribute(os.fspath(paths[position]))}"'
            actions = review_actions()
            if rank > PAGE_SIZE:  # the first page is shown before the script has run
                review_data += " hidden"
        cards.append(
            f'<article class="card{" kept" if is_kept and not is_disputed else ""}" tabindex="-1" '
            f'aria-label="{sample}, given label {given_text}"{review_data}>'
            f'<div class="thumb"><span class="rank">{rank}</span>{thumb}{tag}</div>'
            '<div class="body"><div class="labels">'
            f'<span class="k">Given</span><span class="v given" title="{given_text}">'
            f"<span>{given_text}</span></span>"
            f'<span class="k">Suggested</span><span class="v suggested" '
            f'title="{suggested_text}"><span>{suggested_text}</span></span>{confidence_html}</div>'
            f'<div class="score" title="{_quality_title(score)}"><span>label quality</span>'
            f'<div class="bar"><span style="width:{_quality_width(score)};'
            f'background:{_quality_colour(score)}"></span></div>'
            f"<b>{_quality_text(score)}</b></div>"
            f'<div class="meta"><span>{sample}</span>{file_html}</div>{actions}'
            "</div></article>"
        )
    if unreadable:
        warn_user(
            f"{len(unreadable)} of the {len(order)} images shown could not be read (e.g. sample "
            f"at position {unreadable[0]}); their cards say so.",
            UserWarning,
        )

    n_flagged = int(flagged.sum()) if flagged is not None else None
    stats = [(f"{n_samples:,}", "samples", "")]
    if n_flagged is not None:
        stats.append((f"{n_flagged:,}", "flagged", " alert" if n_flagged else ""))
        if types is not None and (types == "outlier").any():
            stats.append((f"{int((types == 'outlier').sum()):,}", "of no class", ""))
        stats.append((f"{n_flagged / n_samples:.1%}" if n_samples else "n/a",
                      "estimated noise rate", ""))
        if disputed is not None:
            stats.append((f"{n_disputed:,}", "disputed", ""))
    stats.append((f"{len(order):,}", "shown", ""))
    stats_html = "".join(
        f'<div class="stat{cls}"><b>{value}</b><span>{label}</span></div>'
        for value, label, cls in stats
    )
    what = "samples" if not only_issues else "flagged samples" + (" and disputed pairs" if disputed is not None else "")
    note = ""
    if len(order) < n_candidates:
        each = " (at most that many of each kind)" if types is not None else ""
        note = (f'<p class="note">Showing the {len(order):,} lowest-scoring of the '
                f"{n_candidates:,} {what}{each}.</p>")
    if cards and types is not None:
        body = grouped_cards(cards, types[order], n_disputed)
    elif cards:
        body = '<div class="grid">' + "".join(cards) + "</div>"
    elif n_candidates:
        body = f'<div class="empty">None of the {n_candidates:,} {what} shown (max_items={max_items}).</div>'
    else:
        body = (f'<div class="empty">No {what} to show'
                f'{" &mdash; no label was flagged as wrong" if only_issues else ""}.</div>')

    from .. import __version__

    safe_title = html.escape(str(title), quote=True)
    card_min = max(thumbnail_size + 40, 210)
    toolbar = script = root_data = review_css = ""
    if review and cards:
        given_labels = label_issues["given_label"] if given is not None else [None] * n_samples
        images = image_input.data if image_input is not None and image_input.kind == "images" else None
        key = report_key(title, label_issues.index, given_labels, paths=paths, images=images)
        root_data, review_css = f' data-report="{key}" data-page-size="{PAGE_SIZE}"', REVIEW_CSS
        kinds = [kind for kind, _, _ in SECTIONS if types is not None and (types[order] == kind).any()]
        toolbar = review_toolbar(review_classes, kinds)
        script = f"<script>{REVIEW_SCRIPT}</script>\n"
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{safe_title}</title>\n<style>{scoped(_CSS + review_css)}{_STANDALONE_CSS}</style>\n"
        f"</head>\n<body>\n"
        # the report's own element: a notebook's output cell drops <body> but keeps this
        f'<div class="{REPORT_ROOT}"{root_data} tabindex="-1" '
        f'style="--thumb: {thumbnail_size}px; --card-min: {card_min}px">\n'
        f"<header><h1>{safe_title}</h1>"
        f'<p class="sub">{what.capitalize()}, sorted by label quality (the chance that the '
        "given label is right), lowest first. Red: the label in the data; green: the label "
        f"the model suggests. {_QUALITY_LEGEND}</p>"
        f'<div class="stats">{stats_html}</div>{note}</header>\n{toolbar}'
        f"<main>{transition}{body}</main>\n"
        f"<footer>Made with skclip_noise {html.escape(__version__)}.</footer>\n"
        f"{script}</div>\n</body>\n</html>\n"
    )
    # a file name the file system gave undecoded (surrogate escapes) shows as U+FFFD
    page = page.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if path is None:
        return page
    with replaced_file(path, encoding="utf-8") as handle:  # a reader never sees half a page
        handle.write(page)
    return path
