# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The node lock's options, of every module that changes the shared conda installation
    # (plugins/module_utils/_node_lock.py: ARGUMENT_SPEC holds the same options and defaults).
    DOCUMENTATION = r"""
options:
  node_lock:
    description:
      - The node lock file (C(flock)), shared by everything that changes the shared installation, so that two runs
        never change it at once. The file names its holder while it is held.
    type: path
    default: /run/lock/hpcenv.gpu_cluster.lock
  lock_timeout:
    description: Seconds to wait for O(node_lock) before failing with the name of its holder.
    type: int
    default: 1800
  lock_by:
    description: Who takes O(node_lock) (the playbook run), shown to a run that has to wait.
    type: str
    default: ""
"""
