"""The service's public face loads its names lazily; both lists of them must agree.

``op25b_app/service/__init__.py`` names every export twice: once for type
checkers (the ``TYPE_CHECKING`` imports) and once for run time (``_EXPORTS``).
A name in one list only would type-check but fail when used, or the reverse.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import op25b_app.service as face

FACE = Path(face.__file__)


def _type_checking_names() -> set[str]:
    tree = ast.parse(FACE.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                names.update(alias.asname or alias.name for alias in stmt.names)
    return names


def test_both_lists_name_the_same_exports() -> None:
    assert _type_checking_names() == set(face._EXPORTS) == set(face.__all__)


@pytest.mark.parametrize("name", sorted(face._EXPORTS))
def test_every_export_resolves_to_its_definition(name: str) -> None:
    module_name, attribute = face._EXPORTS[name]
    module = importlib.import_module(module_name)
    expected = module if attribute is None else getattr(module, attribute)
    assert getattr(face, name) is expected


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        face.nope  # noqa: B018
