"""Unit tests for hpcenv.gpu_cluster.conda_env, driven by test_conda_env.yaml."""

from __future__ import annotations

import json
import os
from pathlib import Path
from unittest import mock

import pytest
import yaml

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_meta
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import conda_env

from .runner import check_result, run_module
from .runner import substitute_root as _sub

CASES = yaml.safe_load((Path(__file__).with_suffix(".yaml")).read_text())


def _record_files(records: dict) -> dict:
    """conda-meta/*.json (and the file each one installs) for name-version-build shorthands."""
    files = {}
    for prefix, packages in records.items():
        files[f"{prefix}/conda-meta/history"] = ""
        for pkg in packages:
            name, version, build = pkg.rsplit("-", 2)
            record = {"name": name, "version": version, "build": build, "files": [f"share/{name}.txt"]}
            files[f"{prefix}/conda-meta/{pkg}.json"] = json.dumps(record)
            files[f"{prefix}/share/{name}.txt"] = pkg
    return files


def _write(root: Path, files: dict) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def _snapshot(root: Path, rel: str) -> dict:
    base = root / rel
    return {str(p.relative_to(base)): p.read_text() for p in base.rglob("*") if p.is_file()} if base.exists() else {}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_conda_env(case, tmp_path):
    root = str(tmp_path)
    _write(tmp_path, {"conda/bin/conda": "", "conda/conda-meta/history": ""})
    _write(tmp_path, _sub(case.get("layout", {}), root))
    _write(tmp_path, _record_files(case.get("records", {})))
    for rel in case.get("delete", []):
        os.unlink(tmp_path / rel)
    commands = _sub(case.get("commands", []), root)
    for step in commands:
        if "records_after" in step:
            for prefix in step["records_after"]:
                step.setdefault("removes", []).append(prefix) if (tmp_path / prefix).exists() else None
            step["writes"] = _record_files(step.pop("records_after"))
    before = {rel: _snapshot(tmp_path, rel) for rel in case.get("unchanged", [])}
    args = {"root_prefix": f"{root}/conda", **_sub(case["args"], root)}
    bases = (os.path.join(root, "etc/conda"),)
    with mock.patch.object(_conda_meta, "SYSTEM_CONDARC_BASES", bases):
        result = run_module(
            conda_env.main, args, commands=commands, check_mode=case.get("check_mode", False), effects_root=root
        )
        if case.get("rerun_unchanged"):
            again = run_module(conda_env.main, args, effects_root=root)
            assert again["changed"] is False, "second run must not change anything"
    check_result(result, _sub(case["expect"], root))
    for rel, snapshot in before.items():
        assert _snapshot(tmp_path, rel) == snapshot, f"{rel} changed"
    for rel in case.get("absent_after", []):
        assert not (tmp_path / rel).exists()


def test_diff_mode_is_package_level(tmp_path):
    _write(tmp_path, {"conda/bin/conda": ""})
    _write(tmp_path, _record_files({"env": ["zlib-1.2.13-h0_0"]}))
    (tmp_path / "lock.txt").write_text("@EXPLICIT\nhttp://up/c/linux-64/zlib-1.3.1-h0_0.conda#a\n")
    result = run_module(
        conda_env.main,
        {
            "prefix": str(tmp_path / "env"),
            "lock_file": str(tmp_path / "lock.txt"),
            "root_prefix": str(tmp_path / "conda"),
        },
        check_mode=True,
        diff=True,
    )
    assert result["diff"]["before"] == "zlib 1.2.13 h0_0\n"
    assert result["diff"]["after"] == "zlib 1.3.1 h0_0\n"
