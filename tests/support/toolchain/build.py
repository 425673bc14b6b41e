"""TEST DOUBLE builder: the local origin conda channel and Miniforge-style installers.

    python -m tests.support.toolchain.build [--out DIR] [--force]

Builds, from tests/support/packages.yml and with py-rattler-build + py-rattler:

    DIR/upstream/conda-forge/{linux-64,noarch}/   a real conda channel (.conda/.tar.bz2 + repodata.json)
    DIR/upstream/releases/miniforge/<ver>/Miniforge3-<ver>-Linux-x86_64.sh(.sha256)
    DIR/upstream/releases/miniconda/Miniconda3-<ver>-Linux-x86_64.sh(.sha256)   (no mamba inside)
    DIR/upstream/checksums.json                   installer file name -> SHA256
    DIR/upstream/pypi/simple/<project>/           a PEP 503 index of the wheels in wheels.txt
    DIR/upstream/pypi/files/*.whl                 (downloaded once into DIR/wheels)

DIR/upstream is what the "upstream" container serves (toolchain/serve.py): it
stands in for conda.anaconda.org and for the Miniforge release downloads.

What is real in it: `conda` is the real conda, packaged from its released source
(../shared/vendor/conda-<version>-src.tar.gz, see find_conda_source), and every
package conda needs is the real project: PyPI wheels (`wheel: true` in
packages.yml), or a wheel built from PyPI's source distribution inside the node
image of the Python it is for (`sdist: true`: pycosat, which PyPI ships only as
source). The installers lay these down as a real base prefix. `mamba` is a
labelled stand-in (DESIGN.md section 4). Other packages are small stand-ins of
conda-forge's with real metadata (see README.md beside packages.yml).

The build is cached: it is redone only when an input changes (package list,
wheel list, this directory, the conda source, the py-rattler version). Each
build is also kept in this machine's cache ($HPCENV_TOOLCHAIN_CACHE, default
~/.cache/hpcenv-gpu-cluster/toolchain/<inputs digest>/, the last two builds), so
a fresh clone on a machine that built the same inputs copies it instead of
building again, as the node images are reused across clones.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import rattler
import rattler_build
import yaml

SUPPORT = Path(__file__).resolve().parents[1]
TOOLCHAIN = SUPPORT / "toolchain"
ROOT = SUPPORT.parents[1]
DEFAULT_OUT = ROOT / ".cache" / "toolchain"
# Finished builds, shared by every checkout on this machine (keyed by the inputs' digest).
MACHINE_CACHE = Path(
    os.environ.get("HPCENV_TOOLCHAIN_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hpcenv-gpu-cluster" / "toolchain"
)
MACHINE_CACHE_KEEP = 2
TIMESTAMP = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)
CHANNEL_NAME = "conda-forge"

# The real conda, from its released source (vendored beside this repository).
CONDA_VERSION = "26.7.1"
CONDA_SOURCE_NAME = f"conda-{CONDA_VERSION}-src.tar.gz"
CONDA_SOURCE_SHA256 = "bb814455988b80771956c1adb852d981f5ec30507871bc668f669dc579ae36bf"
CONDA_SOURCE_URL = "https://github.com/conda/conda/archive/refs/tags/26.7.1.tar.gz"
MAMBA_VERSION = "2.1.1"
# Installers: (installer version, base packages pinned to a version). Two Miniforge
# builds of the same conda (as Miniforge's -0/-1 respins), to test upgrades.
INSTALLERS = [
    ("26.7.1-0", {"conda": CONDA_VERSION, "mamba": MAMBA_VERSION, "ca-certificates": "2024.8.30"}),
    ("26.7.1-1", {"conda": CONDA_VERSION, "mamba": MAMBA_VERSION, "ca-certificates": "2024.12.14"}),
]
# A Miniconda-style installer: conda without mamba (the conda role adds mamba from the channel).
MINICONDA = ("py311_26.7.1-0", {"conda": CONDA_VERSION, "ca-certificates": "2024.12.14"})
# Every base also gets Python (the node's version, chosen when the installer runs) and pip.
BASE_ALWAYS = ["pip"]
# conda-build's classic prefix placeholder: replaced by the target prefix when a file is linked.
PREFIX_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
# Node images whose Python a `sdist: true` package is built for (tests/harness/images).
NODE_IMAGES = {"3.11": "localhost/hpcenv-node:bookworm", "3.13": "localhost/hpcenv-node:trixie"}
# Wheels fetched (pip download) or built (sdist, one node image each) at the same time.
FETCH_WORKERS = 4


def _rattler_version() -> str:
    from importlib.metadata import version

    return version("py-rattler")


# --------------------------------------------------------------------------- conda's source


def _candidate_sources() -> list[Path]:
    """Where the vendored conda source may be: $HPCENV_CONDA_SOURCE, a `shared/vendor` folder beside
    this checkout or one of its parents (or beside the checkout it was cloned from), .cache/toolchain."""
    found = []
    if os.environ.get("HPCENV_CONDA_SOURCE"):
        found.append(Path(os.environ["HPCENV_CONDA_SOURCE"]))
    bases = [ROOT, *ROOT.parents]
    origin = subprocess.run(
        ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if origin and "://" not in origin and ":" not in origin.split("/")[0] and Path(origin).is_dir():
        bases += [Path(origin).resolve(), *Path(origin).resolve().parents]
    found += [base / "shared" / "vendor" / CONDA_SOURCE_NAME for base in bases]
    found.append(DEFAULT_OUT / "vendor" / CONDA_SOURCE_NAME)
    return found


def find_conda_source() -> Path:
    """The vendored conda source archive, checked against its SHA256; stops with where to get it."""
    for path in _candidate_sources():
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != CONDA_SOURCE_SHA256:
                raise SystemExit(f"{path} has SHA256 {digest}, expected {CONDA_SOURCE_SHA256}: not the vendored conda")
            return path
    raise SystemExit(
        f"The offline toolchain needs the real conda's source, {CONDA_SOURCE_NAME} (SHA256 {CONDA_SOURCE_SHA256}),"
        f" and found it in none of: {', '.join(str(p) for p in _candidate_sources())}.\n"
        f"It is conda's release {CONDA_VERSION} (BSD-3-Clause) from github.com/conda/conda, tag {CONDA_VERSION}: "
        f"`git archive --format=tar --prefix=conda-{CONDA_VERSION}/ {CONDA_VERSION} conda pyproject.toml README.md "
        f"LICENSE | gzip -n -9 > {CONDA_SOURCE_NAME}` in a clone of it ({CONDA_SOURCE_URL} holds the same tree), "
        "then put the file in one of those places or point HPCENV_CONDA_SOURCE at it."
    )


def _inputs_digest() -> str:
    h = hashlib.sha256()
    files = [
        SUPPORT / "packages.yml",
        SUPPORT / "wheels.txt",
        *sorted(TOOLCHAIN.glob("*.py")),
        TOOLCHAIN / "installer.sh",
    ]
    for f in files:
        h.update(f.relative_to(SUPPORT).as_posix().encode())
        h.update(f.read_bytes())
    h.update(CONDA_SOURCE_SHA256.encode())
    h.update(_rattler_version().encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- wheels


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_download(dest: Path, pins: list[str], python: str | None) -> None:
    """Binary wheels of `pins` into dest: pure ones (python None) or CPython `python` x86_64 ones."""
    if python is None:
        target = ["--platform", "any", "--python-version", "3.11", "--implementation", "py", "--abi", "none"]
    else:
        nodot = python.replace(".", "")
        platforms = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"]
        target = ["--python-version", python, "--implementation", "cp", "--abi", f"cp{nodot}"]
        target += [arg for p in platforms for arg in ("--platform", p)]
    for pin in pins:  # one by one: two versions of one project cannot share a pip run
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             *target, "-d", str(dest), pin],
            check=True,
        )  # fmt: skip


def _find_wheel(directory: Path, project: str, version: str) -> Path | None:
    for wheel in sorted(directory.glob("*.whl")):
        name, wversion = wheel.name.split("-")[:2]
        if _normalize(name) == _normalize(project) and wversion == version:
            return wheel
    return None


def _build_from_sdist(out: Path, project: str, version: str, python: str) -> None:
    """A CPython wheel of a project PyPI ships only as source, built in the node image of that Python."""
    image = NODE_IMAGES[python]
    if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
        raise SystemExit(
            f"building {project} {version} for Python {python} needs {image}: run tests/harness/build-image"
        )
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary=:all:", "-d", tmp,
             f"{project}=={version}"],
            check=True,
        )  # fmt: skip
        (sdist,) = Path(tmp).iterdir()
        script = (
            "set -e; export DEBIAN_FRONTEND=noninteractive; "
            # the image's package lists (tests/harness/build-image), unless more than an hour old
            '[ -n "$(find /var/lib/apt/lists -maxdepth 0 -mmin -60)" ] || apt-get update -qq; '
            "apt-get install -y -qq --no-install-recommends gcc libc6-dev python3-dev python3-setuptools "
            "python3-wheel python3-pip >/dev/null; "
            f"python3 -m pip wheel --quiet --no-deps --no-build-isolation --use-pep517 /src/{sdist.name} -w /out"
        )
        subprocess.run(
            ["podman", "run", "--rm", "-v", f"{tmp}:/src:ro", "-v", f"{out}:/out", image, "sh", "-c", script],
            check=True,
        )


def channel_wheels(spec: dict, cache: Path) -> dict:
    """(package name, version, python or None) -> wheel file, for every wheel/sdist package of packages.yml.

    The missing wheels are fetched side by side: each pip download is mostly its own start-up
    and a round trip to the index, and each sdist build mostly waits for apt in its node image.
    """
    wanted = []
    for pkg in spec["packages"]:
        if not (pkg.get("wheel") or pkg.get("sdist")):
            continue
        project = pkg.get("pypi", pkg["name"])
        for python in spec["pythons"] if pkg.get("python") else [None]:
            directory = cache / (f"cp{python.replace('.', '')}" if python else "pure")
            directory.mkdir(parents=True, exist_ok=True)
            wanted += [(pkg, project, version, python, directory) for version in pkg["versions"]]

    def fetch(pkg: dict, project: str, version: str, python: str | None, directory: Path) -> None:
        if pkg.get("sdist"):
            _build_from_sdist(directory, project, version, python)
        else:
            _pip_download(directory, [f"{project}=={version}"], python)

    missing = [item for item in wanted if _find_wheel(item[4], item[1], item[2]) is None]
    with concurrent.futures.ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
        for future in [pool.submit(fetch, *item) for item in missing]:
            future.result()
    found = {}
    for pkg, project, version, python, directory in wanted:
        wheel = _find_wheel(directory, project, version)
        if wheel is None:
            raise SystemExit(f"no wheel of {project} {version} for {python or 'any Python'} in {directory}")
        found[(pkg["name"], version, python)] = wheel
    return found


def _pins() -> list[str]:
    lines = (SUPPORT / "wheels.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _pin_of(wheel: Path) -> str:
    """name==version of a wheel file, as wheels.txt writes it."""
    name, version = wheel.name.split("-")[:2]
    return f"{_normalize(name)}=={version}"


def download_wheels(wheels: Path) -> list[Path]:
    """Fetch the index's pinned wheels (binary only, CPython 3.11 x86_64) unless already cached."""
    wheels.mkdir(parents=True, exist_ok=True)
    wanted = set(_pins())
    if not wanted <= {_pin_of(f) for f in wheels.glob("*.whl")}:
        platforms = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "any"]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
             *[arg for p in platforms for arg in ("--platform", p)],
             "-d", str(wheels), *sorted(wanted)],
            check=True,
        )  # fmt: skip
    return sorted(f for f in wheels.glob("*.whl") if _pin_of(f) in wanted)


def build_wheel_index(files: list[Path], pypi: Path) -> None:
    """A PEP 503 "simple" index: pypi/simple/<project>/index.html linking pypi/files/<wheel>#sha256=..."""
    (pypi / "files").mkdir(parents=True, exist_ok=True)
    projects: dict[str, list[str]] = {}
    for wheel in files:
        shutil.copy2(wheel, pypi / "files" / wheel.name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        link = f'<a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a><br>'
        projects.setdefault(_normalize(wheel.name.split("-")[0]), []).append(link)
    page = "<!DOCTYPE html>\n<html><body>\n{}\n</body></html>\n"
    for project, links in projects.items():
        _write(pypi / "simple" / project / "index.html", page.format("\n".join(links)))
    top = [f'<a href="{p}/">{p}</a><br>' for p in sorted(projects)]
    _write(pypi / "simple" / "index.html", page.format("\n".join(top)))


# --------------------------------------------------------------------------- channel


def _fmt(spec: str, **values: str) -> str:
    for key, value in values.items():
        spec = spec.replace("{" + key + "}", value)
    return spec


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _module_files(stage: Path, site: str, module: str, name: str, version: str, extra: dict) -> None:
    lines = [
        f'"""{name} {version}: TEST DOUBLE package from the offline origin channel."""',
        f'__version__ = "{version}"',
    ]
    lines += [f"{key} = {value!r}" for key, value in extra.items()]
    _write(stage / site / module / "__init__.py", "\n".join(lines) + "\n")
    if module == "torch":
        _write(stage / site / module / "version.py", f'__version__ = "{version}"\ncuda = {extra.get("cuda")!r}\n')
        init = stage / site / module / "__init__.py"
        init.write_text(init.read_text() + "from . import version  # noqa: E402\n")


def _unpack_wheel(wheel: Path, site: Path) -> None:
    """A wheel's files into site-packages, as pip lays them out (its *.data/ parts are not needed here)."""
    with zipfile.ZipFile(wheel) as whl:
        whl.extractall(site)  # noqa: S202 - zipfile drops ".." and absolute names
    for data in site.glob("*.data"):
        shutil.rmtree(data)
    for dist_info in site.glob("*.dist-info"):
        (dist_info / "INSTALLER").write_text("conda\n")  # as conda-forge's packages built with pip say


# conda's shell integration, as `conda init --install` writes it into a prefix
# (conda/core/initialize.py: make_entry_point() for condabin/conda,
# install_conda_sh() = PosixActivator().hook() for etc/profile.d/conda.sh), with
# the prefix placeholder that linking replaces by the real prefix.
CONDABIN_CONDA = f"""#!{PREFIX_PLACEHOLDER}/bin/python
# -*- coding: utf-8 -*-
import sys
# Before any more imports, leave cwd out of sys.path for internal 'conda shell.*' commands.
# see https://github.com/conda/conda/issues/6549
if len(sys.argv) > 1 and sys.argv[1].startswith('shell.') and sys.path and sys.path[0] == '':
    # The standard first entry in sys.path is an empty string,
    # and os.path.abspath('') expands to os.getcwd().
    del sys.path[0]

if __name__ == '__main__':
    from conda.cli import main
    sys.exit(main())
"""
CONDA_SH_PREAMBLE = (
    f"export CONDA_EXE='{PREFIX_PLACEHOLDER}/bin/conda'\n"
    f"export _CONDA_EXE='{PREFIX_PLACEHOLDER}/bin/conda'\n"
    "export _CE_M=''\n"
    "export _CE_CONDA=''\n"
    f"export CONDA_PYTHON_EXE='{PREFIX_PLACEHOLDER}/bin/python'\n"
    f"export _CONDA_ROOT='{PREFIX_PLACEHOLDER}'\n"
)

MAMBA_STANDIN = """#!/bin/sh
# TEST DOUBLE: a stand-in for mamba {version} (DESIGN.md section 4). The real mamba 2
# is a C++ program that cannot be built or fetched offline; hpcenv.gpu_cluster
# drives conda, so this only proves that mamba is present and which version.
case "${{1:-}}" in
    --version|-V) echo "{version}"; exit 0 ;;
esac
echo "mamba {version} (TEST DOUBLE stand-in): only --version is answered; use conda" >&2
exit 2
"""


def _stage_conda(stage: Path, source: Path) -> None:
    """The real conda: its source package in site-packages, its shell integration, a dist-info."""
    with tarfile.open(source) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(f"conda-{CONDA_VERSION}/conda/")]
        tar.extractall(stage / "src", members=members, filter="data")
    site = stage / "site-packages"
    shutil.move(str(stage / "src" / f"conda-{CONDA_VERSION}" / "conda"), site / "conda")
    shutil.rmtree(stage / "src")
    # What hatch-vcs writes at build time.
    _write(site / "conda" / "_version.py", f'__version__ = version = "{CONDA_VERSION}"\n')
    info = site / f"conda-{CONDA_VERSION}.dist-info"
    _write(info / "METADATA", f"Metadata-Version: 2.1\nName: conda\nVersion: {CONDA_VERSION}\n")
    _write(info / "INSTALLER", "conda\n")
    _write(info / "entry_points.txt", "[console_scripts]\nconda = conda.cli:main\n")
    _write(stage / "condabin" / "conda", CONDABIN_CONDA, 0o755)
    hook = (site / "conda" / "shell" / "etc" / "profile.d" / "conda.sh").read_text()
    _write(stage / "etc" / "profile.d" / "conda.sh", CONDA_SH_PREAMBLE + "\n" + hook)


def _patch_tarbz2(package: Path, link: dict | None, placeholders: list[str]) -> None:
    """Add info/link.json (noarch entry points) and prefix placeholders to a .tar.bz2 package."""
    with tarfile.open(package, "r:bz2") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:bz2") as tar:
        for member, content in members:
            data = content
            if member.name == "info/paths.json":
                paths = json.loads(content)
                for entry in paths["paths"]:
                    if entry["_path"] in placeholders:
                        entry.update(prefix_placeholder=PREFIX_PLACEHOLDER, file_mode="text")
                data = json.dumps(paths, indent=2, sort_keys=True).encode()
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
        extra = {"info/link.json": json.dumps(link, indent=2, sort_keys=True)} if link else {}
        if placeholders:
            extra["info/has_prefix"] = "".join(f"{PREFIX_PLACEHOLDER} text {p}\n" for p in placeholders)
        for name, text in extra.items():
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size, member.mtime, member.mode = len(data), int(TIMESTAMP.timestamp()), 0o644
            tar.addfile(member, io.BytesIO(data))
    package.write_bytes(out.getvalue())


def _stage_package(stage: Path, pkg: dict, version: str, build: str, minor: str | None, extra: dict, inputs: dict):
    name = pkg["name"]
    if pkg.get("wheel") or pkg.get("sdist"):
        # The real project, unpacked from its wheel (noarch: python layout, or the Python's own).
        site = stage / ("site-packages" if pkg.get("noarch") == "python" else f"lib/python{minor}/site-packages")
        _unpack_wheel(inputs["wheels"][(name, version, minor)], site)
        return
    if pkg.get("source") == "conda":
        _stage_conda(stage, inputs["conda_source"])
        return
    # A stand-in: it says which build it is, for tests to see exactly what landed.
    _write(stage / "share" / "origin" / name / f"{version}-{build}", f"{name} {version} {build}\n")
    if pkg.get("interpreter"):
        nodot_minor = version.rsplit(".", 1)[0]
        bindir = stage / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        (bindir / f"python{nodot_minor}").symlink_to(f"/usr/bin/python{nodot_minor}")
        (bindir / "python3").symlink_to(f"python{nodot_minor}")
        (bindir / "python").symlink_to(f"python{nodot_minor}")
        _write(
            stage / "pyvenv.cfg",
            f"home = /usr/bin\ninclude-system-site-packages = false\nversion = {version}\n",
        )
        _write(stage / "lib" / f"python{nodot_minor}" / "site-packages" / "README.origin", "site-packages\n")
    if pkg.get("standin") == "mamba":
        _write(stage / "bin" / "mamba", MAMBA_STANDIN.format(version=version), 0o755)
        return
    module = pkg.get("module", name.replace("-", "_"))
    if pkg.get("noarch") == "python":
        _module_files(stage, "site-packages", module, name, version, extra)
    elif pkg.get("python"):
        _module_files(stage, f"lib/python{minor}/site-packages", module, name, version, extra)


def _builds(pkg: dict, pythons: list[str]):
    """Yield (version, build_string, build_number, depends, constrains, minor, extra) per build."""
    for version in pkg["versions"]:
        variants = pkg.get("variants") or [{"build_prefix": "h0", "build_number": 0, "depends": []}]
        for variant in variants:
            minors = pythons if pkg.get("python") else [None]
            for minor in minors:
                values = {"version": version}
                depends = [_fmt(d, **values) for d in pkg.get("depends", [])]
                depends += variant.get("depends", [])
                number = variant.get("build_number", 0)
                if minor:
                    nodot = minor.replace(".", "")
                    build = f"{variant['build_prefix']}_py{nodot}_{number}"
                    depends += [f"python {minor}.*", f"python_abi {minor}.* *_cp{nodot}"]
                elif pkg.get("build"):
                    nodot = version.replace(".", "")
                    build = _fmt(pkg["build"], nodot=nodot)
                elif pkg.get("interpreter"):
                    vminor = version.rsplit(".", 1)[0]
                    nodot = vminor.replace(".", "")
                    build = f"h_sys_{number}_cp{nodot}"
                    depends = [_fmt(d, minor=vminor, nodot=nodot) for d in depends]
                elif pkg.get("noarch") == "python":
                    build = f"pyh0_{number}"
                else:
                    build = f"{variant['build_prefix']}_{number}"
                if pkg.get("noarch") == "python" and not any(d.split()[0] == "python" for d in depends):
                    depends.append("python >=3.9")
                constrains = [_fmt(c, **values) for c in pkg.get("constrains", [])]
                extra = {"cuda": variant["cuda"]} if "cuda" in variant else {}
                yield version, build, number, depends, constrains, minor, extra


def build_channel(channel_dir: Path, inputs: dict) -> int:
    spec = yaml.safe_load((SUPPORT / "packages.yml").read_text())
    for subdir in ("linux-64", "noarch"):
        (channel_dir / subdir).mkdir(parents=True, exist_ok=True)
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in spec["packages"]:
            subdir = pkg.get("subdir", "linux-64")
            for version, build, number, depends, constrains, minor, extra in _builds(pkg, spec["pythons"]):
                stage = Path(tmp) / f"{pkg['name']}-{version}-{build}"
                _stage_package(stage, pkg, version, build, minor, extra, inputs)
                placeholders = ["condabin/conda", "etc/profile.d/conda.sh"] if pkg.get("source") == "conda" else []
                link = (
                    {"noarch": {"type": "python", "entry_points": pkg["entry_points"]}, "package_metadata_version": 1}
                    if pkg.get("entry_points")
                    else None
                )
                output = rattler_build.assemble_package(
                    name=pkg["name"],
                    version=version,
                    target_platform=subdir,
                    build_string=build,
                    output_dir=str(channel_dir / subdir),
                    files_dir=str(stage),
                    depends=depends,
                    constrains=constrains,
                    build_number=number,
                    noarch=pkg.get("noarch"),
                    license=pkg.get("license", "BSD-3-Clause"),
                    summary=pkg.get("summary", f"TEST DOUBLE of {pkg['name']} for hpcenv.gpu_cluster's offline tests"),
                    timestamp=TIMESTAMP,
                    compression_level=1,
                    detect_prefix=False,
                    # .tar.bz2 where link.json or prefix placeholders must be added afterwards
                    archive_type=rattler_build.ArchiveType.TarBz2
                    if (link or placeholders)
                    else rattler_build.ArchiveType.Conda,
                )
                if link or placeholders:
                    _patch_tarbz2(Path(output.path), link, placeholders)
                count += 1
    asyncio.run(rattler.index.index_fs(channel_dir, write_zst=False, write_shards=False, force=True))
    return count


# --------------------------------------------------------------------------- installers


def _records(channel_dir: Path) -> list:
    channel = rattler.Channel(channel_dir.as_uri())
    sparse = [
        rattler.SparseRepoData(channel, subdir, str(channel_dir / subdir / "repodata.json"))
        for subdir in ("linux-64", "noarch")
    ]
    return channel, sparse


def base_specs(pins: dict, python: str) -> list[str]:
    return [f"python {python}.*", *BASE_ALWAYS, *(f"{name} =={version}" for name, version in pins.items())]


def _base_channel(channel_dir: Path, dest: Path, pins: dict, pythons: list[str]) -> None:
    """The installer's own payload channel: the base packages for every supported Python, indexed."""
    sparse = _records(channel_dir)[1]
    wanted = set()
    for python in pythons:
        specs = [rattler.MatchSpec(s) for s in base_specs(pins, python)]
        solved = asyncio.run(rattler.solve_with_sparse_repodata(specs, sparse))
        wanted |= {record.file_name for record in solved}
    for subdir in ("linux-64", "noarch"):
        (dest / subdir).mkdir(parents=True, exist_ok=True)
        for pkg in (channel_dir / subdir).iterdir():
            if pkg.name in wanted:
                shutil.copy2(pkg, dest / subdir / pkg.name)
    asyncio.run(rattler.index.index_fs(dest, write_zst=False, write_shards=False, force=True))


def _vendor_rattler(dest: Path) -> None:
    """py-rattler (stripped) and the bootstrap step, for the node's own Python to link the base."""
    rattler_src = Path(rattler.__file__).parent
    shutil.copytree(rattler_src, dest / "rattler", ignore=shutil.ignore_patterns("__pycache__", "*.pyi"))
    for so in (dest / "rattler").glob("*.so"):
        if shutil.which("strip"):
            subprocess.run(["strip", "--strip-unneeded", str(so)], check=True)
    shutil.copy2(TOOLCHAIN / "bootstrap.py", dest / "bootstrap.py")


def build_installer(channel_dir: Path, target: Path, version: str, pins: dict, pythons: list[str]) -> Path:
    name = target.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "payload"
        _vendor_rattler(payload / "bootstrap")
        _base_channel(channel_dir, payload / "channel", pins, pythons)
        base = {"specs": {python: base_specs(pins, python) for python in pythons}}
        if "mamba" in pins:  # Miniforge's installer writes this .condarc into its base
            base["condarc"] = "channels:\n  - conda-forge\n"
        (payload / "base.json").write_text(json.dumps(base, indent=2))
        tarball = Path(tmp) / "payload.tar.gz"
        with tarfile.open(tarball, "w:gz", compresslevel=1) as tar:
            tar.add(payload, arcname=".")
        flavour = "Miniforge3" if "mamba" in pins else "Miniconda3"
        header = (TOOLCHAIN / "installer.sh").read_text()
        header = header.replace("@FLAVOUR@", flavour).replace("@VERSION@", version)
        header = header.replace("@PACKAGES@", " ".join(f"{n} {v}" for n, v in pins.items()))
        with target.open("wb") as out:
            out.write(header.encode())
            with tarball.open("rb") as src:
                shutil.copyfileobj(src, out)
    target.chmod(0o755)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    target.with_name(name + ".sha256").write_text(f"{digest}  {name}\n")
    return target


# --------------------------------------------------------------------------- entry point


def _from_machine_cache(digest: str, upstream: Path) -> bool:
    """Copy this machine's finished build of these inputs into upstream; False when there is none."""
    cached = MACHINE_CACHE / digest
    if not (cached / "complete").is_file():
        return False
    if upstream.exists():
        shutil.rmtree(upstream)
    shutil.copytree(cached / "upstream", upstream, symlinks=True)
    print(f"toolchain {digest}: copied from this machine's cache ({cached})", file=sys.stderr)
    return True


def _to_machine_cache(digest: str, upstream: Path) -> None:
    """Keep a copy of a finished build for other checkouts; drop all but the newest builds."""
    try:
        MACHINE_CACHE.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=MACHINE_CACHE))
        shutil.copytree(upstream, staging / "upstream", symlinks=True)
        (staging / "complete").write_text(digest + "\n")
        try:
            staging.rename(MACHINE_CACHE / digest)
        except OSError:  # another checkout stored the same build meanwhile
            shutil.rmtree(staging)
        builds = sorted(
            (d for d in MACHINE_CACHE.iterdir() if d.is_dir() and not d.name.startswith(".")),
            key=lambda d: d.stat().st_mtime,
            reverse=True,
        )
        for old in builds[MACHINE_CACHE_KEEP:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:  # the cache only saves time: a checkout's own build stands without it
        print(f"toolchain {digest}: not kept in {MACHINE_CACHE}: {exc}", file=sys.stderr)


def build(out: Path = DEFAULT_OUT, force: bool = False) -> Path:
    """Build (or reuse) the toolchain; returns the upstream directory to serve."""
    digest = _inputs_digest()
    upstream = out / "upstream"
    stamp = out / "inputs.sha256"
    if not force and stamp.exists() and stamp.read_text().strip() == digest and upstream.is_dir():
        return upstream
    if not force and _from_machine_cache(digest, upstream):
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n")
        return upstream
    spec = yaml.safe_load((SUPPORT / "packages.yml").read_text())
    inputs = {"conda_source": find_conda_source(), "wheels": channel_wheels(spec, out / "channel-wheels")}
    if upstream.exists():
        shutil.rmtree(upstream)
    channel_dir = upstream / CHANNEL_NAME
    wheels = download_wheels(out / "wheels")
    build_wheel_index(wheels, upstream / "pypi")
    count = build_channel(channel_dir, inputs)
    releases = upstream / "releases"
    for version, pins in INSTALLERS:
        target = releases / "miniforge" / version / f"Miniforge3-{version}-Linux-x86_64.sh"
        build_installer(channel_dir, target, version, pins, spec["pythons"])
    target = releases / "miniconda" / f"Miniconda3-{MINICONDA[0]}-Linux-x86_64.sh"
    build_installer(channel_dir, target, MINICONDA[0], MINICONDA[1], spec["pythons"])
    sums = {f.name[: -len(".sha256")]: f.read_text().split()[0] for f in sorted(releases.rglob("*.sha256"))}
    (upstream / "checksums.json").write_text(json.dumps(sums, indent=2, sort_keys=True) + "\n")
    summary = f"origin channel: {count} package builds; installers: {len(INSTALLERS) + 1}; wheels: {len(wheels)}"
    (upstream / "index.txt").write_text(summary + "\n")
    _to_machine_cache(digest, upstream)
    stamp.write_text(digest + "\n")
    return upstream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="rebuild even if the inputs did not change")
    args = parser.parse_args()
    print(build(args.out, args.force))


if __name__ == "__main__":
    main()
