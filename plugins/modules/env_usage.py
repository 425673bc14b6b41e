#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: env_usage
short_description: Measure the disk use of users' conda envs and caches and of the shared envs' kept versions
version_added: 1.0.0
description:
  - For each account in O(min_uid)..O(max_uid), finds the user's envs as conda does - in each entry of O(envs_dirs)
    with a per-user part (C(~), C($HOME), C($USER), C($LOGNAME)), expanded as conda expands it in the user's session,
    and in the user's C(~/.conda/environments.txt) (conda's own record of the envs the user created, so an env
    made with C(-p) elsewhere is found too) - and the user's own package caches in O(pkgs_dirs).
  - Measures each as C(du -s -B1) does (every inode once, so files hard-linked from a package cache count once
    inside an env; C(linked_bytes) says how much of it is such files) and counts its files as C(find | wc -l);
    says when each env was last used (its Python's access time, or conda's last change of it) and whether that is
    older than O(stale_days). Nothing is deleted.
  - Measures the shared envs' versions kept on the node (from the catalogue's pages in O(catalogue_dir)) and the
    shared package caches (the entries of O(pkgs_dirs) with no per-user part).
  - With O(metrics_dir), writes the numbers as node_exporter textfile metrics (C(hpcenv_usage.prom)), in one rename.
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
attributes:
  check_mode:
    support: full
    description: Measures, and writes no metrics file.
  diff_mode:
    support: none
    description: It changes nothing to show.
  idempotent:
    support: full
    description: Changes nothing it measures; the metrics file is rewritten at every run (its numbers are the scan's).
options:
  envs_dirs:
    description: conda's C(envs_dirs) as the system condarc has them (the conda role's C(conda_envs_dirs)).
    type: list
    elements: str
    required: true
  pkgs_dirs:
    description: conda's C(pkgs_dirs) as the system condarc has them (the conda role's C(conda_pkgs_dirs)).
    type: list
    elements: str
    default: []
  catalogue_dir:
    description: The shared envs' catalogue (one page per env, its versions kept on the node); empty for none.
    type: path
    default: ""
  stale_days:
    description: An env not used for this many days is reported stale (never removed).
    type: int
    default: 90
  min_uid:
    description: The lowest uid of the node's people (C(UID_MIN) of C(/etc/login.defs)).
    type: int
    default: 1000
  max_uid:
    description: The highest uid of the node's people (C(UID_MAX) of C(/etc/login.defs)).
    type: int
    default: 60000
  metrics_dir:
    description: node_exporter's textfile directory; empty for no metrics.
    type: path
    default: ""
"""

EXAMPLES = r"""
- name: Measure users' envs on the node
  hpcenv.gpu_cluster.env_usage:
    envs_dirs: [/opt/conda.d/envs, /scratch/$USER/conda/envs, ~/.conda/envs]
    pkgs_dirs: [/opt/conda.d/pkgs, /scratch/$USER/conda/pkgs]
    catalogue_dir: /opt/conda.d/envs/.catalogue
    metrics_dir: /var/lib/prometheus/node-exporter
  register: usage
"""

RETURN = r"""
usage:
  description: The node's report.
  returned: always
  type: dict
  contains:
    users:
      description: By user name (only users with an env or a cache), C(envs) (name, path, bytes, linked_bytes, files,
        unreadable, last_used, last_used_from, stale), C(caches) (path, bytes, ...) and C(bytes) (both together).
      type: dict
    shared:
      description: C(versions) (env, version, path, bytes, ...) and C(caches) (path, bytes, ...).
      type: dict
    stale_days:
      description: O(stale_days).
      type: int
    node:
      description: The node's host name.
      type: str
    scanned_at:
      description: When the scan began, seconds since the epoch.
      type: float
    seconds:
      description: How long it took.
      type: float
"""

import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _atomic, _prom, _usage

METRICS_FILE = "hpcenv_usage.prom"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "envs_dirs": {"type": "list", "elements": "str", "required": True},
            "pkgs_dirs": {"type": "list", "elements": "str", "default": []},
            "catalogue_dir": {"type": "path", "default": ""},
            "stale_days": {"type": "int", "default": 90},
            "min_uid": {"type": "int", "default": 1000},
            "max_uid": {"type": "int", "default": 60000},
            "metrics_dir": {"type": "path", "default": ""},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["stale_days"] < 1 or p["min_uid"] < 1 or p["max_uid"] < p["min_uid"]:
        module.fail_json(msg="stale_days and min_uid must be at least 1, and max_uid at least min_uid")
    started = time.time()
    clock = time.monotonic()
    report = _usage.scan(
        _usage.users(p["min_uid"], p["max_uid"]),
        p["envs_dirs"],
        p["pkgs_dirs"],
        p["catalogue_dir"],
        p["stale_days"],
        started,
    )
    node = socket.gethostname()
    report.update(node=node, scanned_at=started, seconds=round(time.monotonic() - clock, 3))
    result = {"changed": False, "usage": report}
    if p["metrics_dir"] and not module.check_mode:
        path = os.path.join(p["metrics_dir"], METRICS_FILE)
        try:
            _atomic.write(path, _prom.render(_usage.families(report, node, started, report["seconds"])))
        except OSError as exc:
            module.fail_json(msg=f"cannot write {path}: {exc.strerror} (is node_exporter's textfile directory there?)")
        result["metrics"] = path
    module.exit_json(**result)


if __name__ == "__main__":
    main()
