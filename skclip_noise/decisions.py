"""From a person's review to corrected labels: read ``decisions.csv`` and apply it.

The HTML report (:func:`skclip_noise.report.label_issues_html`) lets a person decide,
card by card, to keep a given label, relabel the sample or drop it, and exports the
decisions as ``decisions.csv``:

==============  ==============================================================
``sample``      the sample, as in ``label_issues.csv``: its index (a position, or
                the index of a pandas input) or its path
``given_label`` the label in the data when the report was made
``decision``    ``keep``, ``relabel`` or ``drop``
``label``       the final label (the given one for ``keep``), empty for ``drop``
``path``        optional: the image's file, where the report was made on paths
==============  ==============================================================

With ``path``, the decisions follow their images: ``skclip-noise apply`` (or
:func:`apply_decisions` with ``paths=``) matches each row by its file, so images added
to or removed from the folder since the report do not shift them onto others.

:func:`apply_decisions` turns that file and the labels into corrected labels and the
mask of samples to keep; ``skclip-noise apply`` does the same for an image folder or a
``path,label`` CSV and writes the corrected ``path,label`` CSV.

A person also decides what no detector can read off the data: whether the wrong labels
sit on the hard images. :func:`disputed_pairs` draws the pairs to check for that.
"""

from __future__ import annotations

import numbers
import os
import re

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._csv import cell_text, read_csv_table, refuse_undecoded_cells, spreadsheet_number_hint
from ._detector_inputs import check_fitted, is_detector, issue_flags
from .data.labels import check_labels, label_text

__all__ = [
    "DECISION_COLUMNS", "DECISIONS", "DISPUTED_CHECKS", "PATH_COLUMN", "apply_decisions", "disputed_pairs",
    "read_decisions",
]

#: The columns of ``decisions.csv``, in order.
DECISION_COLUMNS = ("sample", "given_label", "decision", "label")
#: Its optional last column: each sample's image file (a report made on paths exports it).
PATH_COLUMN = "path"
#: The values of its ``decision`` column.
DECISIONS = ("keep", "relabel", "drop")
#: How many disputed pairs to check by hand before deciding ``flag_disagreement``.
DISPUTED_CHECKS = 30


def read_decisions(decisions):
    """Read a review's ``decisions.csv`` and check its columns.

    Parameters
    ----------
    decisions : str, path-like or pandas DataFrame
        The exported file, or a DataFrame with its columns.

    Returns
    -------
    table : pandas DataFrame
        The columns ``sample, given_label, decision, label`` (and ``path`` where the
        file has it), every cell as text (labels ``"07"`` and ``"7"`` stay apart; an
        empty cell is ``""``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it cannot be read as CSV or lacks a column (named).

    Examples
    --------
    >>> import io
    >>> from skclip_noise.decisions import read_decisions
    >>> text = "sample,given_label,decision,label\\n4,07,relabel,1\\n9,3,drop,\\n"
    >>> read_decisions(io.StringIO(text)).to_dict("list")
    {'sample': ['4', '9'], 'given_label': ['07', '3'], 'decision': ['relabel', 'drop'], 'label': ['1', '']}
    """
    return _read_decisions(decisions)[0]


def _read_decisions(decisions):
    """:func:`read_decisions` and the name of the source, for error messages."""
    if isinstance(decisions, pd.DataFrame):
        table, source = decisions.copy(), "decisions"
        text = [column for column in table.columns if not pd.api.types.is_numeric_dtype(table[column])]
        table[text] = table[text].map(cell_text)  # the export read with pandas keeps the spreadsheet marks
        floats = [column for column in DECISION_COLUMNS
                  if column in table.columns and pd.api.types.is_float_dtype(table[column])]
        if floats:  # pd.read_csv makes a column with empty cells float: label 4 would read "4.0"
            raise ValueError(
                f"the decisions' column(s) {floats} hold numbers, not text; read the file with "
                "read_decisions(path) (or pd.read_csv(path, dtype=str, keep_default_na=False))."
            )
    else:
        is_file = hasattr(decisions, "read")
        source = getattr(decisions, "name", "decisions") if is_file else os.fspath(decisions)
        if not is_file and not os.path.isfile(source):
            raise FileNotFoundError(f"{source!r} does not exist; export it from the report (Export decisions).")
        if is_file:
            try:
                table = pd.read_csv(decisions, dtype=str, keep_default_na=False)
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
                raise ValueError(f"Cannot read {source!r} as a decisions CSV: {exc}") from exc
            table = table.map(cell_text)
        else:
            table = read_csv_table(source, "a decisions CSV", expected=DECISION_COLUMNS, as_text=True)
            refuse_undecoded_cells(table, ("given_label", "label", "decision"), source)
    missing = [column for column in DECISION_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(
            f"{source!r} needs the columns {list(DECISION_COLUMNS)} (the report's export); it lacks "
            f"{missing} (columns: {list(table.columns)})."
        )
    columns = list(DECISION_COLUMNS) + ([PATH_COLUMN] if PATH_COLUMN in table.columns else [])
    table = table[columns].fillna("").astype(str).reset_index(drop=True)  # index: the row's line - 2
    # a row whose every cell is empty (a spreadsheet's cleared row) decides nothing
    return table[(table.apply(lambda column: column.str.strip()) != "").any(axis=1)], source


def _line(table, row):
    """The file's line of the table's ``row`` (the header is line 1; rows left out keep
    the later lines their numbers)."""
    return f"line {table.index[row] + 2}"


def _where(source, table, row, sample):
    return f"{source!r} {_line(table, row)} (sample {sample!r})"


def _positions_by_sample(table, source, identifiers):
    """Each row's position in ``y``, matched by its ``sample`` column."""
    position_of = {identifier: position for position, identifier in enumerate(identifiers)}
    if len(position_of) != len(identifiers):
        raise ValueError("the sample identifiers (y's index, or samples=) must be unique to match decisions to samples.")
    positions = np.empty(len(table), dtype=np.int64)
    for row, sample in enumerate(table["sample"]):
        if sample not in position_of:
            raise ValueError(
                f"{_where(source, table, row, sample)}: no such sample among the {len(identifiers)} labels given; "
                "the decisions belong to another data set, or pass samples= (e.g. the image paths) to match them."
            )
        positions[row] = position_of[sample]
    return positions


def _path_parts(path):
    """A file's path as the report shows it (a name that is not UTF-8 with U+FFFD), in
    parts, split at ``/`` and ``\\`` alike, without a drive letter."""
    shown = os.fspath(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    parts = [part for part in re.split(r"[\\/]+", shown) if part not in ("", ".")]
    if parts and re.fullmatch(r"[A-Za-z]:", parts[0]):
        parts = parts[1:]
    return tuple(parts)


def _is_absolute(path):
    return os.path.isabs(path) or bool(re.match(r"([A-Za-z]:)?[\\/]", path))


def _positions_by_path(table, source, paths):
    """Each row's position in ``y``, matched by its ``path`` column against ``paths``.

    The report writes each path as ``detect`` was given INPUT. An absolute one must be
    one of ``paths`` (made absolute here); a relative one (``photos/cat/3.png``, relative
    to wherever ``detect`` ran) matches the one file whose path ends with all its parts.
    Anything else is refused, never moved onto a namesake: an image deleted since the
    report may have one in another folder (the message names it, for a folder that was
    moved)."""
    files = [_path_parts(os.path.abspath(os.fspath(path))) for path in paths]
    by_suffix = {}  # suffix length -> {trailing parts: positions}, built as rows need them

    def having(suffix):
        index = by_suffix.get(len(suffix))
        if index is None:
            index = by_suffix[len(suffix)] = {}
            for position, parts in enumerate(files):
                if len(parts) >= len(suffix):
                    index.setdefault(parts[-len(suffix):], []).append(position)
        return index.get(suffix, ())

    positions = np.empty(len(table), dtype=np.int64)
    for row, (sample, path) in enumerate(zip(table["sample"], table[PATH_COLUMN])):
        parts = _path_parts(path)
        candidates = having(parts)
        if _is_absolute(path):
            candidates = [position for position in candidates if len(files[position]) == len(parts)]
        if len(candidates) != 1:
            found = (f"matches {len(candidates)} of INPUT's images" if candidates else
                     f"is not among the {len(files)} images given")
            namesakes = having(parts[-2:]) if len(parts) >= 2 else ()
            hint = ("" if candidates or len(namesakes) != 1 else
                    f" (INPUT has {os.sep.join(('',) + files[namesakes[0]])!r}: if its folder was moved, write the "
                    "new folder into the path column)")
            raise ValueError(
                f"{_where(source, table, row, sample)}: its image {path!r} {found}{hint}; the decisions were made "
                "on another folder, or the image was moved, renamed or deleted since the report."
            )
        positions[row] = candidates[0]
    return positions


def _check_rows(table, source, positions, given_text, class_text):
    """Raises on the first row that does not fit ``y`` (``positions``: each row's sample in ``y``)."""
    seen = {}
    for row, (sample, given, decision, label) in enumerate(table[list(DECISION_COLUMNS)].itertuples(index=False)):
        where = _where(source, table, row, sample)
        position = positions[row]
        if position in seen:
            raise ValueError(
                f"{where}: the sample is decided twice (also on {_line(table, seen[position])}); keep one row."
            )
        seen[position] = row
        if given != given_text[position]:
            hint = spreadsheet_number_hint(given, given_text[position])
            raise ValueError(
                f"{where}: its given label is {given!r} in the file but {given_text[position]!r} in y"
                + (hint + "." if hint else "; the decisions were made on other labels.")
            )
        if decision not in DECISIONS:
            raise ValueError(f"{where}: decision {decision!r} is not one of {list(DECISIONS)}.")
        if decision == "drop" and label:
            raise ValueError(f"{where}: a dropped sample has no label; leave the label cell empty (it holds {label!r}).")
        if decision == "keep" and label != given:
            raise ValueError(f"{where}: 'keep' keeps the given label {given!r}, but the label cell says {label!r}.")
        if decision == "relabel" and label not in class_text:
            shown = sorted(class_text)[:10]
            hint = next((spreadsheet_number_hint(label, name) for name in class_text
                         if spreadsheet_number_hint(label, name)), "")
            raise ValueError(
                f"{where}: {label!r} is not a class of y ({shown}{' ...' if len(class_text) > 10 else ''})"
                + (hint + "." if hint else "; a new class cannot be introduced by relabelling.")
            )


def apply_decisions(y, decisions, *, samples=None, paths=None):
    """Corrected labels and the mask of samples to keep, from a review's ``decisions.csv``.

    Samples without a row keep their label and are kept. ``relabel`` sets the row's
    label, ``keep`` changes nothing, ``drop`` leaves the label as given but takes the
    sample out of the mask. The file must fit ``y``: every ``sample`` must be one of
    ``y``'s samples (decided once), its ``given_label`` must be ``y``'s label there (the
    decisions were made on these labels), and every new label one of ``y``'s classes;
    otherwise a ``ValueError`` names the line. ``y`` is not modified.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The labels the report was made on. A pandas Series is matched by its index (as
        ``label_issues_`` is indexed like the input), anything else by position.
    decisions : str, path-like, file or pandas DataFrame
        The exported ``decisions.csv`` (columns ``sample,given_label,decision,label``,
        and ``path`` from a report made on image paths).
    samples : array-like of shape (n_samples,), default=None
        The identifiers of ``y``'s samples as the file's ``sample`` column holds them,
        e.g. the image paths; None: the index of a Series ``y``, else the positions.
    paths : array-like of shape (n_samples,), default=None
        The image file of each of ``y``'s samples. With a file that has the ``path``
        column, each row is matched by its image instead of ``sample``, so a folder
        listed again after images were added or removed still gets each decision on its
        own image: an absolute path must be one of ``paths`` (relative ones are made
        absolute), a relative one matches the file whose path ends with all its parts. A
        row that matches no file, or two, is refused, never moved onto a namesake in
        another folder. Ignored for a file without that column.

    Returns
    -------
    labels : ndarray or Series of shape (n_samples,)
        The corrected labels, of ``y``'s type (a Series keeps its index).
    keep : ndarray of bool, shape (n_samples,)
        False for the dropped samples.

    Examples
    --------
    >>> import pandas as pd
    >>> from skclip_noise import apply_decisions
    >>> y = ["cat", "dog", "dog", "cat"]
    >>> decisions = pd.DataFrame({"sample": ["1", "3"], "given_label": ["dog", "cat"],
    ...                           "decision": ["relabel", "drop"], "label": ["cat", ""]})
    >>> labels, keep = apply_decisions(y, decisions)
    >>> labels.tolist(), keep.tolist()
    (['cat', 'cat', 'dog', 'cat'], [True, True, True, False])
    """
    if isinstance(decisions, pd.DataFrame) and np.asarray(y).dtype.kind not in "iub":
        numbers = [column for column in ("given_label", "label")
                   if column in decisions.columns and pd.api.types.is_numeric_dtype(decisions[column])]
        if numbers:  # "01" and "1", two labels of y, read as one number
            raise ValueError(
                f"the decisions' column(s) {numbers} hold numbers, but y's labels are not; read the file with "
                "read_decisions(path) (or pd.read_csv(path, dtype=str, keep_default_na=False))."
            )
    table, source = _read_decisions(decisions)
    return _apply_decision_table(y, table, source, samples, paths)


def _one_per_label(name, values, n_labels):
    values = np.asarray(values)
    if len(values) != n_labels:
        raise ValueError(f"{name} has {len(values)} entries but y has {n_labels}; one per label.")
    return values


def _apply_decision_table(y, table, source, samples=None, paths=None):
    """:func:`apply_decisions` on a table :func:`_read_decisions` already read from ``source``."""
    series = y if isinstance(y, pd.Series) else None
    values = np.asarray(y)
    if values.ndim != 1:
        raise ValueError(f"y must be 1-D, one label per sample; got shape {values.shape}.")
    if paths is not None and PATH_COLUMN in table.columns and (table[PATH_COLUMN] != "").all():
        positions = _positions_by_path(table, source, _one_per_label("paths", paths, len(values)))
    else:
        if samples is None:
            identifiers = series.index if series is not None else np.arange(len(values))
        else:
            identifiers = _one_per_label("samples", samples, len(values))
        positions = _positions_by_sample(table, source, [str(identifier) for identifier in identifiers])
    # The labels as the detectors read them (2.0 as 2, b"cat" as "cat"), in the report's text.
    read = check_labels(values, name="y")
    given_text = [label_text(label) for label in read]
    _, first = np.unique(read, return_index=True)
    class_of_text = {given_text[position]: values[position] for position in first}
    _check_rows(table, source, positions, given_text, class_of_text)

    labels = values.copy()
    keep = np.ones(len(values), dtype=bool)
    relabel = (table["decision"] == "relabel").to_numpy()
    if relabel.any():
        # Every new label is one of y's own classes, so it fits y's dtype as it is.
        labels[positions[relabel]] = [class_of_text[text] for text in table["label"].to_numpy()[relabel]]
    keep[positions[(table["decision"] == "drop").to_numpy()]] = False
    if series is not None:  # its own dtype (categorical, nullable, string) back
        labels = pd.Series(labels, index=series.index, name=series.name).astype(series.dtype)
    return labels, keep


#: The ``attrs`` key of :func:`disputed_pairs`' result that holds every disputed pair's index.
DISPUTED_SET_ATTR = "disputed_pairs"


def disputed_pairs(label_issues, *, n_checks=None, random_state=None):
    """The kept pairs whose most probable class is another: what ``flag_disagreement`` adds.

    Whether a data set's wrong labels sit on its hard images (annotators who confuse
    similar classes) or anywhere cannot be read off the images and labels: an ambiguous
    image with a plausible label looks the same whether someone flipped it or not. It
    decides whether :class:`~skclip_noise.ConsensusDetector`'s ``flag_disagreement``
    helps, and a person can tell it from a few of these pairs: check
    ``n_checks=DISPUTED_CHECKS`` (30) of them, drawn at random, and when more than half
    of their labels are wrong, flag them all (``flag_disagreement=True``, or
    ``skclip-noise detect --flag-disagreement``). Measured on 96 benchmark draws, that
    choice came within 0.0033 clean F1 of the better setting (user guide, "Hard images").

    Parameters
    ----------
    label_issues : fitted detector or pandas DataFrame
        A fitted :class:`~skclip_noise.ConsensusDetector`: exactly the pairs its
        ``flag_disagreement=True`` adds (kept, though the given label's share against
        its strongest rival class is at most its ``threshold``; none when its features
        carry no evidence, ``evidence_gain_`` not above zero, or when it flags them
        already).
        Or a detector's ``label_issues_`` (or any detector), with the columns
        ``is_label_issue``, ``given_label`` and ``predicted_label``: the kept pairs
        whose ``predicted_label`` is another, which is the same set for a
        ConsensusDetector at ``threshold=0.5`` with evidence. Pass the detector
        itself where you have it.
    n_checks : int or None, default=None
        Draw this many at random (all of them when there are fewer). None: every
        disputed pair.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    disputed : pandas DataFrame
        Those rows of ``label_issues`` (its index and columns), in its order. Its
        ``attrs["disputed_pairs"]`` holds the index of every disputed pair, drawn or not:
        the report counts them and accepts rows of that set.

    Examples
    --------
    >>> import pandas as pd
    >>> from skclip_noise.decisions import disputed_pairs
    >>> issues = pd.DataFrame({"is_label_issue": [False, False, True, False],
    ...                        "given_label": ["cat", "dog", "dog", "cat"],
    ...                        "predicted_label": ["cat", "cat", "cat", "dog"]})
    >>> disputed_pairs(issues).index.tolist()
    [1, 3]
    >>> len(disputed_pairs(issues, n_checks=1, random_state=0))
    1

    A fitted detector's disputed pairs, and its verdicts with them flagged:

    >>> import numpy as np
    >>> from skclip_noise import ConsensusDetector, make_noisy_labels
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 100)
    >>> X = np.eye(3)[y] + rng.normal(size=(300, 3))
    >>> y_noisy, _ = make_noisy_labels(y, "symmetric", 0.2, random_state=0)
    >>> detector = ConsensusDetector(random_state=0).fit(X, y_noisy)
    >>> disputed = disputed_pairs(detector)
    >>> clean = detector.clean_mask_ & ~detector.label_issues_.index.isin(disputed.index)
    >>> bool(np.array_equal(
    ...     clean, ConsensusDetector(flag_disagreement=True, random_state=0).fit(X, y_noisy).clean_mask_))
    True
    """
    if n_checks is not None and (
        isinstance(n_checks, bool) or not isinstance(n_checks, numbers.Integral) or n_checks < 1
    ):
        raise ValueError(f"n_checks must be a positive int or None (every disputed pair); got {n_checks!r}.")
    random_state = check_random_state(random_state)
    if is_detector(label_issues):
        detector = check_fitted(label_issues, "label_issues_")
        label_issues = detector.label_issues_
        disputed = detector._disputed_mask() if hasattr(detector, "_disputed_mask") else None
    else:
        disputed = None
    if not isinstance(label_issues, pd.DataFrame):
        raise TypeError(
            f"label_issues must be a fitted detector or its label_issues_ DataFrame; got {type(label_issues).__name__}."
        )
    if disputed is None:
        missing = [c for c in ("is_label_issue", "given_label", "predicted_label") if c not in label_issues.columns]
        if missing:
            raise ValueError(f"label_issues lacks the column(s) {missing}; pass a detector's label_issues_.")
        disagree = (label_issues["predicted_label"] != label_issues["given_label"]).to_numpy(dtype=bool, na_value=False)
        disputed = ~issue_flags(label_issues) & disagree
    positions = np.flatnonzero(disputed)
    every = label_issues.index[positions]
    if n_checks is not None and n_checks < len(positions):
        positions = np.sort(random_state.choice(positions, n_checks, replace=False))
    drawn = label_issues.iloc[positions].copy()
    # The whole set, for the report (away from threshold 0.5 label_issues_ alone cannot tell it).
    drawn.attrs[DISPUTED_SET_ATTR] = tuple(every.tolist())  # a tuple: pandas compares attrs when it combines frames
    return drawn
