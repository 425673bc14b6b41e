#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: condarc
short_description: Manage keys of one conda configuration (.condarc) file
version_added: 1.0.0
description:
  - Sets, merges and unsets keys of one C(.condarc) file idempotently, keeping every key it is not asked about.
  - Key names are checked against conda's known configuration keys; a typo fails with the closest valid key.
    Values are checked against the key's type (list, mapping, boolean, number, or allowed strings).
  - Marks keys with conda's C(#!final) comment so that configuration files later in conda's search path
    (a user's C(~/.condarc), C($CONDARC)) cannot override them. Put pinned keys in a system file such as
    C(/etc/conda/.condarc).
  - Works on a missing file (creates it, and its parent directory, in a deterministic layout with sorted keys and
    one header comment). In an existing file only the keys that change are rewritten, in place. Comments,
    commented-out list items, blank lines and keys it is not asked about stay as they were; new keys are appended.
  - Accepts the other names conda accepts for a key (C(verify_ssl) for C(ssl_verify), C(disallow) for
    C(disallowed_packages), C(binstar_upload), C(whitelist_channels)...); setting a key removes the same setting
    under its other names, which conda would otherwise read as a second value.
  - A rewrite appends one line to the node's audit log (O(audit_log)), with the keys that changed, before and after
    (credentials in URLs masked).
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
requirements:
  - PyYAML on the managed node to read an existing file (Debian/Ubuntu package C(python3-yaml)); a new file is
    written without it.
extends_documentation_fragment:
  - ansible.builtin.files
  - hpcenv.gpu_cluster.audit
  - hpcenv.gpu_cluster.node_lock
attributes:
  check_mode:
    support: full
    description: Reports what would change without writing.
  diff_mode:
    support: full
    description: Shows the file before and after.
  idempotent:
    support: full
    description: A second run with the same arguments reports no change.
options:
  path:
    description:
      - The condarc file to manage, for example C(/etc/conda/.condarc) (system-wide) or C(/opt/conda/.condarc).
    type: path
    required: true
  settings:
    description:
      - Keys to set, with their values, as conda would read them from YAML.
      - How list and mapping values combine with what the file already holds is decided by O(merge).
    type: dict
    default: {}
  unset:
    description:
      - Keys to remove from the file.
    type: list
    elements: str
    default: []
  merge:
    description:
      - V(replace) sets each key in O(settings) to exactly the given value.
      - V(append) adds list items that are missing (keeping order) and mapping keys (given keys win).
      - V(remove) removes the given list items or mapping keys; a key left empty is removed.
    type: str
    choices: [replace, append, remove]
    default: replace
  final:
    description:
      - Keys to mark C(#!final) in this file. Each must have a value after the change.
      - Keys named in O(settings) or O(unset) but not here lose an existing marker; other keys keep theirs.
    type: list
    elements: str
    default: []
  validate_keys:
    description:
      - Refuse key names that conda does not know. Turn off only for keys of conda plugins.
    type: bool
    default: true
  node_lock:
    description:
      - A node lock file to hold (C(flock)) while the file is written, shared with the other modules that change the
        shared conda installation (M(hpcenv.gpu_cluster.shared_env)). Not set, no lock is taken.
    type: path
    default: null
notes:
  - Validation happens before anything is written; on any problem the file is left as it was.
seealso:
  - name: conda configuration (.condarc)
    description: Keys, search path and the C(#!final) marker.
    link: https://docs.conda.io/projects/conda/en/stable/user-guide/configuration/use-condarc.html
  - module: hpcenv.gpu_cluster.conda_info
"""

EXAMPLES = r"""
- name: Pin the cluster's channels system-wide, through the mirror
  hpcenv.gpu_cluster.condarc:
    path: /etc/conda/.condarc
    settings:
      channels: [conda-forge]
      channel_alias: https://mirror.cluster.example.org/conda
      channel_priority: strict
      default_channels: []
      allowlist_channels: [conda-forge]
      auto_update_conda: false
    final: [channels, channel_alias, channel_priority, allowlist_channels]
    owner: root
    group: root
    mode: "0644"

- name: Add a channel to the user-visible list, keeping the others
  hpcenv.gpu_cluster.condarc:
    path: /etc/conda/.condarc
    merge: append
    settings:
      channels: [bioconda]

- name: Point one channel name at an internal host
  hpcenv.gpu_cluster.condarc:
    path: /etc/conda/.condarc
    merge: append
    settings:
      custom_channels:
        internal: https://conda.internal.example.org

- name: Stop managing a key
  hpcenv.gpu_cluster.condarc:
    path: /etc/conda/.condarc
    unset: [ssl_verify]
"""

RETURN = r"""
path:
  description: The file managed.
  returned: always
  type: str
  sample: /etc/conda/.condarc
config:
  description: Every key of the file after the change (in check mode, what it would hold).
  returned: always
  type: dict
  sample: {"channels": ["conda-forge"], "channel_priority": "strict"}
final:
  description: Keys marked C(#!final) in the file after the change.
  returned: always
  type: list
  elements: str
  sample: [channel_priority, channels]
changed_keys:
  description: Keys whose value or C(#!final) marker changed.
  returned: always
  type: list
  elements: str
  sample: [channels]
"""

import contextlib
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _atomic, _audit, _condarc, _node_lock


def _audit_entry(p: dict, before: dict, before_final: set, after: dict, after_final: set, keys: list) -> dict:
    """The audit line of a rewrite: each changed key's value (and finality) before and after."""

    def side(config, final):
        return {k: {"value": config[k], "final": True} if k in final else config[k] for k in keys if k in config}

    return _audit.entry(
        "condarc", p["path"], side(before, before_final), side(after, after_final), run=p["lock_by"], keys=keys
    )


def _held(p: dict):
    """The node lock when one is asked for, else nothing to hold."""
    if not p["node_lock"]:
        return contextlib.nullcontext()
    return _node_lock.NodeLock(p["node_lock"], p["lock_timeout"], f"writing {p['path']}", p["lock_by"])


def _write(module: AnsibleModule, path: str, text: str, fresh: bool) -> None:
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o755)
    # A new file is readable by every user (conda reads it for them); atomic_move keeps an existing one's mode.
    mode = 0o644 if fresh and module.params["mode"] is None else None
    _atomic.write(path, text, mode, module.atomic_move)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **_condarc.ARGUMENT_SPEC,
            **_node_lock.ARGUMENT_SPEC,
            "node_lock": {"type": "path"},  # optional here: no lock is taken when it is not set
            **_audit.ARGUMENT_SPEC,
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    p = module.params
    path = p["path"]

    problems = _condarc.validate(p["settings"], p["unset"], p["final"], p["validate_keys"])
    if problems:
        module.fail_json(msg=f"{path}: " + "; ".join(problems), problems=problems, path=path)
    try:
        plan = _condarc.plan(path, p["settings"], p["unset"], p["merge"], p["final"])
    except _condarc.NeedsYamlError:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(_condarc.YAML_IMPORT_ERROR), path=path)
    except _condarc.CondarcError as exc:
        module.fail_json(msg=str(exc), path=path)
    before_text, after_text, changed_keys = plan["before_text"], plan["after_text"], plan["changed_keys"]
    before, before_final, after, after_final = (plan[k] for k in ("before", "before_final", "after", "after_final"))
    changed = after_text != before_text

    if changed and not module.check_mode:
        try:
            with _held(p):
                _write(module, path, after_text, fresh=not before_text)
                _audit.record(module, [_audit_entry(p, before, before_final, after, after_final, changed_keys)])
        except _node_lock.LockTimeoutError as exc:
            module.fail_json(msg=f"{path}: {exc}", path=path)

    file_args = module.load_file_common_arguments(module.params)
    if os.path.exists(path):
        changed = module.set_fs_attributes_if_different(file_args, changed)

    result = {
        "changed": changed,
        "path": path,
        "config": after,
        "final": sorted(after_final),
        "changed_keys": changed_keys,
    }
    if module._diff:
        result["diff"] = {"before": before_text, "after": after_text, "before_header": path, "after_header": path}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
