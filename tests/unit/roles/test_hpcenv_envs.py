"""Unit tests for the users' command hpcenv-envs (roles/shared_envs/files/hpcenv_envs.py).

It runs from a catalogue directory of pages made by the module_utils that the shared_env
module writes them with, so the command and the writer agree on one format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _catalogue

from . import load_role_file

KINDS = ("added", "removed", "upgraded", "downgraded", "rebuilt", "changed")


def _changes(**given) -> dict:
    return {kind: given.get(kind, []) for kind in KINDS}


RECORDED = [
    {"version": "v1", "lock_id": "aaaaaaaaaaaa", "created": "2026-12-01T10:00:00Z", "by": "admin",
     "summary": "no change", "changes": _changes()},
    {"version": "v2", "lock_id": "bbbbbbbbbbbb", "created": "2026-12-02T10:00:00Z", "by": "admin",
     "summary": "1 added", "changes": _changes(added=[{"name": "tqdm", "version": "4.66.5", "build": "pyhd8ed1ab_0"}])},
    {"version": "v3", "lock_id": "cccccccccccc", "created": "2026-12-03T10:00:00Z", "by": "ops", "commit": "1a2b3c4",
     "summary": "1 upgraded", "changes": _changes(upgraded=[
         {"name": "numpy", "from": "2.0.2", "to": "2.1.3", "from_build": "py311h0_0", "to_build": "py311h0_0"}])},
]  # fmt: skip


def write_page(catalogue: Path, recorded: list, kept: list, active: str) -> None:
    """shared_ml's catalogue page (JSON and Markdown), as the shared_env module writes it."""
    page = _catalogue.entry("shared_ml", "/opt/conda.d/envs", recorded, kept, active, "cpu", "linux-64")
    (catalogue / "shared_ml.json").write_text(_catalogue.as_json(page))
    (catalogue / "shared_ml.md").write_text(_catalogue.as_markdown(page))


@pytest.fixture
def command(tmp_path, monkeypatch, capsys):
    kept = ["shared_ml-bbbbbbbbbbbb-20261202100000", "shared_ml-cccccccccccc-20261203100000"]
    write_page(tmp_path, RECORDED, kept, kept[1])
    module = load_role_file("shared_envs", "hpcenv_envs.py")
    monkeypatch.setattr(module, "CATALOGUE", str(tmp_path))

    def run(*argv):
        code = module.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_list_shows_active_and_kept_versions(command):
    code, out, _err = command("list")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["NAME", "ACTIVE", "VARIANT", "ON", "THIS", "NODE", "VERSIONS"]
    assert row.split() == ["shared_ml", "v3", "cpu", "v2", "v3", "3"]


def test_diff_of_two_versions_prints_each_step_with_its_packages(command):
    code, out, _err = command("diff", "shared_ml", "v1", "v3")
    assert code == 0
    assert out.splitlines() == [
        "shared_ml: from v1 to v3",
        "v2: 1 added",
        "  added tqdm 4.66.5 (pyhd8ed1ab_0)",
        "v3: 1 upgraded",
        "  upgraded numpy 2.0.2 -> 2.1.3",
    ]
    code, out, _err = command("diff", "shared_ml", "active", "v2", "--json")
    assert code == 0 and json.loads(out)["from"] == "v3" and [s["version"] for s in json.loads(out)["steps"]] == ["v3"]


def test_show_prints_the_markdown_page_or_one_version(command):
    code, out, _err = command("show", "shared_ml")
    assert code == 0 and "Active version: **v3**" in out and "- upgraded numpy 2.0.2 -> 2.1.3" in out
    code, out, _err = command("show", "shared_ml", "v1")
    assert code == 0 and "here:      not on this node" in out
    code, out, _err = command("show", "shared_ml", "cccccccccccc")
    assert "here:      active at /opt/conda.d/envs/.versions/shared_ml-cccccccccccc-20261203100000" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("show", "shared_dl"), "no shared environment named 'shared_dl' on this node; there are: shared_ml"),
        (("diff", "shared_ml", "v1", "v9"), "shared_ml has no version 'v9'; its versions are: v1, v2, v3"),
        (("show", "../etc/passwd"), "no shared environment named '../etc/passwd'"),
    ],
)
def test_unknown_names_say_what_there_is(command, argv, message):
    code, out, err = command(*argv)
    assert code == 2 and not out and message in err


def test_diff_follows_what_each_version_was_rolled_out_from(tmp_path, command):
    """v2 was rolled out, its spec put back (v1 current again), then v3 from v1: v2 -> v3 undoes v2."""
    recorded = [
        dict(RECORDED[0], **{"from": ""}),
        dict(RECORDED[1], **{"from": "v1"}),
        dict(RECORDED[2], **{"from": "v1"}),
    ]
    kept = ["shared_ml-cccccccccccc-20261203100000"]
    write_page(tmp_path, recorded, kept, kept[0])
    code, out, _err = command("diff", "shared_ml", "v2", "v3")
    assert code == 0
    assert out.splitlines() == [
        "shared_ml: from v2 to v3",
        "undo v2: 1 added",
        "  added tqdm 4.66.5 (pyhd8ed1ab_0)",
        "v3: 1 upgraded",
        "  upgraded numpy 2.0.2 -> 2.1.3",
    ]
    code, out, _err = command("diff", "shared_ml", "v1", "v3")
    assert out.splitlines()[1:] == ["v3: 1 upgraded", "  upgraded numpy 2.0.2 -> 2.1.3"], "v2 is not on v3's way"
    code, out, _err = command("diff", "shared_ml", "v3", "v1", "--json")
    assert [(s["version"], s["undo"]) for s in json.loads(out)["steps"]] == [("v3", True)]
