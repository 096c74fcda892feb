"""The public API of exactlmm: ``__all__`` resolves and is documented, and every example in the
package's docstrings runs (doctest), so a broken example fails the suite."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import types
import warnings

import pytest

import exactlmm

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(exactlmm.__path__, "exactlmm.")
)
#: Modules whose docstrings carry examples; each must run at least one.
WITH_EXAMPLES = {"exactlmm", "exactlmm.dosage", "exactlmm.kinship", "exactlmm.pipeline",
                 "exactlmm.scan"}


@pytest.mark.parametrize("name", ["exactlmm", *MODULES])
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an example must not warn either
        result = doctest.testmod(module, verbose=False, report=True,
                                 optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} failing example(s) in {name}"
    if name in WITH_EXAMPLES:
        assert result.attempted > 0, f"{name} lost its examples"


def test_public_api_resolves_and_is_documented():
    assert len(set(exactlmm.__all__)) == len(exactlmm.__all__)
    for name in exactlmm.__all__:
        value = getattr(exactlmm, name)
        if callable(value):
            assert inspect.getdoc(value), f"exactlmm.{name} has no docstring"
        assert f"`{name}`" in exactlmm.__doc__ or name.startswith("__") or name.isupper(), name
    # No exported name hides a submodule (exactlmm.scan must stay the module).
    for name in MODULES:
        parent, _, leaf = name.rpartition(".")
        if parent == "exactlmm":
            assert isinstance(getattr(exactlmm, leaf), types.ModuleType), name


def test_star_import_gives_exactly_all():
    namespace: dict = {}
    exec("from exactlmm import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(exactlmm.__all__)
