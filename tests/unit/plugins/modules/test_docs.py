"""Every module's DOCUMENTATION, EXAMPLES and RETURN are YAML, as ansible-doc reads them: a description with an
unquoted ": " makes the whole page unreadable, and ansible-test's validate-modules, which also compares the
documentation with the argument spec, runs only in the quality lane. The strings are read with `ast` and YAML
(ansible's own docs parser is not imported here: importing it changes how every later test's module warnings
are collected)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

MODULES = sorted((Path(__file__).parents[4] / "plugins" / "modules").glob("*.py"))


def _docstrings(path: Path) -> dict[str, str]:
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                    found[target.id] = node.value.value
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_docs_are_yaml(path):
    docs = _docstrings(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, f"{path.name}: {sorted(docs)}"
    documentation = yaml.safe_load(docs["DOCUMENTATION"])
    assert documentation["module"] == path.stem
    assert isinstance(yaml.safe_load(docs["RETURN"]), dict)
    assert isinstance(yaml.safe_load(docs["EXAMPLES"]), list)
