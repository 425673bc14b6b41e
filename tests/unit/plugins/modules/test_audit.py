"""The node's audit log: one JSON line per change, from the process that made it.

Each module that changes a node writes its own lines (plugins/module_utils/_audit.py); the
`audit` fixture (tests/unit/plugins/conftest.py) keeps the log in tmp_path and the journal
copy in a list.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import stat

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _audit
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import audit_log, condarc, managed_paths

from .runner import run_module
from .test_managed_paths import RealCommands, wanted
from .test_shared_env import OTHER_LOCK, converge


def _what(audit) -> list[str]:
    return [line["what"] for line in audit.lines()]


def test_shared_env_logs_build_swap_repair_rollback_prune_and_nothing_for_a_no_op(tmp_path, audit):
    first = converge(tmp_path, lock=OTHER_LOCK)["active"]
    assert _what(audit) == ["build", "swap"]
    build, swap = audit.lines()
    assert build["subject"] == swap["subject"] == "shared_ml" and build["after"] == swap["after"] == first
    assert swap["before"] is None and swap["run"] == "unit test" and swap["lock_id"] == first.split("-")[1]

    converge(tmp_path, lock=OTHER_LOCK)
    converge(tmp_path, lock=OTHER_LOCK, check_mode=True)
    assert len(audit.lines()) == 2, "a no-op and a check-mode run write nothing"

    second = converge(tmp_path)["active"]
    assert _what(audit)[2:] == ["build", "swap"] and audit.lines()[-1]["before"] == first

    converge(tmp_path, rollback=True)
    assert _what(audit)[4:] == ["rollback"] and (audit.lines()[-1]["before"], audit.lines()[-1]["after"]) == (
        second,
        first,
    )
    converge(tmp_path)  # the kept version of this lock is made active again, without a build
    assert _what(audit)[5:] == ["swap"] and audit.lines()[-1]["after"] == second

    record = next((tmp_path / "envs" / "shared_ml" / "conda-meta").glob("six-*.json"))
    record.write_text(record.read_text()[:20])
    repaired = converge(tmp_path, keep_versions=2)["active"]
    assert _what(audit)[6:] == ["build", "repair", "prune"]
    assert (audit.lines()[7]["before"], audit.lines()[7]["after"]) == (second, repaired)
    assert audit.lines()[8]["before"] == [first]


def test_the_log_is_root_only_and_each_line_goes_to_the_journal(tmp_path, audit):
    converge(tmp_path)
    assert stat.S_IMODE(os.stat(audit.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(audit.path.parent).st_mode) == 0o700
    sent = [json.loads(message) for ident, _priority, message in audit.journal.sent if ident == _audit.IDENT]
    assert sent == audit.lines()


def test_condarc_logs_the_keys_that_changed_with_credentials_masked(tmp_path, audit):
    path = tmp_path / "condarc"
    path.write_text("channels: [conda-forge]\nssl_verify: true\n")
    channel = "https://alice:pw@conda.example.org/t/abc-123/private"
    run_module(condarc.main, {"path": str(path), "settings": {"channels": [channel]}, "final": ["channels"]})
    (line,) = audit.lines()
    assert line["what"] == "condarc" and line["subject"] == str(path) and line["keys"] == ["channels"]
    assert line["before"] == {"channels": ["conda-forge"]}
    assert line["after"] == {"channels": {"value": ["https://***@conda.example.org/t/<TOKEN>/private"], "final": True}}
    assert "pw" not in audit.path.read_text() and "abc-123" not in audit.path.read_text()
    run_module(condarc.main, {"path": str(path), "settings": {"channels": [channel]}, "final": ["channels"]})
    assert len(audit.lines()) == 1


def test_managed_paths_logs_the_paths_it_changed_never_their_content(tmp_path, audit):
    args = {"paths": wanted(tmp_path), "manifest": None}
    run_module(managed_paths.main, args, command_double=RealCommands())
    (line,) = audit.lines()
    made = [p["path"] for p in wanted(tmp_path) if p.get("state") != "absent"]
    assert line["what"] == "paths" and line["after"] == made and "removed" not in line
    assert "s3cret" not in audit.path.read_text()
    run_module(managed_paths.main, args, command_double=RealCommands())
    assert len(audit.lines()) == 1


def test_audit_log_module_writes_one_line_and_reports_no_change(tmp_path, audit):
    args = {"what": "group-members-removed", "subject": "docker", "before": ["bob"], "after": [], "run": "site"}
    result = run_module(audit_log.main, {**args, "details": {"allowed": ["admin1"]}})
    assert result["changed"] is False
    (line,) = audit.lines()
    assert {k: line[k] for k in ("what", "subject", "before", "after", "run", "allowed")} == {
        **args,
        "allowed": ["admin1"],
    }
    assert run_module(audit_log.main, args, check_mode=True)["entry"]["what"] == "group-members-removed"
    assert len(audit.lines()) == 1, "check mode writes nothing"
    failed = run_module(audit_log.main, {**args, "details": {"what": "x"}})
    assert failed["failed"] and "'what'" in failed["msg"]


def _append_many(path: str, writer: int) -> None:
    for n in range(200):
        _audit.append(path, [_audit.entry("test", f"w{writer}", None, n, padding="x" * 3000)])


@pytest.mark.parametrize("writers", [4])
def test_overlapping_writers_lose_and_interleave_no_line(tmp_path, monkeypatch, writers):
    monkeypatch.setattr(_audit, "syslog", type("Quiet", (), {"__getattr__": lambda self, _: lambda *a: None})())
    path = str(tmp_path / "log" / "audit.jsonl")
    procs = [multiprocessing.Process(target=_append_many, args=(path, w)) for w in range(writers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    with open(path, encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    assert len(lines) == 200 * writers
    for w in range(writers):
        assert [line["after"] for line in lines if line["subject"] == f"w{w}"] == list(range(200))


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("https://conda.anaconda.org/t/abc-123", "https://conda.anaconda.org/t/<TOKEN>"),
        ("https://conda.anaconda.org/t/abc-123/conda-forge", "https://conda.anaconda.org/t/<TOKEN>/conda-forge"),
        ("https://me:pw@proxy:3128", "https://***@proxy:3128"),
        ("https://repo.example/simple?token=s3cret&x=1", "https://repo.example/simple?token=<TOKEN>&x=1"),
        ({"proxy_servers": {"https": "http://u:p@p:80"}}, {"proxy_servers": {"https": "http://***@p:80"}}),
        ("conda-forge", "conda-forge"),
    ],
)
def test_credentials_are_masked_wherever_they_sit_in_a_value(value, masked):
    assert _audit.mask(value) == masked
