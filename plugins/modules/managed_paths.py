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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _audit
from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils._managed_paths import (
    ENTRY_SPEC,
    MANIFEST_NAME,
    PathError,
    Paths,
    validate,
    write_manifest,
)


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
            # In check mode on a new host an earlier task has not made the owners and groups yet.
            validate(want, accounts=not module.check_mode)
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
