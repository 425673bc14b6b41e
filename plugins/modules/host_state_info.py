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
    entries, a file's checksum, text or file capabilities), the installed version of Debian packages (and, for
    those missing, whether apt can install them), accounts and groups (through NSS, as C(getent) does) and
    systemd units' states, in one call. A role reads what it decides from once (is the pinned version installed,
    which old versions are there, is a package missing, is the service running) instead of one task each.
  - It compares nothing with a wanted state itself. What a role manages it declares once and ensures with
    M(hpcenv.gpu_cluster.managed_paths); O(managed_paths) asks that module's own code, in check mode, which of
    those paths it would change, so a role can skip the call on a node where none differs.
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
      glob:
        description:
          - O(paths[].path) is a shell pattern (C(*), C(?), C([...])); every path it matches is read as asked and
            returned in RV(paths), and the matches, sorted, in RV(globs). A pattern that matches nothing reads as an
            empty list.
        type: bool
        default: false
      list:
        description: Return the directory's entries (name, type, mtime) in RV(paths).
        type: bool
        default: false
      checksum:
        description: Return a regular file's SHA256 in RV(paths) (C(sha256)), for example to copy only what differs.
        type: bool
        default: false
      content:
        description:
          - Return a regular file's text in RV(paths) (C(content)), for example a C(/proc/sys) value or a line
            the role looks for in a file it does not own.
          - At most 1 MiB is read; a longer file returns an C(error) instead. Bytes that are not UTF-8 are replaced.
        type: bool
        default: false
      capabilities:
        description:
          - Return a regular file's capabilities in RV(paths) (C(capabilities)), decoded from its
            C(security.capability) attribute as C(getcap) does; null when it has none or an unknown revision.
          - C(rootid) is the root uid of the user namespace a revision 3 attribute was set in (null for revisions 1
            and 2); on the host, such capabilities count only with a C(rootid) of 0.
        type: bool
        default: false
  packages:
    description: Debian package names whose installed version to read from the dpkg database.
    type: list
    elements: str
    default: []
  setuid_files_of:
    description:
      - Debian package names; for each, the regular files it installed (its dpkg file list) that have the setuid
        bit, for example to find the setuid helpers a package brought.
    type: list
    elements: str
    default: []
  candidates:
    description:
      - Debian package names; for each one that is not installed, the version apt would install (C(apt-cache policy),
        from the package lists as they are, nothing is updated), or null when no source has it.
      - Installed ones are answered from the dpkg database without asking apt, so a node that has them all runs no
        command.
    type: list
    elements: str
    default: []
  users:
    description: Account names to look up through NSS (local files, LDAP, SSSD, as C(getent passwd) sees them).
    type: list
    elements: str
    default: []
  groups:
    description: Group names to look up through NSS (what C(getent group) sees), with their listed members.
    type: list
    elements: str
    default: []
  services:
    description: systemd unit names whose load, active and enablement state to read (one C(systemctl show) for all).
    type: list
    elements: str
    default: []
  managed_paths:
    description:
      - Paths as O(hpcenv.gpu_cluster.managed_paths#module:paths) takes them (the same entries, with the same
        defaults); returned in RV(pending_paths) are those M(hpcenv.gpu_cluster.managed_paths) would change. The
        answer comes from that module's own code, run in check mode, so reading and fixing cannot disagree.
      - An entry that could not be made so (a directory where a file is wanted, an unknown owner, a file to keep
        that is missing) is returned too, and the read goes on; the M(hpcenv.gpu_cluster.managed_paths) call that
        follows fails on it, naming the path and the reason.
    type: list
    elements: dict
    default: []
  managed_path_sets:
    description:
      - Named lists of paths, each as O(managed_paths) takes them (one per M(hpcenv.gpu_cluster.managed_paths) call a
        role makes, say); returned in RV(pending_sets) are the names of those with any path that module would
        change, and their paths are added to RV(pending_paths).
      - A role then asks C('layout' in read.pending_sets) once per call, rather than which of the call's paths are
        among RV(pending_paths).
    type: dict
    default: {}
  condarc:
    description:
      - A condarc file as M(hpcenv.gpu_cluster.condarc) takes it (the same options, with the same defaults, and the
        file's owner, group and mode); RV(condarc_pending) says whether that module would change the file. Its own
        code answers (the file's text as it would write it, then ansible-core's owner, group and mode comparison),
        so reading and fixing cannot disagree.
      - Settings the module would refuse, or a file it cannot read, count as a change; the module's call that
        follows fails with the reason.
    type: dict
    suboptions:
      path:
        description: The condarc file.
        type: path
        required: true
      settings:
        description: Keys to set, as for M(hpcenv.gpu_cluster.condarc).
        type: dict
        default: {}
      unset:
        description: Keys to remove.
        type: list
        elements: str
        default: []
      merge:
        description: How list and mapping values combine with the file's, as for M(hpcenv.gpu_cluster.condarc).
        type: str
        choices: [replace, append, remove]
        default: replace
      final:
        description: Keys marked C(#!final).
        type: list
        elements: str
        default: []
      validate_keys:
        description: Count key names that conda does not know as refused.
        type: bool
        default: true
      owner:
        description: The file's owner.
        type: str
      group:
        description: The file's group.
        type: str
      mode:
        description: The file's mode, as M(ansible.builtin.file) takes it.
        type: raw
  conda_installation:
    description:
      - The root prefix of a conda installation to read as M(hpcenv.gpu_cluster.conda_info) reads it (the same code,
        without its virtual packages), returned in RV(conda_installation).
    type: path
  nvidia_gpus:
    description:
      - Read the node's NVIDIA GPUs as M(hpcenv.gpu_cluster.nvidia_gpu_info) reads them, with the same code
        (C(nvidia-smi) on C(PATH) or in C(/usr/bin) or C(/usr/local/nvidia/bin), else C(/proc/driver/nvidia)), returned
        in RV(nvidia_gpus). A failing C(nvidia-smi) fails the read with its message and a hint.
    type: bool
    default: false
notes:
  - Reads C(/var/lib/dpkg/status) for O(packages); on hosts without dpkg every package counts as missing.
  - A missing O(services) unit reads as C(load=not-found); on a host without systemctl, or where systemd does not
    run (systemctl says it was not booted with systemd or cannot reach its bus), every unit reads as null, with a
    warning in the second case. Any other failure of C(systemctl show) fails the module.
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
    /proc/sys/user/max_user_namespaces:
      exists: true
      type: file
      owner: root
      group: root
      mode: "0644"
      content: "63704\n"
    /usr/bin/newuidmap:
      exists: true
      type: file
      owner: root
      group: root
      mode: "0755"
      capabilities: {permitted: [cap_setuid], inheritable: [], effective: true, rootid: null}
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
globs:
  description: For each O(paths[].path) given with O(paths[].glob), the paths it matched, sorted.
  returned: always
  type: dict
  sample: {"/usr/local/share/jupyter/kernels/*/kernel.json": [/usr/local/share/jupyter/kernels/shared_ml/kernel.json]}
setuid_files:
  description: For each of O(setuid_files_of), its files with the setuid bit (none when it is not installed).
  returned: always
  type: dict
  sample: {apptainer: [/usr/libexec/apptainer/bin/starter-suid]}
candidates:
  description: For each of O(candidates), the installed version, or for one not installed the version apt would install
    (null when no source has it).
  returned: always
  type: dict
  sample: {apptainer: null, podman: "4.3.1+ds1-8+deb12u1"}
users:
  description: Each account asked for (null when NSS does not know it).
  returned: always
  type: dict
  sample: {alice: {uid: 1001, gid: 1001, home: /home/alice, shell: /bin/bash}, nobody-here: null}
groups:
  description: Each group asked for (null when NSS does not know it), with the members its entry lists.
  returned: always
  type: dict
  sample: {docker: {gid: 998, members: [admin1]}}
pending_paths:
  description: The paths of O(managed_paths), then of O(managed_path_sets), that M(hpcenv.gpu_cluster.managed_paths)
    would change, in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/conda/condarc.d]
pending_sets:
  description: The names of O(managed_path_sets) with any path M(hpcenv.gpu_cluster.managed_paths) would change, in
    the order given.
  returned: always
  type: list
  elements: str
  sample: [layout]
condarc_pending:
  description:
    - Whether M(hpcenv.gpu_cluster.condarc), given O(condarc), would change the file or refuse it; null when
      O(condarc) is not set.
  returned: always
  type: bool
  sample: false
conda_installation:
  description:
    - What M(hpcenv.gpu_cluster.conda_info) returns for the prefix O(conda_installation) (without C(changed) and the
      virtual packages); null when O(conda_installation) is not set or a system condarc file cannot be read (then
      M(hpcenv.gpu_cluster.conda_info) says why).
  returned: always
  type: dict
  sample: {"installed": true, "prefix": /opt/conda, "conda_version": 24.11.3, "mamba_version": 2.0.5}
nvidia_gpus:
  description:
    - What M(hpcenv.gpu_cluster.nvidia_gpu_info) returns (without C(changed)) when O(nvidia_gpus) is set, else null.
  returned: always
  type: dict
  sample: {"present": true, "count": 1, "driver_version": "550.54.15", "cuda_version": "12.4", "mig_enabled": false}
services:
  description: Each unit asked for, as systemd reports it (null without systemctl, or where systemd does not run).
  returned: always
  type: dict
  sample: {jupyterhub.service: {load: loaded, active: active, enabled: enabled}}
"""

import errno
import glob
import grp
import os
import pwd
import stat
import struct

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_meta, _condarc, _nvidia
from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils._managed_paths import ENTRY_SPEC, pending

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_INFO = "/var/lib/dpkg/info"
TYPES = ((stat.S_ISLNK, "link"), (stat.S_ISDIR, "directory"), (stat.S_ISREG, "file"))
CONTENT_LIMIT = 1 << 20
# What systemctl says where systemd is not PID 1 (systemd 252 to 257).
NO_SYSTEMD = ("has not been booted with systemd", "Failed to connect to bus")
# Linux capability numbers (linux/capability.h), as getcap names them.
CAPABILITIES = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
]
VFS_CAP_REVISION_MASK = 0xFF000000
VFS_CAP_REVISION_1 = 0x01000000
VFS_CAP_REVISION_2 = 0x02000000
VFS_CAP_REVISION_3 = 0x03000000
VFS_CAP_FLAGS_EFFECTIVE = 0x000001


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


def _cap_names(low: int, high: int) -> list[str]:
    bits = low | (high << 32)
    return ["cap_" + (CAPABILITIES[n] if n < len(CAPABILITIES) else str(n)) for n in range(64) if bits >> n & 1]


def decode_capabilities(raw: bytes) -> dict | None:
    """A security.capability attribute (struct vfs_cap_data, revision 1, 2 or 3), as getcap reads it.

    Revision 3 names the root uid of the user namespace it was set in (`rootid`): the kernel honours it only
    where that uid is root, so on the host only a rootid of 0 grants anything (getcap prints [rootid=N])."""
    if len(raw) < 12:
        return None
    magic, permitted, inheritable = struct.unpack_from("<III", raw)
    revision = magic & VFS_CAP_REVISION_MASK
    if revision not in (VFS_CAP_REVISION_1, VFS_CAP_REVISION_2, VFS_CAP_REVISION_3):
        return None
    permitted_hi = inheritable_hi = 0
    if revision != VFS_CAP_REVISION_1 and len(raw) >= 20:  # revisions 2 and 3: 64 bits
        permitted_hi, inheritable_hi = struct.unpack_from("<II", raw, 12)
    rootid = struct.unpack_from("<I", raw, 20)[0] if revision == VFS_CAP_REVISION_3 and len(raw) >= 24 else None
    return {
        "permitted": _cap_names(permitted, permitted_hi),
        "inheritable": _cap_names(inheritable, inheritable_hi),
        "effective": bool(magic & VFS_CAP_FLAGS_EFFECTIVE),
        "rootid": rootid,
    }


def read_capabilities(path: str) -> dict | None:
    try:
        raw = os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
            return None  # no capabilities, or a file system without extended attributes
        raise
    return decode_capabilities(raw)


def read_text(path: str) -> str:
    with open(path, "rb") as fh:
        data = fh.read(CONTENT_LIMIT + 1)
    if len(data) > CONTENT_LIMIT:
        raise OSError(errno.EFBIG, f"longer than {CONTENT_LIMIT} bytes, not read", path)
    return data.decode("utf-8", errors="replace")


def file_details(module: AnsibleModule, want: dict, found: dict) -> None:
    """What WANT asks of a regular file beyond lstat: its checksum, text, capabilities (an error says why not)."""
    if found["type"] != "file" or "error" in found:
        return
    path = want["path"]
    try:
        if want["checksum"]:
            found["sha256"] = module.sha256(path)
        if want["content"]:
            found["content"] = read_text(path)
        if want["capabilities"]:
            found["capabilities"] = read_capabilities(path)
    except OSError as exc:  # unreadable, too long
        found["error"] = str(exc)


def _nss(names: list[str], lookup, describe) -> dict[str, dict | None]:
    """Each name through NSS (LOOKUP: pwd.getpwnam or grp.getgrnam), as DESCRIBE puts it; None when unknown."""
    found: dict[str, dict | None] = {}
    for name in names:
        try:
            found[name] = describe(lookup(name))
        except KeyError:
            found[name] = None
    return found


def lookup_users(names: list[str]) -> dict[str, dict | None]:
    return _nss(
        names, pwd.getpwnam, lambda e: {"uid": e.pw_uid, "gid": e.pw_gid, "home": e.pw_dir, "shell": e.pw_shell}
    )


def lookup_groups(names: list[str]) -> dict[str, dict | None]:
    return _nss(names, grp.getgrnam, lambda e: {"gid": e.gr_gid, "members": list(e.gr_mem)})


def parse_apt_policy(text: str) -> dict[str, str | None]:
    """`apt-cache policy NAME...` (LC_ALL=C): each package's candidate version, None for '(none)'."""
    candidates: dict[str, str | None] = {}
    name = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            name = line[:-1]
        elif name and line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            candidates[name] = None if version in ("", "(none)") else version
    return candidates


def apt_candidates(module: AnsibleModule, names: list[str], installed: dict[str, str | None]) -> dict[str, str | None]:
    found = {name: installed.get(name) for name in names}
    ask = [name for name, version in found.items() if version is None]
    apt_cache = module.get_bin_path("apt-cache") if ask else None
    if apt_cache:
        rc, out, err = module.run_command([apt_cache, "policy", "--", *ask], environ_update={"LC_ALL": "C"})
        if rc != 0:
            module.fail_json(msg=f"apt-cache policy {' '.join(ask)} failed (rc {rc}): {err.strip()}")
        policy = parse_apt_policy(out)
        found.update({name: policy.get(name) for name in ask})
    return found


def parse_systemctl_show(text: str, units: list[str]) -> dict[str, dict]:
    """`systemctl show -p LoadState,ActiveState,UnitFileState UNIT...`: one block per unit, in the order asked."""
    blocks = text.strip("\n").split("\n\n") if text.strip() else []
    keys = {"LoadState": "load", "ActiveState": "active", "UnitFileState": "enabled"}
    found = {}
    for unit, block in zip(units, blocks):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        found[unit] = {short: fields.get(key, "") for key, short in keys.items()}
    return found


def unit_states(module: AnsibleModule, units: list[str]) -> dict[str, dict | None]:
    found: dict[str, dict | None] = dict.fromkeys(units)
    systemctl = module.get_bin_path("systemctl") if units else None
    if systemctl:
        argv = [systemctl, "show", "--property=LoadState,ActiveState,UnitFileState", "--", *units]
        rc, out, err = module.run_command(argv, environ_update={"LC_ALL": "C"})
        if rc != 0 and any(sign in err for sign in NO_SYSTEMD):  # a chroot, a container without systemd
            module.warn(f"systemd does not run on this host, so no unit has a state: {err.strip()}")
            return found
        if rc != 0:
            module.fail_json(msg=f"systemctl show {' '.join(units)} failed (rc {rc}): {err.strip()}")
        found.update(parse_systemctl_show(out, units))
    return found


def dpkg_setuid_files(package: str, info_dir: str | None = None) -> list[str]:
    """The files of PACKAGE's dpkg file list (<name>.list, or <name>:<arch>.list) with the setuid bit."""
    info_dir = info_dir or DPKG_INFO
    try:
        lists = sorted(
            name for name in os.listdir(info_dir) if name == f"{package}.list" or name.startswith(f"{package}:")
        )
    except OSError:
        return []
    found = []
    for name in (n for n in lists if n.endswith(".list")):
        try:
            with open(os.path.join(info_dir, name), encoding="utf-8", errors="replace") as fh:
                listed = fh.read().splitlines()
        except OSError:  # removed by dpkg meanwhile, unreadable
            continue
        for path in listed:
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_ISUID:
                found.append(path)
    return sorted(set(found))


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


def read_one(module: AnsibleModule, want: dict, paths: dict[str, dict]) -> None:
    found = read_path(want["path"], want["list"])
    file_details(module, want, found)
    for kept in ("entries", "sha256", "content", "capabilities"):  # a path given twice: keep what either asked for
        if kept in paths.get(want["path"], {}):
            found.setdefault(kept, paths[want["path"]][kept])
    paths[want["path"]] = found


def managed_pending(module: AnsibleModule, entries: list[dict]) -> list[str]:
    """Which ENTRIES managed_paths would change: its own code in check mode, its defaults and its messages."""
    validator = ArgumentSpecValidator(ENTRY_SPEC)
    wants = []
    for entry in entries:
        checked = validator.validate(entry)
        if checked.error_messages:
            module.fail_json(msg=f"managed_paths entry {entry.get('path')!r}: {'; '.join(checked.error_messages)}")
        wants.append(checked.validated_parameters)
    return pending(module, wants)


def condarc_pending(module: AnsibleModule, want: dict | None) -> bool | None:
    """Whether the condarc module, given WANT, would change the file (its text, owner, group or mode) or refuse."""
    if not want:
        return None
    if _condarc.validate(want["settings"], want["unset"], want["final"], want["validate_keys"]):
        return True
    try:
        plan = _condarc.plan(want["path"], want["settings"], want["unset"], want["merge"], want["final"])
    except (_condarc.CondarcError, OSError, UnicodeDecodeError):
        return True
    if plan["after_text"] != plan["before_text"]:
        return True
    attributes = {key: want[key] for key in ("path", "owner", "group", "mode")}
    return bool(managed_pending(module, [{**attributes, "state": "file"}]))


def conda_installation(prefix: str | None) -> dict | None:
    """conda_info's answer for PREFIX, or None when not asked or when a system condarc cannot be read."""
    if not prefix:
        return None
    try:
        return _conda_meta.installation(prefix)
    except (_condarc.CondarcError, OSError, UnicodeDecodeError):
        return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "path": {"type": "str", "required": True},
                    "glob": {"type": "bool", "default": False},
                    "list": {"type": "bool", "default": False},
                    "checksum": {"type": "bool", "default": False},
                    "content": {"type": "bool", "default": False},
                    "capabilities": {"type": "bool", "default": False},
                },
            },
            "packages": {"type": "list", "elements": "str", "default": []},
            "setuid_files_of": {"type": "list", "elements": "str", "default": []},
            "candidates": {"type": "list", "elements": "str", "default": []},
            "users": {"type": "list", "elements": "str", "default": []},
            "groups": {"type": "list", "elements": "str", "default": []},
            "services": {"type": "list", "elements": "str", "default": []},
            "managed_paths": {"type": "list", "elements": "dict", "default": []},
            "managed_path_sets": {"type": "dict", "default": {}},
            "condarc": {
                "type": "dict",
                "options": {
                    **_condarc.ARGUMENT_SPEC,
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "mode": {"type": "raw"},
                },
            },
            "conda_installation": {"type": "path"},
            "nvidia_gpus": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    for want in params["paths"]:
        if not os.path.isabs(want["path"]):
            module.fail_json(msg=f"{want['path']}: give an absolute path")
    paths: dict[str, dict] = {}
    globs: dict[str, list[str]] = {}
    for pattern in params["paths"]:
        if not pattern["glob"]:
            wants = [pattern]
        else:
            globs[pattern["path"]] = sorted(glob.glob(pattern["path"]))
            wants = [{**pattern, "path": match} for match in globs[pattern["path"]]]
        for want in wants:
            read_one(module, want, paths)
    pending_paths = managed_pending(module, params["managed_paths"])
    pending_sets = []
    for name, entries in params["managed_path_sets"].items():
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            module.fail_json(msg=f"managed_path_sets {name!r}: give a list of paths, as managed_paths takes them")
        found = managed_pending(module, entries)
        if found:
            pending_sets.append(name)
            pending_paths += found
    packages = dpkg_installed(list(dict.fromkeys(params["packages"] + params["candidates"])))
    missing = [name for name in params["packages"] if packages[name] is None]
    module.exit_json(
        changed=False,
        paths=paths,
        globs=globs,
        packages={name: packages[name] for name in params["packages"]},
        missing_packages=missing,
        setuid_files={name: dpkg_setuid_files(name) for name in params["setuid_files_of"]},
        candidates=apt_candidates(module, params["candidates"], packages),
        users=lookup_users(params["users"]),
        groups=lookup_groups(params["groups"]),
        services=unit_states(module, params["services"]),
        pending_paths=pending_paths,
        pending_sets=pending_sets,
        condarc_pending=condarc_pending(module, params["condarc"]),
        conda_installation=conda_installation(params["conda_installation"]),
        nvidia_gpus=_nvidia.read_gpus(module) if params["nvidia_gpus"] else None,
    )


if __name__ == "__main__":
    main()
