#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: subid
short_description: Give users non-overlapping subordinate uid/gid ranges in /etc/subuid and /etc/subgid
version_added: 1.0.0
description:
  - Gives each listed user (local, or from NSS such as LDAP or SSSD, looked up like C(getent passwd)) a range of
    O(count) subordinate uids in O(subuid_file) and gids in O(subgid_file), for rootless containers.
  - New ranges are deterministic (users are served in name order, each gets the lowest free block on the
    O(start_min) + k * O(count) grid that C(useradd) also uses, the same start in both files when possible),
    placed above every real uid and gid, and never overlap another range. An existing range is never moved.
  - Before writing anything, it fails, naming file and line, when a file has malformed lines, overlapping ranges,
    or a range that starts at or below the highest real uid/gid.
  - Matches a file's entries on the whole user name (or the numeric uid), so C(ann) never matches C(joann).
  - Each user whose ranges change gets one line in the node's audit log (O(audit_log)), with the ranges before and
    after.
extends_documentation_fragment:
  - hpcenv.gpu_cluster.audit
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
attributes:
  check_mode:
    support: full
    description: Reports the ranges it would allocate without writing.
  diff_mode:
    support: full
    description: Shows both files before and after.
  idempotent:
    support: full
    description: Users who already have ranges cause no change.
options:
  users:
    description: User names that must have ranges (O(state=present)) or lose them (O(state=absent)).
    type: list
    elements: str
    required: true
  state:
    description: V(present) allocates missing ranges; V(absent) removes the users' ranges.
    type: str
    choices: [present, absent]
    default: present
  count:
    description: Size of each range; at least 65536 (a full 16-bit id space for the container).
    type: int
    default: 65536
  start_min:
    description: Lowest start for a new range (C(SUB_UID_MIN) in C(/etc/login.defs) is 100000 on Debian).
    type: int
    default: 100000
  subuid_file:
    description: The subordinate uid file.
    type: path
    default: /etc/subuid
  subgid_file:
    description: The subordinate gid file.
    type: path
    default: /etc/subgid
notes:
  - Real ids are those C(getent passwd) and C(getent group) enumerate, except C(nobody)/C(nogroup) (65534).
    If your directory service does not enumerate, raise O(start_min) above its id range.
  - A range smaller than O(count) is left alone and reported in the warnings.
seealso:
  - name: subuid(5)
    description: Format of /etc/subuid and /etc/subgid.
    link: https://man7.org/linux/man-pages/man5/subuid.5.html
"""

EXAMPLES = r"""
- name: Let the cluster's users run rootless containers
  hpcenv.gpu_cluster.subid:
    users: "{{ cluster_users }}"

- name: Take ranges away from users who left
  hpcenv.gpu_cluster.subid:
    users: [olduser]
    state: absent
"""

RETURN = r"""
ranges:
  description: The range of each listed user after the run, as C(start) and C(count) per file (null when absent).
  returned: always
  type: dict
  sample: {"alice": {"subuid": {"start": 100000, "count": 65536}, "subgid": {"start": 100000, "count": 65536}}}
changed_users:
  description: Users whose ranges were added or removed.
  returned: always
  type: list
  elements: str
  sample: [alice]
highest_real_id:
  description: The highest real uid or gid seen (new ranges start above it).
  returned: always
  type: int
  sample: 60001
"""

import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _atomic, _audit, _subid

NOBODY = 65534


def _read(path: str) -> str:
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def highest_real_id() -> int:
    ids = [p.pw_uid for p in pwd.getpwall()] + [g.gr_gid for g in grp.getgrall()]
    return max([i for i in ids if i not in (NOBODY, 2**32 - 2, 2**32 - 1)] or [0])


def _ranges(entries: dict, users: dict) -> dict:
    """{user: {subuid|subgid: {start, count} or None}}: each user's first range in each file."""
    ranges = {}
    for name, uid in users.items():
        ranges[name] = {}
        for kind, listed in entries.items():
            mine = _subid.owned_by(listed, name, uid)
            ranges[name][kind] = {"start": mine[0]["start"], "count": mine[0]["count"]} if mine else None
    return ranges


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "users": {"type": "list", "elements": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "count": {"type": "int", "default": 65536},
            "start_min": {"type": "int", "default": 100000},
            "subuid_file": {"type": "path", "default": "/etc/subuid"},
            "subgid_file": {"type": "path", "default": "/etc/subgid"},
            **_audit.ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["count"] < 65536:
        module.fail_json(msg=f"count must be at least 65536 (a full 16-bit id space), got {p['count']}")
    users = {}
    for name in sorted(set(p["users"])):
        try:
            users[name] = pwd.getpwnam(name).pw_uid
        except KeyError:
            if p["state"] == "present":
                module.fail_json(msg=f"user {name!r} is unknown to getent passwd (local files, LDAP, SSSD...)")
            users[name] = -1
    highest = highest_real_id()
    files = {"subuid": p["subuid_file"], "subgid": p["subgid_file"]}
    texts = {kind: _read(path) for kind, path in files.items()}
    entries = {}
    problems = []
    try:
        for kind, path in files.items():
            entries[kind] = _subid.parse(texts[kind], path)
    except _subid.SubidError as exc:
        module.fail_json(msg=f"{exc}. Fix the file by hand; nothing was written.")
    for kind, path in files.items():
        problems += _subid.overlaps(entries[kind], path)
        problems += _subid.below(entries[kind], highest, path)
    if problems:
        module.fail_json(msg="; ".join(problems) + ". Fix the files by hand; nothing was written.", problems=problems)

    before = _ranges(entries, users)
    changed_users, warnings = set(), []
    if p["state"] == "absent":
        for kind in files:
            keep = [e for e in entries[kind] if not any(_subid.owned_by([e], n, u) for n, u in users.items())]
            if len(keep) != len(entries[kind]):
                changed_users |= {n for n, u in users.items() if _subid.owned_by(entries[kind], n, u)}
                entries[kind] = keep
    else:
        base = max(p["start_min"], highest + 1)
        for name, uid in users.items():
            mine = {kind: _subid.owned_by(entries[kind], name, uid) for kind in files}
            for kind in files:
                small = [e for e in mine[kind] if e["count"] < p["count"]]
                if small and not [e for e in mine[kind] if e["count"] >= p["count"]]:
                    warnings.append(
                        f"{name} has a {kind} range smaller than {p['count']} ({small[0]['count']}); left as is"
                    )
            missing = [kind for kind in files if not mine[kind]]
            if not missing:
                continue
            # Same start in both files when possible: allocate against the union of both.
            taken = [(e["start"], e["count"]) for kind in missing for e in entries[kind]]
            start = _subid.allocate(taken, base, p["count"], p["start_min"])
            for kind in missing:
                entries[kind].append({"line": 0, "owner": name, "start": start, "count": p["count"]})
            changed_users.add(name)

    after = {kind: (texts[kind] if not changed_users else _subid.render(entries[kind], texts[kind])) for kind in files}
    changed = any(after[kind] != texts[kind] for kind in files)
    if changed and not module.check_mode:
        for kind, path in files.items():
            if after[kind] != texts[kind]:
                _atomic.write(path, after[kind], 0o644, module.atomic_move)

    ranges = _ranges(entries, users)
    if changed:
        _audit.record(module, [_audit.entry("subid", n, before[n], ranges[n]) for n in sorted(changed_users)])
    result = {
        "changed": changed,
        "ranges": ranges,
        "changed_users": sorted(changed_users),
        "highest_real_id": highest,
    }
    if warnings:
        result["warnings"] = warnings
    if module._diff:
        result["diff"] = [
            {"before": texts[k], "after": after[k], "before_header": files[k], "after_header": files[k]} for k in files
        ]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
