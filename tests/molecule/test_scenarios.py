"""Run every Molecule scenario end to end on real systemd containers.

Each scenario's full log is written to test-results/molecule-<scenario>.log;
a failure shows its last lines. After each run no container or network of the
scenario may be left behind. Every playbook a scenario runs (nested ones from
verify too) is timed by tests/harness/callback_plugins/suite_timing.py: the
runs, the site.yml passes and the slowest tasks go to the suite's budget table
(tests/conftest.py) and to test-results/timing-<scenario>.jsonl.

The scenarios run side by side on the suite's two workers (tests/conftest.py
puts each in a lane); leftovers of an interrupted run are swept there too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.molecule.cluster import platforms, podman_names, scenarios

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-results"
BIN = Path(sys.executable).parent
CALLBACKS = ROOT / "tests" / "harness" / "callback_plugins"
SITE_PLAYBOOKS = {"converge.yml", "site.yml"}  # a full pass of the cluster's site playbook
pytestmark = pytest.mark.molecule


def _joined(name: str, value: str) -> str:
    return ",".join(filter(None, [os.environ.get(name, ""), value]))


def record_budget(log_name: str, seconds: float, timing: Path) -> None:
    """Write the scenario's line of the budget table from its playbook runs."""
    runs = [json.loads(line) for line in timing.read_text().splitlines()] if timing.is_file() else []
    tasks = sorted((t for run in runs for t in run["slowest"]), key=lambda t: t[1], reverse=True)
    budget = RESULTS / "budget"
    budget.mkdir(parents=True, exist_ok=True)
    (budget / f"{log_name}.json").write_text(
        json.dumps(
            {
                "name": log_name,
                "nodeid": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0],
                "seconds": round(seconds, 1),
                "playbook_runs": len(runs),
                "site_passes": sum(Path(run["playbook"]).name in SITE_PLAYBOOKS for run in runs),
                "slowest": tasks[:10],
            },
            indent=1,
        )
    )


def run_molecule(scenario: str, log_name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / f"molecule-{log_name}.log"
    timing = RESULTS / f"timing-{log_name}.jsonl"
    timing.unlink(missing_ok=True)
    env = dict(
        os.environ,
        PATH=f"{BIN}:{os.environ['PATH']}",
        ANSIBLE_FORCE_COLOR="false",
        PY_COLORS="0",
        ANSIBLE_CALLBACK_PLUGINS=_joined("ANSIBLE_CALLBACK_PLUGINS", str(CALLBACKS)).replace(",", ":"),
        ANSIBLE_CALLBACKS_ENABLED=_joined("ANSIBLE_CALLBACKS_ENABLED", "suite_timing"),
        HPCENV_TIMING_LOG=str(timing),
    )
    started = time.time()
    with log.open("w") as fh:
        proc = subprocess.run(
            [str(BIN / "molecule"), "test", "-s", scenario],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            check=False,
        )
    record_budget(log_name, time.time() - started, timing)
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
