"""Unit tests for hpcenv.gpu_cluster.shared_env_metrics (node_exporter textfiles)."""

from __future__ import annotations

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _prom
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import shared_env_metrics

from .runner import run_module

DRIFTING = {
    "name": "shared_ml",
    "variant": "cuda12.4",
    "in_sync": False,
    "missing": ["six"],
    "extra": ["tqdm", "requests"],
    "changed": [],
    "active": "shared_ml-227a1be227d8-20261125154224",
    "lock_id": "227a1be227d8",
}


def test_writes_the_state_and_the_check_time(tmp_path):
    result = run_module(shared_env_metrics.main, {**DRIFTING, "dir": str(tmp_path), "checked_at": 1764081744.5})
    path = tmp_path / "hpcenv_shared_env_shared_ml.prom"
    assert result["changed"] is True and result["path"] == str(path)
    lines = path.read_text().splitlines()
    labels = 'env="shared_ml",variant="cuda12.4"'
    assert f"hpcenv_shared_env_in_sync{{{labels}}} 0" in lines
    assert f"hpcenv_shared_env_missing_packages{{{labels}}} 1" in lines
    assert f"hpcenv_shared_env_extra_packages{{{labels}}} 2" in lines
    assert f"hpcenv_shared_env_changed_packages{{{labels}}} 0" in lines
    assert (
        f'hpcenv_shared_env_info{{{labels},version="shared_ml-227a1be227d8-20261125154224",lock="227a1be227d8"}} 1'
        in lines
    )
    assert f"hpcenv_shared_env_last_check_timestamp_seconds{{{labels}}} 1764081744.5" in lines
    assert "# TYPE hpcenv_shared_env_in_sync gauge" in lines
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert not list(tmp_path.glob("*.tmp")), "no temporary file is left behind"


def test_a_later_check_of_the_same_state_is_no_change_but_refreshes_the_time(tmp_path):
    run_module(shared_env_metrics.main, {**DRIFTING, "dir": str(tmp_path), "checked_at": 100.0})
    again = run_module(shared_env_metrics.main, {**DRIFTING, "dir": str(tmp_path), "checked_at": 200.0})
    assert again["changed"] is False
    assert "} 200" in (tmp_path / "hpcenv_shared_env_shared_ml.prom").read_text()


def test_a_repaired_env_is_a_change(tmp_path):
    run_module(shared_env_metrics.main, {**DRIFTING, "dir": str(tmp_path)})
    repaired = {
        **DRIFTING,
        "in_sync": True,
        "missing": [],
        "extra": [],
        "active": "shared_ml-227a1be227d8-20261126020000",
    }
    result = run_module(shared_env_metrics.main, {**repaired, "dir": str(tmp_path)}, diff=True)
    assert result["changed"] is True
    assert "in_sync" in result["diff"]["after"] and result["diff"]["before"] != result["diff"]["after"]
    assert 'hpcenv_shared_env_in_sync{env="shared_ml",variant="cuda12.4"} 1' in result["text"]


def test_check_mode_writes_nothing(tmp_path):
    result = run_module(shared_env_metrics.main, {**DRIFTING, "dir": str(tmp_path)}, check_mode=True)
    assert result["changed"] is True
    assert list(tmp_path.iterdir()) == []


def test_absent_removes_the_file(tmp_path):
    run_module(shared_env_metrics.main, {**DRIFTING, "dir": str(tmp_path)})
    result = run_module(shared_env_metrics.main, {"name": "shared_ml", "dir": str(tmp_path), "state": "absent"})
    assert result["changed"] is True and list(tmp_path.iterdir()) == []
    again = run_module(shared_env_metrics.main, {"name": "shared_ml", "dir": str(tmp_path), "state": "absent"})
    assert again["changed"] is False


def test_a_missing_directory_fails_with_what_to_do(tmp_path):
    result = run_module(shared_env_metrics.main, {**DRIFTING, "dir": str(tmp_path / "node-exporter")})
    assert result["failed"] and "install node_exporter" in result["msg"]


def test_check_mode_before_the_directory_exists_says_it_would_write(tmp_path):
    # On a fresh node the role creates the directory only in a real run.
    missing = tmp_path / "node-exporter"
    result = run_module(shared_env_metrics.main, {**DRIFTING, "dir": str(missing)}, check_mode=True)
    assert result["changed"] is True and not result.get("failed")
    assert not missing.exists()


def test_a_name_with_a_slash_is_refused(tmp_path):
    result = run_module(shared_env_metrics.main, {**DRIFTING, "name": "../x", "dir": str(tmp_path)})
    assert result["failed"] and "invalid environment name" in result["msg"]


def test_label_values_are_escaped():
    text = _prom.render(
        [{"name": "m", "help": "h", "samples": [({"a": 'say "hi"\\\n'}, 1)]}],
    )
    assert 'm{a="say \\"hi\\"\\\\\\n"} 1' in text.splitlines()
