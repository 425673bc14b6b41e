"""TEST DOUBLE builder: the local origin conda channel and Miniforge-style installers.

    python -m tests.support.toolchain.build [--out DIR] [--force]

Builds, from tests/support/packages.yml and with py-rattler-build + py-rattler:

    DIR/upstream/conda-forge/{linux-64,noarch}/   a real conda channel (.conda + repodata.json)
    DIR/upstream/releases/miniforge/<ver>/Miniforge3-<ver>-Linux-x86_64.sh(.sha256)
    DIR/upstream/releases/miniconda/Miniconda3-<ver>-Linux-x86_64.sh(.sha256)   (no mamba inside)
    DIR/upstream/checksums.json                   installer file name -> SHA256
    DIR/upstream/pypi/simple/<project>/           a PEP 503 index of the wheels in wheels.txt
    DIR/upstream/pypi/files/*.whl                 (downloaded once into DIR/wheels)

DIR/upstream is what the "upstream" container serves (toolchain/serve.py): it
stands in for conda.anaconda.org and for the Miniforge release downloads.
The build is cached: it is redone only when an input changes (package list,
wheel list, this file, the conda double, the installer template, the py-rattler
version). Packages marked `wheel: true` in packages.yml (pip) are real: their
files are the PyPI wheel's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
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
ROOT = SUPPORT.parents[1]
DEFAULT_OUT = ROOT / ".cache" / "toolchain"
TIMESTAMP = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)
CHANNEL_NAME = "conda-forge"
# Miniforge installer versions: (installer version, conda, mamba). Two, to test upgrades.
INSTALLERS = [("24.11.3-0", "24.11.3", "2.0.5"), ("25.3.1-0", "25.3.1", "2.1.1")]
# A Miniconda-style installer: conda without mamba (the conda role adds mamba from the channel).
MINICONDA = ("py311_24.11.1-0", "24.11.3")
# What the installer lays down in its base prefix (besides conda and mamba).
BASE_EXTRA = ["ca-certificates"]


def _inputs_digest() -> str:
    h = hashlib.sha256()
    files = [SUPPORT / "packages.yml", SUPPORT / "wheels.txt", Path(__file__), SUPPORT / "toolchain" / "installer.sh"]
    files += sorted((SUPPORT / "conda_double").rglob("*.py"))
    for f in files:
        h.update(f.relative_to(SUPPORT).as_posix().encode())
        h.update(f.read_bytes())
    h.update(_rattler_version().encode())
    return h.hexdigest()[:16]


def _rattler_version() -> str:
    from importlib.metadata import version

    return version("py-rattler")


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


def _launcher(flavour: str) -> str:
    return f"""#!/bin/sh
# TEST DOUBLE: {flavour} launcher of hpcenv.gpu_cluster's offline toolchain
# (tests/support/README.md). Real {flavour} is a native program; this one runs the
# conda-compatible CLI over py-rattler with the node's own Python.
root="$(cd "$(dirname "$0")/.." && pwd -L)"
CONDA_DOUBLE_ROOT="$root" CONDA_DOUBLE_FLAVOUR={flavour} \\
  PYTHONPATH="$root/lib/conda-double" exec /usr/bin/python3 -m conda_double "$@"
"""


CONDA_SH = """# TEST DOUBLE: etc/profile.d/conda.sh of the offline toolchain's conda.
# Defines the `conda` shell function with `activate`/`deactivate`, like conda's.
_conda_sh_root="$(cd "$(dirname "${BASH_SOURCE:-$0}")/../.." 2>/dev/null && pwd -L)"
export CONDA_EXE="$_conda_sh_root/bin/conda"
export CONDA_SHLVL="${CONDA_SHLVL:-0}"
conda() {
    case "${1:-}" in
        activate)
            _target="${2:-base}"
            case "$_target" in
                base) _target="$_conda_sh_root" ;;
                /*) ;;
                *) _target="$_conda_sh_root/envs/$_target" ;;
            esac
            if [ ! -d "$_target/conda-meta" ]; then
                echo "EnvironmentNameNotFound: Could not find conda environment: $2" >&2
                return 1
            fi
            [ -n "${CONDA_PREFIX:-}" ] && PATH="$(echo "$PATH" | sed "s#$CONDA_PREFIX/bin:##")"
            export PATH="$_target/bin:$PATH" CONDA_PREFIX="$_target" CONDA_DEFAULT_ENV="${2:-base}" CONDA_SHLVL=1
            ;;
        deactivate)
            [ -n "${CONDA_PREFIX:-}" ] && PATH="$(echo "$PATH" | sed "s#$CONDA_PREFIX/bin:##")"
            export PATH
            unset CONDA_PREFIX CONDA_DEFAULT_ENV
            export CONDA_SHLVL=0
            ;;
        *) "$CONDA_EXE" "$@" ;;
    esac
}
"""


def _stage_package(
    stage: Path, pkg: dict, version: str, build: str, minor: str | None, extra: dict, wheels: Path
) -> None:
    name = pkg["name"]
    _write(stage / "share" / "origin" / name / f"{version}-{build}", f"{name} {version} {build}\n")
    if pkg.get("wheel"):
        # The real project, unpacked from its PyPI wheel (noarch: python layout).
        found = sorted(wheels.glob(f"{name}-{version}-*.whl"))
        if not found:
            raise SystemExit(f"packages.yml: {name} {version} has wheel: true but wheels.txt does not pin it")
        with zipfile.ZipFile(found[0]) as whl:
            whl.extractall(stage / "site-packages")  # noqa: S202 - zipfile drops ".." and absolute names
        return
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
    if pkg.get("launcher") == "conda":
        _write(stage / "bin" / "conda", _launcher("conda"), 0o755)
        _write(stage / "condabin" / "conda", _launcher("conda"), 0o755)
        _write(stage / "etc" / "profile.d" / "conda.sh", CONDA_SH)
    if pkg.get("launcher") == "mamba":
        _write(stage / "bin" / "mamba", _launcher("mamba"), 0o755)
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
                else:
                    build = f"{variant['build_prefix']}_{number}"
                if pkg.get("noarch") == "python":
                    depends.append("python >=3.9")
                constrains = [_fmt(c, **values) for c in pkg.get("constrains", [])]
                extra = {"cuda": variant["cuda"]} if "cuda" in variant else {}
                yield version, build, number, depends, constrains, minor, extra


def build_channel(channel_dir: Path, wheels: Path) -> int:
    spec = yaml.safe_load((SUPPORT / "packages.yml").read_text())
    for subdir in ("linux-64", "noarch"):
        (channel_dir / subdir).mkdir(parents=True, exist_ok=True)
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in spec["packages"]:
            subdir = pkg.get("subdir", "linux-64")
            for version, build, number, depends, constrains, minor, extra in _builds(pkg, spec["pythons"]):
                stage = Path(tmp) / f"{pkg['name']}-{version}-{build}"
                _stage_package(stage, pkg, version, build, minor, extra, wheels)
                rattler_build.assemble_package(
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
                    license="BSD-3-Clause",
                    summary=f"TEST DOUBLE of {pkg['name']} for hpcenv.gpu_cluster's offline tests",
                    timestamp=TIMESTAMP,
                    compression_level=1,
                    detect_prefix=False,
                )
                count += 1
    asyncio.run(rattler.index.index_fs(channel_dir, write_zst=False, write_shards=False, force=True))
    return count


# --------------------------------------------------------------------------- wheel index


def _pins() -> list[str]:
    lines = (SUPPORT / "wheels.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pin_of(wheel: Path) -> str:
    """name==version of a wheel file, as wheels.txt writes it."""
    name, version = wheel.name.split("-")[:2]
    return f"{_normalize(name)}=={version}"


def download_wheels(wheels: Path) -> list[Path]:
    """Fetch the pinned wheels (binary only, CPython 3.11 x86_64) unless already cached."""
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


# --------------------------------------------------------------------------- installers


def _vendor_runtime(dest: Path) -> None:
    """Copy the conda double and a stripped py-rattler into dest (lib/conda-double)."""
    shutil.copytree(SUPPORT / "conda_double", dest / "conda_double", ignore=shutil.ignore_patterns("__pycache__"))
    rattler_src = Path(rattler.__file__).parent
    # PyYAML's pure-Python part: the nodes' Python has no yaml module.
    shutil.copytree(Path(yaml.__file__).parent, dest / "yaml", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copytree(rattler_src, dest / "rattler", ignore=shutil.ignore_patterns("__pycache__", "*.pyi"))
    for so in (dest / "rattler").glob("*.so"):
        if shutil.which("strip"):
            subprocess.run(["strip", "--strip-unneeded", str(so)], check=True)


def _base_channel(channel_dir: Path, dest: Path, conda_version: str, mamba_version: str | None) -> None:
    """The installer's own payload channel: exactly the base packages, indexed."""
    wanted = {"conda": conda_version, "mamba": mamba_version}
    for subdir in ("linux-64", "noarch"):
        (dest / subdir).mkdir(parents=True, exist_ok=True)
        for pkg in (channel_dir / subdir).glob("*.conda"):
            name, version, _build = pkg.name[: -len(".conda")].rsplit("-", 2)
            if wanted.get(name) == version or name in BASE_EXTRA:
                shutil.copy2(pkg, dest / subdir / pkg.name)
    asyncio.run(rattler.index.index_fs(dest, write_zst=False, write_shards=False, force=True))


def build_installer(
    channel_dir: Path, target: Path, version: str, conda_version: str, mamba_version: str | None
) -> Path:
    name = target.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "payload"
        _vendor_runtime(payload / "lib" / "conda-double")
        _base_channel(channel_dir, payload / "pkgs" / "installer-channel", conda_version, mamba_version)
        specs = [f"conda =={conda_version}", *BASE_EXTRA] + ([f"mamba =={mamba_version}"] if mamba_version else [])
        (payload / "pkgs" / "installer-channel" / "base-specs.json").write_text(json.dumps(specs))
        tarball = Path(tmp) / "payload.tar.gz"
        with tarfile.open(tarball, "w:gz", compresslevel=1) as tar:
            tar.add(payload, arcname=".")
        header = (SUPPORT / "toolchain" / "installer.sh").read_text()
        header = header.replace("@VERSION@", version).replace("@CONDA_VERSION@", conda_version)
        header = header.replace("@MAMBA_VERSION@", mamba_version or "none")
        if not mamba_version:
            header = header.replace("Miniforge3", "Miniconda3")
        with target.open("wb") as out:
            out.write(header.encode())
            with tarball.open("rb") as src:
                shutil.copyfileobj(src, out)
    target.chmod(0o755)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    target.with_name(name + ".sha256").write_text(f"{digest}  {name}\n")
    return target


# --------------------------------------------------------------------------- entry point


def build(out: Path = DEFAULT_OUT, force: bool = False) -> Path:
    """Build (or reuse) the toolchain; returns the upstream directory to serve."""
    digest = _inputs_digest()
    upstream = out / "upstream"
    stamp = out / "inputs.sha256"
    if not force and stamp.exists() and stamp.read_text().strip() == digest and upstream.is_dir():
        return upstream
    if upstream.exists():
        shutil.rmtree(upstream)
    channel_dir = upstream / CHANNEL_NAME
    wheels = download_wheels(out / "wheels")
    build_wheel_index(wheels, upstream / "pypi")
    count = build_channel(channel_dir, out / "wheels")
    releases = upstream / "releases"
    for version, conda_version, mamba_version in INSTALLERS:
        target = releases / "miniforge" / version / f"Miniforge3-{version}-Linux-x86_64.sh"
        build_installer(channel_dir, target, version, conda_version, mamba_version)
    target = releases / "miniconda" / f"Miniconda3-{MINICONDA[0]}-Linux-x86_64.sh"
    build_installer(channel_dir, target, MINICONDA[0], MINICONDA[1], None)
    sums = {f.name[: -len(".sha256")]: f.read_text().split()[0] for f in sorted(releases.rglob("*.sha256"))}
    (upstream / "checksums.json").write_text(json.dumps(sums, indent=2, sort_keys=True) + "\n")
    summary = f"origin channel: {count} package builds; installers: {len(INSTALLERS) + 1}; wheels: {len(wheels)}"
    (upstream / "index.txt").write_text(summary + "\n")
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
