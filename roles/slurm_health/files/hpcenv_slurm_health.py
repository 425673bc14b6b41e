# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slurm's HealthCheckProgram for hpcenv.gpu_cluster: no job on a node whose shared envs drifted.

slurmd runs it as root every HealthCheckInterval (HealthCheckNodeState=ANY, so drained nodes too).
It reads what the drift check last found on this node (the hpcenv_shared_env_*.prom files the
shared_envs role publishes for node_exporter) and:

- drains the node when an env is out of sync with its lock, with a reason that starts with the
  prefix and names the envs ("hpcenv: shared env shared_ml out of sync with its lock ...");
- undrains the node once every env is in sync again, but only when the drain reason is its
  own (scontrol's UNDRAIN: a node that is also down stays down). A node with any other reason
  (drained, down or failed by an admin or another check) is left as it is, drifted or not.

It changes nothing else and never fails the node for its own trouble (no metrics yet, scontrol
unreachable): it says so in the journal and exits 1, which slurmd only logs.
Settings: a JSON file (--config, written by the slurm_health role): metrics_dir, prefix,
slurm_bin_dir (slurmd runs it without a PATH) and ignore_envs (envs never drained for).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import socket
import stat
import subprocess
import sys

try:
    import syslog
except ImportError:  # not on Linux: stderr only
    syslog = None

CONFIG = "/etc/hpcenv-gpu-cluster/slurm-health.json"
DEFAULTS = {"metrics_dir": "/var/lib/prometheus/node-exporter", "prefix": "hpcenv:", "slurm_bin_dir": "/usr/bin",
            "ignore_envs": []}  # fmt: skip
MAX_BYTES = 65536  # a metrics file of one env is a few hundred bytes
TIMEOUT = 25  # seconds per Slurm command: slurmd stops the whole check after 60
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
        text = _read_root_file(path)
        if text is None:
            continue  # not a file root wrote, or replaced while we read: the next check reads it
        for line in text.splitlines():
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
                count = int(number) if family in _COUNTS else 0
            except (ValueError, OverflowError):  # NaN, Inf: not a value to judge by
                continue
            if family == "hpcenv_shared_env_in_sync":
                state["in_sync"] = number == 1
            elif family in _COUNTS:
                state[_COUNTS[family]] = count
    return {env: state for env, state in envs.items() if state["in_sync"] is not None}


def _read_root_file(path: str) -> str | None:
    """PATH's text when it is a regular file of root's (or the caller's), never a link, a FIFO or a user's file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid not in (0, os.geteuid()):
            return None
        return os.read(fd, MAX_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)


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


def decide(envs: dict[str, dict], reason: str, prefix: str) -> tuple[str, str | None]:
    """What to do: ("drain", reason), ("undrain", None) or ("none", None).

    reason: the node's reason in Slurm ("none" when it has none). Only a reason this program
    writes counts as its own: any other (an admin's drain, a down or failed node) is left alone.
    """
    wanted = drift_reason(envs, prefix)
    ours = reason.startswith(f"{prefix} shared env")
    if not ours and reason not in ("", "none"):
        return "none", None
    if wanted is not None:
        return ("none", None) if reason == wanted else ("drain", wanted)
    return ("undrain", None) if ours else ("none", None)


def node_name() -> str:
    """This node's name in Slurm: slurmd passes SLURMD_NODENAME; else the short host name, as slurmd's default."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname().split(".", 1)[0]


def node_reason(bin_dir: str, node: str) -> str:
    """NODE's reason in Slurm (sinfo's, one line whatever its partitions; "none" when it has none)."""
    out = subprocess.run(
        [os.path.join(bin_dir, "sinfo"), "--noheader", "--Node", "--nodes", node, "--format", "%T|%E"],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    ).stdout
    line = next((row for row in out.splitlines() if row.strip()), "")
    if "|" not in line:
        raise RuntimeError(f"sinfo knows no node {node!r}: set NodeName to the host's short name or SLURMD_NODENAME")
    return line.split("|", 1)[1].strip()


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
    ignored = set(settings["ignore_envs"])
    envs = {env: state for env, state in read_envs(settings["metrics_dir"]).items() if env not in ignored}
    if not envs:
        # No drift check has run here yet (or the directory is wrong): nothing to judge by.
        return 0
    node = node_name()
    try:
        reason = node_reason(settings["slurm_bin_dir"], node)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        log(f"cannot read {node}'s state from Slurm: {exc}; nothing done")
        return 1
    action, new_reason = decide(envs, reason, settings["prefix"])
    if action == "none":
        return 0
    scontrol = os.path.join(settings["slurm_bin_dir"], "scontrol")
    command = [scontrol, "update", f"NodeName={node}", "State=DRAIN" if action == "drain" else "State=UNDRAIN"]
    if new_reason:
        command.append(f"Reason={new_reason}")
    if args.dry_run:
        print(" ".join(command))
        return 0
    try:
        subprocess.run(command, capture_output=True, text=True, check=True, timeout=TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        log(f"scontrol update NodeName={node} failed: {detail}")
        return 1
    log(f"{node}: {'drained: ' + new_reason if action == 'drain' else 'undrained: every shared env is in sync again'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
