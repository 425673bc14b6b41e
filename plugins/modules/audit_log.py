#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_log
short_description: Record a change a role made through another module in the node's audit log
version_added: 1.1.0
description:
  - Appends one line to the node's audit log (O(audit_log)) and to the journal (C(SYSLOG_IDENTIFIER=hpcenv-audit)),
    for a change that a role made with one of ansible-core's modules (a user removed from a group, for example).
    The collection's own modules that change a node (M(hpcenv.gpu_cluster.shared_env), M(hpcenv.gpu_cluster.condarc),
    M(hpcenv.gpu_cluster.subid), M(hpcenv.gpu_cluster.managed_paths), M(hpcenv.gpu_cluster.conda_solve),
    M(hpcenv.gpu_cluster.conda_env)) write their own lines, in the process that makes the change.
  - The line holds the time (UTC), the node, the user the module ran as (and C(SUDO_USER)), O(run), O(what),
    O(subject), O(before), O(after) and O(details); credentials in URLs are masked. Lines are appended under
    C(flock), so runs that overlap never lose or interleave lines.
  - Call it only when the change was made (C(when) on the registered result); it never reports a change itself, so
    a converge that changed nothing stays at C(changed=0) and logs nothing.
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
extends_documentation_fragment:
  - hpcenv.gpu_cluster.audit
attributes:
  check_mode:
    support: full
    description: Writes nothing in check mode (no change was made).
  diff_mode:
    support: none
    description: Appends to a log; there is no state to show before and after.
  idempotent:
    support: none
    description: Each call appends a line; the caller calls it once per change.
options:
  what:
    description: The kind of change, one word (for example V(group-members-removed)).
    type: str
    required: true
  subject:
    description: What changed (a group, a file, an environment).
    type: str
    required: true
  before:
    description: The state before the change.
    type: raw
  after:
    description: The state after the change.
    type: raw
  details:
    description: Anything else the change has (reasons, ids), as more fields of the line; not the line's own.
    type: dict
    default: {}
  run:
    description: The run that made the change (for example the play and the controller's user).
    type: str
    default: ""
seealso:
  - module: hpcenv.gpu_cluster.managed_paths
"""

EXAMPLES = r"""
- name: Remove a user from the docker group
  ansible.builtin.command:
    argv: [gpasswd, --delete, alice, docker]
  register: removed
  changed_when: true

- name: Record it in the audit log
  hpcenv.gpu_cluster.audit_log:
    what: group-members-removed
    subject: docker
    before: [alice]
    after: []
    run: "{{ ansible_play_name }}"
  when: removed is changed
"""

RETURN = r"""
path:
  description: The audit log written to (in check mode, the one that would have been); empty when it is turned off.
  returned: always
  type: str
  sample: /var/log/hpcenv.gpu_cluster/audit.jsonl
entry:
  description: The line written (as data); in check mode, the line that would have been written.
  returned: always
  type: dict
  sample:
    time: "2026-12-04T17:20:00+00:00"
    node: gpu1
    user: root
    run: site.yml
    what: group-members-removed
    subject: docker
    before: [alice]
    after: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _audit


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "what": {"type": "str", "required": True},
            "subject": {"type": "str", "required": True},
            "before": {"type": "raw"},
            "after": {"type": "raw"},
            "details": {"type": "dict", "default": {}},
            "run": {"type": "str", "default": ""},
            **_audit.ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    p = module.params
    taken = sorted(set(p["details"]) & set(_audit.FIELDS))
    if taken:
        module.fail_json(msg=f"details may not hold the line's own fields {taken}; give them other names")
    entry = _audit.entry(p["what"], p["subject"], p["before"], p["after"], run=p["run"], **p["details"])
    _audit.record(module, [entry])
    module.exit_json(changed=False, path=p["audit_log"] or "", entry=entry)


if __name__ == "__main__":
    main()
