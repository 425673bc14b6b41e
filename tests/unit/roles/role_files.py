"""Load the Python files the roles lay down on the nodes (roles/*/files) for their unit tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROLES = Path(__file__).resolve().parents[3] / "roles"


def role_file(role: str, name: str) -> Path:
    """The path of roles/ROLE/files/NAME."""
    return ROLES / role / "files" / name


def load_role_file(role: str, name: str) -> ModuleType:
    """roles/ROLE/files/NAME, imported as a module of its own name (as the node runs it)."""
    path = role_file(role, name)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
