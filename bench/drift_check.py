"""Benchmark: the no-op drift check of one node over 5 environments of 30+ packages each,
against a lock and against the environment's specs: conda_env in check mode.

    .venv/bin/python -m bench.drift_check [--rounds 20]

Builds one real environment with the offline toolchain (TEST DOUBLES: origin
channel and installer; conda itself is real), copies it to 5 prefixes, exports
its lock, then times the module's main() in-process (no Ansible transport):
- against the lock: the records are read from conda-meta/*.json, no conda runs
  (what shared_env does in the nightly drift check);
- against the specs: the same, plus one run of the real conda's Python that reads
  and matches every spec of the environment with conda's own MatchSpec.
Prints the median per node (5 environments) of each over the rounds.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.hpcenv.gpu_cluster.plugins.modules import conda_env  # noqa: E402
from tests.support.toolchain import build  # noqa: E402
from tests.unit.plugins.modules.runner import run_module  # noqa: E402

SPEC = ["python=3.11", "numpy>=2", "pandas", "scikit-learn", "pytorch", "ipykernel", "requests", "tqdm"]


# The environment of every command (an isolated HOME), set once the base is installed.
ENV: dict = {}


def run_command(_module, argv, data=None, environ_update=None, **_kwargs):
    """AnsibleModule.run_command for real: the bench runs the real conda."""
    proc = subprocess.run(argv, input=data, capture_output=True, text=True, env={**ENV, **(environ_update or {})},
                          check=False)  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    upstream = build.build()
    server, url = serve(upstream)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "conda"
        version = build.INSTALLERS[0][0]
        installer = upstream / "releases" / "miniforge" / version / f"Miniforge3-{version}-Linux-x86_64.sh"
        subprocess.run(["bash", str(installer), "-b", "-p", str(base)], check=True, capture_output=True)
        # The offline toolchain's installers carry no libmamba: the classic solver, as in the scenarios.
        (base / ".condarc").write_text(f"channel_alias: {url}\nchannels: [conda-forge]\nsolver: classic\n")
        env = {"HOME": tmp, "PATH": "/usr/bin:/bin"}
        ENV.update(env)
        first = Path(tmp) / "envs" / "env0"
        subprocess.run(
            [str(base / "bin" / "conda"), "create", "-y", "--json", "-p", str(first), *SPEC],
            check=True,
            capture_output=True,
            env=env,
        )
        lock = Path(tmp) / "env.lock"
        lock.write_text(
            subprocess.run(
                [str(base / "bin" / "conda"), "list", "--explicit", "--md5", "-p", str(first)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
        )
        prefixes = [first] + [Path(tmp) / "envs" / f"env{i}" for i in range(1, 5)]
        for prefix in prefixes[1:]:
            shutil.copytree(first, prefix, symlinks=True)
        packages = len(list((first / "conda-meta").glob("*.json")))
        files = sum(len(json.loads(p.read_text())["files"]) for p in (first / "conda-meta").glob("*.json"))
        wanted = {
            "lock": {"lock_file": str(lock)},
            "specs": {"environment": {"channels": ["conda-forge"], "dependencies": SPEC}},
        }
        totals: dict = {name: [] for name in wanted}
        for _round in range(args.rounds):
            for name, spec in wanted.items():
                start = time.perf_counter()
                for prefix in prefixes:
                    result = run_module(
                        conda_env.main,
                        {"prefix": str(prefix), "root_prefix": str(base), **spec},
                        check_mode=True,
                        command_double=run_command,
                    )
                    assert result["drift"]["in_sync"], result
                totals[name].append(time.perf_counter() - start)
    server.shutdown()
    print(f"{len(prefixes)} envs x {packages} packages ({files} files per env), in sync, check mode")
    for name, times in totals.items():
        print(
            f"no-op drift check per node against the {name}: median {statistics.median(times) * 1000:.1f} ms "
            f"(min {min(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms) over {args.rounds} rounds"
        )


if __name__ == "__main__":
    main()
