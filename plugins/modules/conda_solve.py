#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: conda_solve
short_description: Solve an environment.yml into an explicit lock on this node
version_added: 1.0.0
description:
  - Builds the environment described by O(environment) (an C(environment.yml) as a mapping) in a private scratch
    prefix with conda, exports it as an explicit lock (C(conda list --explicit --md5)) followed by the C(# pip:) lines
    of its C(pip:) section (its option lines, then C(name==version) of every distribution pip installed), removes
    the scratch prefix, and returns the lock as text. Nothing else on the node changes.
  - The C(hpcenv.gpu_cluster.shared_envs) role solves each spec once per rollout this way and installs the same lock
    on every node with M(hpcenv.gpu_cluster.shared_env).
  - Holds the node lock (O(node_lock)) while it uses the shared package cache, like every module that changes the
    shared installation; scratch prefixes left by killed runs are removed first.
  - Set C(CONDA_OVERRIDE_CUDA) in the task's C(environment) to solve for another CUDA driver.
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
attributes:
  check_mode:
    support: none
    description: A solve builds a prefix; run it only in normal mode.
  diff_mode:
    support: none
    description: The scratch prefix is removed again; the lock is in the result, not on the node.
  idempotent:
    support: none
    description: Each call solves anew (the channels may have changed); callers decide when to solve.
options:
  environment:
    description: An C(environment.yml) as a mapping (C(channels), C(dependencies), an optional C(pip:) list).
    type: dict
    required: true
  scratch_dir:
    description: Where the scratch prefixes are made (on the same file system as the package cache, so conda hardlinks).
    type: path
    required: true
  root_prefix:
    description: The conda installation whose C(bin/conda) solves.
    type: path
    default: /opt/conda
  node_lock:
    description: The node lock file, shared by everything that changes the shared installation.
    type: path
    default: /run/lock/hpcenv.gpu_cluster.lock
  lock_timeout:
    description: Seconds to wait for the node lock before failing with the name of its holder.
    type: int
    default: 1800
  lock_by:
    description: Who takes the lock (the playbook run), shown to a run that has to wait.
    type: str
    default: ""
seealso:
  - module: hpcenv.gpu_cluster.shared_env
  - module: hpcenv.gpu_cluster.conda_env
"""

EXAMPLES = r"""
- name: Solve a team's environment for CPU nodes
  hpcenv.gpu_cluster.conda_solve:
    environment:
      channels: [conda-forge]
      dependencies: [python=3.11, numpy, pandas]
    scratch_dir: /opt/conda.d/envs/.staging
  environment:
    CONDA_OVERRIDE_CUDA: ""
  register: solved

- name: Keep the lock on the controller
  ansible.builtin.copy:
    content: "{{ solved.lock }}"
    dest: locks/team.linux-64.cpu.explicit.txt
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
lock:
  description: The explicit lock, with one C(# pip:) line per pip option and pinned distribution.
  returned: success
  type: str
  sample: "# platform: linux-64\n@EXPLICIT\nhttp://mirror/conda-forge/noarch/six-1.17.0-pyh0_0.conda#0123...\n"
packages:
  description: The solved packages (C(name), C(version), C(build)).
  returned: success
  type: list
  elements: dict
pip_lock:
  description: The C(# pip:) part of RV(lock), one entry per line.
  returned: success
  type: list
  elements: str
waited:
  description: Seconds spent waiting for the node lock.
  returned: always
  type: float
cmd:
  description: The commands run.
  returned: always
  type: list
  elements: list
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import (
    _conda_env,
    _conda_meta,
    _lock_install,
    _node_lock,
)

SCRATCH_PREFIX = "solve-"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "environment": {"type": "dict", "required": True},
            "scratch_dir": {"type": "path", "required": True},
            "root_prefix": {"type": "path", "default": "/opt/conda"},
            "node_lock": {"type": "path", "default": _node_lock.DEFAULT_PATH},
            "lock_timeout": {"type": "int", "default": 1800},
            "lock_by": {"type": "str", "default": ""},
        },
        supports_check_mode=False,
    )
    p = module.params
    try:
        env = _conda_env.parse_environment(p["environment"])
    except _conda_env.SpecError as exc:
        module.fail_json(msg=f"environment spec: {exc}")
    conda = os.path.join(p["root_prefix"], "bin", "conda")
    if not os.path.exists(conda):
        module.fail_json(msg=f"{conda} not found: install conda (hpcenv.gpu_cluster.conda) first")
    run = _lock_install.Runner(module.run_command)
    result = {"changed": False, "cmd": run.commands}
    try:
        with _node_lock.NodeLock(p["node_lock"], p["lock_timeout"], "solving an environment", p["lock_by"]) as lock:
            result["waited"] = round(lock.waited, 1)
            result.update(_solve(run, conda, env, p["scratch_dir"]))
    except _node_lock.LockTimeoutError as exc:
        module.fail_json(msg=str(exc), **result)
    except _lock_install.CommandFailedError as exc:
        module.fail_json(msg=f"solving the environment failed: {exc.reason}", **{**result, **exc.details()})
    module.exit_json(**result)


def _solve(run: _lock_install.Runner, conda: str, env: dict, scratch_dir: str) -> dict:
    os.makedirs(scratch_dir, mode=0o755, exist_ok=True)
    # We hold the node lock: no other solve is running, so any scratch prefix here is a killed run's.
    for stale in os.listdir(scratch_dir):
        shutil.rmtree(os.path.join(scratch_dir, stale), ignore_errors=True)
    prefix = tempfile.mkdtemp(dir=scratch_dir, prefix=SCRATCH_PREFIX)
    os.rmdir(prefix)  # conda creates it
    try:
        channels = [arg for channel in env["channels"] for arg in ("-c", channel)]
        run([conda, "create", "--yes", "--json", "-p", prefix, *channels, *env["specs"]])
        if env["pip"]:
            requirements = os.path.join(prefix, "conda-meta", "hpcenv-pip-requirements.txt")
            with open(requirements, "w", encoding="utf-8") as fh:
                fh.write("".join(f"{line}\n" for line in env["pip"]))
            python = os.path.join(prefix, "bin", "python")
            run([python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "-r", requirements])
        rc, explicit, err = run.run_command(
            [conda, "list", "--explicit", "--md5", "-p", prefix], environ_update={"LC_ALL": "C"}
        )
        run.commands.append([conda, "list", "--explicit", "--md5", "-p", prefix])
        if rc != 0:
            raise _lock_install.CommandFailedError(run.commands[-1], rc, explicit, err)
        pins = _conda_meta.pip_installed(prefix) if env["pip"] else []
        pip_lock = _conda_env.pip_options(env["pip"]) + pins
        packages = [
            {"name": r["name"], "version": r["version"], "build": r["build"]}
            for r in _conda_meta.read_records_checked(prefix)[0]
        ]
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
    lock = explicit.rstrip("\n") + "\n" + "".join(f"{_conda_env.PIP_LOCK_MARK}{line}\n" for line in pip_lock)
    return {"lock": lock, "packages": packages, "pip_lock": pip_lock}


if __name__ == "__main__":
    main()
