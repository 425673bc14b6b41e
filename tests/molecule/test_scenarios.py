"""Run every Molecule scenario end to end on real systemd containers.

Each scenario's full log is written to test-results/molecule-<scenario>.log;
a failure shows its last lines. After each run no container or network of the
scenario may be left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-results"
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.molecule


def scenarios() -> list[str]:
    found = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
    # The harness self-test runs first: every other scenario stands on it.
    return sorted(found, key=lambda s: (s != "harness", s))


def platforms(scenario: str) -> list[dict]:
    return yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())["platforms"]


def podman_names(kind: str) -> set[str]:
    out = subprocess.run(
        ["podman", kind, "ls", "--format", "json"] + (["-a"] if kind == "container" else []),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    items = json.loads(out or "[]")
    names = set()
    for item in items:
        name = item.get("Names") or item.get("name") or item.get("Name")
        names.update(name if isinstance(name, list) else [name])
    return names


def run_molecule(scenario: str, log_name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / f"molecule-{log_name}.log"
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", ANSIBLE_FORCE_COLOR="false", PY_COLORS="0")
    with log.open("w") as fh:
        proc = subprocess.run(
            [str(BIN / "molecule"), "test", "-s", scenario],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=False,
        )
    tail = "\n".join(log.read_text().splitlines()[-80:])
    assert proc.returncode == 0, f"molecule test -s {scenario} failed (full log: {log}):\n{tail}"
    leftovers = {p["name"] for p in platforms(scenario)} & podman_names("container")
    assert not leftovers, f"scenario {scenario} left containers behind: {leftovers}"
    networks = {p.get("network") for p in platforms(scenario)} - {None}
    assert not networks & podman_names("network"), f"scenario {scenario} left networks behind"
    # Facts must not outlive the nodes they describe (a re-created node gathers afresh).
    cached = [p["name"] for p in platforms(scenario) if (ROOT / ".cache" / "facts" / p["name"]).exists()]
    assert not cached, f"scenario {scenario} left cached facts of removed nodes: {cached}"


@pytest.mark.parametrize("scenario", scenarios())
def test_scenario(scenario):
    run_molecule(scenario, scenario)


def test_harness_rerun_reuses_cached_images():
    """The harness self-test passes a second time in a row, reusing the cached images."""
    for variant in ("bookworm", "trixie"):
        proc = subprocess.run(
            [str(ROOT / "tests" / "harness" / "build-image"), variant], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert "up to date" in proc.stdout, f"image {variant} was rebuilt although its recipe did not change"
    run_molecule("harness", "harness-rerun")
