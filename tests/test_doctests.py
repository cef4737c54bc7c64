"""Every docstring example of the package runs, and every public object has one.

The examples are doctests: each module's are run here (``doctest`` with
``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``), so an example that drifts from the code
fails the suite. They use tiny models (``open_clip:skclip-tiny`` with random
weights, small arrays, ``device="cpu"``): all of them together take seconds.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import skclip_noise
from conftest import fashion_mnist_marks

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(skclip_noise.__path__, prefix="skclip_noise.")
)
#: Modules whose examples read optional data: they skip, saying why, where it is absent.
OPTIONAL_DATA_MARKS = {"skclip_noise.datasets.fashion_mnist": fashion_mnist_marks()}


def _public_objects():
    """Classes and functions in ``__all__`` of the package and of its public modules."""
    found = {}
    namespaces = [skclip_noise] + [
        getattr(skclip_noise, name)
        for name in skclip_noise.__all__
        if inspect.ismodule(getattr(skclip_noise, name))
    ]
    for namespace in namespaces:
        for name in namespace.__all__:
            obj = getattr(namespace, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", (f"{namespace.__name__}.{name}", obj))
    return sorted(found.values(), key=lambda item: item[0])


@pytest.mark.parametrize(
    "module_name", [pytest.param(name, marks=OPTIONAL_DATA_MARKS.get(name, ())) for name in MODULES]
)
def test_docstring_examples_run(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report = []
    for test in doctest.DocTestFinder(exclude_empty=True).find(module):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


@pytest.mark.parametrize("name, obj", _public_objects(), ids=lambda value: value if isinstance(value, str) else "")
def test_public_object_has_a_doctest_example(name, obj):
    docstring = inspect.getdoc(obj) or ""
    assert "Examples\n--------" in docstring, f"{name} has no numpydoc 'Examples' section"
    assert ">>> " in docstring.split("Examples\n--------", 1)[1], f"{name}: its Examples section has no doctest"


def test_examples_that_read_optional_data_are_marked():
    """An example that reads Debian's Fashion-MNIST must skip where it is absent (CI runs the
    suite once with the data hidden; this catches the omission on any machine)."""
    unmarked = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for test in doctest.DocTestFinder(exclude_empty=True).find(module):
            reads_data = any("load_fashion_mnist(" in example.source for example in test.examples)
            if reads_data and module_name not in OPTIONAL_DATA_MARKS:
                unmarked.append(test.name)
    assert not unmarked, f"add these modules to OPTIONAL_DATA_MARKS: {unmarked}"
