"""Reading the CSV files people keep in spreadsheets: what Excel, LibreOffice or Google
Sheets save is read where it is unambiguous and refused, naming the fix, where it is not."""

from __future__ import annotations

import csv
import re

from ._files import replaced_file
from .data.labels import is_missing

__all__ = [
    "cell_text", "read_csv_table", "refuse_undecoded_cells", "spreadsheet_number_hint", "spreadsheet_safe",
    "write_csv_table",
]

#: The separators a spreadsheet writes between cells: comma, then a European locale's
#: semicolon, then a tab ("Text (Tab delimited)" saved under a .csv name).
_SEPARATORS = (",", ";", "\t")
_SAVE_AS_UTF8 = 'save it as UTF-8 ("CSV UTF-8" in Excel) and run again'
#: A byte that was not UTF-8, as ``surrogateescape`` decoding keeps it.
_UNDECODED = re.compile("[\udc80-\udcff]")
#: A spreadsheet runs a cell that starts with one of these as a formula (OWASP's "CSV
#: injection": a crawled class named ``=HYPERLINK(...)`` would send cells to a stranger).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: The mark that makes a spreadsheet show such a cell as text; the readers remove it.
TEXT_MARK = "'"
_PLAIN_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def read_csv_table(path, what, *, expected=(), as_text=False):
    """The CSV at ``path`` as a DataFrame, read as a spreadsheet saved it.

    - The separator is ``,``, or ``;`` or a tab where the header names the ``expected``
      columns only when split at that one (``path;label``).
    - Header names lose surrounding spaces (``path, label``) where no two then clash.
    - Columns with neither a header nor a value (the empty cells Excel writes to the right
      of a touched cell) are dropped.
    - Cells the library wrote through :func:`spreadsheet_safe` come back as the text they
      were (``'=x`` is ``=x``).
    - Cells that are not UTF-8 come back as their bytes (surrogate escapes), for file
      names an old share wrote; :func:`refuse_undecoded_cells` refuses them elsewhere.
    - Refused with one line naming the fix: UTF-16 or UTF-32 files, an Excel workbook, a
      header that is not UTF-8 or repeats a column.

    With ``as_text`` every cell is text (``"007"`` stays ``"007"``; an empty cell is ``""``).
    """
    import pandas as pd

    with open(path, "rb") as handle:
        first_line = handle.readline()
    if first_line.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):  # UTF-16 or UTF-32 byte-order marks
        raise ValueError(f"{path!r} is saved as UTF-16 or UTF-32; {_SAVE_AS_UTF8}.")
    if first_line.startswith(b"PK\x03\x04"):  # a zip: .xlsx and .ods workbooks are
        raise ValueError(f"{path!r} is a spreadsheet workbook, not a CSV file; {_SAVE_AS_UTF8}.")
    header_text = first_line.decode("utf-8-sig", "surrogateescape")
    if _UNDECODED.search(header_text):
        raise ValueError(f"{path!r} has a header that is not UTF-8 text (Windows-1252?); {_SAVE_AS_UTF8}.")
    separator, header = _separator_and_header(header_text, expected)
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        raise ValueError(f"{path!r} repeats the column(s) {repeated} in its header; keep one of each.")
    options = dict(sep=separator, encoding_errors="surrogateescape")
    try:
        table = (pd.read_csv(path, dtype=object, keep_default_na=False, **options) if as_text
                 else pd.read_csv(path, **options))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError) as exc:
        raise ValueError(f"Cannot read {path!r} as {what}: {exc}") from exc
    _remove_text_marks(table)
    stripped = [str(name).strip() for name in table.columns]
    if len(set(stripped)) == len(stripped):
        table.columns = stripped
    blank = [column for column in table.columns if str(column).startswith("Unnamed: ")
             and all(_is_empty(value) for value in table[column].tolist())]
    return table.drop(columns=blank)


def spreadsheet_safe(cell):
    """``cell`` as the library writes it to a CSV: text that a spreadsheet would run as a
    formula gets :data:`TEXT_MARK` first (so does text that already starts with the mark
    before such a character, so :func:`cell_text` gives back exactly ``cell``). Numbers,
    ``-2`` included, and other text are unchanged.

    Examples
    --------
    >>> [spreadsheet_safe(cell) for cell in ["=HYPERLINK(A1)", "-2", "cat"]]
    ["'=HYPERLINK(A1)", '-2', 'cat']
    >>> cell_text(spreadsheet_safe("@SUM(A1)"))
    '@SUM(A1)'
    """
    if isinstance(cell, str) and (_is_marked(cell) or cell.startswith(FORMULA_STARTS)
                                  and not _PLAIN_NUMBER.fullmatch(cell)):
        return TEXT_MARK + cell
    return cell


def cell_text(cell):
    """A CSV cell as :func:`spreadsheet_safe` wrote it, back as the text it was (a cell
    written by anything else is unchanged unless it starts with the mark before ``=``,
    ``+``, ``-``, ``@``, a tab, a carriage return or the mark)."""
    return cell[1:] if isinstance(cell, str) and _is_marked(cell) else cell


def _is_marked(cell):
    return cell[:1] == TEXT_MARK and cell[1:2] != "" and cell[1:2] in (*FORMULA_STARTS, TEXT_MARK)


def _holds_text(values):
    import pandas as pd

    dtype = values.dtype
    return isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype) \
        or pd.api.types.is_string_dtype(dtype)


def _remove_text_marks(table):
    """:func:`cell_text` on every text cell of ``table``, in place (columns with no mark are
    left as they are)."""
    import pandas as pd

    for column in table.columns:
        if _holds_text(table[column]):
            values = table[column].tolist()
            if any(isinstance(value, str) and _is_marked(value) for value in values):
                table[column] = pd.Series([cell_text(value) for value in values], index=table.index, dtype=object)


def write_csv_table(table, path, **options):
    """Write ``table`` (a DataFrame) to the CSV ``path`` as the library's outputs are written.

    - Text cells, the index's too, pass through :func:`spreadsheet_safe`: opened in a
      spreadsheet, no label or file name runs as a formula.
    - A file name that is not UTF-8 is written as its own bytes (surrogate escapes).
    - The file is written beside ``path`` and then moved over it: a link at ``path`` (say,
      one shipped with a colleague's files) is replaced, never written through, and no
      reader sees half a file.

    ``options`` go to :meth:`pandas.DataFrame.to_csv`.
    """
    import pandas as pd

    safe = table.copy()
    for column in safe.columns:
        if _holds_text(safe[column]):
            safe[column] = pd.Series([spreadsheet_safe(v) for v in safe[column].tolist()], index=safe.index,
                                     dtype=object)
    if _holds_text(safe.index):
        safe.index = pd.Index([spreadsheet_safe(v) for v in safe.index.tolist()], dtype=object, name=safe.index.name)
    with replaced_file(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        safe.to_csv(handle, **options)


def _is_empty(cell):
    return is_missing(cell) or str(cell).strip() == ""


def _separator_and_header(header_text, expected):
    """The separator, ``,`` unless the header names every ``expected`` column only when split
    at ``;`` or a tab, and the header's names split at it (without surrounding spaces)."""
    split = {separator: [name.strip() for name in next(csv.reader([header_text.rstrip("\r\n")], delimiter=separator), [])]
             for separator in _SEPARATORS}
    chosen = next((separator for separator in _SEPARATORS if expected and set(expected) <= set(split[separator])), ",")
    return chosen, split[chosen]


def refuse_undecoded_cells(table, columns, path):
    """Refuse cells of ``columns`` that are not UTF-8 text (read as surrogate escapes):
    labels from a CSV Excel saved as Windows-1252 would become classes no text can name."""
    for column in columns:
        if column not in table.columns:
            continue
        values = [str(value) for value in table[column].tolist()]  # Python strings: Arrow's refuse the escapes
        bad = [row for row, value in enumerate(values) if _UNDECODED.search(value)]
        if bad:
            row = bad[0]
            shown = values[row].encode("utf-8", "surrogateescape").decode("cp1252", "replace")
            raise ValueError(
                f"{path!r} line {row + 2}: the {column} {shown!r} is not UTF-8 text (Excel's plain \"CSV\" "
                f"saves Windows-1252); {_SAVE_AS_UTF8}."
            )


def spreadsheet_number_hint(written, expected):
    """The reason a spreadsheet gives for a cell ``written`` where ``expected`` was meant,
    or ``""``: leading zeros dropped (``007`` read as the number 7)."""
    written, expected = str(written), str(expected)
    if expected != written and expected.isdigit() and expected.lstrip("0") == written.lstrip("0") \
            and len(expected) > len(written):
        return (f" ({expected!r} written as {written!r}: a spreadsheet read it as a number and dropped its "
                "leading zeros; format that column as text, or export again)")
    return ""
