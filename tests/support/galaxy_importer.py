"""galaxy-importer, offline: what Galaxy says of the built collection when it is uploaded.

    python -m tests.support.galaxy_importer prepare          # its virtualenv (scripts/setup-host runs it)
    python -m tests.support.galaxy_importer check [TARBALL]  # as the suite runs it (builds one when none is given)

galaxy-importer is the code Galaxy runs on every uploaded collection artifact: it checks
MANIFEST.json and FILES.json, reads every plugin's documentation with ansible-doc, looks for
a changelog, lints the content with ansible-lint (Galaxy's own profile and skip list), and
logs what it finds as WARNING and ERROR lines. Its dependencies clash
with requirements-dev.txt (it wants attrs<24), so it has a virtualenv of its own, VENV, made
once from PINS: the whole set, installed with --no-deps and checked with `pip check`; a stamp
holds the hash of PINS and of the Python, so a suite run installs nothing. PINS follow
requirements-dev.txt wherever galaxy-importer allows it (the same ansible-core and ansible-lint).

It runs as Galaxy runs it, less what needs the internet or a container engine (CONFIG):
ansible-test is the suite's own business (tests/support/ansible_test.py), ansible-lint runs
`--offline`, and nothing of the checkout's configuration (ANSIBLE_*, ansible.cfg) reaches it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".cache" / "galaxy-importer"
STAMP = VENV / ".hpcenv-pins.sha256"
# The whole set galaxy-importer 0.4.44 installs (pip freeze); attrs is the one that cannot follow requirements-dev.txt.
PINS = (
    "ansible-builder==3.2.0",
    "ansible-compat==26.10.0",
    "ansible-core==2.19.14",
    "ansible-lint==26.10.1",
    "attrs==23.2.0",
    "bindep==2.14.0",
    "black==26.10.1",
    "bracex==3.2.2",
    "certifi==2026.10.19.post1",
    "cffi==2.1.1",
    "charset-normalizer==3.5.3",
    "click==8.5.1",
    "cryptography==50.0.2",
    "distro==1.9.0",
    "filelock==4.2.12",
    "flake8==6.1.0",
    "galaxy-importer==0.4.44",
    "idna==3.20",
    "Jinja2==3.1.6",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "Markdown==3.11.3",
    "MarkupSafe==3.0.4",
    "mccabe==0.7.0",
    "mypy_extensions==1.2.0",
    "nh3==0.3.8",
    "packaging==26.3",
    "Parsley==1.3",
    "pathspec==1.1.1",
    "pbr==7.1.3",
    "platformdirs==4.14.8",
    "pycodestyle==2.11.1",
    "pycparser==3.12",
    "pyflakes==3.1.0",
    "pytokens==0.4.1",
    "PyYAML==6.0.4",
    "referencing==0.37.0",
    "requests==2.34.2",
    "resolvelib==1.2.1",
    "rpds-py==2026.9.1",
    "ruamel.yaml==0.19.1",
    "semantic-version==2.10.0",
    "subprocess-tee==0.4.2",
    "typing_extensions==4.16.0",
    "urllib3==2.8.0",
    "wcmatch==12.0.1",
    "yamllint==1.38.0",
)
# galaxy-importer's configuration (its GALAXY_IMPORTER_CONFIG file); {tmp} is the run's folder.
CONFIG = """\
[galaxy-importer]
# ansible-test sanity runs in a container on Galaxy; the suite runs it itself, offline.
run_ansible_test = false
ansible_test_local_image = false
local_image_docker = false
infra_osd = false
run_ansible_doc = true
run_ansible_lint = true
offline_ansible_lint = true
# Galaxy's default (off): ansible-test sanity's pep8 and pylint check the Python, with Ansible's own settings.
run_flake8 = false
check_changelog = true
check_required_tags = true
require_v1_or_greater = true
ansible_local_tmp = {tmp}/ansible-tmp
tmp_root_dir = {tmp}
log_level_main = INFO
"""
DONE = "Importer processing completed successfully"


def _digest() -> str:
    text = "\n".join((sys.version, *PINS))
    return hashlib.sha256(text.encode()).hexdigest()


def prepare() -> None:
    """Make (or keep) VENV."""
    if STAMP.is_file() and STAMP.read_text().strip() == _digest():
        print(f"galaxy-importer: {VENV.relative_to(ROOT)} is up to date")
        return
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--no-deps", *PINS], check=True)
    subprocess.run([*pip, "check"], check=True)
    STAMP.write_text(_digest() + "\n")
    print(f"galaxy-importer: {VENV.relative_to(ROOT)} is ready")


def environment(home: Path) -> dict[str, str]:
    """VENV's tools first on PATH, and nothing of the checkout's Ansible or galaxy-importer settings."""
    if not (VENV / "bin" / "ansible-lint").is_file() or not STAMP.is_file():
        raise FileNotFoundError(f"no {VENV}: run scripts/setup-host (python -m tests.support.galaxy_importer prepare)")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ANSIBLE_", "GALAXY_IMPORTER_")) and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    return env | {
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(VENV),
        "HOME": str(home),
    }


def build(into: Path) -> Path:
    """The collection's artifact, as `ansible-galaxy collection build` makes it from the checkout."""
    into.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [str(VENV / "bin" / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(into), str(ROOT)],
        env=environment(into),
        cwd=into,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ansible-galaxy collection build failed:\n{proc.stdout}{proc.stderr}")
    (tarball,) = into.glob("*.tar.gz")
    return tarball


def run(tarball: Path, workdir: Path) -> subprocess.CompletedProcess:
    """galaxy-importer on TARBALL, in WORKDIR (its config, temp files and importer_result.json go there)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "galaxy-importer.cfg"
    config.write_text(CONFIG.format(tmp=workdir))
    env = environment(workdir) | {"GALAXY_IMPORTER_CONFIG": str(config)}
    cmd = [str(VENV / "bin" / "python"), "-m", "galaxy_importer.main", str(tarball)]
    return subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True, check=False)


def main(argv: list[str]) -> int:
    if argv == ["prepare"]:
        prepare()
        return 0
    if argv[:1] == ["check"] and len(argv) <= 2:
        with tempfile.TemporaryDirectory() as scratch:
            tarball = Path(argv[1]).resolve() if len(argv) == 2 else build(Path(scratch) / "build")
            result = run(tarball, Path(scratch) / "run")
        print(result.stdout + result.stderr, end="")
        return result.returncode or (0 if DONE in result.stdout else 1)
    print(__doc__.strip().split("\n\n", maxsplit=1)[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
