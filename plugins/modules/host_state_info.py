#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_state_info
short_description: One read of the paths and Debian packages a role decides from
version_added: 1.1.0
description:
  - Reads many paths (whether each exists, its type, owner, group, mode, link target and, on request, a directory's
    entries) and the installed version of Debian packages, in one call. A role reads what it decides from once (is
    the pinned version installed, which old versions are there, is a package missing) instead of one task each.
  - It compares nothing with a wanted state. What a role manages it declares once and ensures with
    M(hpcenv.gpu_cluster.managed_paths), which reads and fixes with the same code.
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
extends_documentation_fragment:
  - hpcenv.gpu_cluster.read_only
options:
  paths:
    description: The paths to read. A symbolic link is read as a link (never followed).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path, read and returned exactly as given (no C(~) or variable expansion).
        type: str
        required: true
      list:
        description: Return the directory's entries (name, type, mtime) in RV(paths).
        type: bool
        default: false
      checksum:
        description: Return a regular file's SHA256 in RV(paths) (C(sha256)), for example to copy only what differs.
        type: bool
        default: false
  packages:
    description: Debian package names whose installed version to read from the dpkg database.
    type: list
    elements: str
    default: []
notes:
  - Reads C(/var/lib/dpkg/status) for O(packages); on hosts without dpkg every package counts as missing.
seealso:
  - module: hpcenv.gpu_cluster.managed_paths
  - module: ansible.builtin.stat
"""

EXAMPLES = r"""
- name: Read what the role decides from, in one call
  hpcenv.gpu_cluster.host_state_info:
    paths:
      - {path: /opt/conda.d, list: true}
      - {path: /opt/conda.d/base-26.7.1-0/conda-meta}
    packages: [python3-yaml]
  register: conda_state

- name: Install the pinned version (only when it is not there)
  ansible.builtin.include_tasks: install.yml
  when: not conda_state.paths['/opt/conda.d/base-26.7.1-0/conda-meta'].exists
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
    /var/lib/hpcenv-drift/packs/roles.tar:
      exists: true
      type: file
      owner: root
      group: root
      mode: "0600"
      sha256: 0f4c2d9e8b7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a190817263
    /opt/conda.d/base-26.7.1-0/conda-meta:
      exists: false
      type: null
packages:
  description: Installed version of each package asked for; null when it is not installed.
  returned: always
  type: dict
  sample: {python3-yaml: 6.0-3+b2}
missing_packages:
  description: The packages asked for that are not installed, in the order asked.
  returned: always
  type: list
  elements: str
  sample: [nginx]
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

DPKG_STATUS = "/var/lib/dpkg/status"
TYPES = ((stat.S_ISLNK, "link"), (stat.S_ISDIR, "directory"), (stat.S_ISREG, "file"))


def _type(st: os.stat_result) -> str:
    return next((name for test, name in TYPES if test(st.st_mode)), "other")


def _name(number: int, lookup, field: str) -> str:
    try:
        return getattr(lookup(number), field)
    except KeyError:
        return str(number)


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


def read_path(path: str, list_entries: bool = False) -> dict:
    """What is at PATH (a link read as a link); an unreadable path says why instead of a traceback."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False, "type": None}
    except OSError as exc:  # a path through a file, no permission
        return {"exists": None, "type": None, "error": str(exc)}
    found = {
        "exists": True,
        "type": _type(st),
        "owner": _name(st.st_uid, pwd.getpwuid, "pw_name"),
        "group": _name(st.st_gid, grp.getgrgid, "gr_name"),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
    }
    try:
        if stat.S_ISLNK(st.st_mode):
            found["src"] = os.readlink(path)
        if list_entries and stat.S_ISDIR(st.st_mode):
            found["entries"] = _entries(path)
    except OSError as exc:
        found["error"] = str(exc)
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
                    "list": {"type": "bool", "default": False},
                    "checksum": {"type": "bool", "default": False},
                },
            },
            "packages": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    for want in module.params["paths"]:
        if not os.path.isabs(want["path"]):
            module.fail_json(msg=f"{want['path']}: give an absolute path")
    paths: dict[str, dict] = {}
    for want in module.params["paths"]:
        found = read_path(want["path"], want["list"])
        if want["checksum"] and found["type"] == "file" and "error" not in found:
            try:
                found["sha256"] = module.sha256(want["path"])
            except OSError as exc:  # unreadable
                found["error"] = str(exc)
        for kept in ("entries", "sha256"):  # the same path given twice: keep what either asked for
            if kept in paths.get(want["path"], {}):
                found.setdefault(kept, paths[want["path"]][kept])
        paths[want["path"]] = found
    packages = dpkg_installed(module.params["packages"])
    missing = [name for name, version in packages.items() if version is None]
    module.exit_json(changed=False, paths=paths, packages=packages, missing_packages=missing)


if __name__ == "__main__":
    main()
