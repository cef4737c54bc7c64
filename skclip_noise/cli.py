"""The ``skclip-noise`` command line.

``skclip-noise detect INPUT`` finds suspected label errors in an image folder
(``root/<class>/<image>``) or a CSV of ``path,label`` rows and writes
``label_issues.csv`` and a self-contained ``report.html`` (with the consensus
detector, 30 of its *disputed* labels to check by hand: kept, though another class is
more probable; see ``--flag-disagreement``). Every image file is
checked before any work and a file that cannot be read stops the run, naming it;
with ``--skip-unreadable`` the run goes on without such files and lists them,
with the reason, in ``unreadable.csv``. ``--pred-probs FILE`` adds a model's
out-of-sample class probabilities of the images to the consensus detector's
evidence (read and checked before any image is).

``skclip-noise apply INPUT DECISIONS`` applies the decisions exported from the
report's review (``decisions.csv``) to the same INPUT and writes the corrected
``path,label`` CSV, without the dropped images.

``skclip-noise demo`` runs the whole journey on local data with real local weights:
load a real image data set, inject label noise, detect it, print the detection
report against the known truth and write the same two files.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import warnings

from ._cli_inputs import (
    check_images_readable,
    check_output_dir,
    load_demo_data,
    read_detect_input,
    read_pred_probs,
)
from ._cli_options import (
    FLAG_DETECTORS,
    HelpFormatter,
    RecordGiven,
    add_detector_arguments,
    check_flag_values,
    number_type,
    paths_taken_for_options,
    warn_unused_flags,
)
from ._cli_voice import (
    Terminated, as_flags, in_the_commands_words, on_terminal, silence_stdout, terminate_as_interrupt,
)
from ._cli_outputs import DEMO_OUTPUTS, DETECT_OUTPUTS, RunOutputs
from ._csv import read_csv_table, write_csv_table
from ._shown_text import with_controls_shown

__all__ = ["main", "build_parser"]

DEMO_DEFAULTS = {
    "dataset": "digits",
    "noise": "symmetric",
    "rate": 0.4,
    "backbone": "torchvision:mobilenet_v2",
    "pretrained": "offline",
    "image_size": 64,
    "output_dir": "skclip-noise-demo",
}
#: ``demo --aligned-clip``: the weakly aligned offline CLIP (skclip_noise.backbones.aligned).
ALIGNED_DEMO_BACKBONE = "open_clip:skclip-aligned-efficientnet-lite0"
ALIGNED_DEMO_SIZE = 224


def build_parser():
    """The argument parser of ``skclip-noise`` (one sub-command per job)."""
    parser = argparse.ArgumentParser(
        prog="skclip-noise",
        description="Find wrongly labelled images with pre-trained vision models.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    demo = commands.add_parser(
        "demo",
        help="inject label noise into a real local data set and detect it (no download)",
        description=(
            "Load a real local image data set, inject label noise, detect the wrong labels "
            "with a detector on real local pretrained weights (no download), print "
            "precision and recall of the detection against the injected truth, and write "
            "label_issues.csv and report.html."
        ),
        formatter_class=HelpFormatter,
    )
    demo.add_argument("--dataset", choices=["digits", "fashion-mnist"], default=DEMO_DEFAULTS["dataset"])
    demo.add_argument("--n-samples", type=number_type(int, 1), default=None,
                      help="stratified subset size (default: digits all 1797, fashion-mnist 2000)")
    demo.add_argument("--noise", choices=["symmetric", "pairflip", "instance"], default=DEMO_DEFAULTS["noise"])
    demo.add_argument("--rate", type=number_type(float, 0, 1), default=DEMO_DEFAULTS["rate"], help="share of labels to corrupt")
    demo.add_argument("--output-dir", default=DEMO_DEFAULTS["output_dir"], help="where label_issues.csv, report.html and report.txt go")
    demo.add_argument(
        "--aligned-clip", action="store_true",
        help=f"run on the aligned offline CLIP ({ALIGNED_DEMO_BACKBONE}, {ALIGNED_DEMO_SIZE} px, images shown "
             "dark-on-light) instead of --backbone; with --detector dual-prompt it runs DEFT's detector end to end. "
             "A weakly aligned stand-in built from an ImageNet trunk and MiniLM, not a CLIP",
    )
    add_detector_arguments(
        demo,
        backbone=DEMO_DEFAULTS["backbone"],
        pretrained=DEMO_DEFAULTS["pretrained"],
        image_size=DEMO_DEFAULTS["image_size"],
    )
    demo.set_defaults(handler=run_demo)

    detect = commands.add_parser(
        "detect",
        help="find suspected label errors in an image folder or a CSV of path,label",
        description=(
            "Find suspected label errors. INPUT is a folder with one subfolder of images "
            "per class, or a CSV file with 'path' and 'label' columns (relative paths are "
            "read from the CSV's folder) and an optional 'group' column (ids of near-copies of "
            "one image or frames of one video, judged as one by --detector consensus). Writes "
            "label_issues.csv (cleanlab's columns plus the path) and a self-contained report.html."
        ),
        formatter_class=HelpFormatter,
    )
    detect.add_argument("input", metavar="INPUT", help="image folder or CSV of path,label")
    detect.add_argument("--output-dir", default="skclip-noise-report", help="where label_issues.csv and report.html go")
    detect.add_argument(
        "--skip-unreadable", action="store_true",
        help="go on without the image files that cannot be read (missing, not images, truncated) and list "
             "them with the reason in <output-dir>/unreadable.csv; by default every file is checked first "
             "and one that cannot be read stops the run, naming it",
    )
    detect.add_argument(
        "--pred-probs", default=None, action=RecordGiven, metavar="FILE",
        help="out-of-sample class probabilities of INPUT's images from your own model, as cleanlab takes them "
             "(e.g. cross_val_predict(..., method='predict_proba')), joined to the images' evidence by "
             "--detector consensus: a CSV with a 'path' column and one column per class, headed by its label, "
             "or a .npy array with rows in INPUT's order and columns in the sorted order of the labels",
    )
    add_detector_arguments(detect, backbone="open_clip:ViT-B-32", pretrained="openai", image_size=0)
    detect.set_defaults(handler=run_detect)

    apply = commands.add_parser(
        "apply",
        help="apply the decisions exported from report.html to an image folder or CSV",
        description=(
            "Apply a review's decisions.csv (exported from report.html) to INPUT, the image folder or "
            "CSV of path,label that 'detect' ran on. Writes a CSV of path,label: relabelled samples get "
            "their new label, dropped ones are left out, the others keep theirs."
        ),
        formatter_class=HelpFormatter,
    )
    apply.add_argument("input", metavar="INPUT", help="the image folder or CSV of path,label the report was made on")
    apply.add_argument("decisions", metavar="DECISIONS", help="decisions.csv exported from the report")
    apply.add_argument("--output", default=None,
                       help="where the corrected CSV goes (default: corrected_labels.csv beside DECISIONS)")
    apply.add_argument("--quiet", action="store_true", help="print nothing but errors")
    apply.set_defaults(handler=run_apply)
    return parser


def _cache_dir(args):
    """``--cache-dir``, by default ``<output-dir>/embeddings``."""
    return args.cache_dir or os.path.join(args.output_dir, "embeddings")


def make_detector(args, backbone, pretrained, image_size):
    """The detector the flags describe."""
    from . import detectors

    common = dict(
        backbone=backbone,
        pretrained=pretrained,
        image_size=image_size,
        batch_size=args.batch_size,
        device=args.device,
        cache_dir=_cache_dir(args),
        skip_unreadable=getattr(args, "skip_unreadable", False),  # detect's --skip-unreadable
        # progress bars on a terminal only: in a log file their redraws are one line of carriage returns
        verbose=0 if args.quiet or not on_terminal(sys.stderr) else 1,
    )
    if args.detector == "label-match":
        return detectors.LabelMatchDetector(class_names=args.class_names, **common)
    if args.detector == "dual-prompt":
        check_flag_values(args)
        return detectors.DualPromptDetector(
            tuning=args.tuning, epochs=args.epochs, threshold=args.threshold, class_names=args.class_names,
            random_state=args.random_state, **common,
        )
    if args.detector == "neighbour":
        return detectors.NeighbourDetector(n_neighbors=args.n_neighbors or "auto", **common)
    if args.detector == "consensus":
        return detectors.ConsensusDetector(
            n_neighbors=args.n_neighbors or "auto", threshold=args.threshold, cv=args.cv or 5,
            flag_disagreement=args.flag_disagreement, random_state=args.random_state, **common
        )
    trained = dict(epochs=args.epochs, cv=args.cv, tuning=args.tuning, random_state=args.random_state, **common)
    if args.detector == "small-loss":
        return detectors.SmallLossDetector(forget_rate=args.forget_rate, **trained)
    return detectors.GMMLossDetector(threshold=args.threshold, per_class=args.per_class, **trained)


def _pretrained_flag(value):
    return None if str(value).lower() == "none" else value


def _write_outputs(outputs, args, detector, X, extra_columns=None, title="Suspected label errors", keep=None,
                   note=""):
    """label_issues.csv and report.html, staged in ``outputs`` (:class:`RunOutputs`); with
    ``keep`` (positions in the input), only those samples (the readable ones), indexed by
    their positions. Returns what to say once they are published."""
    import pandas as pd

    from .decisions import disputed_pairs
    from .report import label_issues_html

    fitted_issues = detector.label_issues_
    if keep is not None:
        fitted_issues, X = fitted_issues.iloc[keep], X[keep]
        extra_columns = {name: values[keep] for name, values in (extra_columns or {}).items()}
    issues = fitted_issues.copy()
    for name, values in (extra_columns or {}).items():
        # object dtype: a file name that is not UTF-8 (surrogate escapes) cannot be an Arrow string
        issues[name] = pd.Series(values, index=issues.index, dtype=object)
    write_csv_table(issues.sort_values("label_quality"), outputs.staged("label_issues.csv"), index_label="sample")
    to_check = _disputed_to_check(detector, args.max_items)
    label_issues_html(
        X, fitted_issues, outputs.staged("report.html"),
        max_items=args.max_items, title=title,
        noise_transition=detector.noise_transition_, classes=detector.classes_, disputed=to_check,
    )
    kinds = issues["issue_type"].astype(str).value_counts()
    split = f": {kinds.get('label', 0)} wrong labels, {kinds['outlier']} images of no class" if "outlier" in kinds else ""
    said = [f"Wrote {outputs.final('label_issues.csv')} ({int(issues['is_label_issue'].sum())} suspected label "
            f"issues of {len(issues)}{split}{note}) and {outputs.final('report.html')}."]
    if to_check is not None:
        said.append(f"{len(disputed_pairs(detector)):,} kept labels are disputed (another class is more "
                    f"probable): check the {len(to_check)} in the report's 'Disputed' section (its Kind filter shows "
                    "them alone), and if more than half are wrong, run again with --flag-disagreement to flag them all.")
    return "\n".join(said)


def _disputed_to_check(detector, max_items=None):
    """The disputed pairs drawn for a person to check (ConsensusDetector without
    --flag-disagreement: what that flag would add; as many as the report shows of a kind),
    or None when there are none. Never an unreadable file's (flagged), so they are among
    the readable images the report shows."""
    from .decisions import DISPUTED_CHECKS, disputed_pairs

    if getattr(detector, "flag_disagreement", True) or max_items == 0:  # on, or a detector without the step
        return None
    n_checks = DISPUTED_CHECKS if max_items is None else min(DISPUTED_CHECKS, max_items)
    drawn = disputed_pairs(detector, n_checks=n_checks, random_state=detector.random_state)
    return drawn if len(drawn) else None


def _check_outputs(args):
    check_output_dir(args.output_dir)
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")


def run_demo(args):
    import numpy as np

    from .metrics import detection_report
    from .noise import make_noisy_labels

    started = time.perf_counter()
    check_flag_values(args)
    replaced = sorted("--" + dest.replace("_", "-") for dest in {"backbone", "pretrained", "image_size"}
                      & set(args.given_flags))
    if args.aligned_clip and replaced:
        raise ValueError(
            f"--aligned-clip runs {ALIGNED_DEMO_BACKBONE} with its offline weights at {ALIGNED_DEMO_SIZE} px, in place "
            f"of {', '.join(replaced)}; leave {'those' if len(replaced) > 1 else 'it'} out, or --aligned-clip."
        )
    _check_outputs(args)
    warn_unused_flags(args)
    X, y_true, class_names = load_demo_data(args)
    features = X.reshape(len(X), -1).astype(np.float32) / 255.0 if args.noise == "instance" else None
    y_noisy, is_noisy = make_noisy_labels(
        y_true, args.noise, args.rate, random_state=args.random_state, features=features
    )
    names = np.asarray(class_names)
    if args.class_names is not None:  # given in label order; the detector sees the names, sorted otherwise
        if len(args.class_names) != len(names):
            raise ValueError(f"--class-names has {len(args.class_names)} names but {args.dataset} has {len(names)} "
                             "classes: give one per class, comma-separated, in label order (0, 1, ...).")
        args.class_names = dict(zip(names.tolist(), args.class_names))
    rate = _percent(args.rate)
    _say(args, f"{args.dataset}: {len(y_true)} images, {len(class_names)} classes; "
         f"{args.noise} noise at {rate}: {int(is_noisy.sum())} labels corrupted.")
    backbone, pretrained, image_size = args.backbone, _pretrained_flag(args.pretrained), args.image_size or None
    if args.aligned_clip:
        # ImageNet trunks read dark objects on a light ground, as in photos.
        backbone, pretrained, image_size, X = ALIGNED_DEMO_BACKBONE, "offline", ALIGNED_DEMO_SIZE, 255 - X
    with RunOutputs(args.output_dir, DEMO_OUTPUTS) as outputs:
        detector = make_detector(args, backbone, pretrained, image_size)
        detector.fit(X, names[y_noisy])
        report = detection_report(is_noisy, detector.clean_mask_)
        header = (
            f"skclip-noise demo: {args.dataset}, {args.noise} noise {rate}, "
            f"{type(detector).__name__} on {backbone} ({pretrained})\n"
        )
        with open(outputs.staged("report.txt"), "w") as handle:
            handle.write(header + report + "\n")
        wrote = _write_outputs(outputs, args, detector, X, {"true_label": names[y_true]},
                               title=f"Suspected label errors: {args.dataset} with {rate} {args.noise} noise")
        outputs.publish()
    try:
        print(header + report, flush=True)  # last: a reader of stdout that is gone leaves the outputs whole
    except BrokenPipeError:  # `| head`: the files are written; nothing more to say there
        silence_stdout()
        return 128 + 13  # as a shell reports a command ended by SIGPIPE
    _say(args, wrote)
    _say(args, f"Done in {time.perf_counter() - started:.0f} s.")
    return 0


def _percent(rate):
    """A rate as a percentage with the digits it needs: 40%, 0.4%, 33.3%.

    Examples
    --------
    >>> _percent(0.4), _percent(0.004), _percent(1 / 3)
    ('40%', '0.4%', '33.3%')
    """
    return f"{float(f'{100 * rate:.3g}'):g}%"


def run_detect(args):
    check_flag_values(args)
    X, y, groups = read_detect_input(args.input, exclude=(args.output_dir, args.cache_dir))
    args.class_names = _names_by_label_order(args.class_names, y)
    pred_probs = None
    if args.pred_probs is not None and args.detector in FLAG_DETECTORS["pred_probs"]:  # else warned as unused
        pred_probs = read_pred_probs(args.pred_probs, X, y, skip_missing=args.skip_unreadable)
    _check_outputs(args)
    if not args.skip_unreadable:
        check_images_readable(X, in_folder=os.path.isdir(args.input))
    warn_unused_flags(args)
    if groups is not None and args.detector != "consensus":
        print(f"skclip-noise detect: warning: the CSV's 'group' column is read by --detector consensus only "
              f"(not {args.detector}); it is ignored.", file=sys.stderr)
        groups = None
    in_groups = "" if groups is None else f", {len(set(groups.tolist()))} groups"
    _say(args, f"{args.input}: {len(X)} images, {len(set(y.tolist()))} classes{in_groups}.")
    with RunOutputs(args.output_dir, DETECT_OUTPUTS) as outputs:  # stopped or failed: an earlier run's outputs stay whole
        detector = make_detector(args, args.backbone, _pretrained_flag(args.pretrained), args.image_size or None)
        _say(args, f"Embedding them with {args.backbone} (kept in {_cache_dir(args)}: a rerun embeds only new "
             f"images) and fitting {type(detector).__name__}...")
        try:
            with warnings.catch_warnings():  # what was skipped is said below, with the CSV
                warnings.filterwarnings("ignore", message=r".*image files could not be read", category=UserWarning)
                signals = {name: value for name, value in (("groups", groups), ("pred_probs", pred_probs))
                           if value is not None}
                detector.fit(X, y, **signals)
        except Exception:
            if getattr(detector, "unreadable_", None) is not None:  # what made it fail: listed, alone
                list_unreadable(outputs, args, detector, len(X))
                outputs.publish()
            raise
        skipped = list_unreadable(outputs, args, detector, len(X))
        weighed = "" if pred_probs is None else f"; your model's pred_probs weigh {detector.pred_probs_weight_:.2g}"
        _say(args, f"{type(detector).__name__}: estimated noise rate {detector.noise_rate_:.1%}{weighed}.")
        keep, note, title = None, "", "Suspected label errors"
        if skipped:
            keep = sorted(set(range(len(X))) - set(detector.unreadable_.index))
            note = f"; {skipped} unreadable images skipped, listed in {outputs.final('unreadable.csv')}"
            title += f" ({skipped} of {len(X)} images unreadable, skipped)"
        wrote = _write_outputs(outputs, args, detector, X, {"path": X}, title=title, keep=keep, note=note)
        outputs.publish()
    _say(args, wrote)
    return 0


def _names_by_label_order(class_names, y):
    """``--class-names`` "in label order (0, 1, ...)": class folders named 0 .. 10 are text
    labels, which sort "10" before "2", so their names are paired by the numbers."""
    labels = sorted(set(y.tolist()), key=str)
    numbered = all(isinstance(label, str) and label.isdigit() and str(int(label)) == label for label in labels)
    if not isinstance(class_names, list) or not numbered or len(class_names) != len(labels):
        return class_names
    return dict(zip(sorted(labels, key=int), class_names))


def run_apply(args):
    import pandas as pd

    from .decisions import _apply_decision_table, _read_decisions

    X, y, groups = read_detect_input(args.input)
    if groups is not None:  # the column as written, not the ids detect reads it as
        groups = read_csv_table(args.input, "a CSV of path,label", expected=("path", "label"),
                                as_text=True)["group"].to_numpy()
    table, source = _read_decisions(args.decisions)
    # label_issues.csv and the report name samples by position (paths are accepted too); the
    # report's export also names each image's file, which then decides (INPUT may have changed).
    by_path = not table["sample"].str.fullmatch(r"\d+").all()
    labels, keep = _apply_decision_table(y, table, source, samples=X if by_path else None, paths=X)
    output = args.output or os.path.join(os.path.dirname(os.path.abspath(args.decisions)), "corrected_labels.csv")
    for name, given in (("INPUT", args.input), ("DECISIONS", args.decisions)):
        if os.path.isfile(given) and os.path.exists(output) and os.path.samefile(output, given):
            raise ValueError(
                f"The corrected CSV would overwrite {name} {given!r}; pass --output with another file "
                f"({name} is never modified)."
            )
    corrected = pd.DataFrame({"path": pd.Series(X[keep], dtype=object), "label": labels[keep]})
    if groups is not None:  # a CSV's group column goes on, so the next detect still judges copies together
        corrected["group"] = groups[keep]
    write_csv_table(corrected, output, index=False)
    relabelled = int((labels != y).sum())
    _say(args, f"Wrote {output}: {int(keep.sum())} of {len(y)} images, {relabelled} relabelled, "
         f"{int((~keep).sum())} dropped ({len(table)} decisions).")
    return 0


def list_unreadable(outputs, args, detector, n_images):
    """``--skip-unreadable``: stage the files the detector's fit skipped (its ``unreadable_``,
    judged label issues) as ``unreadable.csv`` (``sample,path,reason``) in ``outputs`` and
    say how many; returns that number."""
    unreadable = getattr(detector, "unreadable_", None) if args.skip_unreadable else None
    if unreadable is None:
        return 0
    write_csv_table(unreadable, outputs.staged("unreadable.csv"), index_label="sample")
    path = outputs.final("unreadable.csv")
    example = f" (e.g. {unreadable['path'].iloc[0]}: {unreadable['reason'].iloc[0]})" if len(unreadable) else ""
    _say(args, f"Skipped {len(unreadable)} of {n_images} images that cannot be read{example}; {path} lists "
         "them with the reason.")
    return len(unreadable)


def _say(args, message):
    if not getattr(args, "quiet", False):
        print(with_controls_shown(message), file=sys.stderr)


def main(argv=None):
    """Entry point of ``skclip-noise``; returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    for word in paths_taken_for_options(parser, argv):
        parser.error(f"{word!r} names a file or folder but starts with '-', so it is read as an option: put "
                     f"paths after --, as in skclip-noise {argv[0]} -- {word}, or write ./{word}.")
    args = parser.parse_args(argv)
    for name in _PATH_ARGUMENTS:  # a quoted "~/..." as the shell would have read it
        if isinstance(getattr(args, name, None), str):
            setattr(args, name, os.path.expanduser(getattr(args, name)))
    from .backbones.offline_weights import OfflineWeightsUnavailableError
    from .exceptions import PretrainedWeightsUnavailableError

    try:
        with in_the_commands_words(args.command), terminate_as_interrupt():
            return args.handler(args)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (a job scheduler, timeout)
        terminated = isinstance(exc, Terminated)
        print(f"skclip-noise {args.command}: {'terminated' if terminated else 'interrupted'}; the embeddings "
              "computed so far are kept in the cache, and --output-dir keeps any previous run's report.",
              file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    except (
        OSError,  # FileNotFoundError, NotADirectoryError, PermissionError, ...
        ValueError,
        PretrainedWeightsUnavailableError,
        OfflineWeightsUnavailableError,
    ) as exc:
        message = " ".join(str(getattr(exc, "cli_message", None) or exc).split())  # one line
        print(f"skclip-noise {args.command}: error: {with_controls_shown(as_flags(message))}", file=sys.stderr)
        return 2


#: The arguments that name files or folders.
_PATH_ARGUMENTS = ("input", "decisions", "output", "output_dir", "cache_dir", "pred_probs")

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
