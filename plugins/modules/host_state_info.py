#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_state_info
short_description: One read of what a role manages on a host, compared with what it wants
version_added: 1.1.0
description:
  - Reads many paths (type, owner, group, mode, link target, content checksum, directory entries) and Debian
    packages of a host in one call, compares them with what the caller expects, and names what differs, grouped by
    O(paths[].part). A role reads its whole state once and skips the blocks whose part is in order, so a no-op converge
    runs a handful of tasks instead of one per file.
  - The comparison is strict, the same the file, template and apt modules make. A part is reported in order only when
    each of those modules would report C(ok) for it. Anything it cannot decide (an owner name with no account, an
    unreadable file) counts as differing, so the role's own task runs and decides.
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
extends_documentation_fragment:
  - hpcenv.gpu_cluster.read_only
options:
  paths:
    description: The paths to read, each with what the role wants it to be.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path, compared and returned exactly as given (no C(~) or variable expansion).
        type: str
        required: true
      part:
        description: The block of the role that manages this path; RV(differs) is keyed by it.
        type: str
        default: main
      state:
        description:
          - V(directory), V(file) (a regular file), V(link) (a symlink), V(absent), or V(any) (only read, never
            differs).
        type: str
        choices: [directory, file, link, absent, any]
        default: any
      follow:
        description:
          - Compare the target of a symlink instead of the link. Default V(true) for V(directory) (as
            C(ansible.builtin.file state=directory) does) and V(false) otherwise (as C(ansible.builtin.template)
            and C(ansible.builtin.copy) do, which replace a link with a file). Set V(true) for a path that
            C(ansible.builtin.file) manages without a state (its owner and mode apply to the target).
          - A V(link) is never followed, and its owner is not compared (the file module's owner applies to the
            target of a link).
        type: bool
      owner:
        description: User name or uid the path must belong to (not compared for V(link)).
        type: str
      group:
        description: Group name or gid (not compared for V(link)).
        type: str
      mode:
        description: Permission bits as an octal string (V("0755")); symbolic modes are not compared.
        type: str
      src:
        description: The target a V(link) must point at, exactly as C(readlink) prints it.
        type: str
      checksum:
        description: SHA1 of the content a V(file) must hold (what the template and copy modules compare).
        type: str
      list:
        description: Return the directory's entries (name, type, mtime) in RV(paths).
        type: bool
        default: false
  packages:
    description: Debian package names whose installed version to read from the dpkg database.
    type: list
    elements: str
    default: []
  packages_part:
    description: The part a missing package is reported under in RV(differs).
    type: str
    default: packages
notes:
  - Reads C(/var/lib/dpkg/status) for O(packages); on hosts without dpkg every package counts as missing.
  - A path given twice is read for each entry; RV(paths) holds one record for it, with the differences of both.
seealso:
  - module: ansible.builtin.stat
"""

EXAMPLES = r"""
- name: Read the installation's layout in one call
  hpcenv.gpu_cluster.host_state_info:
    paths:
      - {path: /opt/conda.d, part: layout, state: directory, owner: root, group: root, mode: "0755", list: true}
      - {path: /opt/conda, part: layout, state: link, src: /opt/conda.d/base-26.7.1-0}
      - path: /etc/profile.d/conda.sh
        part: integration
        state: file
        owner: root
        group: root
        mode: "0644"
        checksum: "{{ lookup('ansible.builtin.template', 'profile.sh.j2') | hash('sha1') }}"
    packages: [python3-yaml]
  register: conda_state

- name: Lay out the installation (only when something differs)
  ansible.builtin.include_tasks: layout.yml
  when: "'layout' in conda_state.differs"
"""

RETURN = r"""
paths:
  description: What was found at each path.
  returned: always
  type: dict
  sample:
    /opt/conda:
      exists: true
      type: link
      src: /opt/conda.d/base-26.7.1-0
      owner: root
      group: root
      mode: "0777"
      differs: []
    /etc/profile.d/conda.sh:
      exists: true
      type: file
      owner: root
      group: root
      mode: "0644"
      checksum: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
      differs: [checksum]
differs:
  description: Per part, the paths (and for packages, the package names) that differ from what was asked.
  returned: always
  type: dict
  sample: {integration: [/etc/profile.d/conda.sh]}
packages:
  description: Installed version of each package asked for; null when it is not installed.
  returned: always
  type: dict
  sample: {python3-yaml: 6.0-3+b2}
"""

import grp
import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

DPKG_STATUS = "/var/lib/dpkg/status"
TYPES = ((stat.S_ISLNK, "link"), (stat.S_ISDIR, "directory"), (stat.S_ISREG, "file"))


def _type(st: os.stat_result) -> str:
    return next((name for test, name in TYPES if test(st.st_mode)), "other")


def _id(name: str | None, lookup, field: str) -> int | None:
    """uid/gid for a name or a number; None when no account has that name."""
    if name is None:
        return None
    if name.isdigit():
        return int(name)
    try:
        return getattr(lookup(name), field)
    except KeyError:
        return None


def _name(number: int, lookup, field: str) -> str:
    try:
        return getattr(lookup(number), field)
    except KeyError:
        return str(number)


def sha1(path: str) -> str | None:
    digest = hashlib.sha1()  # noqa: S324 - the checksum Ansible's template/copy modules compare
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _entries(path: str) -> list[dict]:
    entries = []
    with os.scandir(path) as it:
        for entry in it:
            try:
                est = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            entries.append({"name": entry.name, "type": _type(est), "mtime": est.st_mtime})
    return sorted(entries, key=lambda e: e["name"])


def read_path(want: dict) -> dict:
    """What is at want['path'], and which of want's expectations it misses."""
    path, state = want["path"], want["state"]
    follow = want.get("follow")
    if follow is None:
        follow = state == "directory"
    try:
        st = os.lstat(path)
        if follow and state != "link" and stat.S_ISLNK(st.st_mode):
            st = os.stat(path)
    except FileNotFoundError:
        found = {"exists": False, "type": None}
        found["differs"] = ["exists"] if state not in ("absent", "any") else []
        return found
    except OSError as exc:  # a dangling link followed, a path through a file, no permission
        return {"exists": None, "type": None, "error": str(exc), "differs": ["unreadable"]}
    found = {
        "exists": True,
        "type": _type(st),
        "owner": _name(st.st_uid, pwd.getpwuid, "pw_name"),
        "group": _name(st.st_gid, grp.getgrgid, "gr_name"),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
    }
    differs = []
    if stat.S_ISLNK(st.st_mode):
        try:
            found["src"] = os.readlink(path)
        except OSError:
            differs.append("unreadable")
    if state == "absent":
        differs.append("exists")
    elif state != "any":
        if found["type"] != state:
            differs.append("type")
        if state != "link":
            uid = _id(want.get("owner"), pwd.getpwnam, "pw_uid")
            if want.get("owner") is not None and uid != st.st_uid:
                differs.append("owner")
            gid = _id(want.get("group"), grp.getgrnam, "gr_gid")
            if want.get("group") is not None and gid != st.st_gid:
                differs.append("group")
            if want.get("mode") is not None and int(want["mode"], 8) != stat.S_IMODE(st.st_mode):
                differs.append("mode")
        if state == "link" and want.get("src") is not None and found.get("src") != want["src"]:
            differs.append("src")
        if want.get("checksum") is not None:
            found["checksum"] = sha1(path) if found["type"] == "file" else None
            if found["checksum"] != want["checksum"]:
                differs.append("checksum")
    if want.get("list") and found["type"] == "directory":
        try:
            found["entries"] = _entries(path)
        except OSError:
            differs.append("unreadable")
    found["differs"] = differs
    return found


def dpkg_installed(names: list[str], status_file: str | None = None) -> dict[str, str | None]:
    """Installed versions from the dpkg database (paragraphs of 'Key: value' lines)."""
    wanted = dict.fromkeys(names)
    if not names:
        return wanted
    try:
        with open(status_file or DPKG_STATUS, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return wanted
    for paragraph in text.split("\n\n"):
        fields = {}
        for line in paragraph.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, value = line.partition(":")[::2]
                fields[key] = value.strip()
        name = fields.get("Package")
        # Multi-arch packages have a paragraph per architecture; any installed one will do.
        if name in wanted and fields.get("Status", "").endswith(" installed"):
            wanted[name] = fields.get("Version") or "installed"
    return wanted


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "str", "required": True},
                    "part": {"type": "str", "default": "main"},
                    "state": {
                        "type": "str",
                        "default": "any",
                        "choices": ["directory", "file", "link", "absent", "any"],
                    },
                    "follow": {"type": "bool"},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "mode": {"type": "str"},
                    "src": {"type": "str"},
                    "checksum": {"type": "str"},
                    "list": {"type": "bool", "default": False},
                },
            },
            "packages": {"type": "list", "elements": "str", "default": []},
            "packages_part": {"type": "str", "default": "packages"},
        },
        supports_check_mode=True,
    )
    for want in module.params["paths"]:
        mode = want.get("mode")
        if mode is not None and not (mode.isdigit() and set(mode) <= set("01234567") and len(mode) <= 4):
            module.fail_json(msg=f"{want['path']}: mode must be octal digits such as '0755', got {mode!r}")
        if not os.path.isabs(want["path"]):
            module.fail_json(msg=f"{want['path']}: give an absolute path")
    paths, differs = {}, {}
    for want in module.params["paths"]:
        found = read_path(want)
        if found["differs"] and want["path"] not in differs.get(want["part"], []):
            differs.setdefault(want["part"], []).append(want["path"])
        if want["path"] in paths:  # the same path under two expectations: one record, both differences
            earlier = paths[want["path"]]
            found = {**earlier, **found, "differs": earlier["differs"] + found["differs"]}
            if "entries" in earlier:
                found["entries"] = earlier["entries"]
        paths[want["path"]] = found
    packages = dpkg_installed(module.params["packages"])
    missing = [name for name, version in packages.items() if version is None]
    if missing:
        differs.setdefault(module.params["packages_part"], []).extend(missing)
    module.exit_json(changed=False, paths=paths, differs=differs, packages=packages)


if __name__ == "__main__":
    main()
