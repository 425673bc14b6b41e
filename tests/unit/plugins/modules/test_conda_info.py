"""Unit tests for hpcenv.gpu_cluster.conda_info, driven by test_conda_info.yaml."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
import yaml

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_meta
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import conda_info

from .runner import check_result, run_module
from .runner import substitute_root as _sub

CASES = yaml.safe_load((Path(__file__).with_suffix(".yaml")).read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_conda_info(case, tmp_path):
    root = str(tmp_path)
    for rel, content in case["layout"].items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_sub(content, root))
    bases = (os.path.join(root, "etc/conda"), os.path.join(root, "var/lib/conda"))
    with mock.patch.object(_conda_meta, "SYSTEM_CONDARC_BASES", bases):
        result = run_module(conda_info.main, _sub(case["args"], root), commands=_sub(case.get("commands"), root))
    if not check_result(result, _sub(case["expect"], root)):
        assert result["changed"] is False


def test_symlinked_prefix_reports_its_target(tmp_path):
    real = tmp_path / "conda.d" / "base-24.11.3-0"
    (real / "conda-meta").mkdir(parents=True)
    (real / "bin").mkdir()
    (real / "bin" / "conda").write_text("")
    (tmp_path / "conda").symlink_to(real)
    with mock.patch.object(_conda_meta, "SYSTEM_CONDARC_BASES", ()):
        result = run_module(conda_info.main, {"prefix": str(tmp_path / "conda")}, check_mode=True)
    assert result["installed"] is True
    assert result["real_prefix"] == str(real)
    assert result["envs"][0] == {"name": "base", "prefix": str(tmp_path / "conda"), "target": str(real)}
