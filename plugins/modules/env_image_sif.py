#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: env_image_sif
short_description: Make the Apptainer SIF file of each numbered version of the shared environments' images
version_added: 1.1.0
description:
  - For each repository C(<namespace>/<variant>/<name>) of the registry (every env and variant the builders published,
    read from the registry's catalogue; only the envs in O(envs) when given), and each of its version tags (C(v1),
    C(v2), ...), makes
    sure the registry host serves the version's SIF file, C(sif/<namespace>/<variant>/<name>-<version>.sif), and its
    C(.sha256) (in C(sha256sum) format).
  - A missing one is made from the image itself - pulled with Podman, saved as an OCI archive, C(apptainer build) -
    and uploaded by HTTP C(PUT) with the push credentials (the C(hpcenv.gpu_cluster.image_registry) role's nginx takes
    it). The C(.sha256) goes last, so a served C(.sha256) means a whole SIF. A converged registry costs one C(HEAD) per
    version.
  - Runs on one node that has Apptainer and Podman (the role C(hpcenv.gpu_cluster.env_images) chooses it), after the
    images are published (M(hpcenv.gpu_cluster.env_image)).
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
extends_documentation_fragment:
  - hpcenv.gpu_cluster.audit
  - hpcenv.gpu_cluster.registry
attributes:
  check_mode:
    support: full
    description: Reads the registry and reports which SIF files would be made; makes and uploads nothing.
  diff_mode:
    support: none
    description: The result lists each SIF file made (or that would be), with its checksum.
  idempotent:
    support: full
    description: A registry host that serves every version's SIF file reports no change.
options:
  envs:
    description: The shared environments (by name) whose images get SIF files; empty - every one in the registry.
    type: list
    elements: str
    default: []
seealso:
  - module: hpcenv.gpu_cluster.env_image
notes:
  - Needs C(apptainer) and C(podman) on the node, and room for one image and its SIF file at a time.
"""

EXAMPLES = r"""
- name: Make the SIF files of shared_ml's versions
  hpcenv.gpu_cluster.env_image_sif:
    registry: registry.example.org:5443
    envs: [shared_ml]
    authfile: /etc/hpcenv/registry-push.json
"""

RETURN = r"""
sifs:
  description: Each version's SIF file, by URL, with its SHA256 when this run made it.
  returned: always
  type: list
  elements: dict
  sample:
    - {url: "https://registry.example.org:5443/sif/hpcenv/cpu/shared_ml-v2.sif", made: true, sha256: "3b0c..."}
msg:
  description: In check mode, why the registry could not be read (then nothing is reported).
  returned: always
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _audit, _registry

# Not /tmp (a tmpfs on many nodes): the archive, the SIF and Apptainer's unpacked tree are all there at once.
SCRATCH = "/var/tmp"  # noqa: S108 (a private directory is made in it)


def _make(module, registry, image: str, path: str) -> str:
    """Pull IMAGE, make its SIF file and upload it to PATH on the registry host, then its checksum; the SHA256."""
    podman = module.get_bin_path("podman", required=True)
    apptainer = module.get_bin_path("apptainer", required=True)
    name = os.path.basename(path)
    _registry.run(module, [podman, "pull", "--quiet", image], f"pulling {image} to make {name}")
    try:
        with tempfile.TemporaryDirectory(prefix="hpcenv-sif-", dir=SCRATCH) as work:
            archive, sif = os.path.join(work, "image.tar"), os.path.join(work, name)
            save = [podman, "save", "--quiet", "--format", "oci-archive", "--output", archive, image]
            _registry.run(module, save, f"saving {image}")
            build = [apptainer, "build", "--force", "--disable-cache", sif, f"oci-archive://{archive}"]
            _registry.run(module, build, f"making {name}", env={"APPTAINER_TMPDIR": work})
            os.unlink(archive)
            sha256 = module.sha256(sif)
            with open(sif + ".sha256", "w", encoding="utf-8") as handle:
                handle.write(f"{sha256}  {name}\n")
            try:
                registry.upload(path, sif)
                registry.upload(path + ".sha256", sif + ".sha256")
            except _registry.RegistryError as exc:
                module.fail_json(msg=f"{exc} ({_registry.REFUSED_FIX})")
    finally:
        module.run_command([podman, "rmi", image])
    return sha256


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "envs": {"type": "list", "elements": "str", "default": []},
            **_registry.ARGUMENT_SPEC,
            **_audit.ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        registry = _registry.open_registry(p, module.check_mode)
        wanted = [
            (repo, tag)
            for repo in registry.repositories()
            if repo.startswith(f"{p['namespace']}/")
            and repo.count("/") == p["namespace"].count("/") + 2
            and (not p["envs"] or repo.rsplit("/", 1)[1] in p["envs"])
            for tag in sorted(registry.tags(repo), key=lambda t: (len(t), t))
            if _registry.VERSION_TAG.match(tag)
        ]
        missing = {
            (repo, tag) for repo, tag in wanted if not registry.has_file(_registry.sif_path(repo, tag) + ".sha256")
        }
    except _registry.RegistryError as exc:
        if not module.check_mode:
            module.fail_json(msg=f"{exc} ({_registry.UNREACHABLE_FIX})")
        module.warn(str(exc))
        module.exit_json(changed=False, sifs=[], msg=str(exc))
    sifs = []
    for repo, tag in wanted:
        path = _registry.sif_path(repo, tag)
        url, made, sha256 = registry.root + path, (repo, tag) in missing, ""
        if made and not module.check_mode:
            sha256 = _make(module, registry, f"{p['registry']}/{repo}:{tag}", path)
            _audit.record(module, [_audit.entry("image-published", url, "", f"sha256:{sha256}")])
        sifs.append({"url": url, "made": made, "sha256": sha256})
    module.exit_json(changed=bool(missing), sifs=sifs, msg="")


if __name__ == "__main__":
    main()
