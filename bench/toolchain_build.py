"""Benchmark: build the offline toolchain (origin channel + both installers) from scratch.

    .venv/bin/python -m bench.toolchain_build [--runs 3]

Prints one line per run and the median. The target (issue: offline toolchain)
is under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tests.support.toolchain import build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            build.build(Path(tmp), force=True)
            times.append(time.perf_counter() - start)
        print(f"run {run + 1}: {times[-1]:.2f} s")
    print(f"toolchain build from scratch: median {statistics.median(times):.2f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
