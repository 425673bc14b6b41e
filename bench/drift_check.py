"""Benchmark: the no-op drift check of one node: conda_env (check mode, lock file)
over 5 environments of 30+ packages each.

    .venv/bin/python -m bench.drift_check [--rounds 20]

Builds one real environment with the offline toolchain (TEST DOUBLES: origin
channel, installer, conda double), copies it to 5 prefixes, exports its lock,
then times the module's main() in-process (no Ansible transport): that is the
work each node does per nightly drift run. Prints per-round totals and the median.
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
        (base / ".condarc").write_text(f"channel_alias: {url}\nchannels: [conda-forge]\n")
        env = {"HOME": tmp, "PATH": "/usr/bin:/bin"}
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
        totals = []
        for _round in range(args.rounds):
            start = time.perf_counter()
            for prefix in prefixes:
                result = run_module(
                    conda_env.main,
                    {"prefix": str(prefix), "lock_file": str(lock), "root_prefix": str(base)},
                    check_mode=True,
                )
                assert result["drift"]["in_sync"], result
            totals.append(time.perf_counter() - start)
    server.shutdown()
    print(f"{len(prefixes)} envs x {packages} packages ({files} files per env), in sync, check mode")
    print(
        f"no-op drift check per node: median {statistics.median(totals) * 1000:.1f} ms "
        f"(min {min(totals) * 1000:.1f} ms, max {max(totals) * 1000:.1f} ms) over {args.rounds} rounds"
    )


if __name__ == "__main__":
    main()
