"""Benchmark: the nightly usage report's scan of one node (env_usage), on synthetic homes.

    .venv/bin/python -m bench.usage_report [--users 200] [--envs 3] [--files 1000] [--rounds 3] [--cold]

Makes USERS users under a temporary directory, each with ENVS envs of FILES files in a scratch
directory (/scratch/$USER/conda/envs, as conda_envs_dirs names it) whose files are hard links
into the user's own package cache, as conda links them, and one env made with -p elsewhere that
only conda's ~/.conda/environments.txt records. Then times the scan the env_usage module runs
(every user's entries expanded, every env and cache walked, sizes as du counts them), in-process,
without Ansible's transport. --cold drops the page cache before each round (root; as after a
reboot, or on a file system whose metadata is not cached: the nightly run's worst case).
"""

from __future__ import annotations

import argparse
import os
import pwd
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _usage  # noqa: E402

DIRS_PER_ENV = 50  # files spread over this many directories, as site-packages holds packages


def make_user(base: Path, index: int, envs: int, files: int) -> pwd.struct_passwd:
    name = f"user{index:04d}"
    home = base / "home" / name
    cache = base / "scratch" / name / "conda" / "pkgs"
    cache.mkdir(parents=True)
    sources = []
    for number in range(files):
        source = cache / f"pkg{number % DIRS_PER_ENV}" / f"f{number}.py"
        source.parent.mkdir(exist_ok=True)
        source.write_bytes(b"x" * (200 + number % 3000))
        sources.append(source)
    prefixes = [base / "scratch" / name / "conda" / "envs" / f"env{n}" for n in range(envs - 1)]
    prefixes.append(base / "projects" / name / "old")  # made with -p: only conda's record names it
    for prefix in prefixes:
        (prefix / "conda-meta").mkdir(parents=True)
        (prefix / "conda-meta" / "history").write_text("==> 2026-12-01 00:00:00 <==\n")
        (prefix / "bin").mkdir()
        (prefix / "bin" / "python").write_bytes(b"\x7fELF" + b"\0" * 4000)
        for source in sources:
            target = prefix / "lib" / source.parent.name / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
    (home / ".conda").mkdir(parents=True)
    (home / ".conda" / "environments.txt").write_text("".join(f"{prefix}\n" for prefix in prefixes))
    return pwd.struct_passwd((name, "x", os.getuid(), os.getgid(), "", str(home), "/bin/bash"))


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--envs", type=int, default=3)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpcenv-usage-bench-") as tmp:
        base = Path(tmp)
        started = time.monotonic()
        people = [make_user(base, index, args.envs, args.files) for index in range(args.users)]
        print(f"made {args.users} users x {args.envs} envs x {args.files} files in {time.monotonic() - started:.1f} s")
        entries = [str(base / "scratch") + "/$USER/conda/envs", "~/.conda/envs"]
        caches = [str(base / "scratch") + "/$USER/conda/pkgs"]
        times, report = [], {}
        for _round_number in range(args.rounds):
            if args.cold:
                drop_caches()
            clock = time.monotonic()
            report = _usage.scan(people, entries, caches, "", 90, time.time())
            times.append(time.monotonic() - clock)
        envs = sum(len(user["envs"]) for user in report["users"].values())
        walked = sum(env["files"] for user in report["users"].values() for env in user["envs"] + user["caches"])
        median = statistics.median(times)
        print(
            f"scan ({'cold' if args.cold else 'warm'} cache): median {median:.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f}; {args.rounds} rounds), "
            f"{envs} envs and {len(report['users'])} caches, {walked} files walked, "
            f"{walked / median / 1000:.0f} k files/s"
        )


if __name__ == "__main__":
    main()
