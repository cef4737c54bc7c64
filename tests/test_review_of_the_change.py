"""Defects introduced between 77121ca and HEAD, found reviewing that day's change.

Each test fails on HEAD and names what was right before (or what the new code promises),
what is wrong now, and where.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import image_files


def test_a_detectors_embedding_warning_points_at_the_users_line(tmp_path):
    """skclip_noise/_warnings.py:41-45 (warn_user, the loop at :42), new in f4b0be4, promises "the user's line,
    whatever the depth of the library's frames". It skips the library's frames once and then
    scikit-learn's wrappers once, so a path library -> sklearn wrapper -> library stops inside the
    library: a detector embeds through ``embedder.transform`` (base/estimator.py:329), which
    scikit-learn's set_output wraps (sklearn/utils/_set_output.py), so the embedder's warnings
    (here embedder.py:351, a cache_dir that cannot be used) are attributed to
    skclip_noise/base/estimator.py instead of the caller of ``fit``: ``filterwarnings(module=...)``
    and the once-per-location filter act on a library line. (ImageEmbedder.fit_transform called
    directly does point at the user's line.) Fix: skip our frames and the wrappers in one loop
    until a frame is neither."""
    from skclip_noise import NeighbourDetector

    paths = [str(path) for path in image_files(tmp_path / "images", 8)]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    detector = NeighbourDetector(backbone="open_clip:skclip-tiny", pretrained=None, device="cpu", n_neighbors=2,
                                 cache_dir=str(blocker / "cache"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detector.fit(paths, np.arange(8) % 2)
    cache_warnings = [w for w in caught if "cannot be used" in str(w.message)]
    assert cache_warnings, [str(w.message) for w in caught]
    assert [w.filename for w in cache_warnings] == [__file__] * len(cache_warnings)


def test_a_decided_image_that_is_gone_is_refused_not_moved_onto_its_namesake():
    """docs/user_guide/review.rst (b16a61c): with ``paths=`` "a decided image that is no longer
    there, or that two files could be, is refused", so that removed images "do not shift
    decisions onto other images". decisions.py:187-193 (_positions_by_path) falls back to ever
    shorter trailing parts of the exported path, down to folder and name, with no regard to how
    the other files matched: a data set listing /data/train/cat/1.png and /data/val/cat/1.png,
    whose train image was deleted (and left out of INPUT) after the report, gets the train
    image's "drop" applied to /data/val/cat/1.png, a different image that is still there (its
    full path would have matched it had it been decided). Fix: fall back to a shorter suffix only
    where the file's own full path is not among INPUT's paths' roots, e.g. work out one
    old-root -> new-root mapping from the rows (or require every row to match at the same
    length) and refuse a row that only matches below it."""
    from skclip_noise import apply_decisions

    decisions = pd.DataFrame(
        [["0", "cat", "drop", "", "/data/train/cat/1.png"]],
        columns=["sample", "given_label", "decision", "label", "path"],
    )
    y_now = np.array(["cat", "dog"])
    paths_now = ["/data/val/cat/1.png", "/data/val/dog/2.png"]  # /data/train/cat/1.png is gone
    with pytest.raises(ValueError, match="train/cat/1.png"):
        labels, keep = apply_decisions(y_now, decisions, paths=paths_now)
        # what happens instead: the drop lands on the val image
        assert keep.tolist() == [True, True], "the decision of a deleted image dropped another image"


def test_cli_main_run_in_overlapping_threads_leaves_pythons_warning_printer(monkeypatch):
    """cli.py:441-443 (56019f0/f4b0be4): main() now wraps every command in
    ``warnings.catch_warnings()`` and sets ``warnings.showwarning`` to its own printer. At
    77121ca main() touched neither. catch_warnings saves and restores the module's global
    state, which is not thread-safe: two main() calls overlapping in threads (A enters, B
    enters, A exits, B exits) restore A's printer last, so every later warning of the whole
    process, long after both commands ended, is printed as "skclip-noise apply: warning: ..."
    (and the filters are A's). Fix: install the printer only from the main thread (where the
    SIGTERM handler is installed, _cli_voice.terminate_as_interrupt), or route through a
    per-thread printer that restores nothing global."""
    import skclip_noise.cli as cli

    original = warnings.showwarning
    a_entered, b_entered, a_done = threading.Event(), threading.Event(), threading.Event()

    def handler_a(args):
        a_entered.set()
        b_entered.wait(10)
        return 0

    def handler_b(args):
        b_entered.set()
        a_done.wait(10)
        return 0

    handlers = {"A": handler_a, "B": handler_b}
    real_build = cli.build_parser

    def build_parser():
        parser = real_build()
        for action in parser._subparsers._group_actions:
            for command in action.choices.values():
                command.set_defaults(handler=handlers[threading.current_thread().name])
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)
    argv = ["apply", "input.csv", "decisions.csv"]

    def run_a():
        cli.main(argv)
        a_done.set()

    def run_b():
        a_entered.wait(10)
        cli.main(argv)

    threads = [threading.Thread(target=run_a, name="A"), threading.Thread(target=run_b, name="B")]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        left = warnings.showwarning
    finally:
        warnings.showwarning = original
    assert left is original, f"after both commands ended, warnings are printed by {left!r}"


def test_evaluate_shows_progress_for_a_loader_without_a_length():
    """training/loop.py:545 (progress_bar, 3a40413): ``total = len(batches) if
    hasattr(batches, "__len__") else None``. A DataLoader always has ``__len__``, but raises
    TypeError from it over an IterableDataset (a stream of batches). At 77121ca ``evaluate``
    (exported in training.loop.__all__) wrapped the loader in tqdm, which treats a failing
    len() as an unknown total; now ``evaluate(..., verbose=1)`` raises "object of type ... has
    no len()" before the first batch (as does Trainer._run_epoch's bar). Fix: try len() and
    fall back to None on TypeError."""
    from torch.utils.data import DataLoader, IterableDataset

    from skclip_noise.training.loop import evaluate

    class Stream(IterableDataset):
        def __iter__(self):
            for i in range(3):
                yield torch.full((2, 4), float(i))

    model = torch.nn.Linear(4, 2)
    out = evaluate(model, DataLoader(Stream(), batch_size=None), lambda batch: model(batch),
                   device=torch.device("cpu"), verbose=1)
    assert out.shape == (6, 2)
