#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: conda_info
short_description: Facts about a conda installation, read from its files
version_added: 1.0.0
description:
  - Returns the conda and mamba versions, the environments with their prefixes, and the effective
    system-wide configuration (channels and every key set in the system condarc files) of a conda
    installation, without changing anything.
  - Reads C(conda-meta/*.json) and the condarc files directly, so it is fast and works even when the
    C(conda) command is broken. Only O(virtual_packages=true) runs C(conda info --json).
  - Reports RV(installed=false) instead of failing when there is no conda installation at O(prefix).
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
requirements:
  - PyYAML on the managed node when condarc files exist (Debian/Ubuntu package C(python3-yaml)).
extends_documentation_fragment:
  - hpcenv.gpu_cluster.read_only
options:
  prefix:
    description:
      - The root prefix of the installation (the directory with C(bin/conda)). A symlink is followed
        and both paths are returned.
    type: path
    default: /opt/conda
  virtual_packages:
    description:
      - Also return the virtual packages conda detects (C(__cuda), C(__glibc)...), by running
        C(PREFIX/bin/conda info --json). Honours C(CONDA_OVERRIDE_CUDA) from the task's environment.
    type: bool
    default: false
notes:
  - The configuration returned is the system view (C(/etc/conda), C(/var/lib/conda) and the root prefix's
    condarc files, merged like conda does, with conda's other names for keys read as the keys they stand for);
    users' own files are not read. Channel tokens (C(/t/<token>/) in URLs) are shown as C(/t/<TOKEN>/), as conda
    shows them.
seealso:
  - module: hpcenv.gpu_cluster.condarc
"""

EXAMPLES = r"""
- name: Read the shared installation
  hpcenv.gpu_cluster.conda_info:
    prefix: /opt/conda
  register: conda

- name: Show what is installed
  ansible.builtin.debug:
    msg: >-
      conda {{ conda.conda_version }}, mamba {{ conda.mamba_version }},
      envs {{ conda.envs | map(attribute='name') }}
  when: conda.installed

- name: Ask which CUDA version the driver supports
  hpcenv.gpu_cluster.conda_info:
    virtual_packages: true
  register: conda_vpkgs
"""

RETURN = r"""
installed:
  description: Whether O(prefix) holds a conda installation (C(conda-meta/) and C(bin/conda)).
  returned: always
  type: bool
  sample: true
prefix:
  description: The prefix as given.
  returned: always
  type: str
  sample: /opt/conda
real_prefix:
  description: The prefix with symlinks resolved (the installed version's directory).
  returned: always
  type: str
  sample: /opt/conda.d/base-24.11.3-0
conda_version:
  description: Version of the C(conda) package in the root prefix.
  returned: when installed
  type: str
  sample: 24.11.3
mamba_version:
  description: Version of the C(mamba) package in the root prefix, null when mamba is absent.
  returned: when installed
  type: str
  sample: 2.0.5
envs:
  description: Environments; C(target) is the resolved path (shared envs are symlinks to versioned prefixes).
  returned: when installed
  type: list
  elements: dict
  sample: [{"name": "base", "prefix": "/opt/conda", "target": "/opt/conda.d/base-24.11.3-0"}]
channels:
  description: The effective C(channels) list.
  returned: when installed
  type: list
  elements: str
  sample: [conda-forge]
config:
  description: Every key set in the system condarc files, merged as conda merges them.
  returned: when installed
  type: dict
  sample: {"channel_priority": "strict", "channels": ["conda-forge"]}
final_keys:
  description: Keys pinned with C(#!final) in those files.
  returned: when installed
  type: list
  elements: str
  sample: [channels]
config_files:
  description: The condarc files read, lowest precedence first.
  returned: when installed
  type: list
  elements: str
  sample: [/etc/conda/.condarc]
virtual_packages:
  description: Virtual packages as C(name), C(version), C(build).
  returned: when O(virtual_packages=true) and installed
  type: list
  elements: dict
  sample: [{"name": "__cuda", "version": "12.4", "build": "0"}]
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_meta, _condarc


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "prefix": {"type": "path", "default": "/opt/conda"},
            "virtual_packages": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    prefix = module.params["prefix"]
    try:
        result = {"changed": False, **_conda_meta.installation(prefix)}
    except _condarc.CondarcError as exc:
        if not _condarc.HAS_YAML:
            module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(_condarc.YAML_IMPORT_ERROR))
        module.fail_json(msg=f"cannot read the system condarc files {_conda_meta.condarc_paths(prefix)}: {exc}")
    if not result["installed"]:
        module.exit_json(**result)

    if module.params["virtual_packages"]:
        argv = [os.path.join(prefix, "bin", "conda"), "info", "--json"]
        rc, out, err = module.run_command(argv, environ_update={"LC_ALL": "C"})
        if rc != 0:
            module.fail_json(msg=f"{' '.join(argv)} failed", cmd=argv, rc=rc, stdout=out, stderr=err)
        try:
            info = json.loads(out)
        except ValueError as exc:
            module.fail_json(msg=f"{' '.join(argv)} printed no JSON: {exc}", cmd=argv, rc=rc, stdout=out, stderr=err)
        result["virtual_packages"] = [
            {"name": v[0], "version": v[1], "build": v[2]} for v in info.get("virtual_pkgs", [])
        ]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
