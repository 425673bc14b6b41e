#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: shared_env_metrics
short_description: Publish one shared environment's state as node_exporter textfile metrics
version_added: 1.0.0
description:
  - Writes C(<dir>/hpcenv_shared_env_<name>.prom) for node_exporter's textfile collector, in one rename (a scrape
    never sees half a file). It says whether the environment's active version matches its lock, how many packages are
    missing, extra or changed, the active version and lock as labels of an info metric, and when it was checked.
  - Reports a change only when the state changed; the time of the check is refreshed on every run without
    counting as one, so a converged node stays C(changed=0).
  - With O(state=absent), removes the file (the environment is gone).
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
attributes:
  check_mode:
    support: full
    description: Reports whether the metrics file would change.
    details:
      - Writes nothing in check mode. A missing O(dir) is not an error in check mode (an earlier task of the
        same run may create it); the result says the file would be written. A report-only drift run that must
        still publish sets C(check_mode=false) on this task.
  diff_mode:
    support: full
    description: Shows the metrics file's lines before and after.
  idempotent:
    support: full
    description: Writes the file only when the reported state changed.
    details: The check timestamp is not part of the comparison.
options:
  name:
    description: The shared environment.
    type: str
    required: true
  dir:
    description: node_exporter's textfile directory (C(--collector.textfile.directory)); must exist.
    type: path
    default: /var/lib/prometheus/node-exporter
  state:
    description: C(present) to write the file, C(absent) to remove it.
    type: str
    choices: [present, absent]
    default: present
  variant:
    description: The build the node follows, C(cpu) or C(cuda<version>).
    type: str
    default: cpu
  in_sync:
    description: Whether the active version matches its lock.
    type: bool
    default: false
  missing:
    description: Packages of the lock absent from the active version.
    type: list
    elements: str
    default: []
  extra:
    description: Packages in the active version that the lock does not have.
    type: list
    elements: str
    default: []
  changed:
    description: Packages whose version, build or files differ from the lock (broken or unreadable records included).
    type: list
    elements: str
    default: []
  active:
    description: The active version's name (C(<name>-<lock hash>-<time>)); empty when there is none.
    type: str
    default: ""
  lock_id:
    description: The identity of the lock the node follows (its hash).
    type: str
    default: ""
  checked_at:
    description: When the state was read (seconds since the epoch); default now.
    type: float
"""

EXAMPLES = r"""
- name: Publish shared_ml's drift for Prometheus
  hpcenv.gpu_cluster.shared_env_metrics:
    name: shared_ml
    variant: cpu
    in_sync: false
    missing: [six]
    active: shared_ml-227a1be227d8-20261125154224
    lock_id: 227a1be227d8
  check_mode: false
"""

RETURN = r"""
path:
  description: The textfile.
  returned: always
  type: str
  sample: /var/lib/prometheus/node-exporter/hpcenv_shared_env_shared_ml.prom
text:
  description: What the file holds (O(state=present)).
  returned: always
  type: str
  sample: |
    # HELP hpcenv_shared_env_in_sync 1 when the active version matches its lock, else 0.
    # TYPE hpcenv_shared_env_in_sync gauge
    hpcenv_shared_env_in_sync{env="shared_ml",variant="cpu"} 0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _env_metrics


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "dir": {"type": "path", "default": _env_metrics.DEFAULT_DIR},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "variant": {"type": "str", "default": "cpu"},
            "in_sync": {"type": "bool", "default": False},
            "missing": {"type": "list", "elements": "str", "default": []},
            "extra": {"type": "list", "elements": "str", "default": []},
            "changed": {"type": "list", "elements": "str", "default": []},
            "active": {"type": "str", "default": ""},
            "lock_id": {"type": "str", "default": ""},
            "checked_at": {"type": "float"},
        },
        supports_check_mode=True,
    )
    p = module.params
    if "/" in p["name"] or p["name"] in ("", ".", ".."):
        module.fail_json(msg=f"invalid environment name {p['name']!r}")
    keys = ("variant", "in_sync", "missing", "extra", "changed", "active", "lock_id")
    state = {key: p[key] for key in keys} if p["state"] == "present" else None
    try:
        published = _env_metrics.publish(p["dir"], p["name"], state, module.check_mode, p["checked_at"])
    except _env_metrics.MetricsError as exc:
        module.fail_json(msg=str(exc), path=_env_metrics.path_of(p["dir"], p["name"]))
    result = {key: published[key] for key in ("changed", "path", "text")}
    if module._diff:
        path = published["path"]
        result["diff"] = {
            "before": published["before"],
            "after": published["text"],
            "before_header": path,
            "after_header": path,
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
