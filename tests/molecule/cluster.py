"""What the suite knows of its own test clusters: scenarios, lanes, a scenario's run, stale leftovers.

Each scenario's full log is written to test-results/molecule-<scenario>.log; a
failure shows its last lines. After each run no container or network of the
scenario may be left behind. Every playbook a scenario runs (nested ones from
verify too) is timed by tests/harness/callback_plugins/suite_timing.py: the
runs, the site.yml passes and the slowest tasks go to the suite's budget table
(tests/conftest.py) and to test-results/timing-<scenario>.jsonl.

The scenarios run in two LANES: each lane is one test module
(tests/molecule/test_lane_*.py), which pytest-xdist's `--dist loadfile` gives to
one worker, so a lane's scenarios run in order and the two lanes side by side.
A scenario keeps about one of the two cores busy. The suite's session hooks
(tests/conftest.py) sweep leftovers once, in the main process, before any
worker starts a scenario and after the last one ended.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-results"
BIN = Path(sys.executable).parent
CALLBACKS = ROOT / "tests" / "harness" / "callback_plugins"
SITE_PLAYBOOKS = {"converge.yml", "site.yml"}  # a full pass of the cluster's site playbook
# The lanes, longest scenario first in each; about equal in minutes on 2 cores
# (the budget table of the last runs). Every scenario is in one lane
# (tests/quality/test_stories.py checks it).
LANES = {
    "a": ["shared_envs", "mirror"],
    "b": ["jupyter", "conda"],
}


def scenarios() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


def platforms(scenario: str) -> list[dict]:
    return yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())["platforms"]


def podman_names(kind: str, running_only: bool = False) -> set[str]:
    """Names of podman's containers (all, or only the running ones) or networks."""
    proc = subprocess.run(
        ["podman", kind, "ls", "--format", "json"] + (["-a"] if kind == "container" and not running_only else []),
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
    present = podman_names("container")
    # The fresh-host test's pristine node (tests/fresh_host) is the suite's too.
    stale = sorted(containers & present | {n for n in present if n.startswith("hpcenv-freshhost-")})
    if stale:
        subprocess.run(["podman", "rm", "-f", "-t", "0", *stale], capture_output=True, check=False)
        said.append(f"{when}: removed stale scenario containers {', '.join(stale)}")
    gone = sorted(networks & podman_names("network"))
    if gone:
        subprocess.run(["podman", "network", "rm", "-f", *gone], capture_output=True, check=False)
        said.append(f"{when}: removed stale scenario networks {', '.join(gone)}")
    # A stopped demo costs nothing; only a running one shares the cores.
    demo = sorted(n for n in podman_names("container", running_only=True) if n.startswith("hpcenv-demo-"))
    if demo:
        said.append(
            f"{when}: a demo cluster is running ({', '.join(demo)}): it shares this machine's cores with "
            "the suite and makes it slower; `./scripts/demo down` removes it"
        )
    return said


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
