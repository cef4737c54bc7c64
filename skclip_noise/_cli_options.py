"""The command line's options: the detector flags, their types and checks (value ranges,
options given but unused), and how ``--help`` shows their defaults."""

from __future__ import annotations

import argparse
import math
import os
import sys

__all__ = [
    "DETECTORS", "FLAG_DETECTORS", "HelpFormatter", "RecordGiven", "RecordGivenFlag", "add_detector_arguments",
    "check_flag_values", "class_names_type", "number_type", "paths_taken_for_options", "warn_unused_flags",
]


def number_type(kind, low=None, high=None, *, high_open=False):
    """An argparse ``type`` that refuses values out of ``[low, high]`` (or ``[low, high)``)
    with a message saying what is expected."""
    what = "an integer" if kind is int else "a number"
    if high is None:
        expected = f"{what} >= {low}"
    else:
        expected = f"{what} in [{low}, {high}{')' if high_open else ']'}"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}") from None
        too_high = high is not None and (value > high or (high_open and value == high))
        if not math.isfinite(value) or (low is not None and value < low) or too_high:
            raise argparse.ArgumentTypeError(f"must be {expected}; got {text}")
        return value

    parse.__name__ = what  # argparse names the type in its own messages
    return parse


def class_names_type(text):
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated, non-empty class names; got {text!r}")
    return names


class RecordGiven(argparse.Action):
    """Stores the value and records that the option was given, for the warning about
    options that do not apply to the chosen detector."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
        namespace.given_flags = frozenset(getattr(namespace, "given_flags", ())) | {self.dest}


class RecordGivenFlag(RecordGiven):
    """``store_true`` that records that it was given."""

    def __init__(self, option_strings, dest, default=False, required=False, help=None):
        super().__init__(option_strings, dest, nargs=0, const=True, default=default, required=required, help=help)


#: The detectors each detector option applies to (``--random-state`` only in ``detect``:
#: the demo also draws its subset and its noise with it).
FLAG_DETECTORS = {
    "threshold": ("consensus", "gmm", "dual-prompt"),
    "n_neighbors": ("consensus", "neighbour"),
    "tuning": ("gmm", "small-loss", "dual-prompt"),
    "flag_disagreement": ("consensus",),
    "per_class": ("gmm",),
    "forget_rate": ("small-loss",),
    "cv": ("consensus", "gmm", "small-loss"),
    "epochs": ("gmm", "small-loss", "dual-prompt"),
    "class_names": ("label-match", "dual-prompt"),
    "random_state": ("consensus", "gmm", "small-loss", "dual-prompt"),
    "pred_probs": ("consensus",),
}


def check_flag_values(args):
    """Refuse option values the chosen detector cannot take, before any work (``ValueError``)."""
    if args.detector == "dual-prompt" and args.tuning == "full":
        raise ValueError(
            "--tuning full does not apply to --detector dual-prompt, which takes --tuning frozen or peft "
            "(full tuning is for gmm and small-loss)."
        )


def warn_unused_flags(args):
    """One warning on stderr per option given that the chosen detector does not use.

    Returns the names of those options (``--epochs``, ...).
    """
    unused = []
    for dest in sorted(getattr(args, "given_flags", ())):
        users = FLAG_DETECTORS.get(dest)
        if users is None or args.detector in users or (dest == "random_state" and args.command == "demo"):
            continue
        flag = "--" + dest.replace("_", "-")
        unused.append(flag)
        print(
            f"skclip-noise {args.command}: warning: {flag} does not apply to --detector {args.detector} "
            f"(only to {', '.join(users)}); it is ignored.",
            file=sys.stderr,
        )
    return unused


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default after its help, except where the default is None: the help
    then says in words what is used (worked out at run time)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def add_detector_arguments(parser, *, backbone, pretrained, image_size):
    parser.set_defaults(given_flags=frozenset())
    parser.add_argument("--backbone", default=backbone, action=RecordGiven,
                        help="backbone spec, e.g. timm:tf_efficientnet_lite0")
    parser.add_argument("--pretrained", default=pretrained, action=RecordGiven,
                        help="'offline', an open_clip tag, a checkpoint path, or 'none'")
    parser.add_argument("--image-size", type=number_type(int, 0), default=image_size, action=RecordGiven,
                        help="input side for CNN backbones; 0 keeps the backbone's own")
    parser.add_argument("--batch-size", type=number_type(int, 1), default=64,
                        help="images per batch through the backbone (and per training step)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps, or auto: cuda, then mps, then cpu")
    parser.add_argument("--random-state", type=number_type(int, 0, 2**32 - 1), default=0, action=RecordGiven,
                        help="seed of every random choice (folds, subsets, initial weights)")
    parser.add_argument("--detector", choices=list(DETECTORS), default="consensus",
                        help="consensus: probe + neighbours + Bayes rule (no noise rate needed); neighbour: "
                             "training-free kNN vote; gmm / small-loss: loss-based; label-match: CLIP zero-shot; "
                             "dual-prompt: DEFT's learned positive/negative prompts (CLIP backbones)")
    parser.add_argument("--threshold", type=number_type(float, 0, 1), default=0.5, action=RecordGiven,
                        help="consensus/gmm/dual-prompt: clean when the clean probability exceeds it")
    parser.add_argument("--n-neighbors", type=number_type(int, 1), default=None, action=RecordGiven,
                        help="consensus (default: 20) / neighbour (default: 10): neighbours per sample, "
                             "fewer by default for a smaller class")
    parser.add_argument("--tuning", choices=["frozen", "peft", "full"], default="frozen", action=RecordGiven,
                        help="gmm/small-loss: how much of the image tower the loss model trains; "
                             "dual-prompt: frozen or peft")
    parser.add_argument("--flag-disagreement", action=RecordGivenFlag,
                        help="consensus: also flag the kept pairs whose most probable class is another "
                             "(turn on when more than half of 30 such pairs, checked by hand, are wrong; "
                             "see the user guide, 'Hard images')")
    parser.add_argument("--per-class", action=RecordGivenFlag, help="gmm: one mixture per class")
    parser.add_argument("--forget-rate", type=number_type(float, 0, 1, high_open=True), default=None, action=RecordGiven,
                        help="small-loss: share dropped per class (default: estimated)")
    parser.add_argument("--cv", type=number_type(int, 2), default=None, action=RecordGiven,
                        help="consensus (default 5) / gmm / small-loss: cross-fitting folds")
    parser.add_argument("--epochs", type=number_type(int, 1), default=10, action=RecordGiven,
                        help="gmm/small-loss/dual-prompt: training epochs")
    parser.add_argument("--class-names", type=class_names_type, default=None, action=RecordGiven,
                        help="label-match / dual-prompt: comma-separated names for integer labels, "
                             "in label order (0, 1, ...)")
    parser.add_argument("--cache-dir", default=None, help="embedding cache folder (default: <output-dir>/embeddings)")
    parser.add_argument("--max-items", type=number_type(int, 0), default=200, help="at most this many cards in report.html")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages")


#: The detectors of ``--detector``, by flag value.
DETECTORS = {
    "consensus": "ConsensusDetector",
    "neighbour": "NeighbourDetector",
    "gmm": "GMMLossDetector",
    "small-loss": "SmallLossDetector",
    "label-match": "LabelMatchDetector",
    "dual-prompt": "DualPromptDetector",
}


def paths_taken_for_options(parser, argv):
    """The words of ``argv`` (before any ``--``) that start with '-', are no option of the
    command line and name an existing file or folder (a script's ``detect "$DIR"``)."""
    options = set(parser._option_string_actions)
    for action in parser._subparsers._group_actions:
        for command in action.choices.values():
            options |= set(command._option_string_actions)
    words = []
    for word in argv:
        if word == "--":
            break
        if word.startswith("-") and word.split("=", 1)[0] not in options and os.path.exists(word):
            words.append(word)
    return words
