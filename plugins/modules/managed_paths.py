#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: managed_paths
short_description: Ensure a role's directories, files and links in one call
version_added: 1.1.0
description:
  - Takes the list of paths a role manages (directories, files with their content, symbolic links, paths that must
    be absent), each with its owner, group and mode, and makes every one of them so, in one round trip. It reports
    which paths it changed, so a role that passes the paths of one handler in one call notifies that handler only
    when one of them changed.
  - The same code reads and fixes. Owner, group and mode are compared and set by ansible-core's own
    C(AnsibleModule.set_fs_attributes_if_different), the code behind M(ansible.builtin.file), M(ansible.builtin.copy)
    and M(ansible.builtin.template); content is rendered on the controller (for example with the
    C(ansible.builtin.template) lookup) and compared byte for byte.
  - A file is replaced in one rename from a temporary file beside it that already has its owner and mode, so a
    reader never sees half a file and a secret is never readable by others, not even for a moment.
  - Paths are handled in the order given; a failure stops there, names the path and the reason, and leaves the paths
    after it untouched.
  - A call that changed paths appends one line to the node's audit log (O(audit_log)) naming them (never their
    content; C(removed) lists those it deleted), also when it failed part way.
extends_documentation_fragment:
  - hpcenv.gpu_cluster.audit
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
attributes:
  check_mode:
    support: full
    description: Reports what it would create, rewrite, relink, remove or re-own, and changes nothing.
  diff_mode:
    support: full
    description: Shows, per path, the content and the attributes before and after.
  idempotent:
    support: full
    description: Paths already as wanted are left alone and reported unchanged.
options:
  paths:
    description: The paths to ensure, in order (a directory before what goes in it).
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: str
        required: true
      state:
        description:
          - V(directory) makes a directory (its missing parents too, owned by the module's user with mode 0755
            before the umask; list a parent itself to set its attributes).
          - V(file) makes a regular file holding O(paths[].content); without O(paths[].content) the file must
            already exist and only its attributes are set.
          - V(link) makes a symbolic link to O(paths[].src), replacing a file or another link there (never a
            directory).
          - V(absent) removes the path (a directory with everything in it).
        type: str
        choices: [directory, file, link, absent]
        default: file
      owner:
        description: User name or uid (not for V(link)).
        type: str
      group:
        description: Group name or gid (not for V(link)).
        type: str
      mode:
        description: Permission bits as an octal string such as V("0644") (not for V(link)).
        type: str
      content:
        description: The text a V(file) holds, for example C("{{ lookup('ansible.builtin.template', 'x.j2') }}").
        type: str
      force:
        description:
          - For a V(file) that exists, replace its content when it differs. V(false) writes O(paths[].content) only
            when the file is missing (a generated secret that must never be rewritten); its owner and mode are
            still set.
        type: bool
        default: true
      follow:
        description:
          - What to do with a symbolic link found where a V(directory) or V(file) is wanted. V(true) applies the
            attributes (and the content) to the link's target, as M(ansible.builtin.file) does by default.
            V(false) fails for a V(directory) (a link someone put there is never followed into) and replaces the
            link with the file for a V(file), as M(ansible.builtin.template) does.
          - Default V(true) for V(directory), V(false) for V(file).
        type: bool
      src:
        description: The target of a V(link), exactly as C(readlink) prints it.
        type: str
      validate:
        description:
          - A command that checks new content before it replaces the file, with C(%s) for the temporary file's path
            (as in M(ansible.builtin.template)); run without a shell. When it fails, the file stays as it was and the
            module fails with the command's output.
        type: str
  manifest:
    description:
      - Record what this call manages on the node in C(/var/lib/hpcenv-gpu-cluster/managed-paths/<manifest>.json),
        each path with its state, owner, group, mode, link target and the SHA256 of its content (none for
        O(paths[].force=false) files, such as generated secrets). An admin reads there which files the collection
        manages on a node, and how; the collection's tests damage and check every recorded path.
      - Written (in one rename) only when it changes, never in check mode; it never counts as a change.
      - A name of letters, digits, C(.), C(_) and C(-), one per call (for example V(jupyter.hub)).
    type: str
notes:
  - SELinux contexts and file attributes (C(chattr)) are left as they are.
seealso:
  - module: ansible.builtin.file
  - module: ansible.builtin.template
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Lay down the job's directories, settings and launcher
  hpcenv.gpu_cluster.managed_paths:
    paths:
      - {path: /var/lib/job, state: directory, owner: root, group: job, mode: "0750", follow: false}
      - path: /var/lib/job/settings
        owner: root
        group: job
        mode: "0640"
        content: "{{ lookup('ansible.builtin.template', 'settings.j2') }}"
      - {path: /usr/local/bin/job, state: link, src: /opt/job/bin/job}
      - {path: /etc/job/old.conf, state: absent}

- name: Install the units (one call per handler)
  hpcenv.gpu_cluster.managed_paths:
    paths:
      - path: /etc/systemd/system/job.service
        owner: root
        group: root
        mode: "0644"
        content: "{{ lookup('ansible.builtin.template', 'job.service.j2') }}"
  notify: reload systemd

- name: Generate a secret once; keep it private on every run
  hpcenv.gpu_cluster.managed_paths:
    paths:
      - path: /var/lib/job/secret
        mode: "0600"
        force: false
        content: "{{ lookup('ansible.builtin.password', '/dev/null', length=64) }}\n"
  no_log: true
"""

RETURN = r"""
manifest:
  description: Where the call recorded what it manages (only with O(manifest)).
  returned: when O(manifest) is set
  type: str
  sample: /var/lib/hpcenv-gpu-cluster/managed-paths/jupyter.hub.json
changed_paths:
  description: The paths changed (or, in check mode, that would change), in the order given.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/job/settings]
"""

import grp
import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _atomic, _audit

MANIFEST_DIR = "/var/lib/hpcenv-gpu-cluster/managed-paths"
MANIFEST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ENTRY_SPEC = {
    "path": {"type": "str", "required": True},
    "state": {"type": "str", "default": "file", "choices": ["directory", "file", "link", "absent"]},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "str"},
    "content": {"type": "str"},
    "force": {"type": "bool", "default": True},
    "follow": {"type": "bool"},
    "src": {"type": "str"},
    "validate": {"type": "str"},
}


class PathError(Exception):
    """A path that cannot be made as wanted; the message says why and what to do."""


def _kind(path: str) -> str | None:
    """'directory', 'file', 'link' or 'other' for what is at PATH (a link not followed); None when nothing is."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "directory"
    return "file" if stat.S_ISREG(mode) else "other"


def _account(name: str | None, kind: str) -> int:
    """The uid (kind "user") or gid ("group") of a name or number; -1 for None (leave it as it is)."""
    if name is None:
        return -1
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid if kind == "user" else grp.getgrnam(name).gr_gid
    except KeyError:
        raise PathError(f"there is no {kind} {name!r} on this host") from None


def validate(want: dict) -> None:
    """Fail before anything is touched on an entry that cannot be meant."""
    path, state = want["path"], want["state"]
    if not os.path.isabs(path):
        raise PathError("give an absolute path")
    mode = want.get("mode")
    if mode is not None and not (mode.isdigit() and set(mode) <= set("01234567") and len(mode) <= 4):
        raise PathError(f"mode must be octal digits such as '0644', got {mode!r}")
    if state == "link":
        if not want.get("src"):
            raise PathError("a link needs src (its target)")
        extra = [key for key in ("owner", "group", "mode", "content") if want.get(key) is not None]
        if extra:
            raise PathError(f"a link takes no {', '.join(extra)} (they would apply to its target: list the target)")
    elif want.get("src") is not None:
        raise PathError(f"src is only for state=link, not {state}")
    if want.get("content") is not None and state != "file":
        raise PathError(f"content is only for state=file, not {state}")
    if want.get("validate") is not None and (want.get("content") is None or "%s" not in want["validate"]):
        raise PathError("validate needs content, and %s in the command for the file to check")


class Paths:
    """Ensures each wanted path and collects the changes and their diffs."""

    def __init__(self, module: AnsibleModule):
        self.module = module
        self.check = module.check_mode
        self.changed: list[str] = []
        self.diffs: list[dict] = []

    def _attributes(self, path: str, want: dict, diff: dict | None) -> bool:
        """ansible-core's own comparison and fix of owner, group and mode (the file module's code)."""
        args = {
            "path": path,
            "owner": want.get("owner"),
            "group": want.get("group"),
            "mode": want.get("mode"),
            "attributes": None,
            "secontext": [None, None, None],
        }
        return self.module.set_fs_attributes_if_different(args, False, diff=diff, expand=False)

    def _target(self, want: dict, kind: str | None) -> tuple[str, str | None]:
        """The path to act on and what is there: a link's target when following one."""
        path = want["path"]
        follow = want["follow"] if want["follow"] is not None else want["state"] == "directory"
        if kind == "link" and follow:
            path = os.path.realpath(path)
            return path, _kind(path)
        return path, kind

    def ensure(self, want: dict) -> None:
        path, state = want["path"], want["state"]
        kind = _kind(path)
        # What diff mode shows: the text of a file whose content changes (as the copy and template
        # modules show it), and the state, link target, owner, group and mode that change.
        attrs = {"before": {"state": kind or "absent"}, "after": {"state": state}}
        text: dict = {}
        if state == "absent":
            changed = self._absent(path, kind)
        elif state == "link":
            changed = self._link(path, kind, want["src"], attrs)
        elif state == "directory":
            changed = self._directory(want, kind, attrs)
        else:
            changed = self._file(want, kind, attrs, text)
        if changed:
            self.changed.append(path)
            if self.module._diff:
                if attrs["before"] != attrs["after"]:
                    self.diffs.append({"before_header": path, "after_header": path, **attrs})
                if text:
                    self.diffs.append({"before_header": path, "after_header": path, **text})

    def _absent(self, path: str, kind: str | None) -> bool:
        if kind is None:
            return False
        if not self.check:
            if kind == "directory":
                shutil.rmtree(path)
            else:
                os.unlink(path)
        return True

    def _link(self, path: str, kind: str | None, src: str, diff: dict) -> bool:
        current = os.readlink(path) if kind == "link" else None
        if current is not None:
            diff["before"]["src"] = current
        diff["after"]["src"] = src
        if current == src:
            return False
        if kind == "directory":
            raise PathError(f"a directory is there; remove it by hand if a link to {src} belongs there")
        if not self.check:
            tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
            os.symlink(src, tmp)
            try:
                os.replace(tmp, path)
            except OSError:
                os.unlink(tmp)
                raise
        return True

    def _directory(self, want: dict, kind: str | None, diff: dict) -> bool:
        path, target_kind = self._target(want, kind)
        if target_kind == "directory":
            return self._attributes(path, want, diff)
        if target_kind is not None:
            what = "a symbolic link (follow: false never follows it)" if target_kind == "link" else f"a {target_kind}"
            raise PathError(f"{what} is there, not a directory; move it away")
        if not self.check:
            parent = os.path.dirname(path)
            if not os.path.isdir(parent):
                os.makedirs(parent, mode=0o755)
            os.mkdir(path, 0o700)  # private until its owner and mode are set
            self._attributes(path, {**want, "mode": want.get("mode") or "0755"}, None)
        return True

    def _file(self, want: dict, kind: str | None, diff: dict, text: dict) -> bool:
        path, target_kind = self._target(want, kind)
        content = want.get("content")
        if target_kind in {"directory", "other"}:
            raise PathError(f"a {target_kind} is there, not a file; move it away")
        exists = target_kind == "file"
        if content is None:
            if not exists:
                raise PathError("no such file, and no content to create it with")
            return self._attributes(path, want, diff)
        current = _read(path) if exists else None
        # An existing file gets its owner and mode first (ansible-core's code, which fills the diff);
        # new content then replaces it with the same.
        changed = self._attributes(path, want, diff) if exists else False
        if exists and (current == content.encode() or not want["force"]):
            return changed
        text["before"] = current.decode(errors="replace") if current is not None else ""
        text["after"] = content
        if not exists:
            diff["after"].update({key: want[key] for key in ("owner", "group", "mode") if want.get(key) is not None})
        if not self.check:
            self._replace(path, want, content, exists)
        return True

    def _replace(self, path: str, want: dict, content: str, exists: bool) -> None:
        """Write CONTENT in one rename; the temporary file has the final owner and mode before it.

        What the entry does not set is kept from the file it replaces (a new file: the module's user, 0644
        less the umask)."""
        st = os.stat(path) if exists else None
        if want.get("mode") is not None:
            mode = int(want["mode"], 8)
        else:
            mode = stat.S_IMODE(st.st_mode) if st else 0o644 & ~_umask()
        uid = _account(want.get("owner"), "user") if want.get("owner") is not None else (st.st_uid if st else -1)
        gid = _account(want.get("group"), "group") if want.get("group") is not None else (st.st_gid if st else -1)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o755)
        _atomic.write(path, content, mode, owner=(uid, gid), move=self._validated_move(want.get("validate")))

    def _validated_move(self, validate: str | None):
        """os.replace, after VALIDATE (if any) accepted the temporary file."""

        def move(tmp: str, dest: str) -> None:
            if validate:
                rc, out, err = self.module.run_command(shlex.split(validate % tmp))
                if rc != 0:
                    raise PathError(f"{validate % tmp} refused the new content (rc {rc}): {(err or out).strip()}")
            os.replace(tmp, dest)

        return move


def manifest_entry(want: dict) -> dict:
    """What the manifest records of one entry: what it wants, the content as its SHA256 (never the text)."""
    entry = {key: want[key] for key in ("path", "state", "owner", "group", "mode", "src") if want.get(key) is not None}
    if want["state"] == "file" and want.get("content") is not None and want["force"]:
        entry["sha256"] = hashlib.sha256(want["content"].encode()).hexdigest()
    if want.get("follow") is not None:
        entry["follow"] = want["follow"]
    return entry


def write_manifest(name: str, wants: list[dict], directory: str | None = None) -> str:
    """Record the entries in DIRECTORY (MANIFEST_DIR)/NAME.json (only when they changed); its path."""
    directory = directory or MANIFEST_DIR
    os.makedirs(directory, mode=0o755, exist_ok=True)
    path = os.path.join(directory, f"{name}.json")
    text = json.dumps([manifest_entry(want) for want in wants], indent=1, sort_keys=True) + "\n"
    # Root's only: a file's SHA256 would let anyone test guesses of a secret it holds.
    _atomic.write_if_changed(path, text, 0o600)
    return path


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _audit_records(manifest: str | None, changed: list[str], wants: list[dict]) -> list[dict]:
    """The audit line of the paths a call changed (none when none did); `removed` names those it deleted."""
    if not changed:
        return []
    gone = {w["path"] for w in wants if w.get("state") == "absent"}
    removed = [path for path in changed if path in gone]
    return [_audit.entry("paths", manifest or changed[0], None, changed, removed=removed)]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "dict", "required": True, "options": ENTRY_SPEC},
            "manifest": {"type": "str"},
            **_audit.ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    wants = module.params["paths"]
    name = module.params["manifest"]
    if name is not None and not MANIFEST_NAME.match(name):
        module.fail_json(msg=f"manifest must be a name of letters, digits, '.', '_' and '-', got {name!r}")
    for want in wants:
        try:
            validate(want)
            if not module.check_mode:  # in check mode on a new host an earlier task has not made them yet
                _account(want.get("owner"), "user")
                _account(want.get("group"), "group")
        except PathError as exc:
            module.fail_json(msg=f"{want['path']}: {exc}", changed=False, changed_paths=[])
    paths = Paths(module)
    for want in wants:
        try:
            paths.ensure(want)
        except (PathError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            _audit.record(module, _audit_records(name, paths.changed, wants))
            module.fail_json(
                msg=f"{want['path']}: {reason} (the paths before it are done, the ones after it untouched)",
                changed=bool(paths.changed),
                changed_paths=paths.changed,
            )
    result = {"changed": bool(paths.changed), "changed_paths": paths.changed}
    _audit.record(module, _audit_records(name, paths.changed, wants))
    if name is not None and not module.check_mode:
        try:
            result["manifest"] = write_manifest(name, wants)
        except OSError as exc:
            module.fail_json(msg=f"cannot record the manifest {name}: {exc}", **result)
    if module._diff:
        result["diff"] = paths.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
