"""Unit tests for the users' command hpcenv-envs (roles/shared_envs/files/hpcenv_envs.py).

It runs from a catalogue directory of pages made by the module_utils that the shared_env
module writes them with, so the command and the writer agree on one format.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _catalogue, _usage

from .role_files import load_role_file

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


KEPT = ["shared_ml-bbbbbbbbbbbb-20261202100000", "shared_ml-cccccccccccc-20261203100000"]


def runner(catalogue: Path, monkeypatch, capsys):
    """hpcenv-envs reading CATALOGUE: run(*argv) -> (exit code, stdout, stderr)."""
    module = load_role_file("shared_envs", "hpcenv_envs.py")
    monkeypatch.setattr(module, "CATALOGUE", str(catalogue))

    def run(*argv):
        code = module.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    run.module = module
    return run


@pytest.fixture
def command(tmp_path, monkeypatch, capsys):
    write_page(tmp_path, RECORDED, KEPT, KEPT[1])
    return runner(tmp_path, monkeypatch, capsys)


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


@pytest.fixture
def cluster(tmp_path, monkeypatch, capsys):
    """A node's envs dir with shared_ml v2 and v3 kept (v3 active), each a real Python (this test's
    base interpreter), its stable names as the shared_envs role lays them, and the catalogue page."""
    envs, catalogue, kept = tmp_path / "envs", tmp_path / "catalogue", KEPT
    for directory in kept:
        # Each version a venv of this test's base Python (a prefix with its own site-packages, as a
        # conda env has), with a stand-in pip in it (TEST DOUBLE: prints its version and where it
        # would install).
        prefix = envs / ".versions" / directory
        subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", prefix], check=True)
        pip = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages" / "pip"
        pip.mkdir()
        (pip / "__init__.py").write_text("")
        (pip / "__main__.py").write_text("import sys\nprint('pip stand-in, installing into', sys.prefix)\n")
    (envs / "shared_ml").symlink_to(f".versions/{kept[1]}")
    (envs / "shared_ml-v2").symlink_to(f".versions/{kept[0]}")
    (envs / "shared_ml-v3").symlink_to(f".versions/{kept[1]}")
    catalogue.mkdir()
    page = _catalogue.entry("shared_ml", str(envs), RECORDED, kept, kept[1], "cpu", "linux-64")
    (catalogue / "shared_ml.json").write_text(_catalogue.as_json(page))
    return runner(catalogue, monkeypatch, capsys), envs, tmp_path


def test_extend_makes_a_layer_that_follows_the_active_version_and_fits(cluster):
    run, envs, tmp = cluster
    code, out, err = run("extend", "shared_ml", str(tmp / "layer"))
    assert code == 0, err
    assert "your layer over shared_ml (its active version, now v3)" in out
    record = json.loads((tmp / "layer" / "hpcenv-layer.json").read_text())
    made_for = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert record == {
        "env": "shared_ml",
        "follows": "active",
        "base": str(envs / "shared_ml"),
        "python": made_for,
        "made_over": {"version": "v3", "lock_id": "cccccccccccc"},
    }
    # The layer sees the env's site-packages through the env's stable name.
    layer_site = tmp / "layer" / "lib" / f"python{made_for}" / "site-packages"
    shared = envs / "shared_ml" / "lib" / f"python{made_for}" / "site-packages"
    assert (layer_site / "_hpcenv_shared_env.pth").read_text() == f"{shared}\n"
    assert '/hpcenv-envs" check "$VIRTUAL_ENV" --quiet' in (tmp / "layer" / "bin" / "activate").read_text()
    # Its python is the layer's; its pip is the env's, installing into the layer.
    layer = tmp / "layer" / "bin"
    seen = subprocess.run([layer / "python", "-c", "import sys; print(sys.prefix)"], capture_output=True, check=True)
    assert seen.stdout.decode().strip() == str(tmp / "layer")
    seen = subprocess.run([layer / "pip", "--version"], capture_output=True, check=True)
    assert seen.stdout.decode().strip() == f"pip stand-in, installing into {tmp / 'layer'}"
    assert run("check", str(tmp / "layer"), "--quiet") == (0, "", "")
    code, out, _err = run("check", str(tmp / "layer"))
    assert code == 0 and "fits shared_ml (active: shared_ml-cccccccccccc-20261203100000)" in out


def test_extend_a_pinned_version_and_refuse_one_not_kept_or_a_used_directory(cluster):
    run, envs, tmp = cluster
    code, _out, err = run("extend", "shared_ml", str(tmp / "pinned"), "--version", "v2")
    assert code == 0, err
    assert json.loads((tmp / "pinned" / "hpcenv-layer.json").read_text())["base"] == str(envs / "shared_ml-v2")
    code, _out, err = run("extend", "shared_ml", str(tmp / "old"), "--version", "v1")
    assert code == 2 and "v1 is not kept whole on this node" in err and "choose one of: v2, v3" in err
    assert not (tmp / "old").exists()
    code, _out, err = run("extend", "shared_ml", str(tmp / "pinned"))
    assert code == 2 and "exists and is not empty" in err


def test_check_says_what_to_do_when_the_layer_no_longer_fits(cluster):
    run, envs, tmp = cluster
    assert run("extend", "shared_ml", str(tmp / "pinned"), "--version", "v2")[0] == 0
    record_file = tmp / "pinned" / "hpcenv-layer.json"
    record = json.loads(record_file.read_text())
    record_file.write_text(json.dumps(dict(record, python="2.7")))
    code, _out, err = run("check", str(tmp / "pinned"), "--quiet")
    assert code == 2 and "this layer's packages are for 2.7 and not seen" in err
    assert "make a new layer (hpcenv-envs extend shared_ml NEW_DIR)" in err
    (envs / "shared_ml-v2").unlink()  # v2 pruned from the node
    code, _out, err = run("check", str(tmp / "pinned"))
    assert code == 2 and "is gone from this node (shared_ml v2 is no longer kept)" in err
    code, _out, err = run("check", str(tmp))
    assert code == 2 and "is not a layer made by hpcenv-envs extend" in err


def test_mine_lists_the_users_own_envs_and_removes_nothing_without_yes(tmp_path, monkeypatch, capsys):
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    write_page(catalogue, RECORDED, KEPT, KEPT[1])
    run = runner(catalogue, monkeypatch, capsys)
    module = run.module
    envs = tmp_path / "scratch" / "envs"
    for name in ("cv", "old"):
        (envs / name / "conda-meta").mkdir(parents=True)
        (envs / name / "conda-meta" / "history").write_text("==> 2026-12-01 <==\n")
    monkeypatch.setitem(sys.modules, "hpcenv_usage", _usage)
    monkeypatch.setattr(module, "conda_envs_dirs", lambda: [str(envs)])
    code, out, _err = run("mine", "--json")
    assert code == 0
    assert sorted(e["name"] for e in json.loads(out)) == ["cv", "old"]
    code, out, _err = run("mine", "--remove", "old")
    assert code == 0 and out.splitlines()[0].startswith(f"would remove {envs / 'old'} (")
    assert (envs / "old").is_dir()
    code, _out, err = run("mine", "--remove", "shared_ml", "--yes")
    assert code == 2 and "not one of your envs: shared_ml; yours are: cv, old. Nothing was removed." in err
