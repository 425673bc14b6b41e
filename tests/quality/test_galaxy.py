"""What an installed collection brings with it: the built tarball, installed alone on a control node
that has plain ansible-core (no `ansible` package and its bundled collections), pulls what the
shipped content uses, and its playbooks then pass a syntax check.

Offline, the dependencies come from the copies the checkout installed (scripts/install-collections):
an installed collection holds MANIFEST.json and FILES.json, so packing its folder gives the very
artifact ansible-galaxy downloads. The plain ansible-core is the oldest series' venv of
tests/support/ansible_test.py (ansible-core and ansible-test's unit test requirements, nothing else).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.support import ansible_test

ROOT = ansible_test.ROOT
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
PLAIN = ansible_test.venv(next(iter(ansible_test.releases()))) / "bin"
# A module or action by its FQCN as a task's key, and a Python import from a collection.
TASK_KEY = re.compile(r"^\s*(?:- )?([a-z0-9_]+)\.([a-z0-9_]+)\.[a-z0-9_]+:", re.MULTILINE)
IMPORT = re.compile(r"\bansible_collections\.([a-z0-9_]+)\.([a-z0-9_]+)\.")


def plain(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """A command of the plain ansible-core, with nothing of the checkout's configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    (cwd / "ansible.cfg").touch()
    env |= {
        "ANSIBLE_CONFIG": str(cwd / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(cwd / "installed"),
        "HOME": str(cwd),
    }
    argv = [str(PLAIN / argv[0]), *argv[1:]]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def packed(fqcn: str, into: Path) -> Path:
    """The artifact of an installed dependency, packed from the checkout's copy.

    The `ansible` PyPI package leaves some files of its collections out (CI folders), so the
    packed FILES.json lists the files the copy has (each checked against its recorded SHA256)
    and MANIFEST.json the checksum of that FILES.json, as ansible-galaxy build writes them."""
    namespace, name = fqcn.split(".")
    folder = ROOT / "collections" / "ansible_collections" / namespace / name
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    files = json.loads((folder / "FILES.json").read_text())
    kept = []
    for entry in files["files"]:
        path = folder / entry["name"]
        if entry["ftype"] == "dir" and path.is_dir():
            kept.append(entry)
        elif entry["ftype"] == "file" and path.is_file():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["chksum_sha256"], f"{fqcn}: {path} changed"
            kept.append(entry)
    files_json = json.dumps({**files, "files": kept}, indent=4).encode()
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_json).hexdigest()
    artifact = into / f"{namespace}-{name}-{manifest['collection_info']['version']}.tar.gz"
    with tarfile.open(artifact, "w:gz") as tar:
        for arcname, data in (("MANIFEST.json", json.dumps(manifest, indent=4).encode()), ("FILES.json", files_json)):
            info = tarfile.TarInfo(arcname)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for entry in kept:
            if entry["name"] != ".":
                tar.add(folder / entry["name"], arcname=entry["name"], recursive=False)
    return artifact


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> tuple[Path, list[Path]]:
    here = tmp_path_factory.mktemp("galaxy")
    build = plain("ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(here), cwd=here)
    assert build.returncode == 0, build.stdout + build.stderr
    (ours,) = here.glob(f"{GALAXY['namespace']}-{GALAXY['name']}-*.tar.gz")
    return ours, [packed(fqcn, here) for fqcn in GALAXY["dependencies"]]


def test_galaxy_yml_declares_every_collection_the_shipped_content_uses():
    used = set()
    for folder in ("roles", "playbooks", "plugins"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".yml", ".yaml", ".py", ".j2"):
                text = path.read_text()
                used |= {f"{ns}.{name}" for ns, name in TASK_KEY.findall(text) + IMPORT.findall(text)}
    used -= {"ansible.builtin", f"{GALAXY['namespace']}.{GALAXY['name']}"}
    assert used <= set(GALAXY["dependencies"]), (
        f"galaxy.yml dependencies lack {sorted(used - set(GALAXY['dependencies']))}"
    )
    assert set(GALAXY["dependencies"]) <= used, "galaxy.yml declares a collection the content does not use"


def test_the_tarball_alone_on_plain_ansible_core_asks_for_its_dependencies(artifacts, tmp_path):
    ours, _deps = artifacts
    alone = plain("ansible-galaxy", "collection", "install", "--offline", "-p", "installed", str(ours), cwd=tmp_path)
    assert alone.returncode != 0, "installed without its dependencies: galaxy.yml declares none"
    for fqcn in GALAXY["dependencies"]:
        assert fqcn in alone.stdout + alone.stderr, alone.stdout + alone.stderr


def test_with_its_dependencies_it_installs_and_its_playbooks_pass_a_syntax_check(artifacts, tmp_path):
    ours, deps = artifacts
    install = plain(
        "ansible-galaxy",
        "collection",
        "install",
        "--offline",
        "-p",
        "installed",
        str(ours),
        *map(str, deps),
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    for playbook in sorted((ROOT / "playbooks").glob("*.yml")):
        fqcn = f"{GALAXY['namespace']}.{GALAXY['name']}.{playbook.stem}"
        check = plain("ansible-playbook", "-i", "hosts.yml", "--syntax-check", fqcn, cwd=tmp_path)
        assert check.returncode == 0, f"{fqcn}:\n{check.stdout}{check.stderr}"
