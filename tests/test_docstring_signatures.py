"""Docstrings agree with the code they document (numpydoc and scikit-learn conventions).

The public objects are the classes and functions named in the ``__all__`` of the
modules that make the public API (``skclip_noise``, each public subpackage, and each
top-level module it re-exports from; names starting with "_" skipped; objects defined
outside ``skclip_noise`` skipped). For each, mechanically:

1. ``test_parameters_match_signature``: every parameter of the signature (a class's
   ``__init__``; not ``self``, ``*args``, ``**kwargs``) has an entry in the docstring's
   Parameters section, and every entry names a parameter that exists. A grouped entry
   ("lr, weight_decay : float", or a shared "image_size, ..., verbose" entry that
   refers to :class:`~skclip_noise.ImageEmbedder`) counts for each of its names. The
   fields of a dataclass or namedtuple may be documented under Attributes instead. A
   class whose ``__init__`` comes from another library (torch's
   ``DistributedSampler``, Python's ``Exception``) is documented there and left out.
2. ``test_documented_defaults_match_signature``: where an entry's type states a
   default ("default=X" or "default X"), it equals the signature's default (as a
   Python literal, quoted strings being strings; a bare name such as
   ``TEMPERATURES`` is looked up in the object's module).
3. ``test_string_options_match_constraints``: for an estimator with
   ``_parameter_constraints``, the quoted strings in a parameter's documented type
   (``{"full", "peft"}``, ``int or "auto"``) are exactly the values of its
   ``StrOptions`` (an entry whose type names no string, such as the shared entries
   that refer to another class, is not compared).
4. ``test_exports_in_api_reference``: for the modules that make the public API (the
   top-level package, each public subpackage with an ``__all__``, and each top-level
   module that ``skclip_noise`` re-exports from or lists), every name in ``__all__``
   exists; classes and functions have an autosummary entry (or a ``:class:``/
   ``:func:`` role) in ``docs/api/*.rst`` resolving to the same object; other values
   (constants) are at least named there. Submodules listed in ``__all__`` are
   covered through their own ``__all__``. ``test_every_all_name_exists``: every name
   in the ``__all__`` of every public module exists.
5. ``test_fitted_attributes_documented``: after a tiny fit (digit features, or the
   tiny offline CLIP on random images, on the CPU), every attribute the fit set that
   ends with "_" and does not start with "_" has an entry in the estimator's
   Attributes section (grouped entries count for each name).

The docstrings are parsed here (numpydoc's section and entry rules: an entry is a
line at the section's own indentation, "name : type"), so the test needs no docs
extra.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import pkgutil
import re
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import skclip_noise

ROOT = Path(__file__).resolve().parents[1]
API_DOCS = sorted((ROOT / "docs" / "api").glob("*.rst"))


# --------------------------------------------------------------------- docstring parsing


def _sections(doc):
    """``{section title: lines}`` of a numpydoc docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    sections, current = {}, None
    i = 0
    while i < len(lines):
        line = lines[i]
        if (i + 1 < len(lines) and line.strip() and not line[0].isspace()
                and re.fullmatch(r"-{3,}", lines[i + 1].strip())):
            current = line.strip()
            sections[current] = []
            i += 2
            continue
        if current is not None:
            sections[current].append(line)
        i += 1
    return sections


def _entries(doc, section):
    """``[(names, type, header)]``: one per line of the section at its own indentation."""
    entries = []
    for line in _sections(doc).get(section, []):
        if not line.strip() or line[0].isspace():
            continue
        header = line.strip()
        if " : " in header:
            name, type_ = header.split(" : ", 1)
        else:
            name, type_ = header[:-2] if header.endswith(" :") else header, ""
        names = [part.strip() for part in name.split(",") if part.strip()]
        entries.append((names, type_.strip(), header))
    return entries


def _documented(doc, section):
    """``{name: type}`` of a section's entries (a grouped entry gives each name its type)."""
    return {name: type_ for names, type_, _ in _entries(doc, section) for name in names}


# ------------------------------------------------------------------ the public objects


def _public_modules():
    modules = {"skclip_noise": skclip_noise}
    for info in pkgutil.walk_packages(skclip_noise.__path__, "skclip_noise."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        modules[info.name] = importlib.import_module(info.name)
    return dict(sorted(modules.items()))


MODULES = _public_modules()


def _surface_modules():
    """The top-level package, each public subpackage with an ``__all__``, and each
    top-level module that ``skclip_noise`` lists or re-exports from."""
    reexported = {getattr(skclip_noise, name).__name__ if isinstance(getattr(skclip_noise, name), types.ModuleType)
                  else ".".join(getattr(getattr(skclip_noise, name), "__module__", "").split(".")[:2])
                  for name in skclip_noise.__all__ if not name.startswith("_")}
    surface = []
    for module_name, module in MODULES.items():
        if not hasattr(module, "__all__"):
            continue
        is_package = hasattr(module, "__path__")
        if module_name == "skclip_noise" or is_package or (module_name.count(".") == 1 and module_name in reexported):
            surface.append(module_name)
    return surface


def _public_objects():
    """``{dotted name: object}`` of the public API (the modules of :func:`_surface_modules`),
    each object under the first (shortest) name exporting it. Helpers that a module of a
    subpackage lists but the subpackage does not re-export are implementation, not API."""
    seen, objects = set(), {}
    for module_name in _surface_modules():
        module = MODULES[module_name]
        for name in getattr(module, "__all__", ()):
            if name.startswith("_") or not hasattr(module, name):
                continue
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith("skclip_noise") or id(obj) in seen:
                continue
            seen.add(id(obj))
            objects[f"{module_name}.{name}"] = obj
    return objects


OBJECTS = _public_objects()


def _is_namedtuple(cls):
    return issubclass(cls, tuple) and hasattr(cls, "_fields")


def _init_owner(cls):
    return next(klass for klass in cls.__mro__ if "__init__" in vars(klass))


def _signature_parameters(obj):
    """``{name: inspect.Parameter}`` to document, or None where the object is skipped."""
    if inspect.isclass(obj) and not dataclasses.is_dataclass(obj) and not _is_namedtuple(obj):
        owner = _init_owner(obj)
        if owner is object:
            return {}
        if not owner.__module__.startswith("skclip_noise"):
            return None  # torch's (or Python's) constructor, documented there
    parameters = inspect.signature(obj).parameters
    return {
        name: parameter for name, parameter in parameters.items()
        if name not in ("self", "cls")
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    }


# ------------------------------------------------------------------------ 1. parameters


#: The objects whose parameters are the package's own: not a class whose constructor is
#: torch's (``training.distributed.DistributedSampler``) or Python's (the exceptions but
#: ``PretrainedWeightsUnavailableError``), documented there.
OWN_SIGNATURES = sorted(name for name, obj in OBJECTS.items() if _signature_parameters(obj) is not None)


@pytest.mark.parametrize("name", OWN_SIGNATURES)
def test_parameters_match_signature(name):
    obj = OBJECTS[name]
    parameters = _signature_parameters(obj)
    documented = _documented(obj.__doc__, "Parameters")
    if inspect.isclass(obj) and (dataclasses.is_dataclass(obj) or _is_namedtuple(obj)):
        fields = {**documented, **_documented(obj.__doc__, "Attributes")}
    else:
        fields = documented
    has_var_keyword = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(obj).parameters.values())
    undocumented = [p for p in parameters if p not in fields]
    unknown = [
        p for p in documented
        if p not in parameters and p.lstrip("*") not in ("args", "kwargs") and not has_var_keyword
    ]
    problems = []
    if undocumented:
        where = "Parameters (or Attributes)" if fields is not documented else "Parameters"
        problems.append(f"parameters not documented in {where}: {undocumented}")
    if unknown:
        problems.append(f"documented parameters not in the signature: {unknown}")
    assert not problems, f"{name}: " + "; ".join(problems)


# -------------------------------------------------------------------------- 2. defaults


_DEFAULT = re.compile(r"\bdefault(?:\s*=\s*|\s+)(.+)$")


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b  # 1.0 and 1 alike; True and 1 refused above
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return False


def _documented_value(text, obj):
    """The value a docstring default names: a literal, or a name of the object's module."""
    text = text.strip().rstrip(".").strip().strip("`").strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    module = sys.modules[obj.__module__]
    value = module
    for part in text.split("."):
        if not part.isidentifier() or not hasattr(value, part):
            raise LookupError(text)
        value = getattr(value, part)
    return value


@pytest.mark.parametrize("name", OWN_SIGNATURES)
def test_documented_defaults_match_signature(name):
    obj = OBJECTS[name]
    parameters = _signature_parameters(obj)
    wrong = []
    for names, type_, _ in _entries(obj.__doc__, "Parameters"):
        match = _DEFAULT.search(type_)
        if not match:
            continue
        for param in names:
            if param not in parameters:
                continue  # test_parameters_match_signature's
            actual = parameters[param].default
            if actual is inspect.Parameter.empty:
                wrong.append(f"{param}: docstring says default {match.group(1)}, the signature has none")
                continue
            try:
                stated = _documented_value(match.group(1), obj)
            except LookupError:
                if isinstance(actual, str) and match.group(1).strip().strip("`") == actual:
                    continue  # an unquoted string
                wrong.append(f"{param}: docstring default {match.group(1)!r} is no value (code: {actual!r})")
                continue
            if not _same(stated, actual) and not (stated == "None" and actual is None):
                wrong.append(f"{param}: docstring says default={match.group(1)}, the code {actual!r}")
    assert not wrong, f"{name}: " + "; ".join(wrong)


# ---------------------------------------------------------------------- 3. string options


ESTIMATORS = {name: obj for name, obj in OBJECTS.items()
              if inspect.isclass(obj) and isinstance(getattr(obj, "_parameter_constraints", None), dict)}


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_string_options_match_constraints(name):
    from sklearn.utils._param_validation import StrOptions

    cls = ESTIMATORS[name]
    documented = _documented(cls.__doc__, "Parameters")
    wrong = []
    for param, constraints in cls._parameter_constraints.items():
        options = set()
        for constraint in constraints:
            if isinstance(constraint, StrOptions):
                options |= set(constraint.options)
        type_ = re.split(r",?\s*\bdefault\b", documented.get(param, ""))[0]
        quoted = {a or b for a, b in re.findall(r"\"([^\"]*)\"|'([^']*)'", type_)}
        if not quoted:
            continue  # no value set written (a shared entry that refers to another class)
        if quoted != options:
            wrong.append(f"{param}: docstring {sorted(quoted)}, _parameter_constraints {sorted(options)}")
    assert not wrong, f"{name}: " + "; ".join(wrong)


# ---------------------------------------------------------------------- 4. API reference


def _resolve(path):
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for part in parts[i:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


@functools.lru_cache(maxsize=None)
def _api_reference():
    """(ids of the objects with an autosummary entry or a role, the words of the pages)."""
    paths, words = set(), set()
    for page in API_DOCS:
        text = page.read_text(encoding="utf-8")
        words |= set(re.findall(r"\w+", text))
        current, in_autosummary = "skclip_noise", False
        for line in text.splitlines():
            match = re.match(r"\.\. currentmodule::\s*(\S+)", line)
            if match:
                current, in_autosummary = match.group(1), False
                continue
            if line.startswith(".. autosummary::"):
                in_autosummary = True
                continue
            if in_autosummary:
                if not line.strip() or line.strip().startswith(":"):
                    continue
                if line.startswith("   "):
                    paths.add(f"{current}.{line.strip()}")
                    continue
                in_autosummary = False
            for role in re.findall(r":(?:class|func|exc|data|mod):`~?([\w.]+)`", line):
                paths |= {role, f"{current}.{role}"}
    objects = {id(obj) for obj in map(_resolve, sorted(paths)) if obj is not None}
    return objects, words


@pytest.mark.parametrize("module_name", _surface_modules())
def test_exports_in_api_reference(module_name):
    module = MODULES[module_name]
    documented, words = _api_reference()
    absent, missing = [], []
    for name in module.__all__:
        if name.startswith("_"):
            continue
        if not hasattr(module, name):
            absent.append(name)
            continue
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            continue  # covered through its own __all__
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if id(obj) not in documented:
                missing.append(name)
        elif name not in words:
            missing.append(name)
    problems = []
    if absent:
        problems.append(f"names in __all__ that do not exist: {absent}")
    if missing:
        problems.append(f"exported names missing from docs/api: {missing}")
    assert not problems, f"{module_name}: " + "; ".join(problems)


def test_every_all_name_exists():
    absent = [f"{module_name}.{name}" for module_name, module in MODULES.items()
              for name in getattr(module, "__all__", ()) if not hasattr(module, name)]
    assert not absent, absent


# ------------------------------------------------------------------ 5. fitted attributes


def _digit_features():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    keep = y < 3
    return X[keep][:90] / 16.0, y[keep][:90]


def _fit_cases():
    from conftest import TINY_CLIP, cat_dog_labels, random_images

    tiny = {key: value for key, value in TINY_CLIP.items() if key != "random_state"}
    images, labels = random_images(16), cat_dog_labels(16)
    features = ("features", None)
    return {
        "ConsensusDetector": (dict(cv=2), features),
        "NeighbourDetector": ({}, features),
        "GMMLossDetector": (dict(device="cpu", random_state=0), features),
        "SmallLossDetector": (dict(device="cpu", random_state=0), features),
        "LabelMatchDetector": (tiny, (images, labels)),
        "DualPromptDetector": (dict(TINY_CLIP, epochs=1, batch_size=8), (images, labels)),
        "DeftClassifier": (dict(TINY_CLIP, epochs=1, batch_size=8, tuning="frozen", detector="passthrough"),
                           (images, labels)),
        "TurnClassifier": (dict(TINY_CLIP, lp_epochs=1, ft_epochs=1, tuning="frozen"), (images, labels)),
        "AVLPrompter": (dict(TINY_CLIP, epochs=1, batch_size=8, prompt_depth=1), (images, labels)),
        "ImageEmbedder": (tiny, (images, None)),
    }


FITTED = ["AVLPrompter", "ConsensusDetector", "DeftClassifier", "DualPromptDetector", "GMMLossDetector",
          "ImageEmbedder", "LabelMatchDetector", "NeighbourDetector", "SmallLossDetector", "TurnClassifier"]


@pytest.mark.parametrize("name", FITTED)
def test_fitted_attributes_documented(name, one_torch_thread):
    params, (X, y) = _fit_cases()[name]
    if isinstance(X, str):
        X, y = _digit_features()
    estimator = getattr(skclip_noise, name)(**params)
    before = set(vars(estimator))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X) if y is None else estimator.fit(X, y)
    fitted = sorted(attr for attr in set(vars(estimator)) - before
                    if attr.endswith("_") and not attr.startswith("_"))
    assert fitted, f"{name}: the fit set no public attribute"
    documented = _documented(type(estimator).__doc__, "Attributes")
    undocumented = [attr for attr in fitted if attr not in documented]
    assert not undocumented, f"{name}: fitted attributes not in the Attributes section: {undocumented}"
