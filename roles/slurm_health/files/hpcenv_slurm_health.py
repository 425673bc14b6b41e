# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slurm's HealthCheckProgram for hpcenv.gpu_cluster: no job on a node whose shared envs drifted.

slurmd runs it as root every HealthCheckInterval (HealthCheckNodeState=ANY, so drained nodes too).
It reads what the drift check last found on this node (the hpcenv_shared_env_*.prom files the
shared_envs role publishes for node_exporter) and:

- drains the node when an env is out of sync with its lock, with a reason that starts with the
  prefix and names the envs ("hpcenv: shared env shared_ml out of sync with its lock ...");
- resumes the node once every env is in sync again, but only when the drain reason is its own:
  a node drained by an admin or by another check stays drained.

It changes nothing else and never fails the node for its own trouble (no metrics yet, scontrol
unreachable): it says so in the journal and exits 1, which slurmd logs.
Settings: a JSON file (--config, written by the slurm_health role) with metrics_dir and prefix.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import socket
import subprocess
import sys

try:
    import syslog
except ImportError:  # not on Linux: stderr only
    syslog = None

CONFIG = "/etc/hpcenv-gpu-cluster/slurm-health.json"
DEFAULTS = {"metrics_dir": "/var/lib/prometheus/node-exporter", "prefix": "hpcenv:"}
_SAMPLE = re.compile(r"^(hpcenv_shared_env_[a-z_]+)\{(.*)\}\s+(\S+)\s*$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_COUNTS = {
    "hpcenv_shared_env_missing_packages": "missing",
    "hpcenv_shared_env_extra_packages": "extra",
    "hpcenv_shared_env_changed_packages": "changed",
}


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def read_envs(metrics_dir: str) -> dict[str, dict]:
    """Each env's last drift check on this node: {env: {in_sync, missing, extra, changed}}."""
    envs: dict[str, dict] = {}
    for path in sorted(glob.glob(os.path.join(metrics_dir, "hpcenv_shared_env_*.prom"))):
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue  # replaced or removed while we read: the next check reads it
        for line in lines:
            match = _SAMPLE.match(line)
            if not match:
                continue
            family, labels, value = match.groups()
            env = dict((key, _unescape(val)) for key, val in _LABEL.findall(labels)).get("env")
            if env is None:
                continue
            state = envs.setdefault(env, {"in_sync": None, "missing": 0, "extra": 0, "changed": 0})
            try:
                number = float(value)
            except ValueError:
                continue
            if family == "hpcenv_shared_env_in_sync":
                state["in_sync"] = number == 1
            elif family in _COUNTS:
                state[_COUNTS[family]] = int(number)
    return {env: state for env, state in envs.items() if state["in_sync"] is not None}


def drift_reason(envs: dict[str, dict], prefix: str) -> str | None:
    """The drain reason for the envs out of sync (None when every env is in sync)."""
    drifted = sorted(env for env, state in envs.items() if not state["in_sync"])
    if not drifted:
        return None
    parts = []
    for env in drifted:
        state = envs[env]
        parts.append(f"{env} ({state['missing']} missing, {state['extra']} extra, {state['changed']} changed)")
    noun = "env" if len(drifted) == 1 else "envs"
    return f"{prefix} shared {noun} {', '.join(parts)} out of sync with the lock; drift.yml -e correct=true repairs"


def decide(envs: dict[str, dict], state: str, reason: str, prefix: str) -> tuple[str, str | None]:
    """What to do: ("drain", reason), ("resume", None) or ("none", None).

    state: sinfo's extended node state (idle, mixed, drained, draining...); reason: its drain
    reason ("none" when it has none).
    """
    wanted = drift_reason(envs, prefix)
    drained = state.rstrip("*~#!%$@^-").startswith(("drain", "drng"))
    ours = reason.startswith(prefix)
    if wanted is not None:
        if reason == wanted or (drained and not ours):
            return "none", None  # said already, or drained by someone else: their reason stays
        return "drain", wanted  # not drained yet, or drained by us for other envs: say which now
    if drained and ours:
        return "resume", None
    return "none", None


def node_name() -> str:
    """This node's name in Slurm: slurmd passes SLURMD_NODENAME; else the short host name, as slurmd's default."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname().split(".", 1)[0]


def node_state(node: str) -> tuple[str, str]:
    """sinfo's extended state and drain reason of NODE (one line whatever its partitions)."""
    out = subprocess.run(
        ["sinfo", "--noheader", "--Node", "--nodes", node, "--format", "%T|%E"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    line = next((row for row in out.splitlines() if row.strip()), "")
    if "|" not in line:
        raise RuntimeError(f"sinfo knows no node {node!r}: set NodeName to the host's short name or SLURMD_NODENAME")
    state, reason = line.split("|", 1)
    return state.strip(), reason.strip()


def log(message: str) -> None:
    print(message, file=sys.stderr)
    if syslog is not None:
        syslog.openlog("hpcenv-slurm-health")
        syslog.syslog(message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default=CONFIG, help=f"settings (JSON; default {CONFIG})")
    parser.add_argument("--dry-run", action="store_true", help="say what it would do, change nothing")
    args = parser.parse_args(argv)
    settings = dict(DEFAULTS)
    try:
        with open(args.config, encoding="utf-8") as fh:
            settings.update(json.load(fh))
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        log(f"cannot read {args.config}: {exc}; nothing done")
        return 1
    envs = read_envs(settings["metrics_dir"])
    if not envs:
        # No drift check has run here yet (or the directory is wrong): nothing to judge by.
        return 0
    node = node_name()
    try:
        state, reason = node_state(node)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        log(f"cannot read {node}'s state from Slurm: {exc}; nothing done")
        return 1
    action, new_reason = decide(envs, state, reason, settings["prefix"])
    if action == "none":
        return 0
    command = ["scontrol", "update", f"NodeName={node}", "State=DRAIN" if action == "drain" else "State=RESUME"]
    if new_reason:
        command.append(f"Reason={new_reason}")
    if args.dry_run:
        print(" ".join(command))
        return 0
    try:
        subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        log(f"{' '.join(command[:4])} failed: {detail}")
        return 1
    log(f"{node}: {'drained: ' + new_reason if action == 'drain' else 'resumed: every shared env is in sync again'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
