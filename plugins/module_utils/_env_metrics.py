# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One shared environment's state as a node_exporter textfile (private to this collection).

Written by shared_env after a converge (its `metrics` option) and by shared_env_metrics for
what the nightly drift check observed: the same families, the same file, the same rule
(a change is a change of state; the check time is refreshed without counting as one).
"""

from __future__ import annotations

import os
import time

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _atomic, _prom

TIMESTAMP = "hpcenv_shared_env_last_check_timestamp_seconds"
DEFAULT_DIR = "/var/lib/prometheus/node-exporter"


class MetricsError(Exception):
    """The textfile cannot be read or written; the message says what to fix."""


def path_of(directory: str, name: str) -> str:
    return os.path.join(directory, f"hpcenv_shared_env_{name}.prom")


def families(name: str, state: dict, checked_at: float) -> list[dict]:
    """STATE: variant, in_sync, missing, extra, changed (lists), active, lock_id."""
    labels = {"env": name, "variant": state["variant"]}

    def gauge(name: str, help_text: str, value) -> dict:
        return {"name": name, "help": help_text, "type": "gauge", "samples": [(labels, value)]}

    info = dict(labels, version=state["active"], lock=state["lock_id"])
    return [
        gauge("hpcenv_shared_env_in_sync", "1 when the active version matches its lock, else 0.", state["in_sync"]),
        gauge(
            "hpcenv_shared_env_missing_packages", "Packages of the lock missing from the env.", len(state["missing"])
        ),
        gauge(
            "hpcenv_shared_env_extra_packages", "Packages in the env that the lock does not have.", len(state["extra"])
        ),
        gauge(
            "hpcenv_shared_env_changed_packages",
            "Packages whose version, build or files differ from the lock.",
            len(state["changed"]),
        ),
        {
            "name": "hpcenv_shared_env_info",
            "help": "The active version and the lock it follows, as labels; always 1.",
            "type": "gauge",
            "samples": [(info, 1)],
        },
        gauge(TIMESTAMP, "When the environment was last checked, in seconds since the epoch.", checked_at),
    ]


def publish(directory: str, name: str, state: dict | None, check_mode: bool, checked_at: float | None = None) -> dict:
    """Write NAME's textfile of STATE (see families) in DIRECTORY in one rename, or remove it when STATE is None.
    Returns changed, path, text (the new content) and before (the old one); nothing is written in check mode."""
    path = path_of(directory, name)
    after = None
    if state is not None:
        after = _prom.render(families(name, state, checked_at if checked_at is not None else time.time()))
        if not os.path.isdir(directory):
            if check_mode:  # an earlier task of the same run may create it: say what a real run would do
                return {"changed": True, "path": path, "text": after, "before": ""}
            raise MetricsError(
                f"{directory} does not exist: install node_exporter (its textfile directory) or create it"
            )
    try:
        before = _atomic.read(path)
    except OSError as exc:
        raise MetricsError(f"cannot read {path}: {exc.strerror}") from exc
    if before is None or after is None:
        changed = before is not after
    else:
        changed = _prom.without(before, (TIMESTAMP,)) != _prom.without(after, (TIMESTAMP,))
    if not check_mode:
        try:
            if after is not None:
                _atomic.write(path, after)  # the timestamp is refreshed even when nothing else changed
            elif before is not None:
                os.unlink(path)
        except OSError as exc:
            raise MetricsError(f"cannot write {path}: {exc.strerror}") from exc
    return {"changed": changed, "path": path, "text": after or "", "before": before or ""}
