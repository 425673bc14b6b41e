"""Quality gates: linters and packaging, each a test so the suite has one summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.quality


def run(*argv: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, env=env)


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"{' '.join(proc.args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def test_ruff_lint():
    assert_ok(run(str(BIN / "ruff"), "check", "."))


def test_ruff_format():
    assert_ok(run(str(BIN / "ruff"), "format", "--check", "--diff", "."))


def test_yamllint():
    assert_ok(run(str(BIN / "yamllint"), "--strict", "."))


def test_ansible_lint_production_profile():
    # Only this checkout's collections: a copy of this collection that another tool
    # installed under ~/.ansible would otherwise hide modules added since.
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections")}
    proc = run(str(BIN / "ansible-lint"), "--profile", "production", "--offline", "--nocolor", env=env)
    assert_ok(proc)
    assert "skip_list" not in (ROOT / ".ansible-lint").read_text(), "no skip list is allowed"
    assert "warn_list" not in (ROOT / ".ansible-lint").read_text(), "no warn list is allowed"


def test_galaxy_build_ships_only_the_collection(tmp_path):
    assert_ok(run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), "--force"))
    (tarball,) = tmp_path.glob("hpcenv-gpu_cluster-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    tops = {name.split("/")[0] for name in names}
    for required in ("plugins", "roles", "playbooks", "meta", "docs", "README.md", "MANIFEST.json"):
        assert required in tops, f"{required} missing from {tarball.name}: {sorted(tops)}"
    for forbidden in ("tests", "molecule", "bench", "scripts", "collections", ".venv", "inventories/demo"):
        leaked = [n for n in names if n == forbidden or n.startswith(forbidden + "/")]
        assert not leaked, f"{forbidden} leaked into {tarball.name}: {leaked[:5]}"


def test_every_module_has_complete_docs():
    modules = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.name.startswith("_"))
    assert modules, "no modules found"
    for name in modules:
        proc = run(str(BIN / "ansible-doc"), "--json", f"hpcenv.gpu_cluster.{name}")
        assert_ok(proc)
        doc = json.loads(proc.stdout)[f"hpcenv.gpu_cluster.{name}"]
        assert "WARNING" not in proc.stderr, proc.stderr
        for section in ("doc", "examples", "return"):
            assert doc.get(section), f"{name}: {section} is empty"
        assert doc["doc"].get("attributes"), f"{name}: no attributes (check_mode/diff_mode/idempotent)"


def test_every_module_runs_main():
    """A module that never calls main() exits without a result ("did not handle its own exit")."""
    for module in sorted((ROOT / "plugins" / "modules").glob("*.py")):
        text = module.read_text()
        assert 'if __name__ == "__main__":\n    main()' in text, f"{module.name} never runs main()"


def test_execution_environment_builds_its_context(tmp_path):
    """ansible-builder makes the AWX/AAP build context offline; its pins follow the project's."""
    import yaml

    # As the file's header says: build the collection, then the context.
    shutil.copy(ROOT / "execution-environment.yml", tmp_path)
    assert_ok(
        run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path / "build"), str(ROOT))
    )
    proc = run(
        str(BIN / "ansible-builder"),
        "create",
        "-f",
        str(tmp_path / "execution-environment.yml"),
        "-c",
        str(tmp_path / "ctx"),
    )
    assert_ok(proc)
    containerfile = (tmp_path / "ctx" / "Containerfile").read_text()
    dev_pins = {
        line.split("==")[0].lower(): line.strip()
        for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    job_pins = yaml.safe_load((ROOT / "roles/nightly_drift/defaults/main.yml").read_text())[
        "nightly_drift_python_packages"
    ]
    for project in ("ansible-core", "ansible-runner"):
        assert dev_pins[project] in containerfile, f"the EE's {project} is not {dev_pins[project]}"
        assert dev_pins[project] in job_pins, f"roles/nightly_drift pins another {project} than {dev_pins[project]}"
    galaxy = yaml.safe_load((tmp_path / "ctx" / "_build" / "requirements.yml").read_text())
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    tarball = f"collection/hpcenv-gpu_cluster-{version}.tar.gz"
    assert {"name": tarball, "type": "file"} in galaxy["collections"], f"the EE installs another build than {tarball}"
    assert (tmp_path / "ctx" / "_build" / tarball).is_file()
