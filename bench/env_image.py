"""Benchmark: a shared environment's version as an image - build and push time, image size against the prefix.

    .venv/bin/python -m bench.env_image [--rounds 3] [--keep]

Starts a fresh cluster on the Podman network hpcenv-bench-img: the TEST DOUBLE upstream,
one host that is both the channel mirror and the image registry (roles channel_mirror and
image_registry, real nginx and Debian's docker-registry, a certificate made here) and one
privileged GPU node (real systemd, real conda, Podman as root), all reached with the
containers.podman connection. The harness's node image is pushed into the registry as the base
(the TEST DOUBLE of a registry's Debian image, as in the mirror scenario). `site.yml` rolls out
the demo's shared_ml (the bench cluster's spec: bench/cluster.py) and publishes it. Then, timed
from the control host, --rounds times each:

  publish   the env_images role on the node after the image (its tags and the blobs the base does
            not share) was deleted from the registry's storage: one build (the prefix copied onto
            the cached base) and one push of the env's layer
  no-op     the env_images role again: the registry holds every tag (one HEAD each)

and reads the sizes: the prefix on the node (du, apparent and on disk), the image's own layer
(uncompressed, from `podman image inspect` of the pulled image, and compressed, from the
manifest) and the base. It prints one table and writes it, with every run's log, under --out.
The cluster is removed at the end unless --keep (remove it with --down).
"""

from __future__ import annotations

import argparse
import datetime
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bench.cluster import BIN, IMAGE, ROOT, ansible, ansible_env, log, podman, write_inventory_files

NETWORK = "hpcenv-bench-img"
LABEL = "hpcenv.bench-img=1"
UPSTREAM = "hpcenv-bench-img-upstream"
REGISTRY = "hpcenv-bench-img-mirror"
NODE = "hpcenv-bench-img-node"
PORT = 5443
PASSWORD = secrets.token_hex(16)  # a throw-away cluster's
REPO = "hpcenv/cpu/shared_ml"
PLAYBOOK = """\
- name: Publish the shared environments as images (bench)
  hosts: gpu_nodes
  gather_facts: false
  roles:
    - role: hpcenv.gpu_cluster.env_images
      env_images_builder: true
"""


def down() -> None:
    ids = podman("ps", "-aq", "--filter", f"label={LABEL}").split()
    if ids:
        podman("rm", "-f", "-t", "0", *ids)
    if podman("network", "ls", "-q", "--filter", f"name=^{NETWORK}$").strip():
        podman("network", "rm", "-f", NETWORK)


def start() -> None:
    podman("network", "create", "--label", LABEL, NETWORK)
    common = ["run", "-d", "--network", NETWORK, "--label", LABEL, "--systemd=always"]
    podman(
        *common, "--name", UPSTREAM, "--hostname", UPSTREAM,
        "-v", f"{ROOT}/.cache/toolchain/upstream:/srv/upstream:ro",
        "-v", f"{ROOT}/tests/support/toolchain:/srv/toolchain:ro",
        IMAGE, "/sbin/init",
    )  # fmt: skip
    podman(*common, "--name", REGISTRY, "--hostname", REGISTRY, IMAGE, "/sbin/init")
    podman(*common, "--privileged", "--name", NODE, "--hostname", NODE, IMAGE, "/sbin/init")
    for name in (UPSTREAM, REGISTRY, NODE):
        state = podman("exec", name, "timeout", "90", "systemctl", "is-system-running", "--wait", check=False)
        if state.strip() not in ("running", "degraded"):
            sys.exit(f"{name}: systemd did not come up ({state.strip()!r})")


def certificate(work: Path) -> Path:
    """A self-signed certificate for the registry (its own CA), copied onto it; the CA's path here."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, REGISTRY)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(REGISTRY)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca = work / "registry.crt"
    ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile = work / "registry.key"
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    podman("exec", REGISTRY, "mkdir", "-p", "/etc/ssl/hpcenv-bench")
    podman("cp", str(ca), f"{REGISTRY}:/etc/ssl/hpcenv-bench/registry.crt")
    podman("cp", str(keyfile), f"{REGISTRY}:/etc/ssl/hpcenv-bench/registry.key")
    return ca


def write_inventory(inv: Path, ca: Path) -> None:
    groups = {"upstream": [UPSTREAM], "mirrors": [REGISTRY], "registries": [REGISTRY], "gpu_nodes": [NODE]}
    extra = {
        "all": {"image_registry_push_password": PASSWORD},
        # This cluster's upstream (bench/cluster.py's group_vars name its own).
        "mirrors": {
            "channel_mirror_conda_upstream": f"http://{UPSTREAM}:8000",
            "channel_mirror_installer_upstreams": {"miniforge": f"http://{UPSTREAM}:8000/releases/miniforge"},
        },
        "registries": {
            "image_registry_tls_cert": "/etc/ssl/hpcenv-bench/registry.crt",
            "image_registry_tls_key": "/etc/ssl/hpcenv-bench/registry.key",
        },
        "gpu_nodes": {
            "env_images_registry_ca": str(ca),
            # TEST DOUBLE: the harness's node image, pushed into the registry below, as the base.
            "env_images_base": f"{REGISTRY}:{PORT}/hpcenv-bench/base:bookworm",
            "env_images_sif": "never",
        },
    }
    write_inventory_files(inv, groups, extra)


def node(*argv: str) -> str:
    return podman("exec", NODE, *argv)


STORAGE = "/var/lib/docker-registry/docker/registry/v2"
ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def manifest(reference: str) -> dict:
    ca = f"/etc/containers/certs.d/{REGISTRY}:{PORT}/ca.crt"
    url = f"https://{REGISTRY}:{PORT}/v2/{reference.replace(':', '/manifests/')}"
    return json.loads(node("curl", "-fsS", "--cacert", ca, "-H", f"Accept: {ACCEPT}", url))


def drop_image() -> None:
    """Forget the env's image in the registry (its tags, and the blobs the base does not share), as
    before its first publish, so that the next publish uploads it whole."""
    base = {layer["digest"] for layer in manifest("hpcenv-bench/base:bookworm")["layers"]}
    image = manifest(f"{REPO}:active")
    own = [d["digest"] for d in [*image["layers"], image["config"]] if d["digest"] not in base]
    blobs = [f"{STORAGE}/blobs/sha256/{d.split(':')[1][:2]}/{d.split(':')[1]}" for d in own]
    podman("exec", REGISTRY, "rm", "-rf", f"{STORAGE}/repositories/{REPO}", *blobs)
    podman("exec", REGISTRY, "systemctl", "restart", "docker-registry")  # its in-memory blob cache


def sizes(prefix: str) -> dict:
    layers = manifest(f"{REPO}:active")["layers"]
    image = f"{REGISTRY}:{PORT}/{REPO}:active"
    base = f"{REGISTRY}:{PORT}/hpcenv-bench/base:bookworm"
    node("podman", "pull", "--quiet", image)
    node("podman", "pull", "--quiet", base)
    image_size = int(node("podman", "image", "inspect", "--format", "{{.Size}}", image))
    base_size = int(node("podman", "image", "inspect", "--format", "{{.Size}}", base))
    node("podman", "rmi", image)
    return {
        "prefix_apparent_bytes": int(node("du", "-s", "--apparent-size", "--block-size=1", prefix).split()[0]),
        "prefix_disk_bytes": int(node("du", "-s", "--block-size=1", prefix).split()[0]),
        "prefix_files": int(node("sh", "-c", f"find {prefix} | wc -l")),
        "env_layer_uncompressed_bytes": image_size - base_size,
        "env_layer_compressed_bytes": layers[-1]["size"],
        "base_uncompressed_bytes": base_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="publish and no-op rounds (the median is shown)")
    parser.add_argument("--out", type=Path, help="results directory (default: a new one under .cache/bench)")
    parser.add_argument("--keep", action="store_true", help="leave the cluster up")
    parser.add_argument("--down", action="store_true", help="only remove a kept cluster")
    args = parser.parse_args()
    if args.down:
        down()
        return
    out = args.out or ROOT / ".cache" / "bench" / time.strftime("env-image-%Y%m%dT%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    inv = out / "inventory"
    env = ansible_env({"ANSIBLE_CACHE_PLUGIN_CONNECTION": str(out / "facts")})
    playbook = [str(BIN / "ansible-playbook"), "-i", str(inv)]
    down()
    try:
        log("starting the cluster")
        start()
        with tempfile.TemporaryDirectory() as tmp:
            ca = out / "registry-ca.crt"
            ca.write_bytes(certificate(Path(tmp)).read_bytes())
        write_inventory(inv, ca)
        ansible([*playbook, "tests/harness/upstream.yml"], env, out / "upstream.log")
        log("converging the mirror and the registry")
        ansible([*playbook, "site.yml", "--limit", REGISTRY], env, out / "registry.log")
        address = podman("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", REGISTRY)
        log("pushing the base image (the harness's node image)")
        podman("push", "--quiet", "--tls-verify=false", "--creds", f"hpcenv-builder:{PASSWORD}", IMAGE,
               f"docker://{address.strip()}:{PORT}/hpcenv-bench/base:bookworm")  # fmt: skip
        log("rollout: site.yml (conda, shared_ml, its first image)")
        rollout, _recap = ansible([*playbook, "site.yml"], env, out / "rollout.log")
        bench_play = out / "publish.yml"
        bench_play.write_text(PLAYBOOK)
        results: dict = {"rollout_seconds": round(rollout, 1), "publish": [], "noop": []}
        for i in range(args.rounds):
            drop_image()
            log(f"round {i + 1}: publish (build and push)")
            results["publish"].append(round(ansible([*playbook, str(bench_play)], env, out / f"publish{i}.log")[0], 2))
            log(f"round {i + 1}: no-op")
            results["noop"].append(round(ansible([*playbook, str(bench_play)], env, out / f"noop{i}.log")[0], 2))
        prefix = node("readlink", "-f", "/opt/conda.d/envs/shared_ml").strip()
        results.update(sizes(prefix))
    finally:
        if not args.keep:
            down()
    mib = 1 << 20
    row = (
        f"| {statistics.median(results['publish']):.1f} | {statistics.median(results['noop']):.1f} "
        f"| {results['prefix_apparent_bytes'] / mib:.0f} ({results['prefix_disk_bytes'] / mib:.0f} on disk, "
        f"{results['prefix_files']} files) | {results['env_layer_uncompressed_bytes'] / mib:.0f} "
        f"| {results['env_layer_compressed_bytes'] / mib:.0f} | {results['base_uncompressed_bytes'] / mib:.0f} |"
    )
    table = (
        "| publish s (build + push) | no-op s | prefix MiB | env layer MiB | env layer compressed MiB | base MiB |\n"
        "|---|---|---|---|---|---|\n" + row + "\n"
    )
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "table.md").write_text(table)
    print(table)
    print(f"rounds: publish {results['publish']}, no-op {results['noop']}; logs in {out}")


if __name__ == "__main__":
    main()
