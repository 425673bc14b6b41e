"""TEST DOUBLE: the installer's post-extract step, as constructor's conda-standalone does it.

    python3 bootstrap.py PAYLOAD PREFIX

Runs with the node's own Python. Picks the base specs recorded for that Python's
version (PAYLOAD/base.json), solves them against the installer's own channel
(PAYLOAD/channel, no network) and links the packages into PREFIX with py-rattler:
PREFIX/conda-meta then holds real records, PREFIX/bin/conda is the entry point of
the real conda package, PREFIX/pkgs keeps the extracted packages. Re-running it
on an existing prefix (installer -u) updates the base in place.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import rattler


def main(payload: str, prefix: str) -> int:
    base = json.loads((Path(payload) / "base.json").read_text())
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    specs = base["specs"].get(python)
    if specs is None:
        print(
            f"ERROR: this installer supports Python {', '.join(base['specs'])}, the node has {python}", file=sys.stderr
        )
        return 1
    root = Path(prefix)
    channel_dir = Path(payload) / "channel"
    channel = rattler.Channel(channel_dir.as_uri())
    sparse = [
        rattler.SparseRepoData(channel, subdir, str(channel_dir / subdir / "repodata.json"))
        for subdir in ("linux-64", "noarch")
    ]
    records = asyncio.run(rattler.solve_with_sparse_repodata([rattler.MatchSpec(s) for s in specs], sparse))
    meta = root / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    current = [rattler.PrefixRecord.from_path(p) for p in sorted(meta.glob("*.json"))]
    tag = root / "CACHEDIR.TAG"
    had_tag = tag.exists()
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
    if not had_tag:
        tag.unlink(missing_ok=True)  # py-rattler tags the folder above its package cache
    with (meta / "history").open("a") as fh:
        fh.write(f"==> installer <==\n# cmd: installer\n# update specs: {json.dumps(specs)}\n")
    (root / "envs").mkdir(exist_ok=True)
    condarc = root / ".condarc"
    if base.get("condarc") and not condarc.exists():
        condarc.write_text(base["condarc"])
    return 0


if __name__ == "__main__":
    rc = main(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)  # skip finalization of py-rattler's runtime (it can hang at interpreter exit)
