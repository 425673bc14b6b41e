"""TEST DOUBLE: a conda/mamba-compatible command over py-rattler.

Implements exactly the subcommands, flags and JSON shapes that hpcenv.gpu_cluster's
modules use; see tests/support/README.md for the list and the conda/mamba
documentation each imitates. Anything else exits 2 with a clear message.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import sys
from pathlib import Path

import rattler
import yaml
from rattler.exceptions import SolverError

from . import errors
from .config import Config, ConfigError
from .net import Fetcher

SUBDIR = "linux-64"
VERSIONS = {"conda": "24.11.3", "mamba": "2.0.5"}


# ----------------------------------------------------------------------------- helpers


def spec_name(spec: str) -> str:
    """The package name a match spec asks for."""
    return rattler.MatchSpec(spec).name.as_package_name().normalized


def root_prefix() -> str:
    return os.environ.get("CONDA_DOUBLE_ROOT") or str(Path(__file__).resolve().parents[3])


def flavour() -> str:
    return os.environ.get("CONDA_DOUBLE_FLAVOUR", "conda")


def tool_version(name: str, root: str) -> str:
    for meta in sorted((Path(root) / "conda-meta").glob(f"{name}-*.json")):
        record = json.loads(meta.read_text())
        if record.get("name") == name:
            return record["version"]
    return VERSIONS[name]


def writable(path: Path) -> bool:
    probe = path
    while not probe.exists():
        probe = probe.parent
    return os.access(probe, os.W_OK)


def pkgs_dir(config: Config) -> Path:
    for d in config.get("pkgs_dirs"):
        if writable(Path(d)):
            return Path(d)
    raise errors.CondaError(
        "NoWritablePkgsDirError", f"No writeable pkgs directories configured.\n  - {config.get('pkgs_dirs')}"
    )


def envs_dirs(config: Config) -> list[Path]:
    return [Path(d) for d in config.get("envs_dirs")]


def target_prefix(args, config: Config, must_exist: bool) -> Path:
    if getattr(args, "prefix", None):
        prefix = Path(os.path.abspath(args.prefix))
    elif getattr(args, "name", None):
        if args.name in ("base", "root"):
            prefix = Path(config.root)
        else:
            found = [d / args.name for d in envs_dirs(config) if (d / args.name / "conda-meta").is_dir()]
            prefix = (
                found[0]
                if found
                else next((d for d in envs_dirs(config) if writable(d)), envs_dirs(config)[0]) / args.name
            )
    else:
        prefix = Path(os.environ.get("CONDA_PREFIX") or config.root)
    if must_exist and not (prefix / "conda-meta").is_dir():
        raise errors.env_not_found(str(prefix))
    return prefix


def installed(prefix: Path) -> list:
    meta = prefix / "conda-meta"
    if not meta.is_dir():
        return []
    return [rattler.PrefixRecord.from_path(p) for p in sorted(meta.glob("*.json"))]


def pkg_dict(record, config: Config) -> dict:
    url = str(record.url)
    base = url.rsplit("/", 2)[0]
    return {
        "base_url": base,
        "build_number": record.build_number,
        "build_string": str(record.build),
        "channel": config.channel_name(base),
        "dist_name": f"{record.name.normalized}-{record.version}-{record.build!s}",
        "name": record.name.normalized,
        "platform": record.subdir,
        "version": str(record.version),
    }


def virtual_packages() -> list:
    """Detected virtual packages; CONDA_OVERRIDE_CUDA like conda (empty: no CUDA)."""
    overrides = rattler.VirtualPackageOverrides.from_env()
    return rattler.VirtualPackage.detect(overrides)


def virtual_pkgs_json(vpkgs) -> list:
    out = []
    for v in vpkgs:
        g = v.into_generic()
        out.append([g.name.normalized, str(g.version), str(g.build_string)])
    return sorted(out)


def history_specs(prefix: Path) -> dict[str, str]:
    """name -> spec, from conda-meta/history "# update specs" / "# remove specs" lines."""
    specs: dict[str, str] = {}
    history = prefix / "conda-meta" / "history"
    if not history.is_file():
        return specs
    for line in history.read_text().splitlines():
        for marker, remove in (("# update specs: ", False), ("# remove specs: ", True)):
            if line.startswith(marker):
                for spec in json.loads(line[len(marker) :].replace("'", '"')):
                    name = spec_name(spec)
                    if remove:
                        specs.pop(name, None)
                    else:
                        specs[name] = spec
    return specs


def write_history(prefix: Path, linked, unlinked, specs: list[str], removed: list[str] = ()) -> None:
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    lines = [
        f"==> {now} <==",
        f"# cmd: {' '.join(sys.argv)}",
        f"# conda version: {tool_version('conda', root_prefix())}",
    ]
    lines += [f"-{r.channel}::{r.name.normalized}-{r.version}-{r.build}" for r in unlinked]
    lines += [f"+{r.channel}::{r.name.normalized}-{r.version}-{r.build}" for r in linked]
    if specs:
        lines.append(f"# update specs: {json.dumps(list(specs))}")
    if removed:
        lines.append(f"# remove specs: {json.dumps(list(removed))}")
    with (prefix / "conda-meta" / "history").open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def register_env(prefix: Path) -> None:
    """conda records every env it creates in ~/.conda/environments.txt."""
    registry = Path.home() / ".conda" / "environments.txt"
    try:
        registry.parent.mkdir(parents=True, exist_ok=True)
        known = registry.read_text().splitlines() if registry.exists() else []
        if str(prefix) not in known:
            with registry.open("a") as fh:
                fh.write(f"{prefix}\n")
    except OSError:
        pass


# ----------------------------------------------------------------------------- channels + solve


class Session:
    def __init__(self, args, config: Config):
        self.args = args
        self.config = config
        cache = pkgs_dir(config) / "cache"
        self.fetcher = Fetcher(config, cache, offline=getattr(args, "offline", False))

    def channels(self, extra: list[str] | None = None) -> list[tuple[str, str]]:
        names: list[str] = list(extra or [])
        if not getattr(self.args, "override_channels", False):
            names += [c for c in self.config.get("channels") if c not in names]
        expanded = self.config.expand_channels(names)
        allow = self.config.get("allowlist_channels") or []
        for name, url in expanded:
            if not self.config.allowed(url) or self.config.denied(url):
                raise errors.channel_not_allowed(name, url, [str(a) for a in allow])
        return expanded

    def sparse(self, channels: list[tuple[str, str]]) -> list:
        out = []
        for name, url in channels:
            for subdir in (SUBDIR, "noarch"):
                path = self.fetcher.repodata(name, url, subdir)
                out.append(rattler.SparseRepoData(rattler.Channel(url), subdir, str(path)))
        return out

    def solve(self, specs: list[str], channels, locked=(), strict_order=True) -> list:
        sparse = self.sparse(channels)
        names = set()
        for sp in sparse:
            names |= {str(n) for n in sp.package_names()}
        missing = [s for s in specs if spec_name(s) not in names]
        if missing:
            raise errors.packages_not_found(missing, [f"{u}/{d}" for _, u in channels for d in (SUBDIR, "noarch")])
        priority = str(self.config.get("channel_priority")).lower()
        try:
            return asyncio.run(
                rattler.solve_with_sparse_repodata(
                    specs=[rattler.MatchSpec(s) for s in specs],
                    sparse_repodata=sparse,
                    locked_packages=list(locked),
                    virtual_packages=[v.into_generic() for v in virtual_packages()],
                    channel_priority=rattler.ChannelPriority.Strict
                    if priority == "strict"
                    else rattler.ChannelPriority.Disabled,
                )
            )
        except SolverError as exc:
            text = str(exc)
            for sp in sparse:
                sp.close()
            if "No candidates were found" in text and any(f"for {s}" in text for s in specs):
                raise errors.packages_not_found(specs, [u for _, u in channels]) from exc
            raise errors.unsatisfiable(text) from exc

    def explicit_records(self, urls: list[tuple[str, str | None]]) -> list:
        """RepoDataRecords for @EXPLICIT URLs, looked up in their channel's repodata."""
        by_channel: dict[tuple[str, str], list] = {}
        records = []
        for url, digest in urls:
            base, subdir, filename = url.rsplit("/", 2)
            key = (base, subdir)
            if key not in by_channel:
                path = self.fetcher.repodata(self.config.channel_name(base), base, subdir)
                sp = rattler.SparseRepoData(rattler.Channel(base), subdir, str(path))
                by_channel[key] = sp.load_all_records()
            match = [r for r in by_channel[key] if r.file_name == filename]
            if not match:
                raise errors.CondaError(
                    "CondaHTTPError",
                    f"HTTP 404 NOT FOUND for url <{url}>",
                    url=url,
                    status_code="404",
                    reason="NOT FOUND",
                    elapsed_time="-",
                    response_details="",
                )
            record = match[0]
            if digest and digest not in (
                record.md5.hex() if record.md5 else "",
                record.sha256.hex() if record.sha256 else "",
            ):
                raise errors.CondaError(
                    "ChecksumMismatchError",
                    f"Conda detected a mismatch between the expected content and downloaded content\nfor url '{url}'.",
                    url=url,
                    expected_checksum=digest,
                )
            records.append(record)
        return records

    def install(self, prefix: Path, records: list, specs: list[str]) -> tuple[list, list]:
        before = installed(prefix)
        before_ids = {(r.name.normalized, str(r.version), str(r.build)) for r in before}
        after_ids = {(r.name.normalized, str(r.version), str(r.build)) for r in records}
        linked = [r for r in records if (r.name.normalized, str(r.version), str(r.build)) not in before_ids]
        unlinked = [r for r in before if (r.name.normalized, str(r.version), str(r.build)) not in after_ids]
        if getattr(self.args, "dry_run", False):
            return linked, unlinked
        client = rattler.Client(timeout=int(float(self.config.get("remote_read_timeout_secs"))) or None)
        try:
            asyncio.run(
                rattler.install(
                    records,
                    target_prefix=str(prefix),
                    cache_dir=str(pkgs_dir(self.config)),
                    installed_packages=before,
                    show_progress=False,
                    client=client,
                    # py-rattler 0.28 hands these to Rust unconverted: pass the inner objects.
                    requested_specs=[rattler.MatchSpec(s)._match_spec for s in specs],
                    execute_link_scripts=False,
                )
            )
        except Exception as exc:  # rattler raises several exception types for download problems
            text = str(exc)
            raise errors.http_error(
                getattr(exc, "url", "") or _first_url(linked), "000", "CONNECTION FAILED", text
            ) from exc
        write_history(prefix, linked, unlinked, specs)
        return linked, unlinked


def _first_url(records) -> str:
    return str(records[0].url) if records else ""


# ----------------------------------------------------------------------------- input files


def parse_file_specs(path: Path) -> tuple[list[str], list[tuple[str, str | None]] | None]:
    """(specs, explicit) from a --file: plain specs, or an @EXPLICIT lock (explicit URLs)."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    if "@EXPLICIT" in lines:
        urls = []
        for line in lines:
            if not line or line.startswith(("#", "@")):
                continue
            url, _, digest = line.partition("#")
            digest = digest.removeprefix("sha256:") or None
            urls.append((url, digest))
        return [], urls
    return [line for line in lines if line and not line.startswith("#")], None


def parse_environment_yml(path: Path) -> tuple[str | None, list[str], list[str]]:
    data = yaml.safe_load(path.read_text()) or {}
    specs, pip = [], []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict) and "pip" in dep:
            pip += dep["pip"]
        else:
            specs.append(str(dep))
    if pip:
        raise errors.CondaError(
            "CondaEnvException",
            "pip sections are not supported by hpcenv's conda TEST DOUBLE (tests/support/README.md)",
        )
    return data.get("name"), [str(c) for c in data.get("channels") or []], specs


# ----------------------------------------------------------------------------- commands


def emit(args, payload: dict, text: str = "") -> int:
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, sort_keys=True))
    elif text:
        print(text)
    return 0


def transaction_json(prefix: Path, linked, unlinked, config: Config, dry_run: bool = False) -> dict:
    if not linked and not unlinked:
        return {"message": "All requested packages already installed.", "success": True}
    actions = {"PREFIX": str(prefix), "FETCH": [], "LINK": [pkg_dict(r, config) for r in linked]}
    if unlinked:
        actions["UNLINK"] = [pkg_dict(r, config) for r in unlinked]
    return {"actions": actions, "dry_run": dry_run, "prefix": str(prefix), "success": True}


def cmd_info(args, config: Config) -> int:
    root = config.root
    info = {
        "active_prefix": os.environ.get("CONDA_PREFIX"),
        "active_prefix_name": os.environ.get("CONDA_DEFAULT_ENV"),
        "channels": [f"{u}/{d}" for _, u in config.expand_channels(config.get("channels")) for d in (SUBDIR, "noarch")],
        "conda_build_version": "not installed",
        "conda_location": str(Path(root) / "lib" / "conda-double"),
        "conda_prefix": root,
        "conda_version": tool_version("conda", root),
        "config_files": [str(f) for f in config.files],
        "default_prefix": os.environ.get("CONDA_PREFIX") or root,
        "envs": [str(p) for p in list_envs(config)],
        "envs_dirs": [str(d) for d in envs_dirs(config)],
        "offline": bool(config.get("offline")),
        "pkgs_dirs": [str(d) for d in config.get("pkgs_dirs")],
        "platform": SUBDIR,
        "python_version": platform.python_version(),
        "rc_path": str(Path.home() / ".condarc"),
        "root_prefix": root,
        "root_writable": os.access(root, os.W_OK),
        "solver": {"default": True, "name": "libmamba", "user_agent": "solver/libmamba"},
        "sys.executable": sys.executable,
        "sys.prefix": sys.prefix,
        "sys.version": sys.version,
        "sys_rc_path": str(Path(root) / ".condarc"),
        "user_agent": "conda/" + tool_version("conda", root),
        "user_rc_path": str(Path.home() / ".condarc"),
        "virtual_pkgs": virtual_pkgs_json(virtual_packages()),
    }
    text = "\n".join(f"{k:>20} : {v}" for k, v in info.items() if not isinstance(v, (list, dict)))
    return emit(args, info, text)


def list_envs(config: Config) -> list[Path]:
    envs = [Path(config.root)]
    for d in envs_dirs(config):
        if d.is_dir():
            envs += sorted(p for p in d.iterdir() if (p / "conda-meta").is_dir() and p not in envs)
    registry = Path.home() / ".conda" / "environments.txt"
    if registry.is_file():
        for line in registry.read_text().splitlines():
            p = Path(line.strip())
            if line.strip() and (p / "conda-meta").is_dir() and p not in envs:
                envs.append(p)
    return envs


def cmd_env_list(args, config: Config) -> int:
    envs = [str(p) for p in list_envs(config)]
    return emit(args, {"envs": envs}, "\n".join(envs))


def cmd_list(args, config: Config) -> int:
    prefix = target_prefix(args, config, must_exist=True)
    records = installed(prefix)
    if args.explicit:
        # sort_topologically returns plain PackageRecords: map back by name.
        by_name = {r.name.normalized: r for r in records}
        ordered = (
            [by_name[r.name.normalized] for r in rattler.PrefixRecord.sort_topologically(records)] if records else []
        )
        lines = [
            "# This file may be used to create an environment using:",
            "# $ conda create --name <env> --file <this file>",
            f"# platform: {SUBDIR}",
            "@EXPLICIT",
        ]
        for r in ordered:
            line = str(r.url)
            if args.md5 and r.md5:
                line += "#" + r.md5.hex()
            elif args.sha256 and r.sha256:
                line += "#sha256:" + r.sha256.hex()
            lines.append(line)
        print("\n".join(lines))
        return 0
    rows = sorted((pkg_dict(r, config) for r in records), key=lambda d: d["name"])
    text = "\n".join(f"{d['name']:<24} {d['version']:<16} {d['build_string']:<24} {d['channel']}" for d in rows)
    return emit(args, rows, f"# packages in environment at {prefix}:\n#\n{text}")


def _specs_from_args(args) -> tuple[list[str], list | None]:
    specs = list(args.specs or [])
    explicit = None
    for f in args.file or []:
        more, explicit_urls = parse_file_specs(Path(f))
        specs += more
        if explicit_urls is not None:
            explicit = (explicit or []) + explicit_urls
    return specs, explicit


def cmd_create(args, config: Config) -> int:
    prefix = target_prefix(args, config, must_exist=False)
    specs, explicit = _specs_from_args(args)
    session = Session(args, config)
    records = (
        session.explicit_records(explicit)
        if explicit is not None
        else session.solve(specs, session.channels(args.channel))
    )
    if (prefix / "conda-meta").is_dir() and not args.dry_run:
        shutil.rmtree(prefix)  # `create -y` over an existing env replaces it, as conda does
    if not args.dry_run:
        (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)
        (prefix / "conda-meta" / "history").touch()
    try:
        linked, unlinked = session.install(prefix, records, specs)
    except errors.CondaError:
        if (prefix / "conda-meta").is_dir() and not any(prefix.joinpath("conda-meta").glob("*.json")):
            shutil.rmtree(prefix)  # nothing was linked: leave no half-made env behind
        raise
    if not args.dry_run:
        register_env(prefix)
    return emit(args, transaction_json(prefix, linked, unlinked, config, args.dry_run))


def cmd_install(args, config: Config, update: bool = False) -> int:
    prefix = target_prefix(args, config, must_exist=True)
    specs, explicit = _specs_from_args(args)
    session = Session(args, config)
    current = installed(prefix)
    if explicit is not None:
        records = session.explicit_records(explicit)
        keep = {r.name.normalized for r in records}
        records += [r for r in current if r.name.normalized not in keep]
        linked, unlinked = session.install(prefix, records, specs)
        return emit(args, transaction_json(prefix, linked, unlinked, config, args.dry_run))
    wanted = history_specs(prefix)
    names = {spec_name(s) for s in specs}
    if update and getattr(args, "all", False):
        locked = []
    elif update:
        missing = [n for n in names if n not in {r.name.normalized for r in current}]
        if missing:
            raise errors.CondaError(
                "PackageNotInstalledError",
                f"Package is not installed in prefix.\n  prefix: {prefix}\n  package name: {missing[0]}\n",
                prefix=str(prefix),
                package_name=missing[0],
            )
        locked = [r for r in current if r.name.normalized not in names]
    else:
        locked = current
    all_specs = [s for n, s in wanted.items() if n not in names] + specs
    if not update:
        records = session.solve(all_specs, session.channels(args.channel), locked=locked)
    else:
        records = session.solve(
            all_specs or [r.name.normalized for r in current], session.channels(args.channel), locked=locked
        )
    linked, unlinked = session.install(prefix, records, specs)
    return emit(args, transaction_json(prefix, linked, unlinked, config, args.dry_run))


def cmd_remove(args, config: Config) -> int:
    prefix = target_prefix(args, config, must_exist=True)
    if args.all:
        if args.dry_run:
            return emit(args, {"success": True, "dry_run": True, "prefix": str(prefix)})
        current = installed(prefix)
        shutil.rmtree(prefix)
        return emit(args, transaction_json(prefix, [], current, config))
    current = installed(prefix)
    names = {spec_name(s) for s in args.specs}
    absent = sorted(names - {r.name.normalized for r in current})
    if absent:
        raise errors.CondaError(
            "PackagesNotFoundError",
            f"The following packages are missing from the target environment:\n  - {absent[0]}\n",
            packages=absent,
        )
    # Remove the named packages and everything that depends on them.
    removed = set(names)
    changed = True
    while changed:
        changed = False
        for r in current:
            n = r.name.normalized
            if n not in removed and any(spec_name(d) in removed for d in r.depends):
                removed.add(n)
                changed = True
    keep = [r for r in current if r.name.normalized not in removed]
    session = Session(args, config)
    linked, unlinked = session.install(prefix, keep, [])
    if not args.dry_run:
        write_history(prefix, [], [], [], removed=sorted(names))
    return emit(args, transaction_json(prefix, linked, unlinked, config, args.dry_run))


def cmd_env_create(args, config: Config) -> int:
    name, channels, specs = parse_environment_yml(Path(args.file[0]))
    if not args.name and not args.prefix:
        args.name = name
    if not args.name and not args.prefix:
        raise errors.CondaError("SpecNotFound", "Environment with requirements.txt file needs a name")
    args.specs, args.file, args.channel = specs, [], channels + list(args.channel or [])
    args.dry_run = getattr(args, "dry_run", False)
    return cmd_create(args, config)


def cmd_config(args, config: Config) -> int:
    if not args.show and not args.show_sources:
        raise errors.CondaError("ArgumentError", "this conda TEST DOUBLE only implements `config --show [--json]`")
    values = config.effective()
    if args.keys:
        values = {k: values.get(k) for k in args.keys}
    if args.show_sources:
        return emit(args, {str(f): {} for f in config.files}, "\n".join(f"==> {f} <==" for f in config.files))
    return emit(args, values, yaml.safe_dump(values, default_flow_style=False))


def cmd_clean(args, config: Config) -> int:
    removed = []
    for name in config.get("pkgs_dirs"):
        d = Path(name)
        if not d.is_dir() or not os.access(d, os.W_OK):
            continue
        for entry in d.iterdir():
            if entry.name == "cache" and (args.index_cache or args.all):
                shutil.rmtree(entry)
                removed.append(str(entry))
            elif entry.suffix == ".conda" and (args.tarballs or args.all):
                entry.unlink()
                removed.append(str(entry))
            elif entry.is_dir() and entry.name != "cache" and (args.packages or args.all):
                shutil.rmtree(entry)
                removed.append(str(entry))
    return emit(args, {"success": True, "removed": removed})


# ----------------------------------------------------------------------------- argument parsing


def _target_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-n", "--name")
    g.add_argument("-p", "--prefix")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")
    p.add_argument("-y", "--yes", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-d", "--dry-run", action="store_true")
    p.add_argument("--offline", action="store_true")


def _solve_args(p: argparse.ArgumentParser) -> None:
    _target_args(p)
    _common(p)
    p.add_argument("-c", "--channel", action="append", default=[])
    p.add_argument("--override-channels", action="store_true")
    p.add_argument("--file", action="append", default=[])
    p.add_argument("specs", nargs="*")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=flavour(), description="TEST DOUBLE of conda/mamba over py-rattler")
    top.add_argument("-V", "--version", action="store_true")
    sub = top.add_subparsers(dest="command")
    p = sub.add_parser("info")
    p.add_argument("--json", action="store_true")
    p.add_argument("-e", "--envs", action="store_true")
    p = sub.add_parser("list")
    _target_args(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--explicit", action="store_true")
    p.add_argument("--md5", action="store_true")
    p.add_argument("--sha256", action="store_true")
    for name in ("create", "install", "update", "upgrade"):
        p = sub.add_parser(name)
        _solve_args(p)
        if name in ("update", "upgrade"):
            p.add_argument("--all", action="store_true")
    p = sub.add_parser("remove", aliases=["uninstall"])
    _target_args(p)
    _common(p)
    p.add_argument("--all", action="store_true")
    p.add_argument("specs", nargs="*")
    env = sub.add_parser("env").add_subparsers(dest="env_command")
    p = env.add_parser("list")
    p.add_argument("--json", action="store_true")
    p = env.add_parser("create")
    _target_args(p)
    _common(p)
    p.add_argument("-f", "--file", action="append", required=True)
    p.add_argument("-c", "--channel", action="append", default=[])
    p.add_argument("--override-channels", action="store_true")
    p = env.add_parser("remove")
    _target_args(p)
    _common(p)
    p = sub.add_parser("config")
    p.add_argument("--json", action="store_true")
    p.add_argument("--show", nargs="*", dest="keys", default=None)
    p.add_argument("--show-sources", action="store_true")
    p = sub.add_parser("clean")
    _common(p)
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-i", "--index-cache", action="store_true")
    p.add_argument("-t", "--tarballs", action="store_true")
    p.add_argument("-p", "--packages", action="store_true")
    return top


def dispatch(args, config: Config) -> int:
    if args.command == "info":
        if args.envs:
            return cmd_env_list(args, config)
        return cmd_info(args, config)
    if args.command == "list":
        return cmd_list(args, config)
    if args.command == "create":
        return cmd_create(args, config)
    if args.command == "install":
        return cmd_install(args, config)
    if args.command in ("update", "upgrade"):
        return cmd_install(args, config, update=True)
    if args.command in ("remove", "uninstall"):
        return cmd_remove(args, config)
    if args.command == "env":
        if args.env_command == "list":
            return cmd_env_list(args, config)
        if args.env_command == "create":
            return cmd_env_create(args, config)
        if args.env_command == "remove":
            args.all, args.specs = True, []
            return cmd_remove(args, config)
    if args.command == "config":
        args.show = args.keys is not None
        args.keys = args.keys or None
        return cmd_config(args, config)
    if args.command == "clean":
        return cmd_clean(args, config)
    print(f"{flavour()} TEST DOUBLE: subcommand not implemented: {sys.argv[1:]}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    as_json = getattr(args, "json", False)
    root = root_prefix()
    if args.version:
        name = flavour()
        print(tool_version(name, root) if name == "mamba" else f"conda {tool_version('conda', root)}")
        return 0
    try:
        config = Config(root)
        return dispatch(args, config)
    except ConfigError as exc:
        return errors.CondaError("LoadError", str(exc)).report(as_json)
    except errors.CondaError as exc:
        return exc.report(as_json)
