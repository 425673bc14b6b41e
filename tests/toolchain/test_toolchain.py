"""The offline conda toolchain (TEST DOUBLES, tests/support/) proves itself.

Builds the origin channel and installers (cached), serves them over HTTP with
tests/support/toolchain/serve.py, installs a base prefix with the installer,
and drives the conda double exactly as the collection's modules will.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support.toolchain import build

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.toolchain
SERVE = ROOT / "tests" / "support" / "toolchain" / "serve.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def upstream():
    return build.build()


@pytest.fixture(scope="session")
def server(upstream, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("upstream") / "access.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SERVE),
            "--root",
            str(upstream),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--log",
            str(log),
        ]
    )
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield {"url": f"http://127.0.0.1:{port}", "log": log}
    proc.terminate()
    proc.wait(10)


def installer(upstream: Path, version: str = build.INSTALLERS[0][0]) -> Path:
    return upstream / "releases" / "miniforge" / version / f"Miniforge3-{version}-Linux-x86_64.sh"


@pytest.fixture(scope="session")
def base(upstream, server, tmp_path_factory):
    """A base prefix installed by the installer, configured for the HTTP upstream."""
    prefix = tmp_path_factory.mktemp("base") / "conda"
    subprocess.run(["bash", str(installer(upstream)), "-b", "-p", str(prefix)], check=True, capture_output=True)
    (prefix / ".condarc").write_text(
        yaml.safe_dump(
            {
                "channel_alias": server["url"],
                "channels": ["conda-forge"],
                "channel_priority": "strict",
                "remote_connect_timeout_secs": 2,
                "remote_max_retries": 1,
            }
        )
    )
    return prefix


@pytest.fixture
def env(tmp_path, base):
    """Environment variables for a conda run: isolated HOME, no inherited conda state."""
    home = tmp_path / "home"
    home.mkdir()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "PYTHON"))}
    return {**keep, "HOME": str(home)}


def conda(base: Path, *args: str, env: dict, tool: str = "conda", check: bool = True):
    proc = subprocess.run([str(base / "bin" / tool), *args], capture_output=True, text=True, env=env, check=False)
    if check:
        assert proc.returncode == 0, f"{tool} {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def conda_json(base: Path, *args: str, env: dict, tool: str = "conda"):
    return json.loads(conda(base, *args, "--json", env=env, tool=tool).stdout)


# ----------------------------------------------------------------------------- the channel


def test_channel_exercises_a_solver(upstream):
    repodata = {
        subdir: json.loads((upstream / "conda-forge" / subdir / "repodata.json").read_text())
        for subdir in ("linux-64", "noarch")
    }
    records = [r for data in repodata.values() for r in data["packages.conda"].values()]
    names = {r["name"] for r in records}
    assert len(names) >= 30
    versions = {n: {r["version"] for r in records if r["name"] == n} for n in names}
    assert len(versions["numpy"]) >= 3, "upgrade and downgrade paths need several versions"
    torch_builds = {r["build"] for r in records if r["name"] == "pytorch"}
    assert any(b.startswith("cuda") for b in torch_builds) and any(b.startswith("cpu") for b in torch_builds)
    assert all(r.get("md5") and r.get("sha256") for r in records)
    assert repodata["noarch"]["packages.conda"], "noarch subdir must not be empty"


def test_build_is_cached(upstream):
    stamp = (upstream.parent / "inputs.sha256").stat().st_mtime
    assert build.build() == upstream
    assert (upstream.parent / "inputs.sha256").stat().st_mtime == stamp, "an unchanged toolchain was rebuilt"


# ----------------------------------------------------------------------------- the installer


def test_installer_sha256_files_match(upstream):
    for version, _, _ in build.INSTALLERS:
        script = installer(upstream, version)
        recorded = script.with_name(script.name + ".sha256").read_text().split()
        assert recorded == [hashlib.sha256(script.read_bytes()).hexdigest(), script.name]


def test_installer_help_and_refusal_of_an_existing_prefix(upstream, tmp_path):
    help_run = subprocess.run(["bash", str(installer(upstream)), "-h"], capture_output=True, text=True, check=False)
    assert help_run.returncode == 2 and "-b" in help_run.stdout and "-u" in help_run.stdout
    (tmp_path / "taken").mkdir()
    again = subprocess.run(
        ["bash", str(installer(upstream)), "-b", "-p", str(tmp_path / "taken")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr and "-u" in again.stderr
    assert list((tmp_path / "taken").iterdir()) == [], "a refused install must not touch the prefix"


def test_installer_lays_down_a_base_prefix(base, env):
    for path in ("bin/conda", "bin/mamba", "condabin/conda", "etc/profile.d/conda.sh"):
        assert (base / path).is_file(), path
    metas = {json.loads(p.read_text())["name"] for p in (base / "conda-meta").glob("*.json")}
    assert {"conda", "mamba"} <= metas
    assert conda(base, "--version", env=env).stdout.strip() == "conda 24.11.3"
    assert conda(base, "--version", env=env, tool="mamba").stdout.strip() == "2.0.5"
    info = conda_json(base, "info", env=env)
    assert info["root_prefix"] == str(base) and info["conda_version"] == "24.11.3"
    profile = subprocess.run(
        ["bash", "-c", f". {base}/etc/profile.d/conda.sh && conda activate base && echo $CONDA_PREFIX"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert profile.stdout.strip() == str(base)


def test_installer_upgrade_in_place(upstream, tmp_path, env):
    prefix = tmp_path / "conda"
    subprocess.run(["bash", str(installer(upstream)), "-b", "-p", str(prefix)], check=True, capture_output=True)
    new = build.INSTALLERS[1]
    subprocess.run(
        ["bash", str(installer(upstream, new[0])), "-b", "-u", "-p", str(prefix)], check=True, capture_output=True
    )
    assert conda(prefix, "--version", env=env).stdout.strip() == f"conda {new[1]}"
    assert conda(prefix, "--version", env=env, tool="mamba").stdout.strip() == new[2]


# ----------------------------------------------------------------------------- the conda double


def test_create_over_http_through_channel_alias_and_lock_roundtrip(base, env, server, tmp_path):
    first = tmp_path / "first"
    result = conda_json(base, "create", "-y", "-p", str(first), "python=3.11", "numpy", "pandas", env=env, tool="mamba")
    assert result["success"] is True
    assert {p["name"] for p in result["actions"]["LINK"]} >= {"python", "numpy", "pandas"}
    assert all(p["channel"] == "conda-forge" for p in result["actions"]["LINK"])
    log = server["log"].read_text()
    assert "/conda-forge/linux-64/repodata.json 200" in log
    assert ".conda 200" in log, "packages must be downloaded from the upstream over HTTP"

    lock = tmp_path / "lock.txt"
    lock.write_text(conda(base, "list", "--explicit", "--md5", "-p", str(first), env=env).stdout)
    assert "@EXPLICIT" in lock.read_text()
    second = tmp_path / "second"
    conda_json(base, "create", "-y", "-p", str(second), "--file", str(lock), env=env)
    assert conda_json(base, "list", "-p", str(first), env=env) == conda_json(base, "list", "-p", str(second), env=env)

    interpreter = subprocess.run(
        [str(first / "bin" / "python"), "-c", "import sys, numpy; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert interpreter.stdout.strip() == str(first), "the env's python must be a working interpreter of the env"


def test_cuda_variant_only_with_override(base, env, tmp_path):
    cpu = conda_json(base, "create", "-y", "-p", str(tmp_path / "cpu"), "python=3.11", "pytorch", env=env)
    gpu = conda_json(
        base,
        "create",
        "-y",
        "-p",
        str(tmp_path / "gpu"),
        "python=3.11",
        "pytorch",
        env={**env, "CONDA_OVERRIDE_CUDA": "12.4"},
    )

    def torch_build(result):
        return next(p["build_string"] for p in result["actions"]["LINK"] if p["name"] == "pytorch")

    assert torch_build(cpu).startswith("cpu")
    assert torch_build(gpu).startswith("cuda124")
    old_driver = conda_json(
        base,
        "create",
        "-y",
        "-p",
        str(tmp_path / "old"),
        "python=3.11",
        "pytorch",
        env={**env, "CONDA_OVERRIDE_CUDA": "11.8"},
    )
    assert torch_build(old_driver).startswith("cpu"), "a driver older than the CUDA build needs gets the CPU build"


def _error(proc) -> dict:
    assert proc.returncode == 1, proc.stderr
    return json.loads(proc.stdout)


def test_unsatisfiable_spec_leaves_the_prefix_untouched(base, env, tmp_path):
    missing = tmp_path / "never"
    err = _error(
        conda(base, "create", "-y", "--json", "-p", str(missing), "numpy>=2", "numba=0.58.1", env=env, check=False)
    )
    assert err["exception_name"] == "LibMambaUnsatisfiableError"
    assert not missing.exists()

    existing = tmp_path / "existing"
    conda_json(base, "create", "-y", "-p", str(existing), "python=3.11", "numpy=1.26", env=env)
    before = conda_json(base, "list", "-p", str(existing), env=env)
    err = _error(
        conda(base, "install", "-y", "--json", "-p", str(existing), "numba=0.58.1", "numpy>=2", env=env, check=False)
    )
    assert err["exception_name"] == "LibMambaUnsatisfiableError"
    assert conda_json(base, "list", "-p", str(existing), env=env) == before


def test_package_not_found(base, env, tmp_path):
    err = _error(
        conda(base, "create", "-y", "--json", "-p", str(tmp_path / "x"), "no-such-package", env=env, check=False)
    )
    assert err["exception_name"] == "PackagesNotFoundError"
    assert err["packages"] == ["no-such-package"]
    assert not (tmp_path / "x").exists()


def test_unreachable_channel_gives_conda_http_error(base, env, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    target = tmp_path / "x"
    proc = conda(
        base,
        "create",
        "-y",
        "--json",
        "-p",
        str(target),
        "--override-channels",
        "-c",
        f"{dead}/conda-forge",
        "numpy",
        env=env,
        check=False,
    )
    err = _error(proc)
    assert err["exception_name"] == "CondaHTTPError"
    assert err["status_code"] == "000" and err["url"].startswith(dead)
    assert not target.exists()


def test_condarc_final_key_cannot_be_overridden(base, env, tmp_path):
    system = tmp_path / "system.condarc"
    user = tmp_path / "user.condarc"
    # Simulate the system file by putting it in the root prefix's condarc.d (searched before $CONDARC).
    sysdir = base / "condarc.d"
    sysdir.mkdir(exist_ok=True)
    system.write_text("channel_priority: strict  #!final\nssl_verify: true\n")
    (sysdir / "pinned.yml").write_text(system.read_text())
    try:
        user.write_text("channel_priority: disabled\nssl_verify: false\n")
        shown = conda_json(base, "config", "--show", env={**env, "CONDARC": str(user)})
        assert shown["channel_priority"] == "strict", "a #!final key was overridden by a later file"
        assert shown["ssl_verify"] is False, "a key without #!final must stay overridable"
    finally:
        (sysdir / "pinned.yml").unlink()


def test_allowlist_refuses_other_channels(base, env, tmp_path):
    user = tmp_path / "user.condarc"
    user.write_text(yaml.safe_dump({"allowlist_channels": ["conda-forge"]}))
    proc = conda(
        base,
        "create",
        "-y",
        "--json",
        "-p",
        str(tmp_path / "x"),
        "-c",
        "defaults",
        "numpy",
        env={**env, "CONDARC": str(user)},
        check=False,
    )
    err = _error(proc)
    assert err["exception_name"] == "ChannelNotAllowed"


def test_env_list_remove_and_environment_yml(base, env, tmp_path):
    spec = tmp_path / "environment.yml"
    spec.write_text(
        yaml.safe_dump({"name": "demo", "channels": ["conda-forge"], "dependencies": ["python=3.11", "six"]})
    )
    target = tmp_path / "fromfile"
    result = conda_json(base, "env", "create", "-y", "-p", str(target), "-f", str(spec), env=env)
    assert result["success"] is True
    assert str(target) in conda_json(base, "env", "list", env=env)["envs"]
    conda_json(base, "remove", "-y", "-p", str(target), "six", env=env)
    assert "six" not in {p["name"] for p in conda_json(base, "list", "-p", str(target), env=env)}
    conda_json(base, "remove", "-y", "--all", "-p", str(target), env=env)
    assert not target.exists()


# ----------------------------------------------------------------------------- the wheel index


def test_wheel_index_serves_every_pin_with_its_sha256(upstream):
    pins = [line for line in (ROOT / "tests/support/wheels.txt").read_text().splitlines() if "==" in line]
    for pin in pins:
        name, version = pin.split("==")
        page = (upstream / "pypi" / "simple" / name / "index.html").read_text()
        href = next(a for a in page.split('href="')[1:] if f"-{version}-" in a.split('"')[0])
        filename, _, digest = href.split('"')[0].removeprefix("../../files/").partition("#sha256=")
        wheel = upstream / "pypi" / "files" / filename
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == digest, pin


def test_pip_package_installs_from_the_wheel_index(base, env, server, tmp_path):
    prefix = tmp_path / "pipenv"
    conda_json(base, "create", "-y", "-p", str(prefix), "python=3.11", "pip", env=env)
    index = [f"--index-url={server['url']}/pypi/simple", "--trusted-host=127.0.0.1"]
    subprocess.run(
        [str(prefix / "bin" / "python"), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
         *index, "traitlets"],
        capture_output=True, text=True, check=True, env={**env, "PIP_CONFIG_FILE": os.devnull},
    )  # fmt: skip
    installer_file = next((prefix / "lib" / "python3.11" / "site-packages").glob("traitlets-*.dist-info")) / "INSTALLER"
    assert installer_file.read_text().strip() == "pip"
    assert "/pypi/files/traitlets-" in server["log"].read_text()
