"""Check that each role's meta/argument_specs.yml and defaults/main.yml agree.

Rules (prometheus.prometheus style):
- every key in defaults/main.yml is documented in the `main` entry point, and
  every documented option that is not `required` has a default in defaults/;
- every public variable is prefixed with the role's name;
- the `default:` documented for an option equals the value in defaults/main.yml
  (when the spec states one).
"""

from __future__ import annotations

from pathlib import Path

import yaml


def role_problems(role_dir: Path) -> list[str]:
    name = role_dir.name
    defaults_file = role_dir / "defaults" / "main.yml"
    spec_file = role_dir / "meta" / "argument_specs.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) or {} if defaults_file.exists() else {}
    if not spec_file.exists():
        return [f"{name}: meta/argument_specs.yml is missing"]
    spec = yaml.safe_load(spec_file.read_text()) or {}
    main = (spec.get("argument_specs") or {}).get("main")
    if main is None:
        return [f"{name}: argument_specs has no 'main' entry point"]
    options = main.get("options") or {}
    problems = []
    for key in sorted(set(defaults) - set(options)):
        problems.append(f"{name}: defaults/main.yml sets '{key}' but argument_specs does not document it")
    for key, opt in sorted(options.items()):
        if key not in defaults and not opt.get("required", False):
            problems.append(f"{name}: '{key}' is documented as optional but has no value in defaults/main.yml")
        if key in defaults and "default" in opt and opt["default"] != defaults[key]:
            problems.append(f"{name}: '{key}' default differs: spec {opt['default']!r} vs defaults {defaults[key]!r}")
        if "description" not in opt:
            problems.append(f"{name}: '{key}' has no description")
    for key in sorted(set(defaults) | set(options)):
        if not key.startswith(name + "_"):
            problems.append(f"{name}: variable '{key}' is not prefixed with '{name}_'")
    return problems


def all_problems(roles_dir: Path) -> list[str]:
    problems: list[str] = []
    for role_dir in sorted(p for p in roles_dir.iterdir() if p.is_dir()):
        problems.extend(role_problems(role_dir))
    return problems
