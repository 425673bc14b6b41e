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
  - The node's conda reads the specs first, with conda's own MatchSpec in one run of O(root_prefix)'s Python. A spec
    conda refuses fails the task with conda's reason, the spec and O(source), before anything is built. In check
    mode that reading is all it does, so a drift check names a bad spec without solving.
  - C(nodefaults) in C(channels) means only the listed channels (C(--override-channels)), as in conda and in
    M(hpcenv.gpu_cluster.conda_env).
  - Set C(CONDA_OVERRIDE_CUDA) in the task's C(environment) to solve for another CUDA driver.
  - Given O(previous_lock), it returns the changelog from that lock to the new one (RV(changes)), with the versions
    ordered by the node's conda (C(VersionOrder)) and, for pip pins, by pip's own version rules.
  - A solve that gives another lock than O(previous_lock) appends one line to the audit log of the node that solved
    (O(audit_log)), with the spec's source, the previous lock's id and the new one, and the changelog's summary.
  - Given O(lock) instead of O(environment) (an explicit lock an admin brings, such as a C(shared_envs) item's
    C(lock_file)), it solves nothing. It reads that lock and returns what a solve giving it would (RV(lock_id),
    RV(packages), RV(pip_lock) and, with O(previous_lock), the changelog), so the lock can be recorded as the next
    version like a solved one. The audit line says C(lock) instead of C(solve).
extends_documentation_fragment:
  - hpcenv.gpu_cluster.audit
  - hpcenv.gpu_cluster.node_lock
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
attributes:
  check_mode:
    support: partial
    description: Can run in check mode and checks the spec without solving it.
    details:
      - Reads the specs with the node's conda and reports any it refuses; solves nothing and returns no RV(lock).
      - Where conda is not installed yet, says so in RV(msg) and checks nothing.
  diff_mode:
    support: none
    description: The scratch prefix is removed again; the lock is in the result, not on the node.
  idempotent:
    support: none
    description: Each call solves anew (the channels may have changed); callers decide when to solve.
options:
  environment:
    description:
      - An C(environment.yml) as a mapping (C(channels), C(dependencies), an optional C(pip:) list).
      - Exactly one of O(environment) and O(lock).
    type: dict
  lock:
    description:
      - An explicit lock (C(@EXPLICIT), optional C(# pip:) lines) to take as it is, instead of solving O(environment).
      - Exactly one of O(environment) and O(lock).
    type: str
  source:
    description: Where O(environment) comes from (an C(environment.yml) path, an inventory variable), named in errors.
    type: str
    default: environment
  scratch_dir:
    description: Where the scratch prefixes are made (on the same file system as the package cache, so conda hardlinks).
    type: path
    required: true
  root_prefix:
    description: The conda installation whose C(bin/conda) solves.
    type: path
    default: /opt/conda
  previous_lock:
    description:
      - The text of the lock this solve replaces, to return what changed (RV(changes)). Empty for a first solve,
        whose changelog adds every package.
      - Omitted, no changelog is made.
    type: str
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
lock_id:
  description: The new lock's id (the one M(hpcenv.gpu_cluster.shared_env) names versions by).
  returned: success
  type: str
  sample: 227a1be227d8
previous_lock_id:
  description: The id of O(previous_lock), the lock RV(changes) are from.
  returned: success, when O(previous_lock) is given and not empty
  type: str
  sample: 1f0e2a9b7d6c
changes:
  description:
    - What changed from O(previous_lock) to the new lock, by package name (pip pins as C(pip:<name>)).
    - C(added) and C(removed) entries have C(name), C(version), C(build); C(upgraded), C(downgraded) and C(changed)
      (versions the tools cannot order) have C(name), C(from), C(to), C(from_build), C(to_build); C(rebuilt) (same
      version, another build) has C(name), C(version), C(from_build), C(to_build).
  returned: success, when O(previous_lock) is given and can be read
  type: dict
  sample: {"added": [{"name": "tqdm", "version": "4.66.5", "build": "pyhd8ed1ab_0"}], "removed": [], "upgraded": [],
           "downgraded": [], "rebuilt": [], "changed": []}
summary:
  description: RV(changes) in one line.
  returned: success, when O(previous_lock) is given and can be read
  type: str
  sample: 1 added, 2 upgraded
waited:
  description: Seconds spent waiting for the node lock.
  returned: when it solved
  type: float
msg:
  description: In check mode, what was checked.
  returned: check mode
  type: str
  sample: "3 match specs read by /opt/conda/bin/python's conda: nothing refused"
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
    _audit,
    _conda_env,
    _conda_meta,
    _lock_changes,
    _lock_install,
    _matchspec,
    _node_lock,
)

SCRATCH_PREFIX = "solve-"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "environment": {"type": "dict"},
            "lock": {"type": "str"},
            "source": {"type": "str", "default": "environment"},
            "scratch_dir": {"type": "path", "required": True},
            "root_prefix": {"type": "path", "default": "/opt/conda"},
            "previous_lock": {"type": "str"},
            **_node_lock.ARGUMENT_SPEC,
            **_audit.ARGUMENT_SPEC,
        },
        required_one_of=[("environment", "lock")],
        mutually_exclusive=[("environment", "lock")],
        supports_check_mode=True,
    )
    p = module.params
    python = _matchspec.python_of(p["root_prefix"])
    conda = os.path.join(p["root_prefix"], "bin", "conda")
    if p["lock"] is not None:
        _given(module, python)
    try:
        env = _conda_env.parse_environment(p["environment"])
    except _conda_env.SpecError as exc:
        module.fail_json(msg=f"environment spec: {p['source']}: {exc}")
    if not os.path.exists(conda):
        if module.check_mode:
            module.exit_json(changed=False, cmd=[], msg=f"{conda} not found: the specs are read once it is installed")
        module.fail_json(msg=f"{conda} not found: install conda (hpcenv.gpu_cluster.conda) first")
    try:
        answers = _matchspec.ask(module.run_command, python, _conda_env.specs_to_ask(env))
        env = _conda_env.with_answers(env, answers, p["source"])[0]
    except (_conda_env.SpecError, _matchspec.MatchSpecError) as exc:
        module.fail_json(msg=f"environment spec: {exc}")
    for warning in env["warnings"]:
        module.warn(f"{p['source']}: {warning}")
    if module.check_mode:
        count = len(env["specs"])
        module.exit_json(changed=False, cmd=[], msg=f"{count} match specs read by {python}'s conda: nothing refused")
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
    _finish(module, python, result, "solve")


def _given(module: AnsibleModule, python: str) -> None:
    """O(lock): what a solve giving that lock would return, without solving."""
    text = module.params["lock"]
    try:
        packages = [{k: r[k] for k in ("name", "version", "build")} for r in _conda_env.parse_explicit(text)]
        _conda_env.parse_pip_lock(text)  # only to refuse a '# pip:' line that is neither option nor pin
    except _conda_env.SpecError as exc:
        module.fail_json(msg=f"lock: {module.params['source']}: {exc}")
    lines = [line for line in text.splitlines() if line.startswith(_conda_env.PIP_LOCK_MARK)]
    pip_lock = [line[len(_conda_env.PIP_LOCK_MARK) :].strip() for line in lines]
    result = {"changed": False, "cmd": [], "lock": text, "packages": packages, "pip_lock": pip_lock}
    if module.check_mode:  # nothing logged, no changelog
        module.exit_json(**result, lock_id=_conda_env.lock_id(text))
    _finish(module, python, result, "lock")


def _finish(module: AnsibleModule, python: str, result: dict, what: str) -> None:
    """The lock's id, its changelog from O(previous_lock), the audit line when the lock is another one; exit."""
    p = module.params
    result["lock_id"] = _conda_env.lock_id(result["lock"])
    if p["previous_lock"] is not None:
        try:
            result["changes"] = _lock_changes.between(
                p["previous_lock"], result["lock"], _lock_changes.conda_order(module.run_command, python)
            )
            result["summary"] = _lock_changes.summary(result["changes"])
        except _conda_env.SpecError as exc:  # the old lock was edited by hand: the new one stands
            module.warn(f"no changelog: the previous lock cannot be read: {exc}")
        except _matchspec.MatchSpecError as exc:
            module.fail_json(msg=f"the changelog from the previous lock: {exc}", **result)
    previous = _conda_env.lock_id(p["previous_lock"]) if p["previous_lock"] else None
    if previous:
        result["previous_lock_id"] = previous
    if previous != result["lock_id"]:  # a solve that gives the same lock again (state: latest) changes nothing
        line = _audit.entry(
            what, p["source"], previous, result["lock_id"], run=p["lock_by"], summary=result.get("summary")
        )
        _audit.record(module, [line])
    module.exit_json(**result)


def _solve(run: _lock_install.Runner, conda: str, env: dict, scratch_dir: str) -> dict:
    os.makedirs(scratch_dir, mode=0o755, exist_ok=True)
    # We hold the node lock: no other solve is running, so any scratch prefix here is a killed run's.
    for stale in os.listdir(scratch_dir):
        shutil.rmtree(os.path.join(scratch_dir, stale), ignore_errors=True)
    prefix = tempfile.mkdtemp(dir=scratch_dir, prefix=SCRATCH_PREFIX)
    os.rmdir(prefix)  # conda creates it
    try:
        run(_lock_install.conda_change(conda, "create", prefix, *_conda_env.channel_args(env), *env["specs"]))
        if env["pip"]:
            requirements = os.path.join(prefix, "conda-meta", "hpcenv-pip-requirements.txt")
            with open(requirements, "w", encoding="utf-8") as fh:
                fh.write("".join(f"{line}\n" for line in env["pip"]))
            python = os.path.join(prefix, "bin", "python")
            run(_lock_install.pip(python, "install", "-r", requirements))
        explicit = run.output(_lock_install.conda_explicit(conda, prefix))
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
