"""argument_specs.yml must match defaults/main.yml for every role."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .argspecs import all_problems, role_problems

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.quality


def test_every_role_argument_specs_match_defaults():
    assert all_problems(ROOT / "roles") == []


def _role(tmp_path: Path, defaults: dict, options: dict) -> Path:
    role = tmp_path / "demo"
    (role / "defaults").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump(defaults))
    spec = {"argument_specs": {"main": {"short_description": "x", "options": options}}}
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(spec))
    return role


@pytest.mark.parametrize(
    ("defaults", "options", "expected"),
    [
        pytest.param({"demo_a": 1}, {"demo_a": {"description": "a", "default": 1}}, [], id="in-step"),
        pytest.param(
            {"demo_a": 1, "demo_b": 2},
            {"demo_a": {"description": "a"}},
            ["demo: defaults/main.yml sets 'demo_b' but argument_specs does not document it"],
            id="undocumented-default",
        ),
        pytest.param(
            {},
            {"demo_a": {"description": "a"}},
            ["demo: 'demo_a' is documented as optional but has no value in defaults/main.yml"],
            id="missing-default",
        ),
        pytest.param({}, {"demo_a": {"description": "a", "required": True}}, [], id="required-needs-no-default"),
        pytest.param(
            {"demo_a": 1},
            {"demo_a": {"description": "a", "default": 2}},
            ["demo: 'demo_a' default differs: spec 2 vs defaults 1"],
            id="default-differs",
        ),
        pytest.param(
            {"a": 1},
            {"a": {"description": "a"}},
            ["demo: variable 'a' is not prefixed with 'demo_'"],
            id="unprefixed",
        ),
    ],
)
def test_checker_finds_each_kind_of_mismatch(tmp_path, defaults, options, expected):
    assert role_problems(_role(tmp_path, defaults, options)) == expected


def test_role_readmes_show_the_current_variables():
    from .roledocs import stale_readmes

    assert stale_readmes() == []
