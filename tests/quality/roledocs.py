"""The variables table of each role README, generated from meta/argument_specs.yml.

    python -m tests.quality.roledocs            rewrite the tables in place
The section between the BEGIN/END markers is generated; a test checks it is current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- BEGIN VARIABLES (generated from meta/argument_specs.yml by python -m tests.quality.roledocs) -->"
END = "<!-- END VARIABLES -->"


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(role_dir: Path) -> str:
    spec = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    rows = ["| variable | type | default | description |", "|---|---|---|---|"]
    for name, opt in spec.get("options", {}).items():
        kind = opt.get("type", "str")
        if opt.get("elements"):
            kind += f" of {opt['elements']}"
        if opt.get("choices"):
            kind += " (" + ", ".join(map(str, opt["choices"])) + ")"
        default = "required" if opt.get("required") else f"`{_cell(opt.get('default'))}`"
        desc = opt.get("description", "")
        desc = " ".join(desc) if isinstance(desc, list) else desc
        rows.append(f"| `{name}` | {kind} | {default} | {_cell(desc)} |")
    return "\n".join(rows)


def render(readme: str, generated: str) -> str:
    head, rest = readme.partition(BEGIN)[::2]
    tail = rest.partition(END)[2]
    return f"{head}{BEGIN}\n{generated}\n{END}{tail}"


def stale_readmes() -> list[str]:
    stale = []
    for role_dir in sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir()):
        readme = role_dir / "README.md"
        if not readme.exists() or BEGIN not in readme.read_text():
            stale.append(f"{role_dir.name}: README.md has no generated variables section")
        elif render(readme.read_text(), table(role_dir)) != readme.read_text():
            stale.append(f"{role_dir.name}: README.md variables table is stale (run python -m tests.quality.roledocs)")
    return stale


def main() -> int:
    for role_dir in sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir()):
        readme = role_dir / "README.md"
        if readme.exists() and BEGIN in readme.read_text():
            readme.write_text(render(readme.read_text(), table(role_dir)))
            print(f"updated {readme.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
