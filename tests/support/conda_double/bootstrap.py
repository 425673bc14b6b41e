"""TEST DOUBLE: the installer's post-extract step: link the base packages.

    python3 -m conda_double.bootstrap PREFIX

Solves the installer's pinned base specs against the payload channel in
PREFIX/pkgs/installer-channel (no network) and links them into PREFIX with
py-rattler, so PREFIX/conda-meta holds real package records, as a constructor
installer's does. Re-running it (installer -u) upgrades the base in place.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import rattler


def main(prefix: str) -> int:
    root = Path(prefix)
    channel_dir = root / "pkgs" / "installer-channel"
    specs = json.loads((channel_dir / "base-specs.json").read_text())
    channel = rattler.Channel(channel_dir.as_uri())
    sparse = [
        rattler.SparseRepoData(channel, subdir, str(channel_dir / subdir / "repodata.json"))
        for subdir in ("linux-64", "noarch")
    ]
    records = asyncio.run(rattler.solve_with_sparse_repodata([rattler.MatchSpec(s) for s in specs], sparse))
    meta = root / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    current = [rattler.PrefixRecord.from_path(p) for p in sorted(meta.glob("*.json"))]
    keep = [r for r in current if r.name.normalized not in {rec.name.normalized for rec in records}]
    asyncio.run(
        rattler.install(
            records + keep,
            target_prefix=str(root),
            cache_dir=str(root / "pkgs"),
            installed_packages=current,
            show_progress=False,
            # py-rattler 0.28 hands these to Rust unconverted: pass the inner objects.
            requested_specs=[rattler.MatchSpec(s)._match_spec for s in specs],
            execute_link_scripts=False,
        )
    )
    with (meta / "history").open("a") as fh:
        fh.write(f"==> installer <==\n# cmd: installer\n# update specs: {json.dumps(specs)}\n")
    for sub in ("envs", "pkgs"):
        (root / sub).mkdir(exist_ok=True)
    return 0


if __name__ == "__main__":
    rc = main(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)  # see __main__.py: skip finalization of py-rattler's runtime
