#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: shared_env
short_description: One shared environment from an explicit lock, in versioned prefixes behind an atomic symlink
version_added: 1.0.0
description:
  - Keeps C(ENVS_DIR/NAME) a symlink to a complete version C(ENVS_DIR/.versions/NAME-LOCKID-STAMP) that matches
    O(lock), in one call, under the node lock. This is the per-node half of the C(hpcenv.gpu_cluster.shared_envs)
    role; the role solves specs into locks and calls this module on every node.
  - If the active version was built from this lock and still matches it (its packages, their files, the C(# pip:)
    pins, readable C(conda-meta) records), nothing changes. Otherwise a new version is built from the lock with
    C(conda create --file), checked against it, made read-only for users, marked complete, and the symlink is
    swapped with an atomic rename. A failed build is removed and leaves the active version as it was.
  - A lock that a kept version was built from (a spec put back as it was, a lock restored from git) needs no
    build. The newest complete version built from it that still matches it is made active again, with the same
    atomic swap.
  - Keeps the activation history (C(.versions/NAME.history), rewritten atomically) and prunes versions beyond
    O(keep_versions), deriving what to keep from the disk and the live symlink, never from a caller's memory. The
    active version and every complete version newer than it are always kept; interrupted builds (neither
    complete nor ever activated) are removed.
  - Holds the node lock (a C(flock) on O(node_lock)) for the whole call, so runs that overlap on one node (a nightly
    job, a rack-in bootstrap, an admin's C(site.yml)) take turns; a second run waits up to O(lock_timeout) seconds,
    then fails naming the holder. The kernel releases the lock of a killed run.
  - Each change (a version built, a swap, a rollback, a repair of drift, versions pruned, the environment removed)
    appends one line to the node's audit log (O(audit_log)), with the versions before and after and the lock id.
extends_documentation_fragment:
  - hpcenv.gpu_cluster.audit
  - hpcenv.gpu_cluster.node_lock
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
attributes:
  check_mode:
    support: full
    description: Reports the drift of the active version and what a normal run would build, swap and prune.
  diff_mode:
    support: full
    description: Shows the active version before and after.
  idempotent:
    support: full
    description: An active version that matches the lock is left alone.
options:
  name:
    description: The environment's name; users see C(ENVS_DIR/NAME).
    type: str
    required: true
  envs_dir:
    description: The shared envs directory (the first C(envs_dirs) entry of the system condarc).
    type: path
    required: true
  lock:
    description:
      - The explicit lock (C(conda list --explicit --md5) output, with optional C(# pip:) lines) as text. Required
        unless O(state=absent). It is also kept on the node as C(ENVS_DIR/.locks/NAME-LOCKID.lock).
    type: str
  state:
    description: V(present) builds and activates; V(absent) removes the symlink, every version and the history.
    type: str
    choices: [present, absent]
    default: present
  rollback:
    description: Point the symlink at the most recent complete version of the history that was built from another lock.
    type: bool
    default: false
  keep_versions:
    description: How many complete versions to keep at most, the active one included (newer ones are always kept).
    type: int
    default: 3
  keep_locks:
    description:
      - Lock ids whose complete versions are never pruned, beyond O(keep_versions) and not counted in it (versions an
        admin keeps by name, for example the one a paper's results came from).
    type: list
    elements: str
    default: []
  root_prefix:
    description: The conda installation whose C(bin/conda) builds the versions.
    type: path
    default: /opt/conda
  owner:
    description: Owner of the versions' files.
    type: str
    default: root
  group:
    description: Group of the versions' files (read-only to it and to everyone else).
    type: str
    default: root
  check_files:
    description: Count a package whose files are missing from the active version as drift.
    type: bool
    default: true
  catalogue:
    description:
      - Keep this environment's page of the node's catalogue for users, C(DIR/NAME.json), C(DIR/NAME.md) and
        C(DIR/NAME.html) (a section of the hub's page of shared environments), in step with the run (written in one
        rename each, only when they change; removed with O(state=absent)).
      - A page lists the versions the controller recorded (number, lock id, when, by whom, changelog) and marks
        which of them are kept on this node and which one is active; a version kept here that has no recorded
        number (built before versions were recorded) is listed by its lock id.
      - Each numbered version kept on the node also gets a stable name, the link C(ENVS_DIR/NAME-vN), so that
        C(conda activate NAME-v2) reaches it for as long as it is kept; the link goes when the version is pruned.
        A path of that name that is not a link to one of this environment's versions is left alone, with a
        warning.
    type: dict
    suboptions:
      dir:
        description: The catalogue's directory (it must exist).
        type: path
        required: true
      versions:
        description: The controller's versions of this environment for the node's variant, oldest first.
        type: list
        elements: dict
        default: []
      variant:
        description: The node's variant of the environment, such as V(cpu) or V(cuda12.4).
        type: str
        default: ""
      platform:
        description: The node's conda platform, such as V(linux-64).
        type: str
        default: ""
      modulefiles:
        description:
          - An Environment Modules or Lmod modulefiles directory (on C(MODULEPATH)). Each stable name C(NAME-vN) also
            gets the modulefile C(DIR/NAME/vN). C(module load NAME/v2) sets C(PATH), C(CONDA_PREFIX) and
            C(CONDA_DEFAULT_ENV) as C(conda activate NAME-v2) does, without running the env's C(activate.d) scripts;
            C(module whatis) and C(module help) give its changelog. C(DIR/NAME/.version) makes the active version
            the default of C(module load NAME). Written in one rename each, only when they change; a
            version's file goes with its stable name. A file there that this module did not write is left alone,
            with a warning. Unset, no modulefiles.
        type: path
  metrics:
    description:
      - Publish the environment's state after the run for node_exporter's textfile collector, that is whether it is
        in sync with its lock (not after O(rollback)), with the active version and the lock as labels. The file and
        the metrics are those of M(hpcenv.gpu_cluster.shared_env_metrics), written in one rename, and a change only
        when the state changed; the run then reports a change even when the environment itself did not change.
        With O(state=absent) the file is removed. Unset, nothing is published.
      - Nothing is written in check mode; a missing O(metrics.dir) is then reported as a change, not an error.
    type: dict
    suboptions:
      dir:
        description: node_exporter's textfile directory (C(--collector.textfile.directory)); must exist.
        type: path
        required: true
      variant:
        description: The build the node follows, C(cpu) or C(cuda<version>).
        type: str
        default: cpu
notes:
  - Version names carry the first 12 hex digits of the SHA256 of the lock's sorted package URL and C(# pip:) lines,
    so the same lock gives the same id on every node and a reordered or re-commented lock is not a new version.
seealso:
  - module: hpcenv.gpu_cluster.conda_env
"""

EXAMPLES = r"""
- name: Install the recorded lock of shared_ml and activate it
  hpcenv.gpu_cluster.shared_env:
    name: shared_ml
    envs_dir: /opt/conda.d/envs
    lock: "{{ lookup('ansible.builtin.file', 'locks/shared_ml.linux-64.cpu.explicit.txt') }}"
    lock_by: "site.yml"

- name: Check the drift of shared_ml (changes nothing)
  hpcenv.gpu_cluster.shared_env:
    name: shared_ml
    envs_dir: /opt/conda.d/envs
    lock: "{{ lookup('ansible.builtin.file', 'locks/shared_ml.linux-64.cpu.explicit.txt') }}"
  check_mode: true
  register: shared_ml

- name: Go back to the previous version
  hpcenv.gpu_cluster.shared_env:
    name: shared_ml
    envs_dir: /opt/conda.d/envs
    lock: "{{ lookup('ansible.builtin.file', 'locks/shared_ml.linux-64.cpu.explicit.txt') }}"
    rollback: true
"""

RETURN = r"""
active:
  description: The version the symlink points at after the run (in check mode, the one it would point at).
  returned: always
  type: str
  sample: shared_ml-3f2a9c1d0b7e-20261125143012
previous:
  description: The version the symlink pointed at before the run; empty when there was none.
  returned: always
  type: str
  sample: shared_ml-91c0e5a7d2b4-20261101020000
lock_id:
  description: The lock's id, part of its version names.
  returned: when state is present
  type: str
  sample: 3f2a9c1d0b7e
built:
  description: Whether a new version was (in check mode, would be) built.
  returned: always
  type: bool
in_sync:
  description: Whether the version active before the run matched the lock.
  returned: always
  type: bool
drift:
  description:
    - How the version active before the run differed from the lock, as in M(hpcenv.gpu_cluster.conda_env); also
      C(unreadable), the C(conda-meta) records that could not be read (file, package, error). With a rebuild,
      this is what the run repaired.
  returned: always
  type: dict
  sample: {"in_sync": false, "missing": [], "extra": [], "changed": [], "broken": [], "reason": "packages differ"}
reason:
  description: Why a version was built or why nothing was done, in words.
  returned: always
  type: str
  sample: the active version was built from another lock
pruned:
  description: Versions removed (in check mode, that would be).
  returned: always
  type: list
  elements: str
history:
  description: The activation history after the run, oldest first (the last 20).
  returned: always
  type: list
  elements: str
waited:
  description: Seconds spent waiting for the node lock.
  returned: always
  type: float
actions:
  description: C(LINK) and C(UNLINK) of the new version's build, worked out from its records.
  returned: when a version was built
  type: dict
kept:
  description: The complete versions on the node after the run (in check mode, that would be), oldest first.
  returned: when state is present
  type: list
  elements: str
catalogue:
  description: Whether the environment's catalogue page or its pinned names changed (in check mode, would change).
  returned: when O(catalogue) is set
  type: bool
changelog:
  description:
    - When the run makes (in check mode, would make) a version built from another lock active and the catalogue
      numbers it, that version's number, summary and changelog lines (from the version before it). Diff mode shows
      them too, and the drift report lists them as pending for a node that lags.
  returned: when O(catalogue) is set and the active version changes to a numbered one
  type: dict
  sample: {"version": "v3", "summary": "1 added", "lines": ["added tqdm 4.66.5 (pyhd8ed1ab_0)"]}
pinned:
  description: The stable names of the numbered versions kept on the node (C(NAME-vN) in O(envs_dir)).
  returned: when O(catalogue) is set
  type: list
  elements: str
  sample: [shared_ml-v1, shared_ml-v2]
modulefiles:
  description: The modulefiles written or removed (in check mode, that would be), relative to O(catalogue.modulefiles).
  returned: when O(catalogue.modulefiles) is set
  type: list
  elements: str
  sample: [shared_ml/.version, shared_ml/v3]
metrics:
  description: The textfile of O(metrics) and whether it changed (in check mode, would change).
  returned: when O(metrics) is set
  type: dict
  sample: {"path": /var/lib/prometheus/node-exporter/hpcenv_shared_env_shared_ml.prom, "changed": false}
cmd:
  description: The commands run.
  returned: always
  type: list
  elements: list
"""

import os
import re
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import (
    _atomic,
    _audit,
    _catalogue,
    _conda_env,
    _env_metrics,
    _lock_install,
    _node_lock,
)

MARKER = os.path.join("conda-meta", "hpcenv-complete")
HISTORY_LENGTH = 20


def _read_lines(path: str) -> list[str]:
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [line.strip() for line in fh if line.strip()]


def _read_only_for_others(top: str, uid: int, gid: int) -> None:
    """chown -R uid:gid, then u+rw, g+r, o+r (+x where anyone had it or on directories), no g/o write."""
    for root, dirs, files in os.walk(top):
        for entry in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.lchown(entry, uid, gid)
            if os.path.islink(entry):
                continue
            mode = os.lstat(entry).st_mode & 0o7777
            execute = 0o111 if (os.path.isdir(entry) or mode & 0o111) else 0
            os.chmod(entry, ((mode | 0o644 | execute) & ~0o022))


class SharedEnv:
    def __init__(self, module: AnsibleModule):
        self.module = module
        p = module.params
        self.p = p
        self.name = p["name"]
        self.link = os.path.join(p["envs_dir"], self.name)
        self.versions_dir = os.path.join(p["envs_dir"], ".versions")
        self.locks_dir = os.path.join(p["envs_dir"], ".locks")
        self.history_file = os.path.join(self.versions_dir, f"{self.name}.history")
        self.version_re = re.compile(rf"^{re.escape(self.name)}-[0-9a-f]{{12}}-[0-9]{{14}}$")
        self.run = _lock_install.Runner(module.run_command)
        self.changed = False

    # ------------------------------------------------------------------ reading the disk

    def active(self) -> str:
        if not os.path.islink(self.link):
            return ""
        target = os.readlink(self.link)
        return os.path.basename(target.rstrip("/")) if self.version_re.match(os.path.basename(target)) else ""

    def versions(self) -> list[str]:
        """Version directories on disk, oldest first (their names end with a UTC time stamp)."""
        if not os.path.isdir(self.versions_dir):
            return []
        found = [
            v for v in os.listdir(self.versions_dir) if self.version_re.match(v) and os.path.isdir(self.path_of(v))
        ]
        return sorted(found, key=lambda v: (v.rsplit("-", 1)[1], v))

    def path_of(self, version: str) -> str:
        return os.path.join(self.versions_dir, version)

    def complete(self, version: str, known: set[str]) -> bool:
        # Versions made before completion markers existed count when they were ever activated.
        return os.path.isfile(os.path.join(self.path_of(version), MARKER)) or version in known

    def kept_match(self, ident: str, known: set[str], packages: list[dict], pip_lock: dict) -> str:
        """The newest complete version built from lock `ident` that still matches it; empty when none does."""
        for version in reversed(self.versions()):
            if version.startswith(f"{self.name}-{ident}-") and self.complete(version, known):
                drift = _lock_install.lock_drift(self.path_of(version), packages, pip_lock, self.p["check_files"])[0]
                if drift["in_sync"]:
                    return version
        return ""

    def lock_file(self, ident: str) -> str:
        """The copy of lock IDENT kept beside the versions built from it."""
        return os.path.join(self.locks_dir, f"{self.name}-{ident}.lock")

    def damage(self, version: str) -> str:
        """Why a kept VERSION no longer matches the lock it was built from (its records, read as the
        drift check reads the active one, without its files); empty when it matches or has no lock here."""
        try:
            with open(self.lock_file(_catalogue.lock_of(version)), encoding="utf-8") as fh:
                packages, pip_lock = _lock_install.parse_lock(fh.read())
        except (OSError, ValueError, _conda_env.SpecError):  # no lock here, or one not readable as text
            return ""
        drift = _lock_install.lock_drift(self.path_of(version), packages, pip_lock, check_files=False)[0]
        if drift["in_sync"]:
            return ""
        parts = []
        for kind in ("unreadable", "missing", "extra", "changed", "broken"):
            names = sorted(
                str(d.get("package", d.get("name"))) if isinstance(d, dict) else d for d in drift.get(kind, [])
            )
            if names:
                parts.append(f"{kind} {', '.join(names)}")
        return "its records differ from its lock: " + "; ".join(parts)

    # ------------------------------------------------------------------ changing it

    def fail(self, msg: str, **extra) -> None:
        self.module.fail_json(msg=f"{self.name}: {msg}", **{"cmd": self.run.commands, **extra})

    def new_version_name(self, ident: str) -> str:
        stamp = time.time()
        while True:
            name = f"{self.name}-{ident}-{time.strftime('%Y%m%d%H%M%S', time.gmtime(stamp))}"
            if not os.path.exists(self.path_of(name)):
                return name
            stamp += 1

    def build(self, version: str, lock_path: str, packages: list[dict], pip_lock: dict) -> dict:
        prefix = self.path_of(version)
        conda = os.path.join(self.p["root_prefix"], "bin", "conda")
        try:
            actions = _lock_install.install_lock(self.run, conda, prefix, lock_path, pip_lock, True)
            drift = _lock_install.lock_drift(prefix, packages, pip_lock, self.p["check_files"])[0]
            if not drift["in_sync"]:
                raise RuntimeError(f"the new version still differs from the lock: {drift}")
            _read_only_for_others(prefix, *self.ids())
            _atomic.write_if_changed(os.path.join(prefix, MARKER), f'{{"lock_id": "{version.split("-")[-2]}"}}\n')
        except (_lock_install.CommandFailedError, RuntimeError, OSError) as exc:
            shutil.rmtree(prefix, ignore_errors=True)
            details = exc.details() if isinstance(exc, _lock_install.CommandFailedError) else {}
            self.fail(
                f"building {version} failed; {self.link} still points at {self.active() or 'nothing'}. "
                f"{getattr(exc, 'reason', exc)}",
                **details,
            )
        return actions

    def ids(self) -> tuple[int, int]:
        import grp  # noqa: PLC0415 - only on the node, only when building
        import pwd  # noqa: PLC0415

        try:
            return pwd.getpwnam(self.p["owner"]).pw_uid, grp.getgrnam(self.p["group"]).gr_gid
        except KeyError as exc:
            self.fail(f"owner {self.p['owner']} or group {self.p['group']} does not exist on the node ({exc})")
        return 0, 0  # not reached

    def swap(self, version: str, link: str = "") -> None:
        """Point the link (or another of this env's links) at version with an atomic rename of a new symlink."""
        link = link or self.link
        tmp = os.path.join(self.p["envs_dir"], f".{os.path.basename(link)}.swap-{os.getpid()}")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.path_of(version), tmp)
        os.lchown(tmp, *self.ids())
        os.replace(tmp, link)

    def pin(self, wanted: dict) -> list[str]:
        """Keep the stable names NAME-vN (links in the envs dir) of WANTED {name: version path}; remove the
        other NAME-vN links to this env's versions. Never touches a path that is not such a link. What it
        changed (in check mode, would change)."""
        envs_dir = self.p["envs_dir"]
        pin_re = re.compile(rf"^{re.escape(self.name)}-v[0-9]+$")
        links = [n for n in (os.listdir(envs_dir) if os.path.isdir(envs_dir) else []) if pin_re.match(n)]
        ours = [
            n
            for n in links
            if os.path.islink(os.path.join(envs_dir, n))
            and self.version_re.match(os.path.basename(os.readlink(os.path.join(envs_dir, n))))
        ]
        changed = [n for n in ours if n not in wanted]
        for name, path in wanted.items():
            link = os.path.join(envs_dir, name)
            if os.path.lexists(link) and name not in ours:
                self.module.warn(f"{link} is not a link to a version of {self.name}: {self.name}'s {name} is not made")
            elif not (os.path.islink(link) and os.readlink(link) == path):
                changed.append(name)
        if not self.module.check_mode:
            for name in changed:
                link = os.path.join(envs_dir, name)
                if name in wanted:
                    self.swap(os.path.basename(wanted[name]), link)
                elif os.path.islink(link):
                    os.unlink(link)
        return sorted(changed)

    def prune(self, target: str, previous: str, history: list[str], keep: int, locks: set[str]) -> list[str]:
        """What to delete: interrupted builds (neither complete nor ever activated), and complete versions
        older than the target beyond `keep`. The target and every complete version newer than it stay; of
        the older ones, the version active before this run and the latest activations go first. A complete
        version built from one of LOCKS (kept by name) stays and does not count against `keep`."""
        known = {*history, previous, target} - {""}
        versions = [v for v in self.versions() if v != target]
        stamp = target.rsplit("-", 1)[1]
        older = [
            v
            for v in versions
            if self.complete(v, known) and v.rsplit("-", 1)[1] < stamp and _catalogue.lock_of(v) not in locks
        ]
        ranked = list(dict.fromkeys([previous, *reversed(history), *reversed(older)]))
        keep_older = [v for v in ranked if v in older][: keep - 1]
        interrupted = [v for v in versions if not self.complete(v, known)]
        return interrupted + [v for v in older if v not in keep_older]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "envs_dir": {"type": "path", "required": True},
            "lock": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "rollback": {"type": "bool", "default": False},
            "keep_versions": {"type": "int", "default": 3},
            "keep_locks": {"type": "list", "elements": "str", "default": []},
            "root_prefix": {"type": "path", "default": "/opt/conda"},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
            "check_files": {"type": "bool", "default": True},
            "catalogue": {
                "type": "dict",
                "options": {
                    "dir": {"type": "path", "required": True},
                    "versions": {"type": "list", "elements": "dict", "default": []},
                    "variant": {"type": "str", "default": ""},
                    "platform": {"type": "str", "default": ""},
                    "modulefiles": {"type": "path"},
                },
            },
            "metrics": {
                "type": "dict",
                "options": {
                    "dir": {"type": "path", "required": True},
                    "variant": {"type": "str", "default": "cpu"},
                },
            },
            **_node_lock.ARGUMENT_SPEC,
            **_audit.ARGUMENT_SPEC,
        },
        required_if=[("state", "present", ("lock",))],
        supports_check_mode=True,
    )
    p = module.params
    env = SharedEnv(module)
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", p["name"]):
        module.fail_json(msg=f"environment name {p['name']!r}: use letters, digits, '_', '.' and '-'")
    if p["keep_versions"] < 1:
        module.fail_json(msg=f"keep_versions is {p['keep_versions']}; keep at least 1 (the active version)")
    result = {"changed": False, "built": False, "pruned": [], "cmd": env.run.commands, "in_sync": False}
    what = f"{'removing' if p['state'] == 'absent' else 'converging'} shared env {p['name']}"
    try:
        with _node_lock.NodeLock(p["node_lock"], p["lock_timeout"], what, p["lock_by"]) as lock:
            result["waited"] = round(lock.waited, 1)
            if lock.waited_for:
                result["waited_for"] = lock.waited_for
            if p["state"] == "absent":
                _absent(env, result)
            else:
                _present(env, result)
            try:
                if p["catalogue"]:
                    _catalogue_page(env, result)
            finally:  # what was built, swapped or pruned is logged even if the catalogue page fails
                _audit.record(module, _audit_records(env, result))
        if p["metrics"]:
            _publish_metrics(env, result)
    except _node_lock.LockTimeoutError as exc:
        module.fail_json(msg=f"{p['name']}: {exc}")
    except _env_metrics.MetricsError as exc:
        module.fail_json(msg=f"{p['name']}: {exc}", **result)
    if module._diff:
        log = result.get("changelog", {})
        heading = [f"{log['version']}: {log['summary']}"] if log else []
        result["diff"] = {
            "before": f"{env.link} -> {result.get('previous') or '(none)'}\n",
            "after": "".join(f"{line}\n" for line in [f"{env.link} -> {result.get('active') or '(none)'}", *heading])
            + "".join(f"  {line}\n" for line in log.get("lines", [])),
        }
    module.exit_json(**result)


def _publish_metrics(env: SharedEnv, result: dict) -> None:
    """The env's state after this run, for node_exporter: converged, so nothing is missing, extra or changed."""
    p = env.p
    state = None
    if p["state"] == "present":
        state = {
            "variant": p["metrics"]["variant"],
            "in_sync": not p["rollback"],
            "missing": [],
            "extra": [],
            "changed": [],
            "active": result.get("active") or "",
            "lock_id": result.get("lock_id", ""),
        }
    published = _env_metrics.publish(p["metrics"]["dir"], p["name"], state, env.module.check_mode)
    result["metrics"] = {"path": published["path"], "changed": published["changed"]}
    result["changed"] = result["changed"] or published["changed"]


def _audit_records(env: SharedEnv, result: dict) -> list[dict]:
    """The audit lines of what this call changed (written while the node lock is still held)."""
    p, records = env.p, []

    def add(what, before, after, **details):
        records.append(_audit.entry(what, env.name, before, after, run=p["lock_by"], **details))

    previous, active = result.get("previous") or "", result.get("active") or ""
    previous_lock = _catalogue.lock_of(previous)
    if p["state"] == "absent":
        if result["changed"]:
            add("remove", previous, None, pruned=result["pruned"])
        return records
    ident = result.get("lock_id", "")
    if result["built"]:
        add("build", None, active, lock_id=ident, reason=result.get("reason"))
    if active != previous:
        if p["rollback"]:
            what = "rollback"
        elif previous_lock == ident:
            what = "repair"  # drift corrected: a new build of the same lock
        else:
            what = "swap"
        add(
            what,
            previous or None,
            active,
            lock_id=ident,
            previous_lock_id=previous_lock or None,
            version=result.get("changelog", {}).get("version"),
            summary=result.get("changelog", {}).get("summary"),
        )
    if result["pruned"]:
        add("prune", result["pruned"], None)
    return records


def _absent(env: SharedEnv, result: dict) -> None:
    previous = env.active()
    doomed = env.versions()
    locks = []
    if os.path.isdir(env.locks_dir):
        locks = sorted(f for f in os.listdir(env.locks_dir) if f.startswith(f"{env.name}-") and f.endswith(".lock"))
    gone = [p for p in (env.link, env.history_file) if os.path.lexists(p)]
    result.update(previous=previous, active="", pruned=doomed, history=[], in_sync=not (doomed or gone))
    result["drift"] = {"in_sync": result["in_sync"], "reason": "" if result["in_sync"] else "the environment exists"}
    result["reason"] = "nothing to remove" if result["in_sync"] else "state is absent"
    result["changed"] = bool(doomed or gone or locks)
    if env.module.check_mode or not result["changed"]:
        return
    if os.path.lexists(env.link):
        os.unlink(env.link)
    for version in doomed:
        shutil.rmtree(env.path_of(version), ignore_errors=True)
    for path in [env.history_file] + [os.path.join(env.locks_dir, f) for f in locks]:
        if os.path.lexists(path):
            os.unlink(path)


def _present(env: SharedEnv, result: dict) -> None:
    p, module = env.p, env.module
    text = p["lock"].strip() + "\n"
    try:
        packages, pip_lock = _lock_install.parse_lock(text)
    except _conda_env.SpecError as exc:
        env.fail(f"the lock is not usable: {exc}")
    if not packages:
        env.fail("the lock lists no packages")
    ident = _conda_env.lock_id(text)
    result["lock_id"] = ident
    node_lock = env.lock_file(ident)
    if not module.check_mode:
        for directory in (p["envs_dir"], env.versions_dir, env.locks_dir):
            os.makedirs(directory, mode=0o755, exist_ok=True)
        result["changed"] |= _atomic.write_if_changed(node_lock, text)
    elif not os.path.isfile(node_lock):
        result["changed"] = True

    previous = env.active()
    history = _read_lines(env.history_file)
    result["previous"] = previous
    drift = {"in_sync": False, "missing": [], "extra": [], "changed": [], "broken": []}
    if p["rollback"]:
        # The newest version of the history built from another lock: the one already active when the
        # rollback was made before (re-running keeps it there), else the one before the current lock.
        earlier = [
            v for v in reversed(history) if not v.startswith(f"{env.name}-{ident}-") and os.path.isdir(env.path_of(v))
        ]
        # A damaged version is no target, but a rollback already made stays where it is (its drift is reported).
        damaged = {v: "" if v == previous else env.damage(v) for v in earlier}
        candidates = [v for v in earlier if not damaged[v]]
        if not candidates:
            why = "".join(f"; {v} is damaged ({damaged[v]})" for v in earlier if damaged[v])
            env.fail(f"rollback is set but no earlier version is left in {env.history_file} (history: {history}){why}")
        target, reason = candidates[0], f"rolled back to {candidates[0]}"
    elif not previous:
        target, reason = "", "the environment does not exist yet"
    elif not previous.startswith(f"{env.name}-{ident}-"):
        target, reason = "", f"the active version {previous} was built from another lock"
        kept = env.kept_match(ident, set(history), packages, pip_lock)
        if kept:
            target, reason = kept, f"{reason}; {kept}, kept and built from this lock, matches it and is active again"
    else:
        drift = _lock_install.lock_drift(env.path_of(previous), packages, pip_lock, p["check_files"])[0]
        target, reason = (previous, "in sync with the lock") if drift["in_sync"] else ("", "its packages differ")
    result["in_sync"] = bool(previous) and target == previous and not p["rollback"]
    drift["reason"] = "" if result["in_sync"] else reason
    result["drift"] = drift

    if not target:  # build a new version from the lock
        target = env.new_version_name(ident)
        result["built"] = True
        if not module.check_mode:
            result["actions"] = env.build(target, node_lock, packages, pip_lock)
    result["reason"] = reason
    result["active"] = target
    if target != previous:
        result["changed"] = True
        if not module.check_mode:
            env.swap(target)
    new_history = history if (p["rollback"] or history[-1:] == [target]) else [*history, target][-HISTORY_LENGTH:]
    result["history"] = new_history
    if new_history != history:
        result["changed"] = True
        if not module.check_mode:
            _atomic.write_if_changed(env.history_file, "".join(f"{v}\n" for v in new_history))
    doomed = env.prune(target, previous, new_history, p["keep_versions"], set(p["keep_locks"]))
    result["pruned"] = doomed
    if doomed:
        result["changed"] = True
        if not module.check_mode:
            for version in doomed:
                shutil.rmtree(env.path_of(version), ignore_errors=True)
    known = {*new_history, previous, target} - {""}
    kept = [v for v in env.versions() if v not in doomed and env.complete(v, known)]
    result["kept"] = kept + ([target] if target not in kept else [])
    # A kept version that no longer matches its lock is never offered (no stable name, no rollback).
    result["damaged"] = {v: why for v in result["kept"] if v != target for why in [env.damage(v)] if why}


def _catalogue_page(env: SharedEnv, result: dict) -> None:
    """Write (or, with state absent, remove) the env's catalogue page; say whether it changed."""
    c = env.p["catalogue"]
    paths = {fmt: os.path.join(c["dir"], f"{env.name}.{fmt}") for fmt in ("json", "md", "html")}
    if env.p["state"] == "absent":
        wanted = dict.fromkeys(paths)
    else:
        page = _catalogue.entry(
            env.name,
            env.p["envs_dir"],
            c["versions"],
            result["kept"],
            result["active"],
            c["variant"],
            c["platform"],
            result.get("damaged"),
        )
        wanted = {
            "json": _catalogue.as_json(page),
            "md": _catalogue.as_markdown(page),
            "html": _catalogue.as_html(page),
        }
    differs = [fmt for fmt, path in paths.items() if _atomic.read(path) != wanted[fmt]]
    moved = _catalogue.lock_of(result["active"]) != _catalogue.lock_of(result.get("previous") or "")
    if env.p["state"] != "absent" and moved:
        coming = [v for v in page["versions"] if v["lock_id"] == _catalogue.lock_of(result["active"]) and v["version"]]
        if coming:
            result["changelog"] = {key: coming[0][key] for key in ("version", "summary", "lines")}
    pins = {} if env.p["state"] == "absent" else _catalogue.pinned(page)
    result["pinned"] = sorted(pins)
    relinked = env.pin(pins)
    if c["modulefiles"]:
        result["modulefiles"] = _modulefiles(env, c["modulefiles"], {} if env.p["state"] == "absent" else page)
    result["catalogue"] = bool(differs or relinked or result.get("modulefiles"))
    result["changed"] |= result["catalogue"]
    if env.module.check_mode:
        return
    for fmt in differs:
        if wanted[fmt] is None:
            os.unlink(paths[fmt])
        else:
            _atomic.write(paths[fmt], wanted[fmt], 0o644)


def _ours(path: str) -> bool:
    """Whether PATH is a modulefile this module wrote (its marker in the first lines), not a link."""
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8", errors="replace") as fh:
        return _catalogue.MODULE_MARKER in fh.read(512)


def _modulefiles(env: SharedEnv, top: str, page: dict) -> list[str]:
    """Keep the env's modulefiles under TOP in step with its catalogue PAGE ({}: none); remove the ones this module
    wrote that are no longer wanted, never another file. What changed (in check mode, would change)."""
    wanted = _catalogue.modulefiles(page, env.p["envs_dir"]) if page else {}
    here = os.path.join(top, env.name)
    if os.path.lexists(here) and not os.path.isdir(here):
        env.module.warn(f"{here} is not a directory (another module's file?): {env.name} gets no modulefiles")
        return []
    ours = [f"{env.name}/{n}" for n in (sorted(os.listdir(here)) if os.path.isdir(here) else [])]
    ours = [rel for rel in ours if _ours(os.path.join(top, rel))]
    changed = [rel for rel in ours if rel not in wanted]
    for rel, text in wanted.items():
        path = os.path.join(top, rel)
        if os.path.lexists(path) and rel not in ours:
            env.module.warn(f"{path} was not written by hpcenv.gpu_cluster: {env.name}'s modulefile is not made")
        elif _atomic.read(path) != text:
            changed.append(rel)
    if not env.module.check_mode:
        for rel in changed:
            path = os.path.join(top, rel)
            if rel in wanted:
                if not os.path.isdir(here):
                    os.makedirs(here, exist_ok=True)
                    os.chmod(here, 0o755)  # noqa: S103 - whatever the umask: every user's `module` reads it
                _atomic.write(path, wanted[rel], 0o644)
            else:
                os.unlink(path)
        if not wanted and os.path.isdir(here) and not os.listdir(here):
            os.rmdir(here)
    return sorted(changed)


if __name__ == "__main__":
    main()
