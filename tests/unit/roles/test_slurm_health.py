"""Unit tests for Slurm's health check program (roles/slurm_health/files/hpcenv_slurm_health.py).

It reads the metrics files as the shared_envs modules write them (module_utils _env_metrics), so
the program and the writer agree on one format; sinfo and scontrol are replaced by recorders.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _env_metrics

from .role_files import load_role_file

health = load_role_file("slurm_health", "hpcenv_slurm_health.py")
PREFIX = "hpcenv:"


def publish(directory, name, in_sync, missing=(), extra=(), changed=()):
    state = {
        "variant": "cpu",
        "in_sync": in_sync,
        "missing": list(missing),
        "extra": list(extra),
        "changed": list(changed),
        "active": f"{name}-abc-1",
        "lock_id": "abc",
    }
    _env_metrics.publish(str(directory), name, state, check_mode=False, checked_at=1.0)


def test_reads_each_env_as_the_metrics_writer_wrote_it(tmp_path):
    publish(tmp_path, "shared_ml", False, changed=["numpy"], missing=["six", "tqdm"])
    publish(tmp_path, 'odd "name"', True)
    (tmp_path / "node_cpu.prom").write_text('node_cpu{cpu="0"} 1\n')  # someone else's file
    assert health.read_envs(str(tmp_path)) == {
        "shared_ml": {"in_sync": False, "missing": 2, "extra": 0, "changed": 1},
        'odd "name"': {"in_sync": True, "missing": 0, "extra": 0, "changed": 0},
    }
    assert health.read_envs(str(tmp_path / "nothing-here")) == {}


DRIFTED = {"shared_ml": {"in_sync": False, "missing": 0, "extra": 1, "changed": 2}, "b": {"in_sync": True}}
REASON = (
    "hpcenv: shared env shared_ml (0 missing, 1 extra, 2 changed) out of sync with the lock; "
    "drift.yml -e correct=true repairs"
)
IN_SYNC = {"shared_ml": {"in_sync": True}}


@pytest.mark.parametrize(
    ("envs", "reason", "wanted"),
    [
        (DRIFTED, "none", ("drain", REASON)),
        (DRIFTED, REASON, ("none", None)),  # said already
        (DRIFTED, "hpcenv: shared env other (...)", ("drain", REASON)),  # ours, other envs now
        (DRIFTED, "maintenance: fan", ("none", None)),  # an admin's drain keeps its reason
        (DRIFTED, "Not responding", ("none", None)),  # a down node is Slurm's business
        (DRIFTED, "hpcenv: reboot for the new driver", ("none", None)),  # an admin's, with our prefix
        (IN_SYNC, REASON, ("undrain", None)),
        (IN_SYNC, "maintenance: fan", ("none", None)),  # never undrained by us
        (IN_SYNC, "bad gpu", ("none", None)),
        (IN_SYNC, "none", ("none", None)),
    ],
)
def test_decide(envs, reason, wanted):
    assert health.decide(envs, reason, PREFIX) == wanted


def test_values_that_are_no_numbers_are_skipped_and_links_are_not_followed(tmp_path):
    (tmp_path / "hpcenv_shared_env_a.prom").write_text(
        'hpcenv_shared_env_in_sync{env="a",variant="cpu"} 0\nhpcenv_shared_env_missing_packages{env="a"} NaN\n'
        'hpcenv_shared_env_extra_packages{env="a"} +Inf\n'
    )
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text('hpcenv_shared_env_in_sync{env="b",variant="cpu"} 0\n')
    (tmp_path / "hpcenv_shared_env_b.prom").symlink_to(elsewhere)
    assert health.read_envs(str(tmp_path)) == {"a": {"in_sync": False, "missing": 0, "extra": 0, "changed": 0}}


def test_two_envs_are_named_in_one_reason():
    envs = {name: {"in_sync": False, "missing": 1, "extra": 0, "changed": 0} for name in ("b_env", "a_env")}
    reason = health.drift_reason(envs, "site:")
    assert reason.startswith("site: shared envs a_env (1 missing, 0 extra, 0 changed), b_env")


class Slurm:
    """sinfo and scontrol, as the recorder of what the program asked (a node in STATE with REASON)."""

    def __init__(self, state, reason, fail=False):
        self.state, self.reason, self.fail, self.calls = state, reason, fail, []

    def __call__(self, argv, **_kwargs):
        self.calls.append(argv)
        if self.fail:
            raise subprocess.CalledProcessError(1, argv, stderr="Unable to contact slurm controller")
        out = f"{self.state}|{self.reason}\n" if argv[0].endswith("/sinfo") else ""
        return subprocess.CompletedProcess(argv, 0, stdout=out, stderr="")


@pytest.fixture
def node(tmp_path, monkeypatch):
    config = tmp_path / "slurm-health.json"
    settings = {"metrics_dir": str(tmp_path / "metrics"), "prefix": PREFIX, "slurm_bin_dir": "/opt/slurm/bin"}
    config.write_text(json.dumps(settings))
    (tmp_path / "metrics").mkdir()
    monkeypatch.setenv("SLURMD_NODENAME", "gpu07")
    monkeypatch.setattr(health, "syslog", None)  # the journal of the test host is not the node's
    return tmp_path, ["--config", str(config)]


def test_drains_a_drifted_node_and_names_the_env(node, monkeypatch):
    tmp_path, args = node
    publish(tmp_path / "metrics", "shared_ml", False, changed=["numpy"])
    slurm = Slurm("idle", "none")
    monkeypatch.setattr(health.subprocess, "run", slurm)
    assert health.main(args) == 0
    assert slurm.calls[0][:2] == ["/opt/slurm/bin/sinfo", "--noheader"] and "gpu07" in slurm.calls[0]
    assert slurm.calls[1][:4] == ["/opt/slurm/bin/scontrol", "update", "NodeName=gpu07", "State=DRAIN"]
    assert slurm.calls[1][4].startswith("Reason=hpcenv: shared env shared_ml (0 missing, 0 extra, 1 changed)")


def test_undrains_only_its_own_drain(node, monkeypatch):
    tmp_path, args = node
    publish(tmp_path / "metrics", "shared_ml", True)
    ours = Slurm("drained", REASON)
    monkeypatch.setattr(health.subprocess, "run", ours)
    assert health.main(args) == 0
    assert ours.calls[1] == ["/opt/slurm/bin/scontrol", "update", "NodeName=gpu07", "State=UNDRAIN"]
    admins = Slurm("drained", "maintenance: fan")
    monkeypatch.setattr(health.subprocess, "run", admins)
    assert health.main(args) == 0 and len(admins.calls) == 1  # sinfo only


def test_dry_run_and_no_metrics_change_nothing(node, monkeypatch, capsys):
    tmp_path, args = node
    slurm = Slurm("idle", "none")
    monkeypatch.setattr(health.subprocess, "run", slurm)
    assert health.main(args) == 0 and slurm.calls == []  # no drift check yet: nothing to judge by
    publish(tmp_path / "metrics", "shared_ml", False)
    assert health.main([*args, "--dry-run"]) == 0 and len(slurm.calls) == 1
    out = capsys.readouterr().out
    assert out.startswith("/opt/slurm/bin/scontrol update NodeName=gpu07 State=DRAIN Reason=hpcenv: shared env")


def test_envs_to_ignore_are_never_drained_for(node, monkeypatch):
    tmp_path, args = node
    config = Path(args[1])
    config.write_text(json.dumps({**json.loads(config.read_text()), "ignore_envs": ["shared_ml"]}))
    publish(tmp_path / "metrics", "shared_ml", False)  # rolled back on purpose, say
    slurm = Slurm("idle", "none")
    monkeypatch.setattr(health.subprocess, "run", slurm)
    assert health.main(args) == 0 and slurm.calls == []


def test_an_unreachable_controller_is_logged_not_a_traceback(node, monkeypatch, capsys):
    tmp_path, args = node
    publish(tmp_path / "metrics", "shared_ml", False)
    monkeypatch.setattr(health.subprocess, "run", Slurm("idle", "none", fail=True))
    assert health.main(args) == 1
    assert "cannot read gpu07's state from Slurm" in capsys.readouterr().err


def test_a_broken_settings_file_is_named(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setattr(health, "syslog", None)
    assert health.main(["--config", str(bad)]) == 1
    assert f"cannot read {bad}" in capsys.readouterr().err
