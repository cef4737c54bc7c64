"""The command line's inputs: the demo's data set, the images and labels of ``detect`` (an
image folder or a CSV of path,label) and the caller's out-of-sample class probabilities
(``--pred-probs``), and the checks of its files and folders before any work."""

from __future__ import annotations

import os
import re
import textwrap

import numpy as np

from ._cli_outputs import THUMBNAILS
from ._csv import read_csv_table, refuse_undecoded_cells, spreadsheet_number_hint
from ._warnings import warn_user
from .data.labels import ROW_SUM_TOLERANCE, rows_sum_to_100

__all__ = ["check_images_readable", "check_output_dir", "load_demo_data", "read_detect_input", "read_pred_probs"]

#: An integer written plainly, in ASCII digits: "7", "-12"; not "07", "+7", "7.0" or "²".
_PLAIN_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)", re.ASCII)
#: How many unmatched paths or classes an error message names.
_SHOWN = 5
#: A Windows drive letter at the start of a path (or after the CSV's folder it was joined to).
_WINDOWS_DRIVE = re.compile(r"(^|/)[A-Za-z]:\\")


#: The files of a ``detect`` output folder: a subfolder of INPUT holding them is no class.
REPORT_FILES = ("label_issues.csv", "report.html")
#: The folders a run writes beside them: the report's thumbnails and the embedding cache.
REPORT_FOLDERS = (THUMBNAILS, "embeddings")


def read_detect_input(path, exclude=()):
    """X (paths), y (labels) and groups from an image folder or a CSV of path,label.

    ``groups`` holds the CSV's optional ``group`` column as int ids (an empty cell: a
    group of its own), or None (a folder, or no such column). A folder INPUT leaves out
    the folders ``exclude`` names (the command's own output and cache folders) and its
    subfolders that hold a report (:data:`REPORT_FILES`, an earlier run's output, whose
    thumbnails would be read as a class), so ``detect`` and ``apply`` list the same images.
    """
    import pandas as pd

    from .datasets import load_image_folder

    if os.path.isdir(path):
        with os.scandir(path) as entries:
            reports = [entry.path for entry in entries if entry.is_dir()
                       and all(os.path.isfile(os.path.join(entry.path, name)) for name in REPORT_FILES)]
        if all(os.path.isfile(os.path.join(path, name)) for name in REPORT_FILES):
            # INPUT was a run's --output-dir too: its thumbnails and cache are not classes
            reports += [os.path.join(path, name) for name in REPORT_FOLDERS]
        return (*load_image_folder(path, exclude=[folder for folder in exclude if folder] + reports), None)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"INPUT {path!r} is neither an image folder nor a CSV file.")
    # Cells as text: "01" and "1" stay two labels and "None" or "NA" is a label, not a missing cell.
    table = read_csv_table(path, "a CSV of path,label", expected=("path", "label"), as_text=True)
    missing = {"path", "label"} - set(table.columns)
    if missing:
        raise ValueError(
            f"{path!r} needs columns 'path' and 'label' (a header row); it lacks "
            f"{sorted(missing)} (columns: {list(table.columns)})."
        )
    if table.empty:
        raise ValueError(f"{path!r} has a header but no rows; list one image per line as path,label.")
    refuse_undecoded_cells(table, ("label", "group"), path)  # a file name may be any bytes, a class not
    empty = (table[["path", "label"]].apply(lambda column: column.str.strip()) == "").any(axis=1).to_numpy()
    if empty.any():
        rows = np.flatnonzero(empty)[:_SHOWN] + 2
        raise ValueError(f"{path!r} has empty path or label cells (lines {rows.tolist()}).")
    groups = None
    if "group" in table.columns:
        ids = table["group"].where(table["group"].str.strip() != "")
        try:  # numbers as numbers, as pandas reads them for the Python API
            ids = pd.to_numeric(ids)
        except (ValueError, TypeError):
            pass
        # numbered in sorted order, as the detector numbers groups= (the folds follow that order)
        groups = pd.factorize(ids, sort=True)[0]
        alone = groups < 0  # an empty cell
        groups[alone] = groups.max() + 1 + np.arange(alone.sum())
    paths = np.asarray(_resolved_paths(table["path"], path), dtype=object)
    repeated = pd.Series([os.path.normpath(p) for p in paths], dtype=object).duplicated(keep=False).to_numpy()
    if repeated.any():
        lines = np.flatnonzero(repeated)[:_SHOWN] + 2
        warn_user(
            f"{path!r} lists {int(repeated.sum())} rows whose image appears more than once (lines "
            f"{lines.tolist()}); copies of one image are judged as one, so keep one row per image.",
            UserWarning,
        )
    return paths, _labels_as_written(table["label"].to_numpy(dtype=object)), groups


def _labels_as_written(labels):
    """Text labels, or ints when every label is an integer written plainly ("7", "-2", not
    "07" or "7.0"): so labels 0..10 sort as numbers, as a classifier's classes_ do, and are
    written back exactly as they were read."""
    if all(_PLAIN_INTEGER.fullmatch(label) for label in labels):
        values = [int(label) for label in labels]
        if all(-2**63 <= value < 2**63 for value in values):
            return np.array(values, dtype=np.int64)
    return labels


def read_pred_probs(path, X, y, skip_missing=False):
    """The caller's out-of-sample class probabilities for ``detect``'s images, checked
    before any work: an (n_images, n_classes) float array, rows in X's order, columns in
    the sorted order of the labels in ``y`` (``ConsensusDetector.classes_``).

    ``path`` is either a ``.npy`` array already in that order, or a CSV with a ``path``
    column (relative paths are read from the CSV's folder, as INPUT's are) and one column
    per class, headed by the label as it appears in INPUT; each image of X has exactly
    one row, and the CSV has no other rows or class columns. With ``skip_missing``
    (``--skip-unreadable``), an image file that does not exist needs no row: it is
    skipped, and its row (uniform) is never read.
    """
    from .data.labels import check_pred_probs

    classes = np.unique(y)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--pred-probs {path!r} is not a file; pass a .npy array or a CSV of path,<classes>.")
    is_npy = path.lower().endswith(".npy")
    if is_npy:
        try:
            probs = np.load(path, allow_pickle=False)
        except ValueError as exc:  # not an .npy file, or one holding Python objects
            raise ValueError(f"--pred-probs {path!r} cannot be read as a numeric .npy array: {exc}") from exc
    else:
        probs = _pred_probs_from_csv(path, X, classes, skip_missing)
    try:
        return check_pred_probs(probs, n_samples=len(X), classes=classes)
    except ValueError as exc:
        hint = (" A .npy array's rows follow INPUT's images (a folder's: by class folder, then by path) and its "
                "columns the sorted class labels.") if is_npy else ""
        raise ValueError(f"--pred-probs {path!r}: {exc}{hint}") from exc


def _pred_probs_from_csv(path, X, classes, skip_missing=False):
    try:
        table = read_csv_table(path, "a CSV of path,<one column per class>", expected=("path",))
    except ValueError as exc:
        raise ValueError(f"--pred-probs {path!r} is neither a .npy array (written by np.save) nor a readable CSV of "
                         f"path,<one column per class>: {exc.__cause__ or exc}") from exc
    if "path" not in table.columns:
        raise ValueError(f"--pred-probs {path!r} needs a 'path' column (columns: {list(table.columns)[:10]}).")
    if table["path"].isna().any():
        lines = np.flatnonzero(table["path"].isna().to_numpy())[:_SHOWN] + 2
        raise ValueError(f"--pred-probs {path!r} has empty path cells (lines {lines.tolist()}); give every row its image.")
    index_columns = [str(column) for column in table.columns if str(column).startswith("Unnamed: ")]
    if index_columns:
        raise ValueError(f"--pred-probs {path!r} has a column without a header ({_listed(index_columns)}), such as "
                         "pandas writes for its index: write the CSV with to_csv(..., index=False), or drop it.")
    columns = {str(column): column for column in table.columns if column != "path"}
    names = [str(label) for label in classes]
    missing, extra = [n for n in names if n not in columns], sorted(set(columns) - set(names))
    # a class whose header a spreadsheet wrote as a number (007 as 7): named as such, never advised away
    renamed = {name: column for name in missing for column in extra if spreadsheet_number_hint(column, name)}
    others = [column for column in extra if column not in renamed.values()]
    if missing or extra:
        raise ValueError(
            f"--pred-probs {path!r} needs one column per class of INPUT, headed by its label: "
            + "; ".join(part for part in (
                f"missing {_listed(missing)}" if missing else "",
                f"not a class of INPUT: {_listed(extra)}" if extra else "",
            ) if part) + "."
            + "".join(spreadsheet_number_hint(column, name) for name, column in list(renamed.items())[:1])
            + (" Drop the columns of classes no image is labelled with and divide each row by its new sum; in "
               "Python, skclip_noise.find_label_issues(labels, pred_probs, features=...) takes them." if others else "")
        )
    rows_by_path = {}
    for row, image in enumerate(_resolved_paths(table["path"], path)):
        if rows_by_path.setdefault(os.path.normpath(image), row) != row:
            raise ValueError(f"--pred-probs {path!r} has two rows for {image!r}; keep one row per image.")
    wanted = [os.path.normpath(str(image)) for image in X]
    unmatched = [image for image in wanted if image not in rows_by_path]
    absent = {image for image in unmatched if not os.path.exists(image)} if skip_missing else set()
    unmatched = [image for image in unmatched if image not in absent]
    if unmatched:
        raise ValueError(
            f"--pred-probs {path!r} has no row for {len(unmatched)} of INPUT's {len(X)} images "
            f"({_listed(unmatched)}); relative paths are read from the CSV's folder."
        )
    if len(rows_by_path) > len(wanted) - len(absent):
        others = sorted(set(rows_by_path) - set(wanted))
        raise ValueError(
            f"--pred-probs {path!r} has rows for {len(others)} images that are not in INPUT ({_listed(others)}); "
            "pass the probabilities of INPUT's images only."
        )
    order = [rows_by_path.get(image, -1) for image in wanted]  # -1: a skipped missing image
    values = table[[columns[name] for name in names]]
    if not all(dtype.kind in "iuf" for dtype in values.dtypes):
        raise ValueError(f"--pred-probs {path!r}: the class columns must hold numbers only; {_first_text_cell(values)}.")
    if values.isna().any().any():
        lines = np.flatnonzero(values.isna().any(axis=1).to_numpy())[:_SHOWN] + 2
        raise ValueError(f"--pred-probs {path!r} has empty class cells (lines {lines.tolist()}).")
    probs = values.to_numpy(dtype=np.float64)
    sums = probs.sum(axis=1)
    off = ~np.isfinite(sums) | (np.abs(sums - 1.0) > ROW_SUM_TOLERANCE)
    if off.any() and not rows_sum_to_100(probs):  # percentages: read_pred_probs says so
        lines = np.flatnonzero(off)[:_SHOWN] + 2
        raise ValueError(f"--pred-probs {path!r}: rows must sum to 1 (finite probabilities); lines "
                         f"{lines.tolist()} do not (line {lines[0]} sums to {sums[lines[0] - 2]:.4g}).")
    ordered = probs[order]
    ordered[np.asarray(order) < 0] = 1.0 / len(names)  # never read: the image is skipped
    return ordered


def _first_text_cell(values):
    """Where the first cell of ``values`` that is not a number is, and what it holds."""
    import pandas as pd

    for position, column in enumerate(values.columns):
        cells = values[column]
        text = cells.notna() & pd.to_numeric(cells, errors="coerce").isna()
        if text.any():
            row = int(np.flatnonzero(text.to_numpy())[0])
            value = str(cells.iloc[row])
            decimal = (" (a decimal comma: write numbers with a decimal point, as an English-locale spreadsheet "
                       "saves them)") if re.fullmatch(r"\s*-?\d*,\d+\s*", value) else ""
            return f"line {row + 2}, column {str(column)!r} holds {value!r}{decimal}"
    return "a cell holds text"


def _resolved_paths(paths, csv_path):
    """Each path of a CSV, relative ones from its folder; a relative path written on Windows
    (``cat\\0.png``) is the file with ``/`` where only that one exists."""
    base = os.path.dirname(os.path.abspath(csv_path))
    resolved = []
    for path in map(str, paths.tolist()):
        full = path if os.path.isabs(path) else os.path.join(base, path)
        if os.sep == "/" and "\\" in path and not _WINDOWS_DRIVE.match(path) and not os.path.exists(full):
            forward = path.replace("\\", "/")
            forward = forward if os.path.isabs(forward) else os.path.join(base, forward)
            full = forward if os.path.exists(forward) else full
        resolved.append(full)
    return resolved


def _listed(items):
    items = list(items)
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(map(repr, items[:_SHOWN])) + more


def check_output_dir(path, flag="--output-dir"):
    """Create ``path`` and check that files can be written there, before any work.

    Raises ``ValueError`` (one line) when it is a file, or cannot be created or written.
    """
    from ._files import probe_writable_folder

    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path!r} is a file, not a folder; pass a folder (it is created if missing).")
    try:
        probe_writable_folder(path)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(
            f"{flag} {path!r}: cannot write there ({reason}); pass a folder you can write to."
        ) from exc


def check_images_readable(paths, *, show=5, in_folder=False):
    """Check every image file once, before any work; one ``ValueError`` naming the files
    that cannot be read.

    The check reads each file's header and structure (PIL's ``verify()``) and decodes
    in full only a JPEG that does not end like a complete one, so a JPEG cut short is
    named here too (:func:`skclip_noise.data.decoding.quick_check_image_file`).
    ``in_folder``: the paths were listed from an image folder, not read from a CSV.
    """
    from .data.decoding import quick_check_image_file, warn_if_truncated_images_accepted

    skip = "or run with --skip-unreadable to go on without them (listed in unreadable.csv)"
    missing = [str(path) for path in paths if not os.path.isfile(path)]
    if missing:
        more = f" and {len(missing) - show} more" if len(missing) > show else ""
        fix = ("Remove the broken links (or restore the files they point to)" if in_folder else
               "Fix the paths (relative ones are read from the CSV's folder)")
        windows = [path for path in missing if "\\" in os.path.basename(path) or _WINDOWS_DRIVE.search(path)]
        if windows and os.sep == "/":
            fix += (f"; {windows[0]!r} is a Windows path (a drive letter or backslashes): write the paths with '/', "
                    "relative to the CSV's folder")
        raise ValueError(
            f"{len(missing)} of {len(paths)} image files do not exist: {', '.join(missing[:show])}{more}. "
            f"{fix} and run again, {skip}."
        )
    warn_if_truncated_images_accepted()
    bad = []
    for path in paths:
        reason = quick_check_image_file(path)
        if reason is not None:
            bad.append(f"{path} ({textwrap.shorten(reason, 100, placeholder=' ...')})")
    if bad:
        more = f" and {len(bad) - show} more" if len(bad) > show else ""
        raise ValueError(
            f"{len(bad)} of {len(paths)} images cannot be read: {'; '.join(bad[:show])}{more}. "
            f"Remove or replace them{'' if in_folder else ' (or drop their rows from the CSV)'} and run again, {skip}."
        )


#: Images of each demo data set (Fashion-MNIST: its training subset).
_DEMO_SIZES = {"digits": 1797, "fashion-mnist": 60000}


def _check_demo_size(args, n_classes):
    """Refuse an ``--n-samples`` the data set cannot give, before any work."""
    n, size = args.n_samples, _DEMO_SIZES[args.dataset]
    if n is not None and n < n_classes:
        raise ValueError(f"--n-samples {n} is fewer than the {n_classes} classes of {args.dataset}: pass at least "
                         f"{n_classes} (one image per class; a few hundred give meaningful numbers).")
    if n is not None and n > size:
        raise ValueError(f"--n-samples {n} exceeds the {size:,} images of {args.dataset}: pass at most {size}, or "
                         "leave it out.")


def load_demo_data(args):
    """The demo's images, labels and class names: digits, or a stratified draw of
    Fashion-MNIST's training images, ``--n-samples`` of them when given."""
    from . import datasets

    classes = datasets.DIGITS_CLASSES if args.dataset == "digits" else datasets.FASHION_MNIST_CLASSES
    _check_demo_size(args, len(classes))
    if args.dataset == "digits":
        X, y = datasets.load_digits_images()
        if args.n_samples is not None:
            X, y = _stratified_subset(X, y, args.n_samples, args.random_state)
        return X, y, classes
    n = 2000 if args.n_samples is None else args.n_samples
    X, y = datasets.load_fashion_mnist(subset="train", n_samples=n, random_state=args.random_state)
    return X, y, classes


def _stratified_subset(X, y, n, random_state):
    from sklearn.model_selection import train_test_split

    if not 0 < n < len(y):
        return X, y
    keep, _ = train_test_split(
        range(len(y)), train_size=n, stratify=y, random_state=random_state
    )
    keep = sorted(keep)
    return X[keep], y[keep]
