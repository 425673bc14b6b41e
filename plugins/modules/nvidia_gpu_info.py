#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvidia_gpu_info
short_description: What NVIDIA GPUs a node has, and which CUDA version its driver supports
version_added: 1.0.0
description:
  - Returns whether the node has NVIDIA GPUs, the driver version, the newest CUDA version the driver
    supports, the GPU count, and per GPU its model, UUID, PCI bus id, architecture, memory, MIG mode and
    compute capability. Never changes anything.
  - Reads C(nvidia-smi -q -x) and C(nvidia-smi --query-gpu=... --format=csv,noheader,nounits).
  - Without C(nvidia-smi) it falls back to C(/proc/driver/nvidia) (driver version, models, UUIDs and bus
    ids only; RV(cuda_version) is then null) and warns.
  - Returns RV(present=false) on a node with neither, so it is safe to run on every node.
  - Fails, with nvidia-smi's own message and a hint, when C(nvidia-smi) exists but does not work (driver not
    loaded, device files blocked, driver/library version mismatch after an upgrade without a reboot).
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
requirements:
  - NVIDIA driver R510 or newer for RV(gpus[].compute_capability) (older C(nvidia-smi) rejects the query).
extends_documentation_fragment:
  - hpcenv.gpu_cluster.read_only
options:
  nvidia_smi:
    description:
      - Path to C(nvidia-smi). Default, searched in C(PATH), C(/usr/bin) and C(/usr/local/nvidia/bin).
    type: path
  proc_path:
    description:
      - The driver's C(/proc) directory, read when C(nvidia-smi) is missing.
    type: path
    default: /proc/driver/nvidia
notes:
  - The CUDA version is the newest the driver supports (what C(nvidia-smi) prints as C(CUDA Version)); conda
    calls it the C(__cuda) virtual package. Environments built for an older CUDA run on it.
seealso:
  - module: hpcenv.gpu_cluster.conda_info
  - name: nvidia-smi documentation
    description: Query options and exit codes of nvidia-smi.
    link: https://docs.nvidia.com/deploy/nvidia-smi/index.html
"""

EXAMPLES = r"""
- name: Read the node's GPUs
  hpcenv.gpu_cluster.nvidia_gpu_info:
  register: gpu

- name: Show them
  ansible.builtin.debug:
    msg: "{{ gpu.count }}x {{ gpu.gpus | map(attribute='name') | unique | join(', ') }}, CUDA {{ gpu.cuda_version }}"
  when: gpu.present

- name: Put nodes in groups by GPU presence
  ansible.builtin.group_by:
    key: "{{ 'nvidia_gpu' if gpu.present else 'cpu_only' }}"
"""

RETURN = r"""
present:
  description: Whether NVIDIA GPUs with a loaded driver were found.
  returned: always
  type: bool
  sample: true
reason:
  description:
    - Why RV(present) is false, in words (no driver, or the driver answered "No devices were found"); empty when
      GPUs were found.
  returned: always
  type: str
  sample: "/usr/bin/nvidia-smi: No devices were found (the driver sees no GPU)"
source:
  description: Where the facts came from, C(nvidia-smi), C(proc), or C(none).
  returned: always
  type: str
  sample: nvidia-smi
driver_version:
  description: The NVIDIA driver version.
  returned: always
  type: str
  sample: 580.159.04
cuda_version:
  description: The newest CUDA version the driver supports; null without nvidia-smi or without GPUs.
  returned: always
  type: str
  sample: "13.0"
count:
  description: Number of GPUs.
  returned: always
  type: int
  sample: 1
mig_enabled:
  description: Whether any GPU has MIG mode enabled now.
  returned: always
  type: bool
  sample: false
gpus:
  description: One entry per GPU, in nvidia-smi's index order.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: nvidia-smi's index (the device number users see).
      type: int
    name:
      description: Model name.
      type: str
    uuid:
      description: GPU UUID.
      type: str
    pci_bus_id:
      description: PCI bus id.
      type: str
    architecture:
      description: Architecture name (Ampere, Hopper...); null from /proc.
      type: str
    memory_total_mib:
      description: Framebuffer memory in MiB; null from /proc.
      type: int
    compute_capability:
      description: CUDA compute capability, major.minor; null from /proc.
      type: str
    mig_mode:
      description: C(current) and C(pending) MIG mode (C(Enabled), C(Disabled)), null where not supported.
      type: dict
  sample:
    - index: 0
      name: NVIDIA H100 80GB HBM3
      uuid: GPU-56eb5d86-3817-2bab-9c02-52f0ddb831c0
      pci_bus_id: "00000000:00:06.0"
      architecture: Hopper
      memory_total_mib: 81559
      compute_capability: "9.0"
      mig_mode: {current: Disabled, pending: Disabled}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _nvidia


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "nvidia_smi": {"type": "path"},
            "proc_path": {"type": "path", "default": "/proc/driver/nvidia"},
        },
        supports_check_mode=True,
    )
    gpus = _nvidia.read_gpus(module, module.params["nvidia_smi"], module.params["proc_path"])
    module.exit_json(changed=False, **gpus)


if __name__ == "__main__":
    main()
