# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The audit log's option, of every module that changes a node
    # (plugins/module_utils/_audit.py: ARGUMENT_SPEC holds the same option and default).
    DOCUMENTATION = r"""
options:
  audit_log:
    description:
      - The node's audit log. Each change this module makes appends one JSON line to it (time, node, user, run,
        what, subject, before, after, lock ids), under C(flock), so runs that overlap never lose or interleave lines;
        the file is made root-only (0600). The same line goes to the journal with C(SYSLOG_IDENTIFIER=hpcenv-audit).
      - Nothing is written in check mode or when nothing changed. An empty string turns the log off.
      - Set it once for every module that writes it with C(module_defaults) of C(group/hpcenv.gpu_cluster.audit).
    type: path
    default: /var/log/hpcenv.gpu_cluster/audit.jsonl
"""
