"""The sections of the HTML report: its cards grouped by issue type, and the disputed
pairs a person checks (kept, though another class is more probable)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from ..base import ISSUE_TYPES

__all__ = ["SECTIONS", "disputed_positions", "grouped_cards", "read_issue_types"]

#: The sections of a page whose issues have an ``issue_type``: (type, heading, what to do).
SECTIONS = (
    ("label", "Wrong labels", "The label in the data is wrong; the suggested label is the likely right one."),
    ("outlier", "Images of no class",
     "These images fit none of the classes: remove them (or add their class) rather than relabel them."),
    ("unreadable", "Unreadable files", "These image files could not be read."),
    ("disputed", "Disputed: check these",
     "Kept, though another class is more probable: {shown} {total} such pairs. "
     "Whether they are wrong cannot be read off the images and labels alone, but you can tell: decide each "
     "card. If more than half of their labels are wrong, your annotators confused hard images, and flagging "
     "all {total} is the better verdict (ConsensusDetector(flag_disagreement=True), skclip-noise detect "
     "--flag-disagreement)."),
    ("ok", "Not flagged", "Kept as labelled."),
)


def read_issue_types(label_issues):
    """The ``issue_type`` column as strings, or None when there is none."""
    if "issue_type" not in label_issues.columns:
        return None
    types = label_issues["issue_type"].astype(str).to_numpy()
    unknown = sorted(set(types) - set(ISSUE_TYPES))
    if unknown:
        raise ValueError(
            f"label_issues['issue_type'] has {unknown[:3]}; it may only hold "
            f"{list(ISSUE_TYPES)} (a detector's label_issues_ does), or drop the column."
        )
    return types


def grouped_cards(cards, types, n_disputed=0):
    """The cards (worst first) in one section per issue type, in the order of SECTIONS."""
    sections = []
    for issue_type, heading, advice in SECTIONS:
        chosen = [card for card, kind in zip(cards, types) if kind == issue_type]
        if chosen:
            shown = "all" if len(chosen) == n_disputed else f"{len(chosen):,} drawn at random from the"
            advice = advice.format(shown=shown, total=f"{n_disputed:,}")
            # The review script counts the decided cards of this section and says what they decide.
            tally = (f'<p class="tally" id="disputed-tally" aria-live="polite">0 of {len(chosen):,} checked.</p>'
                     if issue_type == "disputed" else "")
            sections.append(
                f'<section class="group"><h2>{heading} <span class="count">{len(chosen):,}</span></h2>'
                f'<p class="advice">{html.escape(advice, quote=False)}</p>{tally}'
                f'<div class="grid">{"".join(chosen)}</div></section>'
            )
    return "".join(sections)


def _disputed_samples(disputed):
    """The sample ids of ``disputed``: rows of a DataFrame (their index), or the ids themselves."""
    if isinstance(disputed, pd.DataFrame):
        return disputed.index
    if isinstance(disputed, pd.Series):  # ids as values, or rows by their index? Ambiguous: refuse.
        raise TypeError(
            "disputed is a Series: pass the rows of disputed_pairs(...) (a DataFrame), their .index, or a list of "
            "sample ids (e.g. series.tolist())."
        )
    samples = np.asarray(disputed)
    if samples.ndim != 1:
        raise TypeError(f"disputed must be rows or a list of sample ids; got {type(disputed).__name__} {disputed!r}.")
    if samples.dtype == bool:
        raise TypeError("disputed is a boolean mask: pass the sample ids (label_issues.index[mask]) instead.")
    return pd.Index(samples)


def disputed_positions(label_issues, flagged, disputed, detector=None):
    """Positions of the ``disputed`` rows to check (index labels of ``label_issues``), and
    how many disputed pairs there are in all (the ``detector``'s, if given)."""
    from ..decisions import DISPUTED_SET_ATTR, disputed_pairs

    if flagged is None:
        raise ValueError("disputed needs label_issues with an is_label_issue column (a detector's label_issues_).")
    labels = _disputed_samples(disputed)
    if not label_issues.index.is_unique:
        raise ValueError(
            "disputed names samples by label_issues' index, which repeats sample ids; fit on data with a unique "
            "index (e.g. X.reset_index(drop=True)) to show disputed pairs."
        )
    positions = label_issues.index.get_indexer(labels)
    if (positions < 0).any():
        raise ValueError(
            f"disputed names samples that label_issues does not hold, e.g. {labels[positions < 0][0]!r}; pass rows "
            "of disputed_pairs(label_issues, n_checks=30), or their index."
        )
    if flagged[positions].any():
        raise ValueError(
            f"disputed holds flagged samples, e.g. {labels[flagged[positions]][0]!r}; disputed pairs are kept ones "
            "(disputed_pairs(label_issues, n_checks=30))."
        )
    known = disputed.attrs.get(DISPUTED_SET_ATTR) if isinstance(disputed, pd.DataFrame) else None
    if detector is None and known is not None:  # disputed_pairs' whole set: the detector's, at any threshold
        every = label_issues.index.get_indexer(pd.Index(known))
    else:
        every = label_issues.index.get_indexer(disputed_pairs(label_issues if detector is None else detector).index)
    undisputed = ~np.isin(positions, every)
    if undisputed.any():
        raise ValueError(
            f"disputed holds kept samples that are not disputed pairs, e.g. {labels[undisputed][0]!r}; pass rows of "
            "disputed_pairs(detector, n_checks=30)."
        )
    return np.unique(positions), len(every)
