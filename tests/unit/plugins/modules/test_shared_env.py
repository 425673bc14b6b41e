"""Unit tests for hpcenv.gpu_cluster.shared_env: versions, swap, history, pruning, the node lock.

conda is replaced by a TEST DOUBLE of `conda create --file LOCK`: like the real one
(fixtures/conda-26.7.1/README.md) it prints nothing, and it writes the lock's
conda-meta records (each installing one file) into the prefix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_env, _node_lock
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import shared_env

from .runner import run_module

LOCK = """# platform: linux-64
@EXPLICIT
http://up/conda-forge/linux-64/zlib-1.3.1-h0_0.conda#aaa
http://up/conda-forge/noarch/six-1.17.0-pyh0_0.conda#bbb
"""
OTHER_LOCK = LOCK.replace("six-1.17.0", "six-1.16.0")


class FakeConda:
    """TEST DOUBLE of conda: `create --file` links the lock's packages (records + one file each)."""

    def __init__(self, fail: bool = False):
        self.calls: list[list[str]] = []
        self.fail = fail

    def __call__(self, args, **kwargs):
        argv = [str(a) for a in args]
        self.calls.append(argv)
        assert argv[1:6] == ["create", "--yes", "--json", "-p", argv[5]] and argv[6] == "--file", argv
        if self.fail:
            return (
                1,
                Path(__file__).with_name("fixtures").joinpath("conda-26.7.1/create-package-not-found.json").read_text(),
                "",
            )
        prefix = Path(argv[5])
        for package in _conda_env.parse_explicit(Path(argv[7]).read_text()):
            dist = f"{package['name']}-{package['version']}-{package['build']}"
            (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)
            (prefix / "share").mkdir(exist_ok=True)
            (prefix / "share" / f"{package['name']}.txt").write_text(dist)
            record = {
                **{k: package[k] for k in ("name", "version", "build")},
                "files": [f"share/{package['name']}.txt"],
            }
            (prefix / "conda-meta" / f"{dist}.json").write_text(json.dumps(record))
        return 0, "", ""


def converge(tmp_path, conda: FakeConda | None = None, check_mode=False, **args) -> dict:
    conda = conda or FakeConda()
    params = {
        "name": "shared_ml",
        "envs_dir": str(tmp_path / "envs"),
        "lock": LOCK,
        "root_prefix": str(tmp_path / "conda"),
        "node_lock": str(tmp_path / "node.lock"),
        "lock_timeout": 1,
        "lock_by": "unit test",
        **args,
    }
    return run_module(shared_env.main, params, check_mode=check_mode, command_double=conda)


def versions(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "envs" / ".versions").iterdir() if p.is_dir())


def test_first_converge_builds_swaps_and_records(tmp_path):
    result = converge(tmp_path)
    assert result["changed"] and result["built"] and result["previous"] == ""
    ident = _conda_env.lock_id(LOCK)
    assert result["active"].startswith(f"shared_ml-{ident}-")
    link = tmp_path / "envs" / "shared_ml"
    assert os.readlink(link) == str(tmp_path / "envs" / ".versions" / result["active"])
    assert (link / "conda-meta" / "hpcenv-complete").is_file(), "a complete version is marked"
    assert (tmp_path / "envs" / ".locks" / f"shared_ml-{ident}.lock").read_text() == LOCK
    assert result["history"] == [result["active"]]
    assert {a["name"] for a in result["actions"]["LINK"]} == {"zlib", "six"}

    again = converge(tmp_path)
    assert again["changed"] is False and again["in_sync"] and again["cmd"] == []


def test_lock_id_ignores_comments_and_order():
    shuffled = "@EXPLICIT\n# a comment\n" + "\n".join(reversed(LOCK.splitlines()[2:])) + "\n"
    assert _conda_env.lock_id(shuffled) == _conda_env.lock_id(LOCK) != _conda_env.lock_id(OTHER_LOCK)


def test_check_mode_changes_nothing(tmp_path):
    result = converge(tmp_path, check_mode=True)
    assert result["changed"] and result["built"] and result["cmd"] == []
    assert not (tmp_path / "envs").exists()


def test_unreadable_record_is_drift_and_a_rebuild_repairs_it(tmp_path):
    first = converge(tmp_path)["active"]
    record = next((tmp_path / "envs" / "shared_ml" / "conda-meta").glob("six-*.json"))
    record.write_text(record.read_text()[:20])  # truncated, as after a crash
    check = converge(tmp_path, check_mode=True)
    (unreadable,) = check["drift"]["unreadable"]
    assert unreadable["package"] == "six" and unreadable["file"].endswith(record.name)
    assert check["drift"]["in_sync"] is False
    repaired = converge(tmp_path)
    assert repaired["built"] and repaired["active"] != first and repaired["previous"] == first
    assert repaired["drift"]["unreadable"] == check["drift"]["unreadable"], "the result says what was repaired"
    assert converge(tmp_path)["changed"] is False


def test_pruning_keeps_the_active_version_newer_ones_and_the_newest_older_ones(tmp_path):
    vdir = tmp_path / "envs" / ".versions"
    complete = [f"shared_ml-{'a' * 12}-2026010{n}000000" for n in range(1, 6)]
    for name in complete:
        (vdir / name / "conda-meta").mkdir(parents=True)
        (vdir / name / "conda-meta" / "hpcenv-complete").write_text("{}")
    interrupted = f"shared_ml-{'b' * 12}-20260103120000"
    (vdir / interrupted / "conda-meta").mkdir(parents=True)  # never completed, never activated
    # A rolled-back node: the active version is the fourth; the fifth is newer.
    (tmp_path / "envs" / "shared_ml").symlink_to(vdir / complete[3])
    result = converge(tmp_path, keep_versions=2)
    assert result["built"], "the active version was built from another lock"
    remaining = versions(tmp_path)
    assert remaining == sorted([result["active"], complete[3]]), "the new version and the one active before it"
    assert set(result["pruned"]) == {interrupted, *complete[:3], complete[4]}


def test_pruning_never_removes_a_version_newer_than_the_active_one(tmp_path):
    vdir = tmp_path / "envs" / ".versions"
    active = converge(tmp_path)["active"]
    newer = f"shared_ml-{'c' * 12}-29991231235959"
    (vdir / newer / "conda-meta").mkdir(parents=True)
    (vdir / newer / "conda-meta" / "hpcenv-complete").write_text("{}")
    result = converge(tmp_path, keep_versions=1)
    assert result["changed"] is False and result["pruned"] == []
    assert versions(tmp_path) == sorted([active, newer])


def test_rollback_points_at_the_previous_lock_and_keeps_the_history(tmp_path):
    old = converge(tmp_path, lock=OTHER_LOCK)["active"]
    new = converge(tmp_path)["active"]
    back = converge(tmp_path, rollback=True)
    assert back["active"] == old and back["previous"] == new and back["history"] == [old, new]
    again = converge(tmp_path, rollback=True)
    assert again["active"] == old and not again["changed"], "re-running a rollback keeps it where it is"

    assert new in versions(tmp_path), "the newer version stays for a roll forward"
    assert os.readlink(tmp_path / "envs" / "shared_ml").endswith(old)


def test_a_lock_put_back_makes_its_kept_version_active_again_without_a_build(tmp_path):
    old = converge(tmp_path, lock=OTHER_LOCK)["active"]
    new = converge(tmp_path)["active"]
    check = converge(tmp_path, check_mode=True, lock=OTHER_LOCK)
    assert check["changed"] and not check["built"] and check["active"] == old
    conda = FakeConda()
    back = converge(tmp_path, conda=conda, lock=OTHER_LOCK)
    assert back["changed"] and not back["built"] and conda.calls == []
    assert back["active"] == old and back["previous"] == new and back["history"] == [old, new, old]
    assert f"{old}, kept and built from this lock" in back["reason"]
    assert os.readlink(tmp_path / "envs" / "shared_ml").endswith(old)
    assert versions(tmp_path) == sorted([old, new])
    assert converge(tmp_path, lock=OTHER_LOCK)["changed"] is False


def test_a_kept_version_that_no_longer_matches_its_lock_is_not_made_active(tmp_path):
    old = converge(tmp_path, lock=OTHER_LOCK)["active"]
    converge(tmp_path)
    (tmp_path / "envs" / ".versions" / old / "share" / "six.txt").unlink()
    back = converge(tmp_path, lock=OTHER_LOCK)
    assert back["built"] and back["active"] not in (old, "")
    assert back["reason"] == f"the active version {back['previous']} was built from another lock"


def test_a_failed_build_leaves_the_active_version(tmp_path):
    active = converge(tmp_path)["active"]
    result = converge(tmp_path, conda=FakeConda(fail=True), lock=OTHER_LOCK)
    assert result["failed"]
    assert f"still points at {active}" in result["msg"]
    assert "PackagesNotFoundInChannelsError" in result["msg"] and "(exit status 1)" in result["msg"]
    assert versions(tmp_path) == [active]
    assert os.readlink(tmp_path / "envs" / "shared_ml").endswith(active)


def test_a_held_node_lock_makes_the_run_wait_then_name_the_holder(tmp_path):
    with _node_lock.NodeLock(str(tmp_path / "node.lock"), 1, "building shared_ml", "the nightly drift job"):
        result = converge(tmp_path)
    assert result["failed"]
    assert "building shared_ml for the nightly drift job" in result["msg"] and "waited 1 s" in result["msg"]
    assert not (tmp_path / "envs" / "shared_ml").exists()


def test_absent_removes_everything_of_the_env(tmp_path):
    converge(tmp_path)
    result = converge(tmp_path, state="absent", lock=None)
    assert result["changed"]
    assert not (tmp_path / "envs" / "shared_ml").exists() and versions(tmp_path) == []
    assert list((tmp_path / "envs" / ".locks").iterdir()) == []
    assert converge(tmp_path, state="absent", lock=None)["changed"] is False


@pytest.mark.parametrize(
    ("lock", "message"), [("@EXPLICIT\n", "lists no packages"), ("numpy\n", "@EXPLICIT is missing")]
)
def test_unusable_locks_fail_with_a_message(tmp_path, lock, message):
    result = converge(tmp_path, lock=lock)
    assert result["failed"] and message in result["msg"]


def test_catalogue_page_lists_versions_kept_and_active_and_follows_the_env(tmp_path):
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    v1, v2 = _conda_env.lock_id(OTHER_LOCK), _conda_env.lock_id(LOCK)
    changes = {"downgraded": [], "added": [], "removed": [], "rebuilt": [], "changed": []}
    changes["upgraded"] = [
        {"name": "six", "from": "1.16.0", "to": "1.17.0", "from_build": "pyh0_0", "to_build": "pyh0_0"}
    ]
    recorded = [
        {"version": "v1", "lock_id": v1, "created": "2026-12-01T10:00:00Z", "by": "admin", "summary": "2 added"},
        {"version": "v2", "lock_id": v2, "created": "2026-12-02T10:00:00Z", "by": "admin", "summary": "1 upgraded",
         "changes": changes, "commit": "abc1234"},
    ]  # fmt: skip
    page = {"dir": str(catalogue), "versions": recorded, "variant": "cpu", "platform": "linux-64"}
    converge(tmp_path, lock=OTHER_LOCK)
    result = converge(tmp_path, catalogue=page)
    assert result["changed"] and result["catalogue"]
    assert sorted(v.split("-")[-2] for v in result["kept"]) == sorted([v1, v2])  # built within one second here
    entry = json.loads((catalogue / "shared_ml.json").read_text())
    assert entry["active"] == "v2" and entry["variant"] == "cpu"
    assert [(v["version"], v["on_node"], v["active"]) for v in entry["versions"]] == [
        ("v1", True, False),
        ("v2", True, True),
    ]
    assert entry["versions"][1]["lines"] == ["upgraded six 1.16.0 -> 1.17.0"]
    markdown = (catalogue / "shared_ml.md").read_text()
    assert "Active version: **v2**" in markdown and "- upgraded six 1.16.0 -> 1.17.0" in markdown
    section = (catalogue / "shared_ml.html").read_text()
    assert section.startswith('<section id="shared_ml">') and "<strong>v2</strong>" in section
    assert "<li>upgraded six 1.16.0 -&gt; 1.17.0</li>" in section
    assert "<td><code>conda activate shared_ml-v1</code></td>" in section

    envs = tmp_path / "envs"
    assert result["pinned"] == ["shared_ml-v1", "shared_ml-v2"]
    assert [os.readlink(envs / f"shared_ml-{n}").split("-")[-2] for n in ("v1", "v2")] == [v1, v2]
    assert entry["versions"][0]["activate"] == "conda activate shared_ml-v1"
    (envs / "shared_ml-v7").mkdir()  # not a link to one of its versions: never touched

    again = converge(tmp_path, catalogue=page)
    assert not again["changed"] and not again["catalogue"]
    back = converge(tmp_path, lock=OTHER_LOCK, catalogue=page, check_mode=True)
    assert back["catalogue"] and json.loads((catalogue / "shared_ml.json").read_text())["active"] == "v2"
    assert back["changelog"] == {"version": "v1", "summary": "2 added", "lines": []}
    converge(tmp_path, lock=OTHER_LOCK, catalogue=page)  # v1 active again; v2 kept
    forth = run_module(
        shared_env.main,
        {"name": "shared_ml", "envs_dir": str(envs), "lock": LOCK, "root_prefix": str(tmp_path / "conda"),
         "node_lock": str(tmp_path / "node.lock"), "catalogue": page},
        check_mode=True, diff=True, command_double=FakeConda(),
    )  # fmt: skip
    assert forth["changelog"] == {"version": "v2", "summary": "1 upgraded", "lines": ["upgraded six 1.16.0 -> 1.17.0"]}
    assert forth["diff"]["after"].endswith("\nv2: 1 upgraded\n  upgraded six 1.16.0 -> 1.17.0\n")

    # Built from a lock the controller never numbered (an item's own lock_file): listed by its lock id.
    converge(tmp_path, lock=LOCK.replace("zlib-1.3.1", "zlib-1.3.2"), catalogue=page)
    entry = json.loads((catalogue / "shared_ml.json").read_text())
    assert entry["active"] == entry["versions"][-1]["lock_id"] and entry["versions"][-1]["version"] == ""

    gone = converge(tmp_path, state="absent", lock=None, catalogue=page)
    assert gone["catalogue"] and not list(catalogue.iterdir())
    assert sorted(p.name for p in envs.iterdir() if not p.name.startswith(".")) == ["shared_ml-v7"]


def test_a_version_kept_by_name_outlives_keep_versions_and_does_not_count(tmp_path, monkeypatch):
    ticks = iter(range(1_800_000_000, 1_900_000_000, 3600))  # each build an hour after the last
    monkeypatch.setattr(shared_env.time, "time", lambda: next(ticks))
    third = LOCK.replace("zlib-1.3.1", "zlib-1.3.2")
    paper = converge(tmp_path, lock=OTHER_LOCK)["active"]
    converge(tmp_path)
    kept = [_conda_env.lock_id(OTHER_LOCK)]
    result = converge(tmp_path, lock=third, keep_versions=2, keep_locks=kept)
    assert result["pruned"] == [] and paper in versions(tmp_path), "kept by name, and not counted in keep_versions"
    assert len(versions(tmp_path)) == 3
    dropped = converge(tmp_path, lock=third, keep_versions=2)
    assert dropped["pruned"] == [paper], "once no longer kept by name, the usual rule prunes it"


def test_a_damaged_kept_version_is_shown_as_damaged_and_never_offered(tmp_path):
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    recorded = [
        {"version": "v1", "from": "", "lock_id": _conda_env.lock_id(OTHER_LOCK), "summary": "2 added"},
        {"version": "v2", "from": "v1", "lock_id": _conda_env.lock_id(LOCK), "summary": "1 upgraded"},
    ]
    page = {"dir": str(catalogue), "versions": recorded, "variant": "cpu", "platform": "linux-64"}
    old = converge(tmp_path, lock=OTHER_LOCK, catalogue=page)["active"]
    converge(tmp_path, catalogue=page)
    assert (tmp_path / "envs" / "shared_ml-v1").is_symlink()
    record = next((tmp_path / "envs" / ".versions" / old / "conda-meta").glob("six-*.json"))
    record.write_text(record.read_text()[:20])  # truncated, as in the drift story

    result = converge(tmp_path, catalogue=page)
    assert result["damaged"] == {old: result["damaged"][old]} and "unreadable six" in result["damaged"][old]
    assert result["pinned"] == ["shared_ml-v2"] and not (tmp_path / "envs" / "shared_ml-v1").exists()
    entry = json.loads((catalogue / "shared_ml.json").read_text())
    assert entry["versions"][0]["damaged"] and entry["versions"][0]["activate"] == ""
    assert "v1 is damaged on this node, and not offered" in (catalogue / "shared_ml.md").read_text()

    refused = converge(tmp_path, rollback=True, catalogue=page)
    assert refused["failed"] and f"{old} is damaged (its records differ from its lock" in refused["msg"]
    assert os.readlink(tmp_path / "envs" / "shared_ml").endswith(result["active"]), "nothing changed"


def test_a_rollback_already_made_stays_even_when_its_version_drifted(tmp_path):
    first = converge(tmp_path, lock=OTHER_LOCK)["active"]
    converge(tmp_path)
    assert converge(tmp_path, rollback=True)["active"] == first
    record = next((tmp_path / "envs" / "shared_ml" / "conda-meta").glob("six-*.json"))
    record.write_text(record.read_text()[:20])
    again = converge(tmp_path, rollback=True)
    assert again["active"] == first and not again["changed"], "never one version further back"


def test_modulefiles_follow_the_stable_names_and_leave_other_files_alone(tmp_path):
    catalogue, modules, envs = tmp_path / "catalogue", tmp_path / "modulefiles", tmp_path / "envs"
    catalogue.mkdir()
    v1, v2 = _conda_env.lock_id(OTHER_LOCK), _conda_env.lock_id(LOCK)
    changes = {kind: [] for kind in ("added", "removed", "downgraded", "rebuilt", "changed")}
    changes["upgraded"] = [{"name": "six", "from": "1.16.0", "to": "1.17.0", "from_build": "b", "to_build": "b"}]
    recorded = [
        {"version": "v1", "lock_id": v1, "summary": 'first [exec rm -rf /] "$HOME" {x} <script>'},
        {"version": "v2", "lock_id": v2, "summary": "1 upgraded", "changes": changes},
    ]
    page = {"dir": str(catalogue), "versions": recorded, "variant": "cpu", "modulefiles": str(modules)}
    converge(tmp_path, lock=OTHER_LOCK)
    assert converge(tmp_path, catalogue=page, check_mode=True)["modulefiles"] == [
        "shared_ml/.version",
        "shared_ml/v1",
        "shared_ml/v2",
    ]
    assert not modules.exists(), "check mode writes nothing"
    result = converge(tmp_path, catalogue=page)
    assert result["modulefiles"] == ["shared_ml/.version", "shared_ml/v1", "shared_ml/v2"] and result["catalogue"]
    v2_file = (modules / "shared_ml" / "v2").read_text()
    assert v2_file.startswith("#%Module1.0\n## hpcenv.gpu_cluster: shared_ml v2,")
    for line in (
        f'module-whatis "shared_ml v2 (cpu, lock {v2}): 1 upgraded"',
        f'    puts stderr "shared_ml v2 (cpu, lock {v2}): 1 upgraded\\n  upgraded six 1.16.0 -> 1.17.0'
        '\\nhpcenv-envs show shared_ml v2"',
        "conflict shared_ml",
        f'setenv CONDA_PREFIX "{envs}/shared_ml-v2"',
        'setenv CONDA_DEFAULT_ENV "shared_ml-v2"',
        f'prepend-path PATH "{envs}/shared_ml-v2/bin"',
    ):
        assert line + "\n" in v2_file, line
    # Nothing in a summary is substituted by Tcl: brackets, dollars, quotes and braces are escaped.
    assert (
        f'"shared_ml v1 (cpu, lock {v1}): first \\[exec rm -rf /\\] \\"\\$HOME\\" \\{{x\\}} <script>"'
        in (modules / "shared_ml" / "v1").read_text()
    )
    assert (modules / "shared_ml" / ".version").read_text().endswith('set ModulesVersion "v2"\n')
    assert (
        "<td>first [exec rm -rf /] &quot;$HOME&quot; {x} &lt;script&gt;</td>"
        in (catalogue / "shared_ml.html").read_text()
    )

    (modules / "shared_ml" / "v9").write_text("#%Module1.0\n# an admin's own\n")
    again = converge(tmp_path, catalogue=page)
    assert not again["changed"] and again["modulefiles"] == []
    back = converge(tmp_path, lock=OTHER_LOCK, catalogue=page)  # v1 active again: the default follows
    assert back["modulefiles"] == ["shared_ml/.version"]
    assert (modules / "shared_ml" / ".version").read_text().endswith('set ModulesVersion "v1"\n')
    gone = converge(tmp_path, state="absent", lock=None, catalogue=page)
    assert gone["modulefiles"] == ["shared_ml/.version", "shared_ml/v1", "shared_ml/v2"]
    assert os.listdir(modules / "shared_ml") == ["v9"], "a file it did not write stays"


def test_metrics_follow_the_converge_and_go_with_the_env(tmp_path):
    textfiles = tmp_path / "node-exporter"
    textfiles.mkdir()
    prom = textfiles / "hpcenv_shared_env_shared_ml.prom"
    metrics = {"dir": str(textfiles), "variant": "cuda12.4"}
    labels = 'env="shared_ml",variant="cuda12.4"'

    planned = converge(tmp_path, check_mode=True, metrics=metrics)
    assert planned["metrics"] == {"path": str(prom), "changed": True} and not prom.exists()

    first = converge(tmp_path, metrics=metrics)
    lines = prom.read_text().splitlines()
    assert first["metrics"]["changed"] and f"hpcenv_shared_env_in_sync{{{labels}}} 1" in lines
    info = f'hpcenv_shared_env_info{{{labels},version="{first["active"]}",lock="{_conda_env.lock_id(LOCK)}"}} 1'
    assert info in lines

    # A converged env: the check time is refreshed, nothing changed.
    again = converge(tmp_path, metrics=metrics)
    assert again["changed"] is False and again["metrics"]["changed"] is False

    # A missing file is put back, and that alone is the run's change.
    prom.unlink()
    restored = converge(tmp_path, metrics=metrics)
    assert restored["changed"] is True and restored["cmd"] == [] and prom.is_file()

    # A rollback is not in sync with the lock the controller recorded.
    converge(tmp_path, lock=OTHER_LOCK, metrics=metrics)
    back = converge(tmp_path, rollback=True, lock=OTHER_LOCK, metrics=metrics)
    assert f"hpcenv_shared_env_in_sync{{{labels}}} 0" in prom.read_text().splitlines() and back["metrics"]["changed"]

    gone = converge(tmp_path, state="absent", lock=None, metrics=metrics)
    assert gone["metrics"]["changed"] and not prom.exists()


def test_metrics_without_their_directory_fail_after_the_converge_with_what_to_do(tmp_path):
    result = converge(tmp_path, metrics={"dir": str(tmp_path / "node-exporter")})
    assert result["failed"] and "install node_exporter" in result["msg"]
    assert result["active"] and os.path.islink(tmp_path / "envs" / "shared_ml"), "the converge itself stands"
