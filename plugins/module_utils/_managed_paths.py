# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helper: ensure a role's paths, the code of the managed_paths module.

One copy of the comparison and the fix: managed_paths makes the paths so, and host_state_info's
O(managed_paths) read asks the same code, in check mode, which of them it would change.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import stat

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _atomic

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


def account(name: str | None, kind: str) -> int:
    """The uid (kind "user") or gid ("group") of a name or number; -1 for None (leave it as it is)."""
    if name is None:
        return -1
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid if kind == "user" else grp.getgrnam(name).gr_gid
    except KeyError:
        raise PathError(f"there is no {kind} {name!r} on this host") from None


def validate(want: dict, accounts: bool = True) -> None:
    """Fail before anything is touched on an entry that cannot be meant; with ACCOUNTS, also on an
    owner or group this host does not have."""
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
    if accounts:
        account(want.get("owner"), "user")
        account(want.get("group"), "group")


class Paths:
    """Ensures each wanted path and collects the changes and their diffs."""

    def __init__(self, module):  # an AnsibleModule
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
        uid = account(want.get("owner"), "user") if want.get("owner") is not None else (st.st_uid if st else -1)
        gid = account(want.get("group"), "group") if want.get("group") is not None else (st.st_gid if st else -1)
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


def pending(module, wants: list[dict]) -> list[str]:
    """The paths of WANTS (entries as ENTRY_SPEC makes them) that managed_paths would change, in order.

    The fixing code itself answers, with MODULE's check mode on for the call, so nothing is touched.
    An entry that could not be made so (an unknown owner, a directory where a file is wanted) counts
    too: the managed_paths call that follows fails on it with the reason.
    """
    was_check = module.check_mode
    module.check_mode = True  # what Paths and ansible-core's set_fs_attributes_if_different read
    try:
        paths = Paths(module)
        for want in wants:
            try:
                validate(want)
                paths.ensure(want)
            except (PathError, OSError):
                paths.changed.append(want["path"])
    finally:
        module.check_mode = was_check
    return paths.changed
