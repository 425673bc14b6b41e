"""ansible-test, offline: sanity and units for every ansible-core series this collection supports.

    python -m tests.support.ansible_test prepare            # the venvs (scripts/setup-host runs it)
    python -m tests.support.ansible_test sanity 2.18 [ARGS]  # as the suite runs it
    python -m tests.support.ansible_test units 2.19 [ARGS]

Each ansible-core series has a virtualenv of its own (ansible-core and the
requirements ansible-test ships for units), and ansible-test runs from it with
`--local`. For its sanity tests ansible-test makes a virtualenv per test, with the
pins it ships, and bootstraps pip in each with a get-pip.py it downloads from the
internet; tests/support/get_pip_offline.py is put in that download's cache instead
(pip from Python's ensurepip, then the pip release ansible-test asks for), and
`prepare` makes those virtualenvs once (`--prime-venvs`), so a suite run installs
nothing.

The series: the newest, as requirements-dev.txt pins it (the controller the suite
uses), and the oldest meta/runtime.yml admits (its `requires_ansible` lower bound),
at the patch release OLDEST pins. ansible-test wants the collection at a real
.../ansible_collections/<namespace>/<name> path (a link is resolved away), so each
run stages the checkout's files (tracked, and new ones git does not ignore) in
STAGE and runs there; its results are in STAGE/.../tests/output/.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".cache" / "ansible-test"
# Outside the checkout: inside it, ansible-test would take the checkout's git for the staged copy's.
STAGE = Path(tempfile.gettempdir()) / f"hpcenv-ansible-test-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]}"
# The oldest series' release the checks run on; its series must be requires_ansible's lower bound.
OLDEST = "2.18.19"
# ansible-test --local checks one Python: the controller's.
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def newest() -> str:
    """The ansible-core release requirements-dev.txt pins."""
    text = (ROOT / "requirements-dev.txt").read_text()
    return re.search(r"^ansible-core==(\S+)$", text, re.MULTILINE).group(1)


def requires_ansible() -> str:
    """meta/runtime.yml's requires_ansible, e.g. '>=2.18.0'."""
    return str(yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"])


def series(version: str) -> str:
    """'2.18.19' -> '2.18'."""
    return ".".join(version.split(".")[:2])


def releases() -> dict[str, str]:
    """Series -> the ansible-core release its checks run on, oldest first."""
    return {series(OLDEST): OLDEST, series(newest()): newest()}


def venv(series_name: str) -> Path:
    return VENVS / f"ansible-core-{series_name}"


def stage(into: Path = STAGE) -> Path:
    """Copy the checkout's files to INTO/ansible_collections/<namespace>/<name> (afresh); return that folder."""
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    root = into / "ansible_collections" / galaxy["namespace"] / galaxy["name"]
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    shutil.rmtree(into, ignore_errors=True)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() or source.is_symlink():  # a deleted but still tracked file is not copied
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name, follow_symlinks=False)
    return root


def _ask(python: Path, code: str) -> str:
    """What the venv's own ansible-test says (one line of Python run there)."""
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def seed_pip_bootstrap(python: Path) -> Path:
    """Put the offline get-pip.py where this ansible-test looks for its download (the pip release it pins)."""
    pip = _ask(
        python,
        "import types; from ansible_test._internal.python_requirements import get_venv_packages; "
        f"print(get_venv_packages(types.SimpleNamespace(version={PYTHON!r}))['pip'])",
    )
    cached = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{pip.replace('.', '_')}.py"
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("get_pip_offline.py"), cached)
    return cached


def prepare(release: str) -> None:
    """Make (or keep) the venv of one ansible-core release."""
    target = venv(series(release))
    python = target / "bin" / "python"
    stamp = target / ".hpcenv-release"
    if not (stamp.is_file() and stamp.read_text().strip() == release):
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, f"ansible-core=={release}"], check=True)
        units = _ask(python, "import ansible_test, os; print(os.path.dirname(ansible_test.__file__))")
        subprocess.run([*pip, "-r", str(Path(units) / "_data" / "requirements" / "units.txt")], check=True)
        stamp.write_text(f"{release}\n")
    seed_pip_bootstrap(python)
    with tempfile.TemporaryDirectory() as scratch:
        primed = run(series(release), stage(Path(scratch)), "sanity", "--prime-venvs")
    if primed.returncode != 0:
        sys.exit(f"ansible-test {release} could not make its sanity virtualenvs:\n{primed.stdout}{primed.stderr}")
    print(f"ansible-core {release}: {target.relative_to(ROOT)} and its sanity virtualenvs are ready")


def command(series_name: str, test: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """The ansible-test command line of one series and its environment."""
    target = venv(series_name)
    if not (target / "bin" / "ansible-test").is_file():
        raise FileNotFoundError(f"no {target}: run scripts/setup-host (python -m tests.support.ansible_test prepare)")
    env = {
        **os.environ,
        "PATH": f"{target / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(target),
    }
    env.pop("PYTHONPATH", None)
    env.pop("ANSIBLE_CONFIG", None)  # the checkout's ansible.cfg is for its playbooks, not for ansible-test
    cmd = [str(target / "bin" / "ansible-test"), test, "--local", "--python", PYTHON, "--color", "no", *args]
    return cmd, env


def run(series_name: str, root: Path, test: str, *args: str) -> subprocess.CompletedProcess:
    """One ansible-test run in a staged collection ROOT, its output captured."""
    cmd, env = command(series_name, test, *args)
    return subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=False)


def main(argv: list[str]) -> int:
    if argv[:1] == ["prepare"]:
        for release in releases().values():
            prepare(release)
        return 0
    if len(argv) >= 2 and argv[0] in ("sanity", "units") and argv[1] in releases():
        cmd, env = command(argv[1], argv[0], *argv[2:])
        root = stage()
        print(f"staged in {root}", file=sys.stderr)
        return subprocess.run(cmd, env=env, cwd=root, check=False).returncode
    print(__doc__.strip().split("\n\n", maxsplit=1)[0], file=sys.stderr)
    print(f"series: {', '.join(releases())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
