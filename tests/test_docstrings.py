"""The defaults the numpydoc docstrings state are the defaults the code has."""

import ast
import importlib
import inspect
import re

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc

MODULES = [
    "fercls",
    "fercls.datasets",
    "fercls.evaluation",
    "fercls.export",
    "fercls.faces",
    "fercls.persistence",
    "fercls.preprocessing",
    "fercls.pretrained",
    "fercls.video",
]
DEFAULT = re.compile(r"default\s*=\s*(.+)$")


def public_callables():
    seen = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            in_package = getattr(obj, "__module__", "").startswith("fercls")
            if (
                not name.startswith("_")
                and in_package
                and inspect.isclass(obj) | inspect.isfunction(obj)
            ):
                seen.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return sorted(seen.items())


def documented_defaults(obj):
    doc = ClassDoc(obj) if inspect.isclass(obj) else FunctionDoc(obj)
    for parameter in doc["Parameters"]:
        if match := DEFAULT.search(parameter.type):
            yield parameter.name, match.group(1)


def evaluate(text, obj):
    """A documented default as a value: a literal, or a name of the object's module."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return eval(text, vars(importlib.import_module(obj.__module__)))  # e.g. EMOTIONS


CALLABLES = public_callables()


def test_the_public_api_is_found():
    assert len(CALLABLES) > 30


@pytest.mark.parametrize(("name", "obj"), CALLABLES, ids=[name for name, _ in CALLABLES])
def test_documented_defaults_match_the_signature(name, obj):
    signature = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
    for parameter, text in documented_defaults(obj):
        assert parameter in signature.parameters, f"{name}: documents unknown {parameter!r}"
        actual = signature.parameters[parameter].default
        assert evaluate(text, obj) == actual, (
            f"{name}({parameter}=...): docstring says default={text}, code has {actual!r}"
        )
