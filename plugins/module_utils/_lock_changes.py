# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers: what changed between two locks of an environment (its changelog).

Packages are compared by name: added, removed, upgraded, downgraded, rebuilt (same
version, another build), and `changed` where the two versions cannot be ordered. pip
pins count as packages named `pip:<name>`. Which of two versions is newer is the real
tools' answer, asked of the node's conda installation in one run of its Python (SCRIPT):
conda's VersionOrder for conda packages, pip's own packaging.version for pip pins, as
_matchspec asks that Python to read match specs. No Ansible imports; callers pass their
module's run_command.
"""

from __future__ import annotations

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_env, _matchspec

# Run by the Python of the node's conda installation: a JSON list of [kind, a, b] on stdin
# (kind "conda" or "pip"), a JSON list on stdout: 1 when a is newer, -1 when b is, 0 when
# they are equal, null when the tool cannot read one of them.
SCRIPT = r"""
import json, sys
from conda.models.version import VersionOrder
try:
    from pip._vendor.packaging.version import Version as PipVersion
except Exception:
    PipVersion = None

def order(kind, a, b):
    read = PipVersion if kind == "pip" and PipVersion is not None else VersionOrder
    try:
        x, y = read(a), read(b)
    except Exception:
        return None
    return (x > y) - (x < y)

json.dump([order(*pair) for pair in json.load(sys.stdin)], sys.stdout)
"""

KINDS = ("added", "removed", "upgraded", "downgraded", "rebuilt", "changed")


def packages(text: str) -> dict:
    """name -> {"kind", "version", "build"} of a lock's conda packages and pip pins ('' for none)."""
    found = {}
    if not text.strip():
        return found
    for package in _conda_env.parse_explicit(text):
        found[package["name"]] = {"kind": "conda", "version": package["version"], "build": package["build"]}
    for pin in _conda_env.parse_pip_lock(text)["pins"]:
        name, version = pin.split("==", 1)
        found[f"pip:{name}"] = {"kind": "pip", "version": version, "build": ""}
    return found


def between(previous: str, new: str, order) -> dict:
    """The changelog from lock text PREVIOUS to NEW; ORDER([[kind, a, b], ...]) -> [1, -1, 0 or None, ...]."""
    old, now = packages(previous), packages(new)
    log = {kind: [] for kind in KINDS}
    for name in sorted(set(now) - set(old)):
        log["added"].append({"name": name, "version": now[name]["version"], "build": now[name]["build"]})
    for name in sorted(set(old) - set(now)):
        log["removed"].append({"name": name, "version": old[name]["version"], "build": old[name]["build"]})
    moved = sorted(n for n in set(old) & set(now) if old[n]["version"] != now[n]["version"])
    answers = order([[now[n]["kind"], now[n]["version"], old[n]["version"]] for n in moved]) if moved else []
    for name, answer in zip(moved, answers):
        kind = {1: "upgraded", -1: "downgraded"}.get(answer, "changed")
        entry = {"name": name, "from": old[name]["version"], "to": now[name]["version"]}
        log[kind].append(dict(entry, from_build=old[name]["build"], to_build=now[name]["build"]))
    for name in sorted(set(old) & set(now)):
        if old[name]["version"] == now[name]["version"] and old[name]["build"] != now[name]["build"]:
            entry = {"name": name, "version": now[name]["version"]}
            log["rebuilt"].append(dict(entry, from_build=old[name]["build"], to_build=now[name]["build"]))
    return log


def summary(log: dict) -> str:
    """One line: the count of each kind of change, e.g. '1 added, 2 upgraded' ('no change')."""
    parts = [f"{len(log[kind])} {kind}" for kind in KINDS if log.get(kind)]
    return ", ".join(parts) or "no change"


def conda_order(run_command, python: str):
    """An ORDER function for between(): one run of PYTHON (a conda installation's) per call.

    It raises _matchspec.MatchSpecError when that Python cannot answer.
    """

    def order(pairs: list) -> list:
        return _matchspec.run_script(run_command, python, SCRIPT, pairs, len(pairs), "order package versions")

    return order
