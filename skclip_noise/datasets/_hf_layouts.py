"""The layouts of Hugging Face's ``imagefolder`` that a folder of class subfolders would
misread: split folders (``root/train/<class>/...``) and labels kept in a metadata file."""

from __future__ import annotations

import csv
import json
import os

__all__ = ["refuse_hugging_face_layouts"]


#: Folder names of a data set's splits (Hugging Face's imagefolder reads them as splits).
_SPLIT_NAMES = frozenset({"train", "training", "test", "testing", "validation", "val", "valid", "dev", "eval"})
#: Where Hugging Face's imagefolder keeps labels beside the images.
_HF_METADATA = ("metadata.csv", "metadata.jsonl")


def refuse_hugging_face_layouts(root, classes, files):
    """Refuse the two layouts of Hugging Face's imagefolder that would read as other classes:
    split folders (``root/train/<class>/...``: the labels would be "train" and "test") and
    labels kept in ``metadata.csv`` / ``metadata.jsonl`` (``file_name``, ``label``)."""
    splits = [name for name in classes if name.lower() in _SPLIT_NAMES]
    if splits and len(splits) == len(classes) and any(_has_subfolders(os.path.join(root, split)) for split in splits):
        raise ValueError(
            f"Image folder {root!r} holds the split folders {splits}, each with class subfolders; "
            f"pass one split, e.g. {os.path.join(root, splits[0])!r} (its subfolders are the classes)."
        )
    for name in _HF_METADATA:
        if name in files and "label" in _metadata_columns(os.path.join(root, name)):
            raise ValueError(
                f"Image folder {root!r} keeps its labels in {name} (Hugging Face's imagefolder: file_name, "
                "label), which class folders would silently override. Write them as a CSV of path,label "
                "(rename file_name to path; paths are read from the CSV's folder) and pass that CSV instead."
            )


def _has_subfolders(folder):
    with os.scandir(folder) as entries:
        return any(entry.is_dir() and not entry.name.startswith(".") for entry in entries)


def _metadata_columns(path):
    """The column names of a ``metadata.csv`` (its header) or ``metadata.jsonl`` (its first record)."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        first = handle.readline()
    if path.endswith(".csv"):
        return [name.strip() for name in next(csv.reader([first]), [])]
    try:
        record = json.loads(first)
    except ValueError:
        return []
    return list(record) if isinstance(record, dict) else []
