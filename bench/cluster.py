"""Benchmark: site.yml at scale, on clusters of 1, 4, 8 and 16 systemd nodes.

    .venv/bin/python -m bench.cluster [--nodes 1 4 8 16] [--rounds 3] [--env ANSIBLE_X=value ...] [--pipelined] [--keep]

For each size N it starts a fresh cluster on the Podman network hpcenv-bench: the
TEST DOUBLE upstream (the offline stand-in for conda-forge and the installer
downloads), one channel mirror (roles/channel_mirror, for real) and N GPU nodes
(localhost/hpcenv-node:bookworm, real systemd and real conda), all reached with
the containers.podman connection. Then, timed from the control host:

  rollout   the first `ansible-playbook site.yml` (installer, conda, one solve,
            the same lock installed on every node)
  no-op     `ansible-playbook site.yml` again on the converged cluster (changed=0)
  setup     `ansible gpu_nodes -m ansible.builtin.setup`: the transport's floor
  drift     `ansible-playbook playbooks/drift.yml` (the nightly check, check mode)

(the no-op and the setup round alternate, --rounds times each; the table shows
their medians, and results.json every round's time), and reads the mirror's and
the upstream's access logs for the bytes the mirror delivered to the nodes and
the bytes it fetched from upstream. It prints one
table (and writes it, with every run's log, under --out). --env passes settings
to every Ansible run (ANSIBLE_FORKS=5, ANSIBLE_CACHE_PLUGIN=memory, ...) and
--mitogen runs Mitogen's strategy, and --pipelined the test harness's Podman
connection that pipelines modules (one `podman exec` each, as SSH with
pipelining on real nodes, instead of containers.podman's four), so each
speed-up is measured on the same machine, side by side with the default. No-op and drift use the fact cache as
ansible.cfg sets it (gathering = smart), filled by the rollout.
Containers, network and facts are removed after each size unless --keep (which
keeps the last cluster up; remove it with --down).

    .venv/bin/python -m bench.cluster --demo [--rounds 3]

times the demo-shaped cluster instead: the README's demo (scripts/demo: a mirror
and two GPU nodes, the first also the JupyterHub host), started and converged if
it is not up. On the same hosts, --rounds times each, alternating: a no-op
`site.yml` and an `ansible -m setup` round; then both again with the test
harness's pipelined Podman connection (one `podman exec` a module, as SSH with
pipelining is on real nodes), since the demo's containers.podman connection
spends four `podman exec` calls on every module. The demo is left up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/hpcenv-node:bookworm"
NETWORK = "hpcenv-bench"
LABEL = "hpcenv.bench=1"
UPSTREAM = "hpcenv-bench-upstream"
MIRROR = "hpcenv-bench-mirror"
MIRROR_LOG = "/var/log/nginx/hpcenv-mirror.access.log"
UPSTREAM_LOG = "/var/log/upstream/access.log"
# Mirror: '$remote_addr [$time_local] "$request" $status $body_bytes_sent cache=...' (roles/channel_mirror).
MIRROR_BYTES = re.compile(r'" \d{3} (\d+) cache=')
# Upstream: '<unix time> <client> <METHOD> <path> <status> <bytes sent>' (tests/support/toolchain/serve.py).
UPSTREAM_BYTES = re.compile(r" \d{3} (\d+)$")
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)"
)

# The bench's shared environment: the demo's shared_ml without its pip: section,
# so that every byte a node installs comes through the mirror.
GROUP_VARS = {
    "all": {
        "ansible_connection": "containers.podman.podman",
        "ansible_python_interpreter": "/usr/bin/python3",
    },
    "mirrors": {
        "channel_mirror_conda_upstream": f"http://{UPSTREAM}:8000",
        "channel_mirror_installer_upstreams": {"miniforge": f"http://{UPSTREAM}:8000/releases/miniforge"},
    },
    "gpu_nodes": {
        "conda_installer_checksums": (
            "{{ lookup('ansible.builtin.file', bench_toolchain_dir ~ '/checksums.json') | from_json }}"
        ),
        "conda_version": "26.7.1-0",
        "conda_condarc_extra": {"solver": "classic"},
        "conda_allowlist_channels": ["conda-forge"],
        "shared_envs_list": [
            {
                "name": "shared_ml",
                "environment": {
                    "channels": ["conda-forge"],
                    "dependencies": [
                        "python=3.11",
                        "numpy>=2",
                        "pandas",
                        "scikit-learn",
                        "pytorch",
                        "tqdm",
                        "requests",
                        "pip",
                    ],
                },
            }
        ],
    },
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def podman(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        sys.exit(f"podman {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def node_names(n: int) -> list[str]:
    return [f"hpcenv-bench-node{i:02d}" for i in range(1, n + 1)]


def down() -> None:
    ids = podman("ps", "-aq", "--filter", f"label={LABEL}").split()
    if ids:
        podman("rm", "-f", "-t", "0", *ids)
    if subprocess.run(["podman", "network", "exists", NETWORK], check=False).returncode == 0:
        podman("network", "rm", "-f", NETWORK)


def start(n: int) -> None:
    podman("network", "create", "--label", LABEL, NETWORK)
    if podman("network", "inspect", "--format", "{{.DNSEnabled}}", NETWORK).strip() != "true":
        sys.exit(f"network {NETWORK} has no name resolution: run scripts/setup-host (it installs the DNS plugin)")
    common = ["run", "-d", "--network", NETWORK, "--label", LABEL, "--systemd=always"]
    podman(
        *common,
        "--name", UPSTREAM, "--hostname", UPSTREAM,
        "-v", f"{ROOT}/.cache/toolchain/upstream:/srv/upstream:ro",
        "-v", f"{ROOT}/tests/support/toolchain:/srv/toolchain:ro",
        IMAGE, "/sbin/init",
    )  # fmt: skip
    for name in [MIRROR, *node_names(n)]:
        podman(*common, "--name", name, "--hostname", name, IMAGE, "/sbin/init")
    for name in [UPSTREAM, MIRROR, *node_names(n)]:
        state = podman("exec", name, "timeout", "90", "systemctl", "is-system-running", "--wait", check=False)
        if state.strip() not in ("running", "degraded"):
            sys.exit(f"{name}: systemd did not come up ({state.strip()!r})")


def write_inventory(inv: Path, n: int, connection: str) -> None:
    groups = {"upstream": [UPSTREAM], "mirrors": [MIRROR], "gpu_nodes": node_names(n)}
    write_inventory_files(inv, groups, {"all": {"ansible_connection": connection}})


def write_inventory_files(inv: Path, groups: dict[str, list[str]], extra: dict[str, dict]) -> None:
    """A bench's inventory in INV: GROUPS (name -> hosts), and GROUP_VARS with EXTRA's values over them
    (and the toolchain the GPU nodes' installer checksums come from)."""
    inv.mkdir(parents=True)
    hosts = {"all": {"children": {group: {"hosts": dict.fromkeys(names)} for group, names in groups.items()}}}
    (inv / "hosts.yml").write_text(json.dumps(hosts, indent=2) + "\n")
    (inv / "group_vars").mkdir()
    extra = {**extra, "gpu_nodes": {"bench_toolchain_dir": str(ROOT / ".cache" / "toolchain" / "upstream"),
                                    **extra.get("gpu_nodes", {})}}  # fmt: skip
    for group in sorted(set(GROUP_VARS) | set(extra)):
        values = {**GROUP_VARS.get(group, {}), **extra.get(group, {})}
        (inv / "group_vars" / f"{group}.yml").write_text(json.dumps(values, indent=2) + "\n")


def ansible(argv: list[str], env: dict[str, str], logfile: Path) -> tuple[float, dict[str, dict[str, int]]]:
    """Run an Ansible command; return its wall time and the PLAY RECAP per host."""
    started = time.monotonic()
    with logfile.open("w") as fh:
        proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        tail = "\n".join(logfile.read_text().splitlines()[-40:])
        sys.exit(f"{' '.join(argv)} failed (rc {proc.returncode}, log {logfile}):\n{tail}")
    recap: dict[str, dict[str, int]] = {}
    for line in logfile.read_text().splitlines():
        m = RECAP.match(line)
        if m:
            counts = {k: int(v) for k, v in m.groupdict().items() if k != "host"}
            # A playbook of several plays prints one recap per host, summed over the plays.
            recap[m["host"]] = counts
    return elapsed, recap


def log_bytes(container: str, path: str, pattern: re.Pattern[str]) -> int:
    """Sum the bytes sent over an access log (the pattern's one group)."""
    lines = podman("exec", container, "cat", path, check=False).splitlines()
    return sum(int(m[1]) for line in lines if (m := pattern.search(line)))


# The Ansible commands of this virtualenv, whatever PATH the bench was started with.
BIN = Path(sys.executable).parent


def ansible_env(extra_env: dict[str, str]) -> dict[str, str]:
    """The environment of every Ansible run: the repository's ansible.cfg, no colours, then extra_env."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="false", PY_COLORS="0")
    env["PATH"] = f"{BIN}:{env['PATH']}"
    return {**env, **extra_env}


def one_size(n: int, work: Path, extra_env: dict[str, str], rounds: int) -> dict:
    down()
    inv = work / f"n{n}" / "inventory"
    logs = work / f"n{n}"
    # Mitogen replaces the transport named `podman`, not the collection's FQCN.
    # So does the harness's pipelined connection (--pipelined), found first through ANSIBLE_CONNECTION_PLUGINS.
    short_name = extra_env.get("ANSIBLE_STRATEGY") == "mitogen_linear" or "ANSIBLE_CONNECTION_PLUGINS" in extra_env
    write_inventory(inv, n, "podman" if short_name else "containers.podman.podman")
    env = ansible_env({"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(logs / "facts"), **extra_env})
    playbook = [str(BIN / "ansible-playbook"), "-i", str(inv)]
    log(f"{n} node(s): starting the cluster")
    start(n)
    ansible([*playbook, "tests/harness/upstream.yml"], env, logs / "upstream.log")
    result: dict = {"nodes": n}
    noop = ("noop", [*playbook, "site.yml"])
    setup = ("setup", [str(BIN / "ansible"), "-i", str(inv), "gpu_nodes", "-m", "ansible.builtin.setup"])
    # The no-op and the setup round alternate, ROUNDS times each: the ratio is of their medians, so
    # that one slow round of either (this host's load moves) does not decide it.
    steps = [
        ("rollout", [*playbook, "site.yml"]),
        *[noop, setup] * rounds,
        ("drift", [*playbook, "playbooks/drift.yml"]),
    ]
    timings: dict[str, list[float]] = {}
    for name, argv in steps:
        timings.setdefault(name, [])
        tag = f"-{len(timings[name])}" if name in ("noop", "setup") else ""
        log(f"{n} node(s): {name}{tag}")
        seconds, recap = ansible(argv, env, logs / f"{name}{tag}.log")
        timings[name].append(round(seconds, 2))
        nodes = {h: c for h, c in recap.items() if h.startswith("hpcenv-bench-node")}
        result[name] = {
            "seconds": round(statistics.median(timings[name]), 2),
            "rounds": timings[name],
            "tasks_per_node": max((c["ok"] + c["skipped"] + c["failed"] for c in nodes.values()), default=0),
            "ran_per_node": max((c["ok"] for c in nodes.values()), default=0),
            # The cluster's hosts only: drift.yml writes its reports on the control host; every round's.
            "changed": result.get(name, {}).get("changed", 0)
            + sum(c["changed"] for h, c in recap.items() if h != "localhost"),
        }
        if name == "rollout":
            # Bytes of the rollout alone: what a rack of new nodes costs the mirror and the upstream.
            result["mirror_delivered_bytes"] = log_bytes(MIRROR, MIRROR_LOG, MIRROR_BYTES)
            result["upstream_sent_bytes"] = log_bytes(UPSTREAM, UPSTREAM_LOG, UPSTREAM_BYTES)
    if result["noop"]["changed"]:
        log(f"WARNING: the no-op converges changed {result['noop']['changed']} task(s); see {logs}/noop-*.log")
    return result


DEMO_INVENTORY = ROOT / "inventories" / "demo"
DEMO_HOSTS = "all:!upstream"
# ansible.cfg turns pipelining on for SSH only ([ssh_connection]); this connection reads [connection].
PIPELINED = {
    "ANSIBLE_CONNECTION_PLUGINS": str(ROOT / "tests" / "harness" / "connection_plugins"),
    "ANSIBLE_PIPELINING": "true",
}


def demo(rounds: int, work: Path) -> str:
    """No-op site.yml against the setup round on the demo's hosts, with each transport; a Markdown table."""
    running = podman("ps", "--filter", "label=hpcenv.demo=1", "--format", "{{.Names}}").split()
    if "hpcenv-demo-gpu1" not in running:
        log("the demo is not up: ./scripts/demo")
        subprocess.run([str(ROOT / "scripts" / "demo")], cwd=ROOT, check=True)
    inv = ["-i", str(DEMO_INVENTORY)]
    rows = [
        "| transport | no-op site.yml s (median) | setup s (median) | no-op/setup | tasks per host (ran): "
        "gpu1 (hub) / gpu2 / mirror | no-op changed |",
        "|---|---|---|---|---|---|",
    ]
    for label, extra_env, extra_args in (
        ("containers.podman (the demo's)", {}, []),
        ("pipelined podman exec (as SSH with pipelining)", PIPELINED, ["-e", "ansible_connection=podman"]),
    ):
        env = ansible_env(extra_env)
        noop, setup, recap = [], [], {}
        for i in range(rounds):
            tag = f"{'pipelined' if extra_env else 'default'}-{i}"
            log(f"demo, {label}: round {i + 1} of {rounds}")
            seconds, recap = ansible(
                [str(BIN / "ansible-playbook"), *inv, *extra_args, "site.yml"], env, work / f"noop-{tag}.log"
            )
            noop.append(seconds)
            setup.append(
                ansible(
                    [str(BIN / "ansible"), *inv, *extra_args, DEMO_HOSTS, "-m", "ansible.builtin.setup"],
                    env,
                    work / f"setup-{tag}.log",
                )[0]
            )
        med_noop, med_setup = statistics.median(noop), statistics.median(setup)
        tasks = " / ".join(
            f"{c['ok'] + c['skipped']} ({c['ok']})"
            for c in (
                recap.get(h, {"ok": 0, "skipped": 0})
                for h in ("hpcenv-demo-gpu1", "hpcenv-demo-gpu2", "hpcenv-demo-mirror")
            )
        )
        changed = sum(c["changed"] for c in recap.values())
        rows.append(
            f"| {label} | {med_noop:.1f} | {med_setup:.1f} | {med_noop / med_setup:.1f} | {tasks} | {changed} |"
        )
    header = f"{datetime.now(timezone.utc):%Y-%m-%d}, {os.cpu_count()} cores, demo cluster, {rounds} rounds each"
    return header + "\n\n" + "\n".join(rows) + "\n"


def mitogen_env() -> dict[str, str]:
    """Mitogen's linear strategy; it takes over the short connection name `podman` (see write_inventory)."""
    try:
        import ansible_mitogen  # noqa: PLC0415 - optional, only for this variant
    except ImportError:
        sys.exit("--mitogen needs the mitogen package in this virtualenv: pip install mitogen")
    strategy = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(strategy), "ANSIBLE_STRATEGY": "mitogen_linear"}


def table(results: list[dict], extra_env: dict[str, str]) -> str:
    base = results[0]
    rows = [
        "| nodes | rollout s | no-op s | setup s | drift s | no-op tasks/node (ran) | no-op changed "
        "| no-op/setup | rollout(N)/(1) | setup(N)/(1) | drift(N)/(1) | upstream/delivered |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        delivered = r["mirror_delivered_bytes"]
        ratio = f"{r['upstream_sent_bytes'] / delivered:.3f} ({r['upstream_sent_bytes'] >> 20} / {delivered >> 20} MiB)"
        rows.append(
            f"| {r['nodes']} | {r['rollout']['seconds']:.0f} | {r['noop']['seconds']:.1f} "
            f"| {r['setup']['seconds']:.1f} "
            f"| {r['drift']['seconds']:.1f} | {r['noop']['tasks_per_node']} ({r['noop']['ran_per_node']}) "
            f"| {r['noop']['changed']} | {r['noop']['seconds'] / r['setup']['seconds']:.1f} "
            f"| {r['rollout']['seconds'] / base['rollout']['seconds']:.2f} "
            f"| {r['setup']['seconds'] / base['setup']['seconds']:.2f} "
            f"| {r['drift']['seconds'] / base['drift']['seconds']:.2f} | {ratio} |"
        )
    settings = " ".join(f"{k}={v}" for k, v in extra_env.items()) or "ansible.cfg defaults"
    cpus = os.cpu_count()
    header = f"{datetime.now(timezone.utc):%Y-%m-%d}, {cpus} cores, settings: {settings}"
    return header + "\n\n" + "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="set for every Ansible run")
    parser.add_argument(
        "--mitogen", action="store_true", help="run every playbook with Mitogen's strategy (pip install mitogen)"
    )
    parser.add_argument(
        "--pipelined",
        action="store_true",
        help="reach the nodes with the test harness's pipelined Podman connection (one podman exec a module)",
    )
    parser.add_argument("--out", type=Path, help="results directory (default: a new one under .cache/bench)")
    parser.add_argument("--keep", action="store_true", help="leave the last cluster up")
    parser.add_argument("--down", action="store_true", help="only remove a kept cluster")
    parser.add_argument("--demo", action="store_true", help="time no-op site.yml against setup on the demo cluster")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the no-op and setup, alternating (medians)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.down:
        down()
        return
    if not (ROOT / ".cache" / "toolchain" / "upstream" / "checksums.json").exists():
        sys.exit("the offline toolchain is missing: run scripts/setup-host first")
    extra_env = dict(item.split("=", 1) for item in args.env)
    if args.mitogen:
        extra_env.update(mitogen_env())
    if args.pipelined:
        extra_env.update(PIPELINED)
    (ROOT / ".cache" / "bench").mkdir(parents=True, exist_ok=True)
    work = args.out or Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%dT%H%M%S-"), dir=ROOT / ".cache" / "bench"))
    if args.out and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if args.demo:
        text = demo(args.rounds, work)
        (work / "results.md").write_text(text)
        print(text)
        print(f"logs and results: {work}")
        return
    results = []
    try:
        for n in args.nodes:
            started = time.monotonic()
            results.append(one_size(n, work, extra_env, args.rounds))
            results[-1]["bench_seconds"] = round(time.monotonic() - started)
            log(f"{n} node(s) done in {results[-1]['bench_seconds']} s")
            (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if not args.keep:
            down()
    text = table(results, extra_env)
    (work / "results.md").write_text(text)
    print(text)
    print(f"logs and results: {work}")


if __name__ == "__main__":
    main()
