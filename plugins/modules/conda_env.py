#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: conda_env
short_description: Ensure a conda environment matches an environment.yml or an explicit lock file
version_added: 1.0.0
description:
  - Creates, updates or removes one conda environment, given by O(name) or O(prefix).
  - The wanted content is an C(environment.yml) (O(environment) inline, or O(environment_file)) or an explicit
    lock file (O(lock_file), the C(@EXPLICIT) format of C(conda list --explicit --md5) and of conda-lock's
    explicit render).
  - Decides what to do by reading C(conda-meta/*.json) (and checking that each package's files are present) and,
    for a spec, asking conda's own MatchSpec whether the records match; the conda CLI runs only when something
    must change.
  - Returns a drift record (RV(drift)) against the spec or lock, also in check mode, so it doubles as a drift check.
  - On any conda error (unsatisfiable spec, package not found, unreachable channel) it fails with conda's own
    reason; conda leaves an existing environment as it was and removes a half-created one.
  - A change appends one line to the node's audit log (O(audit_log)), with the prefix and its package count before
    and after.
extends_documentation_fragment:
  - hpcenv.gpu_cluster.audit
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
attributes:
  check_mode:
    support: full
    description: Reports the drift and what would change; runs nothing.
  diff_mode:
    support: full
    description: Package-level diff, one C(name version build) line per package.
  idempotent:
    support: full
    description: An environment in sync with its spec or lock is not touched.
options:
  name:
    description:
      - Environment name, placed in the first C(envs_dirs) entry of the system condarc (or C(ROOT/envs)).
      - Mutually exclusive with O(prefix).
    type: str
  prefix:
    description: Full path of the environment. Mutually exclusive with O(name).
    type: path
  state:
    description:
      - V(present) makes the environment satisfy the spec, or match the lock exactly (missing, extra and
        changed packages, and packages whose files were deleted, are all drift).
      - V(latest) also updates every package to the newest the channels allow (specs only).
      - V(absent) removes the environment.
    type: str
    choices: [present, latest, absent]
    default: present
  environment:
    description: An C(environment.yml) as a mapping (C(channels), C(dependencies), optional C(pip:) list).
    type: dict
  environment_file:
    description: Path of an C(environment.yml) on the managed node.
    type: path
  lock_file:
    description: Path of an explicit lock file on the managed node; installed as is, without solving.
    type: path
  root_prefix:
    description: The conda installation (used to find C(conda) and, with O(name), the envs directory).
    type: path
    default: /opt/conda
  executable:
    description:
      - The command to run; default C(ROOT/bin/conda). conda solves with libmamba since 23.10, so nothing here needs
        mamba; give C(ROOT/bin/mamba) to use it (its C(create), C(install), C(remove) take the same arguments).
    type: path
  check_files:
    description: Count a package whose installed files are missing as drift (one C(stat) per file).
    type: bool
    default: true
notes:
  - Updating an existing environment in place is not atomic; the C(hpcenv.gpu_cluster.shared_envs) role builds
    each version in a new prefix and swaps a symlink instead.
  - Like C(conda env create), a C(pip:) section without C(pip) among the conda dependencies gets C(pip) added (with
    a warning), the list goes to C(PREFIX/bin/python -m pip install -r) (so option lines such as C(--index-url URL)
    work) when it changes, and relative paths in it (C(-e .), C(./src)) are those of the environment file's folder.
  - C(nodefaults) in C(channels) means only the listed channels (C(--override-channels)), as in conda.
  - The specs of an environment are read and matched against the installed records by conda's own MatchSpec, in
    one run of O(root_prefix)'s Python for all of them (well under a second), so every form conda accepts
    (C(channel::name), C(name[build_number=...]), URLs, ...) means what it means to conda; a spec conda refuses
    fails the task with conda's reason and the spec, before anything changes. The records themselves are read
    from C(conda-meta/*.json), and a lock is compared without running conda at all.
  - "Explicit locks have no place for pip packages; this module reads them from comment lines that conda ignores,
    C(# pip: --index-url URL) and C(# pip: name==version), and installs exactly those pins with C(pip --no-deps)
    (extra pip-installed distributions are uninstalled). RV(pip_lock) returns such lines for an environment."
  - Set C(CONDA_OVERRIDE_CUDA) in the task's C(environment) to solve for another CUDA driver.
seealso:
  - module: hpcenv.gpu_cluster.conda_info
  - name: Building identical conda environments
    description: Explicit spec files and how conda installs one.
    link: https://docs.conda.io/projects/conda/en/stable/user-guide/tasks/manage-environments.html#building-identical-conda-environments
"""

EXAMPLES = r"""
- name: A team environment from an inline spec
  hpcenv.gpu_cluster.conda_env:
    name: team_tools
    environment:
      channels: [conda-forge]
      dependencies: [python=3.11, numpy, pandas]

- name: Install a lock produced elsewhere (every node gets the same bytes)
  hpcenv.gpu_cluster.conda_env:
    prefix: /opt/conda.d/envs/.versions/shared_ml-3f2a9c1d0b7e
    lock_file: /opt/conda.d/envs/.locks/shared_ml-3f2a9c1d0b7e.lock

- name: Report drift only
  hpcenv.gpu_cluster.conda_env:
    prefix: /opt/conda.d/envs/shared_ml
    lock_file: /opt/conda.d/envs/.locks/shared_ml-3f2a9c1d0b7e.lock
  check_mode: true
  register: shared_ml_drift

- name: Remove an environment
  hpcenv.gpu_cluster.conda_env:
    name: old_env
    state: absent
"""

RETURN = r"""
prefix:
  description: The environment's path.
  returned: always
  type: str
  sample: /opt/conda.d/envs/team_tools
drift:
  description:
    - How the environment differed from the spec or lock before this run. C(missing), C(extra) and C(changed)
      name packages (C(name-version-build)) or specs; C(broken) lists packages with missing files.
    - For a spec, only what the spec asks is checked (dependencies are never C(extra)).
  returned: always
  type: dict
  sample: {"in_sync": false, "missing": ["six-1.17.0-h0_0"], "extra": [], "changed": [], "broken": []}
packages:
  description: Packages in the environment after the run (in check mode, before).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "numpy", "version": "2.1.3", "build": "py311_0"}]
pip_lock:
  description:
    - "The pip part of a lock for this environment, one C(# pip: LINE) per entry: the pip option lines of the spec, then
      C(name==version) of every distribution pip installed (read from C(site-packages/*.dist-info/INSTALLER))."
    - "With O(lock_file), the lock's own pip lines. Empty without a C(pip) section, and in check mode for a spec."
  returned: always
  type: list
  elements: str
  sample: ["--index-url http://mirror.example.org/pypi/simple", "jupyterhub==6.1.1"]
actions:
  description:
    - The C(actions) of conda's JSON output (C(LINK), C(UNLINK)), when conda ran. For a lock, conda prints none;
      they are then worked out from the environment's records before and after.
  returned: when conda ran
  type: dict
cmd:
  description: The conda and pip commands run (reading the specs with conda's Python is not one of them).
  returned: always
  type: list
  elements: list
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import (
    _audit,
    _conda_env,
    _conda_meta,
    _condarc,
    _lock_install,
    _matchspec,
)

PIP_MARKER = "hpcenv-pip-requirements.txt"


class EnvManager:
    def __init__(self, module: AnsibleModule):
        self.module = module
        self.p = module.params
        self.root = self.p["root_prefix"]
        self.prefix = self.p["prefix"] or self._named_prefix(self.p["name"])
        self.runner = _lock_install.Runner(module.run_command)
        self.commands = self.runner.commands
        self.actions: dict = {}

    def _named_prefix(self, name: str) -> str:
        try:
            config = _conda_meta.system_config(self.root)[0]
        except _condarc.CondarcError as exc:
            self.module.fail_json(msg=f"cannot read the system condarc to place env {name}: {exc}")
        # As conda reads them: a bare `envs_dirs:` is no list; ~ and $VARS are expanded.
        envs_dirs = [_conda_meta.expand(str(d)) for d in (config.get("envs_dirs") or []) if d]
        envs_dirs.append(os.path.join(self.root, "envs"))
        for directory in envs_dirs:
            if os.path.isdir(os.path.join(directory, name, "conda-meta")):
                return os.path.join(directory, name)
        return os.path.join(envs_dirs[0], name)

    def executable(self) -> str:
        if self.p["executable"]:
            return self.p["executable"]
        path = os.path.join(self.root, "bin", "conda")
        if not os.path.exists(path):
            self.module.fail_json(msg=f"{path} not found: install conda (hpcenv.gpu_cluster.conda) or set executable")
        return path

    def exists(self) -> bool:
        return os.path.isdir(os.path.join(self.prefix, "conda-meta"))

    def installed(self) -> list[dict]:
        return _conda_meta.read_records(self.prefix)

    def run(self, argv: list[str]) -> dict:
        try:
            data = self.runner(argv)
        except _lock_install.CommandFailedError as exc:
            self.fail(exc)
        self.actions.update(data.get("actions") or {})
        return data

    def fail(self, exc: _lock_install.CommandFailedError) -> None:
        self.module.fail_json(msg=f"conda failed for {self.prefix}: {exc.reason}", prefix=self.prefix, **exc.details())

    def read_text(self, path: str, what: str) -> str:
        if not os.path.isfile(path):
            self.module.fail_json(msg=f"{what} {path} does not exist on the node")
        with open(path, encoding="utf-8") as fh:
            return fh.read()


def _load_environment(manager: EnvManager) -> dict:
    p = manager.p
    data = p["environment"]
    if p["environment_file"]:
        text = manager.read_text(p["environment_file"], "environment_file")
        if not _condarc.HAS_YAML:
            manager.module.fail_json(msg="reading environment_file needs PyYAML on the node (Debian: python3-yaml)")
        import yaml  # noqa: PLC0415 - only when an environment file is given

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            manager.module.fail_json(msg=f"{p['environment_file']} is not valid YAML: {exc}")
    try:
        env = _conda_env.parse_environment(data)
    except _conda_env.SpecError as exc:
        manager.module.fail_json(msg=f"environment spec: {exc}")
    env["source"] = p["environment_file"] or "environment"
    # Like conda env create: a pip: section's relative paths (-e ., ./src) are the file's folder's.
    env["pip_dir"] = os.path.dirname(os.path.abspath(p["environment_file"])) if p["environment_file"] else None
    return env


def _read_specs(manager: EnvManager, env: dict, installed: list[dict]) -> tuple[dict, list[dict]]:
    """The node's conda reads the specs and matches them with the installed records (one call)."""
    try:
        python = _matchspec.python_of(manager.root)
        answers = _matchspec.ask(manager.module.run_command, python, _conda_env.specs_to_ask(env), installed)
        env, answers = _conda_env.with_answers(env, answers, env["source"])
    except (_matchspec.MatchSpecError, _conda_env.SpecError) as exc:
        manager.module.fail_json(msg=f"environment spec: {exc}")
    for warning in env["warnings"]:
        manager.module.warn(f"{env['source']}: {warning}")
    return env, answers


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str"},
            "prefix": {"type": "path"},
            "state": {"type": "str", "choices": ["present", "latest", "absent"], "default": "present"},
            "environment": {"type": "dict"},
            "environment_file": {"type": "path"},
            "lock_file": {"type": "path"},
            "root_prefix": {"type": "path", "default": "/opt/conda"},
            "executable": {"type": "path"},
            "check_files": {"type": "bool", "default": True},
            **_audit.ARGUMENT_SPEC,
        },
        required_one_of=[("name", "prefix")],
        mutually_exclusive=[("name", "prefix"), ("environment", "environment_file", "lock_file")],
        required_if=[
            ("state", "present", ("environment", "environment_file", "lock_file"), True),
            ("state", "latest", ("environment", "environment_file"), True),
        ],
        supports_check_mode=True,
    )
    manager = EnvManager(module)
    p = module.params
    prefix = manager.prefix
    before = manager.installed()
    result = {"changed": False, "prefix": prefix, "cmd": manager.commands, "pip_lock": []}

    if p["state"] == "absent":
        drift = _conda_env._record([], [], [], [])
        drift["in_sync"] = not manager.exists()
        if manager.exists():
            result["changed"] = True
            if not module.check_mode:
                manager.run(_lock_install.conda_change(manager.executable(), "remove", prefix, "--all"))
        result.update(drift=drift, packages=[] if not module.check_mode else _summary(before))
        if module._diff:
            result["diff"] = {"before": _conda_env.package_lines(before), "after": ""}
        if result["changed"]:
            _audit.record(module, [_audit.entry("conda-env-remove", prefix, len(before), None)])
        module.exit_json(**result)

    if p["lock_file"]:
        text = manager.read_text(p["lock_file"], "lock_file")
        try:
            lock = _conda_env.parse_explicit(text)
            pip_lock = _conda_env.parse_pip_lock(text)
        except _conda_env.SpecError as exc:
            module.fail_json(msg=f"{p['lock_file']}: {exc}")
        drift, conda_in_sync = _lock_install.lock_drift(prefix, lock, pip_lock, p["check_files"])
        wanted_lines = _conda_env.package_lines(lock) + "".join(f"pip {pin}\n" for pin in pip_lock["pins"])
        if not drift["in_sync"]:
            result["changed"] = True
            if not module.check_mode:
                exe = manager.executable() if not conda_in_sync else ""
                try:
                    # conda prints nothing for an explicit lock: the actions come from the records.
                    manager.actions = _lock_install.install_lock(
                        manager.runner, exe, prefix, p["lock_file"], pip_lock, not conda_in_sync
                    )
                except _lock_install.CommandFailedError as exc:
                    manager.fail(exc)
                after_drift = _lock_install.lock_drift(prefix, lock, pip_lock, p["check_files"])[0]
                if not after_drift["in_sync"]:
                    module.fail_json(
                        msg=f"{prefix} still differs from {p['lock_file']} after install",
                        drift=after_drift,
                        cmd=manager.commands,
                    )
        result["pip_lock"] = pip_lock["options"] + pip_lock["pins"]
    else:
        env, answers = _read_specs(manager, _load_environment(manager), before)
        drift = _conda_env.drift_from_specs(before, answers, prefix, p["check_files"])
        unreadable = _conda_meta.read_records_checked(prefix)[1]
        if unreadable:  # records conda wrote but nobody can read: rebuild rather than trust them
            drift.update(unreadable=unreadable, in_sync=False)
        wanted_lines = _conda_env.package_lines(before) + "".join(f"+ {s}\n" for s in drift["missing"])
        exe = manager.executable() if (not drift["in_sync"] or p["state"] == "latest") else None
        channels = _conda_env.channel_args(env)
        if not manager.exists() or drift["broken"] or unreadable:
            result["changed"] = True
            if not module.check_mode:
                manager.run(_lock_install.conda_change(exe, "create", prefix, *channels, *env["specs"]))
        elif not drift["in_sync"]:
            result["changed"] = True
            if not module.check_mode:
                manager.run(_lock_install.conda_change(exe, "install", prefix, *channels, *env["specs"]))
        if p["state"] == "latest" and manager.exists() and not module.check_mode:
            data = manager.run(_lock_install.conda_change(exe, "update", prefix, "--all", *channels))
            result["changed"] = result["changed"] or bool(data.get("actions"))
        if env["pip"]:
            result["changed"] = _pip(manager, env["pip"], env["pip_dir"]) or result["changed"]
        pins = [] if module.check_mode or not env["pip"] else _conda_meta.pip_installed(prefix)
        result["pip_lock"] = _conda_env.pip_options(env["pip"]) + pins

    after = before if module.check_mode else manager.installed()
    result.update(drift=drift, packages=_summary(after))
    if result["changed"]:
        line = _audit.entry("conda-env", prefix, len(before), len(after), lock_file=p["lock_file"], state=p["state"])
        _audit.record(module, [line])
    if manager.actions:
        result["actions"] = manager.actions
    if module._diff:
        after_lines = wanted_lines if module.check_mode else _conda_env.package_lines(after)
        result["diff"] = {
            "before": _conda_env.package_lines(before),
            "after": after_lines,
            "before_header": prefix,
            "after_header": prefix,
        }
    module.exit_json(**result)


def _pip(manager: EnvManager, requirements: list[str], workdir: str | None) -> bool:
    """Install the pip: section when it differs from what was installed last (marker in conda-meta).

    Like conda, the section goes to pip as a requirements file, so option lines such
    as --index-url work.
    """
    marker = os.path.join(manager.prefix, "conda-meta", PIP_MARKER)
    wanted = "".join(f"{r}\n" for r in requirements)
    current = ""
    if os.path.isfile(marker):
        with open(marker, encoding="utf-8") as fh:
            current = fh.read()
    if current == wanted:
        return False
    if not manager.module.check_mode:
        python = os.path.join(manager.prefix, "bin", "python")
        pending = marker + ".new"
        with open(pending, "w", encoding="utf-8") as fh:
            fh.write(wanted)
        argv = _lock_install.pip(python, "install", "-r", pending)
        try:
            manager.runner(argv, cwd=workdir)
        except _lock_install.CommandFailedError as exc:
            manager.fail(exc)
        os.replace(pending, marker)
    return True


def _summary(records: list[dict]) -> list[dict]:
    return [{"name": r["name"], "version": r["version"], "build": r["build"]} for r in records]


if __name__ == "__main__":
    main()
