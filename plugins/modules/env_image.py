#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: env_image
short_description: Publish each kept version of a shared environment as an OCI image in a registry
version_added: 1.1.0
description:
  - Reads the environment's page of the node's catalogue (written by M(hpcenv.gpu_cluster.shared_env)) and, for
    each numbered version kept whole on this node, makes sure the registry holds its image in the repository
    C(<namespace>/<variant>/<name>), under three kinds of tag - the lock id, the version number (C(v1), C(v2), ...)
    and C(active) for the version the env's name points at.
  - An image is made from the version's own prefix on this node, the bytes its lock installed, copied to the same
    path on top of O(base) - so C(conda list --explicit) inside the image is the lock. C(PATH) and C(CONDA_PREFIX)
    point at it. Labels - C(org.opencontainers.image.version), C(.created), C(.title), C(.base.name),
    C(.base.digest), C(io.hpcenv.lock_id), C(io.hpcenv.variant), C(io.hpcenv.prefix).
  - Only a lock id the registry lacks is built (with Podman, as root, then pushed with O(authfile) and removed from
    the node's image store). A version or C(active) tag that is missing or points elsewhere is moved to the lock
    id's manifest in the registry, without moving image data. A converged registry costs one C(HEAD) per tag.
  - Nothing is pushed until the image is built, and the C(active) tag moves last, so a failed build or a refused
    push leaves the published tags as they were.
  - Run it on one node per variant (the role C(hpcenv.gpu_cluster.env_images) chooses them).
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
extends_documentation_fragment:
  - hpcenv.gpu_cluster.audit
  - hpcenv.gpu_cluster.registry
attributes:
  check_mode:
    support: full
    description: Reads the registry and reports what would be built and tagged; builds and pushes nothing.
  diff_mode:
    support: none
    description: The result lists each tag that was (or would be) published, and what it pointed at before.
  idempotent:
    support: full
    description: A registry that holds every tag reports no change.
options:
  catalogue:
    description: The environment's page of the node's catalogue (C(<catalogue dir>/<name>.json)).
    type: path
    required: true
  base:
    description:
      - The image the env is laid on, as Podman names it (a registry's image). It needs nothing but a C(glibc) that
        runs the env's binaries. It is pulled before each build; its digest is labelled.
    type: str
    required: true
seealso:
  - module: hpcenv.gpu_cluster.shared_env
  - module: hpcenv.gpu_cluster.env_image_sif
notes:
  - Needs C(podman) on the node. The build copies the version's prefix; the node needs room for one image while
    it is pushed.
"""

EXAMPLES = r"""
- name: Publish shared_ml's versions
  hpcenv.gpu_cluster.env_image:
    catalogue: /opt/conda.d/envs/.catalogue/shared_ml.json
    registry: registry.example.org:5443
    base: registry.example.org:5443/library/debian:bookworm-slim
    authfile: /etc/hpcenv/registry-push.json
"""

RETURN = r"""
repository:
  description: The repository of the environment's images, with the registry.
  returned: always
  type: str
  sample: registry.example.org:5443/hpcenv/cpu/shared_ml
images:
  description: Each version kept on the node, its tags and their digest after the run.
  returned: always
  type: list
  elements: dict
  sample:
    - version: v2
      lock_id: 3f2a9c1e0b7d
      tags: [3f2a9c1e0b7d, v2, active]
      digest: "sha256:9e1c..."
      built: true
msg:
  description: In check mode, why the registry could not be read (then every version is reported as to be published).
  returned: always
  type: str
published:
  description:
    - Each tag that was (in check mode, would be) pushed or moved, with the digest it pointed at before.
  returned: always
  type: list
  elements: dict
  sample:
    - {tag: v2, before: "", after: "sha256:9e1c..."}
"""

import datetime
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _audit, _registry

LABEL = "io.hpcenv"


def _wanted(page: dict) -> list[dict]:
    """The numbered versions kept whole on the node, oldest first, each with its tags."""
    versions = []
    for v in page.get("versions", []):
        if v.get("version") and v.get("on_node") and not v.get("damaged") and v.get("path"):
            tags = [v["lock_id"], v["version"]] + (["active"] if v.get("active") else [])
            versions.append({"version": v["version"], "lock_id": v["lock_id"], "path": v["path"], "tags": tags})
    return versions


def _build(module, podman: str, page: dict, v: dict, local: str, target: str) -> str:
    """Build version V's image on the base as LOCAL, push it as TARGET; the pushed manifest's digest."""
    p = module.params
    _registry.run(
        module,
        [podman, "pull", "--quiet", p["base"]],
        f"pulling the base image {p['base']}",
        "set env_images_base to an image the builder can pull",
    )
    base_digest = _registry.run(
        module, [podman, "image", "inspect", "--format", "{{.Digest}}", p["base"]], "reading the base"
    )
    prefix = os.path.normpath(v["path"])  # the path conda installed it at (and wrote into its files)
    labels = {
        "org.opencontainers.image.title": page["name"],
        "org.opencontainers.image.version": v["version"],
        "org.opencontainers.image.created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "org.opencontainers.image.base.name": p["base"],
        "org.opencontainers.image.base.digest": base_digest,
        f"{LABEL}.lock_id": v["lock_id"],
        f"{LABEL}.variant": page.get("variant", ""),
        f"{LABEL}.prefix": prefix,
    }
    with tempfile.TemporaryDirectory(prefix="hpcenv-image-") as work:
        containerfile = os.path.join(work, "Containerfile")
        with open(containerfile, "w", encoding="utf-8") as handle:
            handle.write(
                f"FROM {p['base']}\n"
                f"COPY --chown=0:0 . {json.dumps(prefix)}\n"
                f"ENV PATH={prefix}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                f" CONDA_PREFIX={prefix} CONDA_DEFAULT_ENV={page['name']}\n"
            )
        argv = [podman, "build", "--quiet", "--file", containerfile, "--tag", local]
        for key, value in labels.items():
            argv += ["--label", f"{key}={value}"]
        _registry.run(module, [*argv, prefix], f"building the image of {page['name']} {v['version']} from {prefix}")
        digestfile = os.path.join(work, "digest")
        push = [podman, "push", "--quiet", "--authfile", p["authfile"], "--digestfile", digestfile]
        _registry.run(module, [*push, local, f"docker://{target}"], f"pushing {target}", _registry.REFUSED_FIX)
        with open(digestfile, encoding="utf-8") as handle:
            return handle.read().strip()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "catalogue": {"type": "path", "required": True},
            "base": {"type": "str", "required": True},
            **_registry.ARGUMENT_SPEC,
            **_audit.ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    p = module.params
    unread = ""
    try:
        with open(p["catalogue"], encoding="utf-8") as handle:
            page = json.load(handle)
        name, variant = page["name"], page["variant"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if module.check_mode and isinstance(exc, FileNotFoundError):
            module.exit_json(changed=False, repository="", images=[], published=[], msg="no catalogue page yet")
        module.fail_json(msg=f"cannot read the catalogue page {p['catalogue']} (converge shared_envs first): {exc}")
    repository = _registry.repository(p["namespace"], variant, name)
    full = f"{p['registry']}/{repository}"
    versions = _wanted(page)
    try:
        registry = _registry.open_registry(p, module.check_mode)
        current = {tag: registry.digest(repository, tag) for v in versions for tag in v["tags"]}
    except _registry.RegistryError as exc:
        if not module.check_mode:
            module.fail_json(msg=f"{exc} ({_registry.UNREACHABLE_FIX})")
        unread = f"{exc}: every version is reported as to be published"
        module.warn(unread)
        current = {}
    podman = "" if module.check_mode else module.get_bin_path("podman", required=True)
    published = []
    # Oldest first, `active` last: a failure leaves `active` where it was.
    for v in sorted(versions, key=lambda v: "active" in v["tags"]):
        lock, done = v["lock_id"], []
        local = f"localhost/hpcenv-build/{name}:{lock}"
        v["built"] = not current.get(lock)
        digest = current.get(lock, "")
        try:
            if v["built"]:
                if not module.check_mode:
                    digest = _build(module, podman, page, v, local, f"{full}:{lock}")
                done.append({"tag": lock, "before": "", "after": digest})
            for tag in v["tags"][1:]:
                if current.get(tag) != digest or not digest:
                    if not module.check_mode:
                        try:
                            registry.retag(repository, lock, tag)
                        except _registry.RegistryError as exc:
                            module.fail_json(msg=f"{exc} ({_registry.REFUSED_FIX})", published=published + done)
                    done.append({"tag": tag, "before": current.get(tag, ""), "after": digest})
        finally:
            if v["built"] and not module.check_mode:
                module.run_command([podman, "rmi", local])
            # Each change has its line as soon as it is made, whatever fails after it.
            _audit.record(
                module,
                [_audit.entry("image-published", f"{full}:{d['tag']}", d["before"], d["after"]) for d in done],
            )
            published += done
        v["digest"] = digest
        del v["path"]
    module.exit_json(changed=bool(published), repository=full, images=versions, published=published, msg=unread)


if __name__ == "__main__":
    main()
