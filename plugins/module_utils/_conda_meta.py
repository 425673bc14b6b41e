# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers that read a conda prefix from its files (conda-meta/*.json), never the CLI."""

from __future__ import annotations

import json
import os
import re

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_env, _condarc

# Where conda looks for system-wide configuration, lowest precedence first
# (https://docs.conda.io/projects/conda/en/stable/user-guide/configuration/use-condarc.html).
SYSTEM_CONDARC_BASES = ("/etc/conda", "/var/lib/conda")


# Keys every package record has (conda writes them all; without them a record says nothing).
RECORD_KEYS = ("name", "version", "build")
_RECORD_FILE = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)-(?P<build>[^-]+)\.json$")


def expand(path: str) -> str:
    """A path as conda expands its configured paths: $VAR and ${VAR}, then ~."""
    return os.path.expanduser(os.path.expandvars(path))


def read_records_checked(prefix: str) -> tuple[list[dict], list[dict]]:
    """(records sorted by name, unreadable) of a prefix's conda-meta/*.json.

    A record that is not valid JSON, not a mapping, or lacks name/version/build is not a
    package we can trust: it is returned in `unreadable` as {file, package, error} (the
    package guessed from the file name), never raised, so callers report it as drift.
    """
    meta = os.path.join(prefix, "conda-meta")
    if not os.path.isdir(meta):
        return [], []
    records, unreadable = [], []
    for entry in sorted(os.listdir(meta)):
        if not entry.endswith(".json"):
            continue
        path = os.path.join(meta, entry)
        match = _RECORD_FILE.match(entry)
        package = match["name"] if match else entry[: -len(".json")]
        try:
            with open(path, encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            unreadable.append({"file": path, "package": package, "error": f"{type(exc).__name__}: {exc}"})
            continue
        missing = [key for key in RECORD_KEYS if not isinstance(record, dict) or not record.get(key)]
        if missing:
            error = "not a JSON object" if not isinstance(record, dict) else f"no {', '.join(missing)}"
            unreadable.append({"file": path, "package": package, "error": error})
            continue
        records.append(record)
    return sorted(records, key=lambda r: r["name"]), unreadable


def read_records(prefix: str) -> list[dict]:
    """The readable package records of a prefix, sorted by name; [] when it is not a conda prefix."""
    return read_records_checked(prefix)[0]


def pip_installed(prefix: str) -> list[str]:
    """name==version (PEP 503 names) of the distributions pip installed into a prefix.

    Read from site-packages/*.dist-info: the INSTALLER file says who installed each
    one (conda writes "conda", pip writes "pip").
    """
    found = []
    lib = os.path.join(prefix, "lib")
    if not os.path.isdir(lib):
        return found
    for pydir in sorted(os.listdir(lib)):
        site = os.path.join(lib, pydir, "site-packages")
        if not pydir.startswith("python") or not os.path.isdir(site):
            continue
        for entry in sorted(os.listdir(site)):
            installer = os.path.join(site, entry, "INSTALLER")
            if not entry.endswith(".dist-info") or not os.path.isfile(installer):
                continue
            with open(installer, encoding="utf-8") as fh:
                if fh.read().strip() != "pip":
                    continue
            name, version = entry[: -len(".dist-info")].partition("-")[::2]
            found.append(f"{_conda_env.normalize_dist(name)}=={version}")
    return sorted(found)


def package_version(prefix: str, name: str) -> str | None:
    """Version of one package in a prefix, from conda-meta/<name>-<version>-<build>.json."""
    meta = os.path.join(prefix, "conda-meta")
    if not os.path.isdir(meta):
        return None
    for entry in sorted(os.listdir(meta)):
        if entry.startswith(name + "-") and entry.endswith(".json") and entry[len(name) + 1 : len(name) + 2].isdigit():
            try:
                with open(os.path.join(meta, entry), encoding="utf-8") as fh:
                    record = json.load(fh)
            except (OSError, UnicodeDecodeError, ValueError):
                continue  # an unreadable record names no version
            if isinstance(record, dict) and record.get("name") == name:
                return record.get("version")
    return None


def condarc_paths(root_prefix: str) -> list[str]:
    """The system-level condarc files conda reads for this root prefix, lowest precedence first."""
    paths = []
    for base in (*SYSTEM_CONDARC_BASES, root_prefix):
        for name in (".condarc", "condarc"):
            paths.append(os.path.join(base, name))
        directory = os.path.join(base, "condarc.d")
        if os.path.isdir(directory):
            paths += [
                os.path.join(directory, f)
                for f in sorted(os.listdir(directory))
                if f.endswith((".yml", ".yaml")) or f.endswith("condarc")
            ]
    return [p for p in paths if os.path.isfile(p)]


def system_config(root_prefix: str) -> tuple[dict, set, list[str]]:
    """(merged config, #!final keys, files read) of the system condarc files; raises _condarc.CondarcError."""
    files = condarc_paths(root_prefix)
    texts = []
    for path in files:
        with open(path, encoding="utf-8") as fh:
            texts.append(fh.read())
    config, final = _condarc.merge_files(texts)
    return config, final, files


def list_envs(root_prefix: str, envs_dirs: list[str]) -> list[dict]:
    """Environments: the root prefix, then each directory with conda-meta/ in the envs_dirs."""
    envs = [{"name": "base", "prefix": root_prefix, "target": os.path.realpath(root_prefix)}]
    seen = {os.path.realpath(root_prefix)}
    for directory in envs_dirs:
        if not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            if entry.startswith("."):
                continue
            path = os.path.join(directory, entry)
            real = os.path.realpath(path)
            if os.path.isdir(os.path.join(path, "conda-meta")) and real not in seen:
                seen.add(real)
                envs.append({"name": entry, "prefix": path, "target": real})
    return envs


def installation(prefix: str) -> dict:
    """What conda_info returns of the installation at PREFIX (its virtual packages aside), read from its files:
    `installed`, and when it is, the conda and mamba versions, the envs and the system configuration with
    channel tokens masked. Raises _condarc.CondarcError when a system condarc file cannot be read."""
    found = {"prefix": prefix, "real_prefix": os.path.realpath(prefix)}
    found["installed"] = os.path.isdir(os.path.join(prefix, "conda-meta")) and os.path.exists(
        os.path.join(prefix, "bin", "conda")
    )
    if not found["installed"]:
        return found
    config, final, files = system_config(prefix)
    config = _condarc.mask_tokens(config)  # results land in logs and reports: no channel tokens there
    envs_dirs = [expand(str(d)) for d in (config.get("envs_dirs") or []) if d] or [os.path.join(prefix, "envs")]
    found.update(
        conda_version=package_version(prefix, "conda"),
        mamba_version=package_version(prefix, "mamba"),
        envs=list_envs(prefix, envs_dirs),
        channels=config.get("channels", ["defaults"]),
        config=config,
        final_keys=sorted(final),
        config_files=files,
    )
    return found
