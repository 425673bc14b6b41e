"""Shared pytest fixtures and paths for the whole suite, and its time budget.

The budget table: at the end of every run the suite prints how long each part
took (host preparation, the gates, unit and toolchain tests, each Molecule
scenario with the playbook runs and site.yml passes it made) and the total, so
a change that makes the suite slower shows in its own output. The scenario
tests write test-results/budget/<scenario>.json; scripts/test writes the host
preparation's time.

Two workers (pytest-xdist, `-n 2 --dist loadfile`, as scripts/test runs it):
a Molecule scenario keeps about one of the two cores busy, so two lanes of
scenarios (tests/molecule/cluster.py) run side by side, each lane in order on
one worker; the quick tests fill the gaps. Leftover containers of this suite's scenarios are swept once,
here in the main process, before any worker starts and after the last ends.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "test-results"
BUDGET = RESULTS / "budget"
BUDGET_MINUTES = 40  # CI's budget for the whole .ci/run (README: "Tests")

# Make `ansible_collections.hpcenv.gpu_cluster` importable for unit tests
# through the self-link collections/ansible_collections/hpcenv/gpu_cluster.
sys.path.insert(0, str(ROOT / "collections"))
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))

_durations: dict[str, float] = defaultdict(float)
_session_started = time.time()


def _group(nodeid: str) -> str:
    """The budget line a test belongs to: its folder; a scenario run keeps its id (named at the end)."""
    path = nodeid.split("::", maxsplit=1)[0]
    folder = path.split("/")[1] if "/" in path else path
    return nodeid if folder == "molecule" and "::test_scenario[" in nodeid else folder


# After the lanes, the quick parts first: xdist hands a worker its next file while the
# worker still has two tests to go, so the lane that ends last takes files early, and
# those should be seconds (unit tests), not the gates' minutes (ansible-test, ansible-lint,
# galaxy-importer, the fresh host), which the worker that is free first then runs.
_AFTER_THE_LANES = ("tests/unit/", "tests/toolchain/", "tests/quality/", "tests/fresh_host/")


def _order(item) -> tuple[int, int]:
    if item.nodeid.startswith("tests/molecule/test_lane_"):
        return (0, 0)
    rank = next((i for i, prefix in enumerate(_AFTER_THE_LANES) if item.nodeid.startswith(prefix)), 0)
    return (1, rank)


def pytest_collection_modifyitems(config, items):
    """The scenario lanes first (each lane is one module, one worker's unit of work), then the rest,
    quickest parts first."""
    items.sort(key=_order)


_swept = []  # the suite sweeps only when it runs scenarios (a quick gate run leaves a developer's cluster alone)
SUITE_LOCK = Path("/run/lock/hpcenv-gpu-cluster-suite.lock")  # held by the run that owns the scenario names


def _sweep(when: str) -> None:
    import fcntl

    from tests.molecule.cluster import sweep_stale

    if not _swept:
        # Another run of the suite on this machine owns the scenarios' containers: leave them.
        fh = SUITE_LOCK.open("w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            _swept.append("not ours")
            (BUDGET / "notes-machine.txt").write_text(
                "another run of the suite is running on this machine: its containers were left alone\n"
            )
            return
        _swept.append(fh)  # kept open, so locked, until this process ends
    if "not ours" in _swept:
        return
    said = sweep_stale(when)
    if said:
        with (BUDGET / "notes-machine.txt").open("a") as fh:
            fh.write("".join(line + "\n" for line in said))


def _runs_scenarios(nodeids) -> bool:
    return any(nodeid.startswith(("tests/molecule/", "tests/fresh_host/")) for nodeid in nodeids)


def _runs_tests(config) -> bool:
    return not (config.option.collectonly or config.option.setupplan or config.option.setuponly)


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):
        BUDGET.mkdir(parents=True, exist_ok=True)
        for old in BUDGET.iterdir():
            old.unlink()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """With workers: before the first scenario is handed out."""
    if not _swept and _runs_tests(node.config) and _runs_scenarios(ids):
        _sweep("before the scenarios")


def pytest_collection_finish(session):
    """Without workers (-n 0): after collection, before the first test."""
    master = not hasattr(session.config, "workerinput")
    if master and not _swept and _runs_tests(session.config) and _runs_scenarios(i.nodeid for i in session.items):
        _sweep("before the scenarios")


def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput") and _swept:
        _sweep("after the scenarios")


def pytest_runtest_logreport(report):
    _durations[_group(report.nodeid)] += report.duration


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60:3d}:{int(seconds) % 60:02d}"


def pytest_terminal_summary(terminalreporter):
    if not _durations:
        return
    scenarios = {}  # test id -> what the scenario run recorded (tests/molecule/cluster.py)
    for path in sorted(BUDGET.glob("*.json")):
        data = json.loads(path.read_text())
        scenarios[data["nodeid"]] = data
    write = terminalreporter.write_line
    terminalreporter.section("time budget")
    write(f"{'part':34} {'wall':>7} {'playbooks':>9} {'site.yml':>8}  slowest task")
    prep_file = RESULTS / "host-preparation.seconds"
    prep = float(prep_file.read_text()) if prep_file.is_file() and os.environ.get("HPCENV_SUITE_STARTED") else 0.0
    if prep:
        write(f"{'host preparation (setup-host)':34} {_mmss(prep):>7}")
    for key, seconds in sorted(_durations.items(), key=lambda kv: ("::" in kv[0], kv[0])):
        data = scenarios.get(key, {})
        group = "scenario " + data.get("name", key.split("::")[-1]) if "::" in key else key
        slowest = data.get("slowest") or [["", 0]]
        runs = data.get("playbook_runs", "")
        passes = data.get("site_passes", "")
        name = slowest[0][0].rsplit(" (", 1)[0]  # without the task's file and line
        task = f"{slowest[0][1]:.0f} s {name[:70]}" if name else ""
        write(f"{group:34} {_mmss(seconds):>7} {runs!s:>9} {passes!s:>8}  {task}")
    started = float(os.environ.get("HPCENV_SUITE_STARTED") or _session_started)
    total = time.time() - started
    workers = terminalreporter.config.getoption("numprocesses", None) or 1
    write(f"{'total':34} {_mmss(total):>7}   (budget {BUDGET_MINUTES} min for CI's .ci/run; {workers} worker(s))")
    for note in sorted(BUDGET.glob("notes-*.txt")):
        for line in note.read_text().splitlines():
            write(f"note: {line}")
