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

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(skclip_noise.__path__, prefix="skclip_noise.")
)


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


@pytest.mark.parametrize("module_name", MODULES)
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
