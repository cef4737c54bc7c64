"""Declarative constructor-parameter constraints, shared by every estimator.

Each estimator declares ``_parameter_constraints`` (scikit-learn's mechanism) and
calls ``self._validate_params()`` first thing in ``fit``, before it touches X. The
parameters that mean the same thing in every estimator take their constraint from
:data:`SHARED_CONSTRAINTS`, so one name has one value set everywhere (see the
glossary page of the docs). Rules that involve several parameters stay in the
estimators' own checks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, InvalidParameterError, Options, StrOptions

__all__ = [
    "SHARED_CONSTRAINTS",
    "TUNINGS",
    "HasMethods",
    "InvalidParameterError",
    "Interval",
    "Options",
    "StrOptions",
    "Integral",
    "Real",
    "constraints_for",
    "same_param_value",
    "remember_params_of_fit",
    "check_params_of_fit",
    "positive_int",
    "non_negative_int",
    "unit_interval",
    "positive_real",
    "non_negative_real",
]

#: How much of the image tower trains, the same values for every estimator:
#: ``"frozen"`` (frozen features, only a head or prompts on the text side train),
#: ``"peft"`` (parameter-efficient: deep visual prompts on ViT towers, bias terms on
#: others) and ``"full"`` (the whole tower).
TUNINGS = ("frozen", "peft", "full")

class _CountInterval(Interval):
    """An ``Interval`` of integers that refuses ``True`` and ``False``: scikit-learn reads a
    bool as an int, so ``epochs=True`` trained one epoch and ``batch_size=True`` failed
    inside torch's data loader."""

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


positive_int = _CountInterval(Integral, 1, None, closed="left")
non_negative_int = _CountInterval(Integral, 0, None, closed="left")
unit_interval = Interval(Real, 0, 1, closed="both")
positive_real = Interval(Real, 0, None, closed="neither")
non_negative_real = Interval(Real, 0, None, closed="left")


class _NonEmptyPath(Options):
    """A str or path-like that names something: ``""`` would mean the current folder.
    (An ``Options`` only because scikit-learn's validation takes no other constraint class.)"""

    def __init__(self):
        super().__init__((str, os.PathLike), set())

    def is_satisfied_by(self, val):
        return isinstance(val, (str, os.PathLike)) and os.fspath(val) != ""

    def __str__(self):
        return "a non-empty str or path-like"


_PATH = [_NonEmptyPath(), None]

#: The constraint of every parameter that means the same thing in several estimators.
SHARED_CONSTRAINTS = {
    "backbone": [str],
    "pretrained": [str, os.PathLike, "boolean", None],
    "tuning": [StrOptions(set(TUNINGS))],
    "threshold": [unit_interval],
    "class_names": [list, tuple, np.ndarray, Mapping, None],
    "epochs": [positive_int],
    "warmup_epochs": [non_negative_int, None],
    "lr": [positive_real],
    "momentum": [Interval(Real, 0, 1, closed="left")],
    "weight_decay": [non_negative_real],
    "batch_size": [positive_int],
    "n_ctx": [positive_int],
    "n_vpt": [positive_int],
    "image_size": [positive_int, None],
    "num_workers": [non_negative_int],
    # joblib's meaning: -1 every worker, -2 all but one, ...; 0 has none
    "n_jobs": [Interval(Integral, None, -1, closed="right"), Interval(Integral, 1, None, closed="left"), None],
    "device": [str],
    "mixed_precision": [StrOptions({"auto", "bf16", "fp16"}), "boolean"],
    "cache_dir": _PATH,
    "skip_unreadable": ["boolean"],
    "checkpoint_path": _PATH,
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def constraints_for(*names, **own):
    """``_parameter_constraints`` from shared ``names`` plus an estimator's ``own``.

    Examples
    --------
    >>> constraints = constraints_for("epochs", per_class=["boolean"])
    >>> sorted(constraints)
    ['epochs', 'per_class']
    """
    unknown = [name for name in names if name not in SHARED_CONSTRAINTS]
    if unknown:
        raise KeyError(f"No shared constraint for {unknown}; declare them as the estimator's own.")
    return {**{name: SHARED_CONSTRAINTS[name] for name in names}, **own}


def same_param_value(value, other):
    """Whether two values of one parameter are the same: arrays (``Cs``) and sequences
    (``templates``) compared whole, element by element.

    Examples
    --------
    >>> same_param_value(np.array([0.1, 1.0]), [0.1, 1.0]), same_param_value("frozen", "peft")
    (True, False)
    """
    if isinstance(value, (np.ndarray, list, tuple)) or isinstance(other, (np.ndarray, list, tuple)):
        try:
            return np.array_equal(np.asarray(value, dtype=object), np.asarray(other, dtype=object))
        except ValueError:  # ragged sequences
            return False
    return bool(value == other)


def remember_params_of_fit(estimator, names):
    """Keep the values ``fit`` used of the parameters ``names`` (those the estimator has),
    for :func:`check_params_of_fit`."""
    estimator._fit_params = {name: getattr(estimator, name) for name in names if hasattr(estimator, name)}


def _weights_moved(estimator):
    """Whether ``pretrained`` now names another path to the very file fit used (the same
    bytes: a model shipped to a machine that keeps its weights elsewhere)."""
    from .backbones.weights import same_weights_file, weights_key

    fitted_key = estimator.__dict__.get("_weights_key")
    pretrained = getattr(estimator, "pretrained", None)
    return fitted_key is not None and same_weights_file(weights_key(pretrained), fitted_key)


def check_params_of_fit(estimator, names):
    """Refuse to predict after ``set_params`` changed one of ``names`` since fit: a
    parameter the fitted model was built from, or one that embeds new images, would
    rebuild or feed it unlike the fitted one (torch's shape errors, or silently other
    features)."""
    for name, value in estimator.__dict__.get("_fit_params", {}).items():
        if name == "pretrained" and _weights_moved(estimator):
            continue
        if name in names and not same_param_value(getattr(estimator, name), value):
            raise ValueError(
                f"{type(estimator).__name__} was fitted with {name}={value!r}, but {name} is now "
                f"{getattr(estimator, name)!r}: the fitted model was built with the first. Refit, or set it "
                f"back with set_params({name}={value!r})."
            )
