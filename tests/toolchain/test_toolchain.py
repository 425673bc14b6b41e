"""The offline conda toolchain (tests/support/) proves itself.

Builds the origin channel and installers (cached), serves them over HTTP with
tests/support/toolchain/serve.py, installs a base prefix with the installer
(a TEST DOUBLE of Miniforge's), and runs the real conda it lays down, as the
collection's modules and the cluster's users will.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from tests.support import matchspec_table
from tests.support.toolchain import build
from tests.unit.plugins import matchspec_double

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.toolchain
SERVE = ROOT / "tests" / "support" / "toolchain" / "serve.py"
PY = f"{sys.version_info.major}.{sys.version_info.minor}"  # the host's Python: the envs' interpreter shim


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
        [sys.executable, str(SERVE), "--root", str(upstream), "--port", str(port), "--bind", "127.0.0.1",
         "--log", str(log)]
    )  # fmt: skip
    for _attempt in range(50):
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


def configure(prefix: Path, server: dict, **extra) -> None:
    """What the conda role does: a system-level condarc (here the root prefix's condarc.d)."""
    settings = {
        "channel_alias": server["url"],
        "channels": ["conda-forge"],
        "channel_priority": "strict",
        "solver": "classic",  # conda-libmamba-solver cannot be built offline (see the vendor README)
        "remote_connect_timeout_secs": 2,
        "remote_max_retries": 1,
        **extra,
    }
    (prefix / "condarc.d").mkdir(exist_ok=True)
    (prefix / "condarc.d" / "test.yml").write_text(yaml.safe_dump(settings))


@pytest.fixture(scope="session")
def base(upstream, server, tmp_path_factory):
    """A base prefix laid down by the Miniforge-style installer, configured for the HTTP upstream."""
    prefix = tmp_path_factory.mktemp("base") / "conda"
    subprocess.run(["bash", str(installer(upstream)), "-b", "-p", str(prefix)], check=True, capture_output=True)
    configure(prefix, server)
    return prefix


@pytest.fixture
def env(tmp_path):
    """Environment variables for a conda run: isolated HOME, no inherited conda state."""
    home = tmp_path / "home"
    home.mkdir()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "PYTHON", "MAMBA"))}
    return {**keep, "HOME": str(home), "PIP_CONFIG_FILE": os.devnull}


def conda(base: Path, *args: str, env: dict, check: bool = True, tool: str = "conda"):
    proc = subprocess.run([str(base / "bin" / tool), *args], capture_output=True, text=True, env=env, check=False)
    if check:
        assert proc.returncode == 0, f"{tool} {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def conda_json(base: Path, *args: str, env: dict):
    return json.loads(conda(base, *args, "--json", env=env).stdout)


def conda_error(base: Path, *args: str, env: dict) -> dict:
    proc = conda(base, *args, "--json", env=env, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


# ----------------------------------------------------------------------------- the channel


def test_channel_exercises_a_solver(upstream):
    repodata = {
        subdir: json.loads((upstream / "conda-forge" / subdir / "repodata.json").read_text())
        for subdir in ("linux-64", "noarch")
    }
    records = [r for data in repodata.values() for key in ("packages", "packages.conda") for r in data[key].values()]
    names = {r["name"] for r in records}
    assert len(names) >= 50
    versions = {n: {r["version"] for r in records if r["name"] == n} for n in names}
    assert len(versions["numpy"]) >= 3, "upgrade and downgrade paths need several versions"
    torch_builds = {r["build"] for r in records if r["name"] == "pytorch"}
    assert any(b.startswith("cuda") for b in torch_builds) and any(b.startswith("cpu") for b in torch_builds)
    assert all(r.get("md5") and r.get("sha256") for r in records)
    assert repodata["noarch"]["packages"], "noarch subdir must hold the conda package"


def test_conda_package_is_the_vendored_release_with_its_declared_dependencies(upstream):
    (package,) = (upstream / "conda-forge" / "noarch").glob(f"conda-{build.CONDA_VERSION}-*.tar.bz2")
    source = build.find_conda_source()
    with tarfile.open(source) as src, tarfile.open(package) as pkg:
        ours = pkg.extractfile("site-packages/conda/base/context.py").read()
        theirs = src.extractfile(f"conda-{build.CONDA_VERSION}/conda/base/context.py").read()
        assert ours == theirs, "conda's files must be its released source, unchanged"
        index = json.loads(pkg.extractfile("info/index.json").read())
        link = json.loads(pkg.extractfile("info/link.json").read())
        pyproject = src.extractfile(f"conda-{build.CONDA_VERSION}/pyproject.toml").read().decode()
    assert link["noarch"]["entry_points"] == ["conda = conda.cli:main"]
    # Every runtime dependency conda declares, by its conda-forge name (menuinst is only for
    # Windows shortcuts and is not on PyPI; the libmamba solver is disabled upstream on PyPI too).
    declared = re.findall(r'^  "([A-Za-z0-9_.-]+)[ ;>=<"]', pyproject.split("dependencies = [")[1].split("]")[0], re.M)
    conda_forge_names = {"msgpack": "msgpack-python"}
    wanted = {conda_forge_names.get(name, name) for name in declared} - {"menuinst"}
    assert wanted == {d.split()[0] for d in index["depends"]} - {"python"}


# ----------------------------------------------------------------------------- the installer


def test_installer_sha256_files_match(upstream):
    for version, _kind in build.INSTALLERS:
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


def test_installer_lays_down_a_real_base_prefix(base, env):
    for path in ("bin/conda", "bin/mamba", "condabin/conda", "etc/profile.d/conda.sh", ".condarc"):
        assert (base / path).is_file(), path
    records = {json.loads(p.read_text())["name"]: p for p in (base / "conda-meta").glob("*.json")}
    conda_record = json.loads(records["conda"].read_text())
    assert {d.split()[0] for d in conda_record["depends"]} - {"python"} <= set(records), "every dependency installed"
    assert {"python", "pip", "mamba", "ca-certificates"} <= set(records)
    assert conda(base, "--version", env=env).stdout.strip() == f"conda {build.CONDA_VERSION}"
    info = conda_json(base, "info", env=env)
    assert info["root_prefix"] == str(base) and info["conda_version"] == build.CONDA_VERSION
    assert info["solver"]["name"] == "classic" if isinstance(info.get("solver"), dict) else True
    # mamba is a labelled stand-in: present, with a version, and nothing more.
    assert conda(base, "--version", env=env, tool="mamba").stdout.strip() == build.MAMBA_VERSION
    refused = conda(base, "create", "-n", "x", env=env, tool="mamba", check=False)
    assert refused.returncode == 2 and "TEST DOUBLE" in refused.stderr


def test_shell_integration_is_what_conda_itself_writes(base, env):
    ours = (base / "etc" / "profile.d" / "conda.sh").read_text()
    theirs = conda(base, "shell.posix", "hook", env=env).stdout
    # conda's hook adds the auto-activation of base and names the interpreter it runs under.
    theirs = theirs.replace("\nconda activate 'base'\n", "")
    theirs = re.sub(r"CONDA_PYTHON_EXE='[^']*'", "CONDA_PYTHON_EXE=X", theirs)
    assert re.sub(r"CONDA_PYTHON_EXE='[^']*'", "CONDA_PYTHON_EXE=X", ours).strip() == theirs.strip()
    activated = subprocess.run(
        ["bash", "-c", f". {base}/etc/profile.d/conda.sh && conda activate base && echo $CONDA_PREFIX"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert activated.stdout.strip() == str(base)


def test_installer_upgrade_in_place(upstream, server, tmp_path, env):
    prefix = tmp_path / "conda"
    subprocess.run(["bash", str(installer(upstream)), "-b", "-p", str(prefix)], check=True, capture_output=True)
    new_version, new_pins = build.INSTALLERS[1]
    subprocess.run(
        ["bash", str(installer(upstream, new_version)), "-b", "-u", "-p", str(prefix)], check=True, capture_output=True
    )
    configure(prefix, server)
    listed = {p["name"]: p["version"] for p in conda_json(prefix, "list", "-p", str(prefix), env=env)}
    assert listed["ca-certificates"] == new_pins["ca-certificates"]
    assert conda(prefix, "--version", env=env).stdout.strip() == f"conda {build.CONDA_VERSION}"


def test_miniconda_base_gets_mamba_from_the_channel(upstream, server, tmp_path, env):
    prefix = tmp_path / "miniconda"
    script = upstream / "releases" / "miniconda" / f"Miniconda3-{build.MINICONDA[0]}-Linux-x86_64.sh"
    subprocess.run(["bash", str(script), "-b", "-p", str(prefix)], check=True, capture_output=True)
    configure(prefix, server)
    assert not (prefix / "bin" / "mamba").exists()
    conda_json(prefix, "install", "--name", "base", "--yes", "mamba", env=env)
    assert conda(prefix, "--version", env=env, tool="mamba").stdout.strip() == build.MAMBA_VERSION


# ----------------------------------------------------------------------------- real conda against the channel


def test_create_over_http_and_lock_roundtrip(base, env, server, tmp_path):
    first = tmp_path / "first"
    result = conda_json(base, "create", "-y", "-p", str(first), f"python={PY}", "numpy", "pandas", env=env)
    assert result["success"] is True
    linked = {p["name"] for p in result["actions"]["LINK"]}
    assert {"python", "numpy", "pandas", "pip"} <= linked, "conda adds pip with python"
    log = server["log"].read_text()
    assert "/conda-forge/linux-64/repodata.json 200" in log
    assert ".conda 200" in log, "packages must be downloaded from the upstream over HTTP"

    lock = tmp_path / "lock.txt"
    lock.write_text(conda(base, "list", "--explicit", "--md5", "-p", str(first), env=env).stdout)
    assert "@EXPLICIT" in lock.read_text()
    second = tmp_path / "second"
    created = conda(base, "create", "-y", "--json", "-p", str(second), "--file", str(lock), env=env)
    assert created.stdout.strip() == "", "real conda prints nothing for an explicit lock"
    assert conda_json(base, "list", "-p", str(first), env=env) == conda_json(base, "list", "-p", str(second), env=env)

    interpreter = subprocess.run(
        [str(first / "bin" / "python"), "-c", "import sys, numpy; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert interpreter.stdout.strip() == str(first), "the env's python must be a working interpreter of the env"


def test_cuda_variant_follows_the_virtual_package(base, env, tmp_path):
    def torch_build(override: str, name: str) -> str:
        result = conda_json(
            base, "create", "-y", "-p", str(tmp_path / name), f"python={PY}", "pytorch",
            env={**env, "CONDA_OVERRIDE_CUDA": override},
        )  # fmt: skip
        return next(p["build_string"] for p in result["actions"]["LINK"] if p["name"] == "pytorch")

    assert torch_build("", "cpu").startswith("cpu"), "no __cuda: the CUDA build depends on it"
    assert torch_build("12.4", "gpu").startswith("cuda124")
    # The classic solver does not apply cuda-version's run_constrained on __cuda (see the
    # vendor README), so an older driver is refused by the shared_envs role, not here.


def test_errors_name_what_went_wrong_and_leave_nothing(base, env, tmp_path):
    target = tmp_path / "never"
    err = conda_error(base, "create", "-y", "-p", str(target), "no-such-package", env=env)
    assert err["exception_name"] == "PackagesNotFoundInChannelsError"
    assert err["packages"] == ["no-such-package"] and "conda-forge" in err["channels_formatted"]
    err = conda_error(base, "create", "-y", "-p", str(target), "numpy>=2", "numba=0.58.1", f"python={PY}", env=env)
    assert err["exception_name"] == "UnsatisfiableError" and "numba" in err["message"]
    dead = f"http://127.0.0.1:{free_port()}"
    err = conda_error(base, "create", "-y", "-p", str(target), "--override-channels", "-c", f"{dead}/conda-forge",
                      "numpy", env=env)  # fmt: skip
    assert err["exception_name"] == "CondaHTTPError" and err["status_code"] == "000" and err["url"].startswith(dead)
    assert not target.exists()

    existing = tmp_path / "existing"
    conda_json(base, "create", "-y", "-p", str(existing), f"python={PY}", "numpy=1.26", env=env)
    before = conda_json(base, "list", "-p", str(existing), env=env)
    err = conda_error(base, "install", "-y", "-p", str(existing), "numba=0.58.1", "numpy>=2", env=env)
    assert err["exception_name"] == "UnsatisfiableError"
    err = conda_error(base, "remove", "-y", "-p", str(existing), "no-such-package", env=env)
    assert err["exception_name"] == "PackagesNotFoundInPrefixError"
    assert conda_json(base, "list", "-p", str(existing), env=env) == before


def test_lock_with_a_wrong_md5_is_refused_with_both_checksums(base, env, tmp_path):
    good = tmp_path / "good"
    conda_json(base, "create", "-y", "-p", str(good), f"python={PY}", "six", env=env)
    lock = conda(base, "list", "--explicit", "--md5", "-p", str(good), env=env).stdout
    url, md5 = next(line for line in lock.splitlines() if "/six-" in line).split("#")
    bad = tmp_path / "bad.txt"
    bad.write_text(lock.replace(f"{url}#{md5}", f"{url}#{'0' * 32}"))
    err = conda_error(base, "create", "-y", "-p", str(tmp_path / "x"), "--file", str(bad),
                      env={**env, "CONDA_PKGS_DIRS": str(tmp_path / "pkgs")})  # fmt: skip
    assert err["exception_name"] == "CondaMultiError" and "message" not in err
    mismatch = err["errors"][0]
    assert mismatch["exception_name"] == "ChecksumMismatchError"
    assert (mismatch["expected_checksum"], mismatch["actual_checksum"]) == ("0" * 32, md5)
    assert not (tmp_path / "x").exists()


def test_condarc_rules(base, env, tmp_path):
    sysdir = base / "condarc.d"
    (sysdir / "pinned.yml").write_text("channel_priority: strict  #!final\nssl_verify: true\n")
    try:
        user = tmp_path / "user.yml"
        user.write_text("channel_priority: disabled\nssl_verify: false\n")
        shown = conda_json(base, "config", "--show", env={**env, "CONDARC": str(user)})
        assert shown["channel_priority"] == "strict", "a #!final key was overridden by a later file"
        assert shown["ssl_verify"] is False, "a key without #!final must stay overridable"
        assert isinstance(shown["channel_alias"], dict), "config --show gives Channel objects for channel_alias"
        ignored = tmp_path / "user.rc"  # $CONDARC only counts for .condarc, condarc, *.yml and *.yaml
        ignored.write_text(user.read_text())
        shown = conda_json(base, "config", "--show", env={**env, "CONDARC": str(ignored)})
        assert shown["ssl_verify"] is True
    finally:
        (sysdir / "pinned.yml").unlink()


def test_allowlist_refuses_other_channels(base, env, tmp_path):
    (Path(env["HOME"]) / ".condarc").write_text(yaml.safe_dump({"allowlist_channels": ["conda-forge"]}))
    err = conda_error(base, "create", "-y", "-p", str(tmp_path / "x"), "-c", "bioconda", "numpy", env=env)
    assert err["exception_name"] == "ChannelNotAllowed" and err["channel_name"] == "bioconda"


def test_environment_yml_with_a_pip_section(base, env, server, tmp_path):
    spec = tmp_path / "environment.yml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "demo",
                "channels": ["conda-forge"],
                "dependencies": [
                    f"python={PY}",
                    "six",
                    "pip",
                    {"pip": [f"--index-url {server['url']}/pypi/simple", "--trusted-host 127.0.0.1", "traitlets"]},
                ],
            }
        )
    )
    target = tmp_path / "fromfile"
    conda(base, "env", "create", "-y", "-p", str(target), "-f", str(spec), env=env)
    assert {"python", "six", "pip"} <= {p["name"] for p in conda_json(base, "list", "-p", str(target), env=env)}
    dist = next((target / "lib" / f"python{PY}" / "site-packages").glob("traitlets-*.dist-info"))
    assert (dist / "INSTALLER").read_text().strip() == "pip"
    assert "/pypi/files/traitlets-" in server["log"].read_text()
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
        filename, digest = href.split('"')[0].removeprefix("../../files/").partition("#sha256=")[::2]
        wheel = upstream / "pypi" / "files" / filename
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == digest, pin


def test_missing_conda_source_names_the_file_and_where_it_comes_from(monkeypatch, tmp_path):
    monkeypatch.setattr(build, "_candidate_sources", lambda: [tmp_path / build.CONDA_SOURCE_NAME])
    with pytest.raises(SystemExit) as stop:
        build.find_conda_source()
    message = str(stop.value)
    assert build.CONDA_SOURCE_NAME in message and "github.com/conda/conda" in message
    assert build.CONDA_SOURCE_SHA256 in message and "HPCENV_CONDA_SOURCE" in message


# ----------------------------------------------------------------------------- the MatchSpec table


def test_the_matchspec_table_is_what_the_real_conda_answers(base, env):
    """Every row of the match spec table that the unit tests replay (fixtures/matchspec/cases.yaml),
    asked of conda itself with the collection's own _matchspec.SCRIPT."""
    rows = matchspec_double.TABLE
    answers = matchspec_table.real_answers(base, rows, env)
    differing = [(r["spec"], r["record"], matchspec_table.recorded(r), a) for r, a in zip(rows, answers)
                 if matchspec_table.recorded(r) != a]  # fmt: skip
    assert not differing, f"the table says, conda answers: {differing}"
