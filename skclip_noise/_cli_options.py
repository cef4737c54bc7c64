"""The command line's option types and checks: value ranges, options given but unused."""

from __future__ import annotations

import argparse
import math
import sys

__all__ = [
    "FLAG_DETECTORS", "RecordGiven", "RecordGivenFlag", "check_flag_values", "class_names_type", "number_type",
    "warn_unused_flags",
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
