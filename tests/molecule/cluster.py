"""What the suite knows of its own test clusters: scenarios, their nodes, and stale leftovers.

Used by the scenario tests (tests/molecule/test_scenarios.py) and by the suite's
session hooks (tests/conftest.py), which sweep leftovers once, in the main
process, before any worker starts a scenario and after the last one ended.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def scenarios() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


def platforms(scenario: str) -> list[dict]:
    return yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())["platforms"]


def podman_names(kind: str) -> set[str]:
    """Names of podman's containers (all, running or not) or networks."""
    proc = subprocess.run(
        ["podman", kind, "ls", "--format", "json"] + (["-a"] if kind == "container" else []),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:  # no podman yet (a gate-only run on a bare machine)
        return set()
    names = set()
    for item in json.loads(proc.stdout or "[]"):
        name = item.get("Names") or item.get("name") or item.get("Name")
        names.update(name if isinstance(name, list) else [name])
    return names


def sweep_stale(when: str) -> list[str]:
    """Remove containers and networks of this suite's scenarios; say what went, and whether a demo runs."""
    containers, networks = set(), set()
    for scenario in scenarios():
        for platform in platforms(scenario):
            containers.add(platform["name"])
            if platform.get("network"):
                networks.add(platform["network"])
    said = []
    stale = sorted(containers & podman_names("container"))
    if stale:
        subprocess.run(["podman", "rm", "-f", "-t", "0", *stale], capture_output=True, check=False)
        said.append(f"{when}: removed stale scenario containers {', '.join(stale)}")
    gone = sorted(networks & podman_names("network"))
    if gone:
        subprocess.run(["podman", "network", "rm", "-f", *gone], capture_output=True, check=False)
        said.append(f"{when}: removed stale scenario networks {', '.join(gone)}")
    demo = sorted(n for n in podman_names("container") if n.startswith("hpcenv-demo-"))
    if demo:
        said.append(
            f"{when}: a demo cluster is running ({', '.join(demo)}): it shares this machine's cores with "
            "the suite and makes it slower; `./scripts/demo down` removes it"
        )
    return said
