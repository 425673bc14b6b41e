"""Unit tests for hpcenv.gpu_cluster.condarc, driven by test_condarc.yaml."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from ansible_collections.hpcenv.gpu_cluster.plugins.modules import condarc

from .runner import run_module

CASES = yaml.safe_load((Path(__file__).with_suffix(".yaml")).read_text())


def _file(path: Path):
    return path.read_text() if path.exists() else None


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_condarc(case, tmp_path):
    path = tmp_path / "etc" / "conda" / ".condarc"
    if case["before"] is not None:
        path.parent.mkdir(parents=True)
        path.write_text(case["before"])
    args = {"path": str(path), **case["args"]}
    expect = case["expect"]

    result = run_module(condarc.main, args)

    if expect.get("failed"):
        assert result.get("failed"), result
        assert expect["msg_contains"] in result["msg"]
        assert _file(path) == case["before"], "a failed run must leave the file as it was"
        return
    assert not result.get("failed"), result["msg"] if result.get("failed") else ""
    for key, value in expect.items():
        if key == "file":
            assert _file(path) == value
        else:
            assert result[key] == value, key
    again = run_module(condarc.main, args)
    assert again["changed"] is False, "second run must be idempotent"
    assert _file(path) == (expect.get("file") or _file(path))


def test_check_mode_reports_without_writing(tmp_path):
    path = tmp_path / ".condarc"
    result = run_module(condarc.main, {"path": str(path), "settings": {"channels": ["conda-forge"]}}, check_mode=True)
    assert result["changed"] is True
    assert result["config"] == {"channels": ["conda-forge"]}
    assert not path.exists()


def test_diff_mode_shows_before_and_after(tmp_path):
    path = tmp_path / ".condarc"
    path.write_text("channels: [defaults]\n")
    result = run_module(condarc.main, {"path": str(path), "settings": {"channels": ["conda-forge"]}}, diff=True)
    assert result["diff"]["before"] == "channels: [defaults]\n"
    assert "- conda-forge" in result["diff"]["after"]


def test_new_file_is_world_readable_and_mode_is_applied(tmp_path):
    path = tmp_path / ".condarc"
    run_module(condarc.main, {"path": str(path), "settings": {"channels": ["conda-forge"]}})
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    result = run_module(condarc.main, {"path": str(path), "settings": {"channels": ["conda-forge"]}, "mode": "0640"})
    assert result["changed"] is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_a_directory_path_is_refused(tmp_path):
    result = run_module(condarc.main, {"path": str(tmp_path), "settings": {"channels": ["conda-forge"]}})
    assert result["failed"] and "is a directory" in result["msg"]
