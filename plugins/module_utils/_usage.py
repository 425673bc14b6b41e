# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disk use of users' own conda environments and caches, and of the shared envs' kept versions
(private to this collection; the env_usage module and bench/usage_report.py use it).

A tree's size is what `du -s -B1 TREE` says: the blocks of every inode once (a file hard-linked
twice inside the tree counts once), directories and links included, no link followed. Its file
count is `find TREE | wc -l` (the tree itself included).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import stat

# conda expands an envs_dirs or pkgs_dirs entry in the user's session: these are the user's own
# (the conda role lets no other variable through).
USER_VARIABLE = re.compile(r"\$(\{(USER|LOGNAME)\}|(USER|LOGNAME)(?![A-Za-z0-9_]))")
HOME = re.compile(r"^(~|\$\{HOME\}|\$HOME)(?=/|$)")
# What conda records of the envs a user created (conda.core.envs_manager): one prefix per line.
ENVIRONMENTS_TXT = os.path.join(".conda", "environments.txt")
DAY = 86400


def tree(path: str, linked: dict | None = None) -> dict:
    """{bytes, linked_bytes, files, unreadable} of the tree at PATH; linked_bytes: the part in inodes
    with more than one link (shared with a package cache or another env). LINKED, when given, gathers
    those inodes' sizes by (device, inode), so several trees can be added up counting each once."""
    root = os.lstat(path)
    total = {"bytes": root.st_blocks * 512, "linked_bytes": 0, "files": 1, "unreadable": 0}
    seen = {}
    stack = [path] if stat.S_ISDIR(root.st_mode) else []
    while stack:
        directory = stack.pop()
        try:
            entries = os.scandir(directory)
        except OSError:
            total["unreadable"] += 1
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    total["unreadable"] += 1
                    continue
                total["files"] += 1
                is_dir = stat.S_ISDIR(st.st_mode)
                if is_dir:
                    stack.append(entry.path)
                elif st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen[key] = st.st_blocks * 512
                    total["linked_bytes"] += st.st_blocks * 512
                total["bytes"] += st.st_blocks * 512
    if linked is not None:
        linked.update(seen)
    return total


def together(trees: list, linked: dict) -> int:
    """The bytes of TREES measured with one LINKED map, as one `du -s` of them all counts them."""
    return sum(t["bytes"] - t["linked_bytes"] for t in trees) + sum(linked.values())


def expand(entry: str, user: pwd.struct_passwd) -> str:
    """ENTRY as conda expands it in USER's session; '' for an entry with no per-user part (a shared one)."""
    if HOME.match(entry):
        entry = HOME.sub(lambda _: user.pw_dir, entry, count=1)
    elif not USER_VARIABLE.search(entry):
        return ""
    return os.path.normpath(USER_VARIABLE.sub(lambda _: user.pw_name, entry))


def last_used(prefix: str) -> tuple[float, str]:
    """When the env was last used, as the node can tell: the later of its Python's access time (the file
    system's relatime updates it at most daily) and conda's last change of it (conda-meta/history)."""
    found = [(0.0, "")]
    for relative, field, source in (
        ("bin/python", "st_atime", "python run"),
        ("conda-meta/history", "st_mtime", "conda changed it"),
    ):
        try:
            found.append((getattr(os.stat(os.path.join(prefix, relative)), field), source))
        except OSError:
            continue
    return max(found)


def is_env(path: str) -> bool:
    return os.path.isdir(os.path.join(path, "conda-meta"))


def envs_of(user: pwd.struct_passwd, directories: list, shared: set) -> list:
    """The user's envs, as (path, real path): those in DIRECTORIES (the user's envs_dirs, expanded), and those
    conda recorded in the user's ~/.conda/environments.txt; only those the user owns, each once, shared envs
    left out."""
    found = []
    for directory in directories:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        found.extend(os.path.join(directory, name) for name in names)
    try:
        with open(os.path.join(user.pw_dir, ENVIRONMENTS_TXT), encoding="utf-8", errors="replace") as f:
            found.extend(line.strip() for line in f if line.strip().startswith("/") and "\0" not in line)
    except OSError:
        pass
    envs, real = [], set()
    for prefix in found:
        try:
            here = os.path.realpath(prefix)
            owned = os.lstat(here).st_uid == user.pw_uid
        except (OSError, ValueError):  # gone, unreadable, or not a path at all: written by hand
            continue
        if here in real or here in shared or not owned or not is_env(here):
            continue
        real.add(here)
        envs.append((prefix, here))
    return envs


def measure(prefix: str, real: str, stale_days: int, now: float, linked: dict | None = None) -> dict | None:
    """One env (PREFIX, reached at REAL through any link): its name, path, last use, whether it is stale,
    and its tree's numbers; None when it went away during the scan."""
    when, source = last_used(real)
    try:
        numbers = tree(real, linked)
    except OSError:
        return None
    return dict(
        name=os.path.basename(prefix.rstrip("/")),
        path=prefix,
        last_used=when,
        last_used_from=source,
        stale=bool(when) and now - when > stale_days * DAY,
        **numbers,
    )


def users(min_uid: int, max_uid: int) -> list:
    """The node's people: accounts in [min_uid, max_uid], once each, by name."""
    found = {}
    for user in pwd.getpwall():
        if min_uid <= user.pw_uid <= max_uid:
            found.setdefault(user.pw_name, user)
    return [found[name] for name in sorted(found)]


def kept_versions(catalogue_dir: str) -> list:
    """[(env, version, path)] of the shared envs' versions kept on the node, from the catalogue's pages."""
    kept = []
    try:
        pages = sorted(name for name in os.listdir(catalogue_dir) if name.endswith(".json"))
    except OSError:
        return kept
    for name in pages:
        try:
            with open(os.path.join(catalogue_dir, name), encoding="utf-8") as f:
                page = json.load(f)
            versions = page["versions"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for v in versions:
            if isinstance(v, dict) and v.get("on_node") and v.get("path"):
                kept.append((page.get("name", name[:-5]), v.get("version") or v.get("lock_id", ""), v["path"]))
    return kept


def scan(people: list, envs_dirs: list, pkgs_dirs: list, catalogue_dir: str, stale_days: int, now: float) -> dict:
    """The node's report: each user's envs and caches, the shared versions and caches."""
    shared_versions, shared_caches = [], []
    for env, version, path in kept_versions(catalogue_dir):
        try:
            shared_versions.append(dict(env=env, version=version, path=path, **tree(path)))
        except OSError:
            continue  # pruned during the scan
    shared_paths = {os.path.realpath(v["path"]) for v in shared_versions}
    for entry in pkgs_dirs:
        if not HOME.match(entry) and not USER_VARIABLE.search(entry) and os.path.isdir(entry):
            shared_caches.append(dict(path=entry, **tree(entry)))
    report_users = {}
    for user in people:
        directories = [path for path in (expand(entry, user) for entry in envs_dirs) if path]
        linked = {}  # the user's hard-linked inodes, to count each once in the user's total
        envs = [
            measure(prefix, real, stale_days, now, linked) for prefix, real in envs_of(user, directories, shared_paths)
        ]
        envs = [env for env in envs if env is not None]
        caches = []
        for entry in pkgs_dirs:
            path = expand(entry, user)
            try:
                if path and os.path.isdir(path) and os.lstat(path).st_uid == user.pw_uid:
                    caches.append(dict(path=path, **tree(path, linked)))
            except OSError:
                continue
        if envs or caches:
            report_users[user.pw_name] = {"envs": envs, "caches": caches, "bytes": together(envs + caches, linked)}
    return {
        "users": report_users,
        "shared": {"versions": shared_versions, "caches": shared_caches},
        "stale_days": stale_days,
    }


def families(report: dict, node: str, scanned_at: float, seconds: float) -> list:
    """node_exporter textfile metric families of REPORT (_prom.render)."""

    def family(name: str, help_text: str, samples: list) -> dict:
        return {"name": name, "help": help_text, "type": "gauge", "samples": samples}

    env_labels = [
        ({"user": name, "env": env["name"], "prefix": env["path"]}, env)
        for name, user in report["users"].items()
        for env in user["envs"]
    ]
    return [
        family(
            "hpcenv_user_env_bytes",
            "Disk use of a user's conda env, as du counts it (hard links inside it once).",
            [(labels, env["bytes"]) for labels, env in env_labels],
        ),
        family(
            "hpcenv_user_env_files", "Files in a user's conda env.", [(lab, env["files"]) for lab, env in env_labels]
        ),
        family(
            "hpcenv_user_env_last_used_timestamp_seconds",
            "When a user's env was last used (its Python's access time or conda's last change of it).",
            [(labels, env["last_used"]) for labels, env in env_labels],
        ),
        family(
            "hpcenv_user_env_stale",
            "1 when a user's env was not used for the report's stale_days.",
            [(labels, env["stale"]) for labels, env in env_labels],
        ),
        family(
            "hpcenv_user_conda_bytes",
            "Disk use of a user's conda envs and package caches together (a file linked into several once).",
            [({"user": name}, user["bytes"]) for name, user in report["users"].items()],
        ),
        family(
            "hpcenv_shared_env_version_bytes",
            "Disk use of a kept version of a shared env.",
            [
                ({"env": v["env"], "version": v["version"], "prefix": v["path"]}, v["bytes"])
                for v in report["shared"]["versions"]
            ],
        ),
        family(
            "hpcenv_conda_pkgs_cache_bytes",
            "Disk use of a shared conda package cache.",
            [({"path": cache["path"]}, cache["bytes"]) for cache in report["shared"]["caches"]],
        ),
        family("hpcenv_usage_scan_seconds", "How long the usage scan took.", [({"node": node}, round(seconds, 3))]),
        family("hpcenv_usage_scan_timestamp_seconds", "When the usage scan ran.", [({"node": node}, scanned_at)]),
    ]
