"""Unit tests for hpcenv.gpu_cluster.managed_paths (a role's paths ensured in one call), on real files."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _managed_paths
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import managed_paths

from .runner import run_module

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


class RealCommands:
    """validate's command, run for real (the module's only command)."""

    def __call__(self, argv, **_kwargs):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr


def ensure(paths, check_mode=False, diff=False):
    args = {"paths": paths}
    return run_module(managed_paths.main, args, check_mode=check_mode, diff=diff, command_double=RealCommands())


def mode_of(path) -> str:
    return f"{stat.S_IMODE(os.lstat(path).st_mode):04o}"


def wanted(root):
    return [
        {"path": f"{root}/etc", "state": "directory", "owner": ME, "group": MY_GROUP, "mode": "0750"},
        {"path": f"{root}/etc/app.conf", "content": "key = 1\n", "mode": "0640"},
        {"path": f"{root}/etc/secret", "content": "s3cret\n", "mode": "0600", "force": False},
        {"path": f"{root}/current", "state": "link", "src": "etc"},
        {"path": f"{root}/old.conf", "state": "absent"},
    ]


def test_creates_everything_then_changes_nothing(tmp_path):
    (tmp_path / "old.conf").write_text("stale\n")
    first = ensure(wanted(tmp_path))
    assert first["changed"]
    names = ("etc", "etc/app.conf", "etc/secret", "current", "old.conf")
    assert first["changed_paths"] == [f"{tmp_path}/{name}" for name in names]
    assert mode_of(tmp_path / "etc") == "0750"
    assert (tmp_path / "etc/app.conf").read_text() == "key = 1\n" and mode_of(tmp_path / "etc/app.conf") == "0640"
    assert mode_of(tmp_path / "etc/secret") == "0600"
    assert os.readlink(tmp_path / "current") == "etc"
    assert not (tmp_path / "old.conf").exists()
    second = ensure(wanted(tmp_path))
    assert not second["changed"] and second["changed_paths"] == []


def test_restores_every_kind_of_damage(tmp_path):
    ensure(wanted(tmp_path))
    os.chmod(tmp_path / "etc", 0o777)  # noqa: S103 - the damage a converge must undo
    (tmp_path / "etc/app.conf").write_text("edited by hand\n")
    os.chmod(tmp_path / "etc/secret", 0o644)
    (tmp_path / "current").unlink()
    (tmp_path / "current").symlink_to("/elsewhere")
    (tmp_path / "old.conf").mkdir()
    (tmp_path / "old.conf/inside").write_text("x")
    result = ensure(wanted(tmp_path))
    assert len(result["changed_paths"]) == 5
    assert mode_of(tmp_path / "etc") == "0750"
    assert (tmp_path / "etc/app.conf").read_text() == "key = 1\n"
    assert mode_of(tmp_path / "etc/secret") == "0600"
    assert (tmp_path / "etc/secret").read_text() == "s3cret\n"
    assert os.readlink(tmp_path / "current") == "etc"
    assert not (tmp_path / "old.conf").exists()
    assert ensure(wanted(tmp_path))["changed_paths"] == []


def test_force_false_never_rewrites_but_keeps_the_mode(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("generated once\n")
    os.chmod(secret, 0o644)
    result = ensure([{"path": str(secret), "content": "another\n", "mode": "0600", "force": False}])
    assert result["changed_paths"] == [str(secret)]
    assert secret.read_text() == "generated once\n" and mode_of(secret) == "0600"


def test_check_mode_reports_and_changes_nothing(tmp_path):
    (tmp_path / "old.conf").write_text("stale\n")
    result = ensure(wanted(tmp_path), check_mode=True, diff=True)
    assert len(result["changed_paths"]) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.conf"]
    assert sorted({d["after_header"] for d in result["diff"]}) == sorted(result["changed_paths"])
    conf = [d for d in result["diff"] if d["after_header"].endswith("app.conf")]
    assert conf[0]["before"] == {"state": "absent"} and conf[0]["after"] == {"state": "file", "mode": "0640"}
    assert conf[1]["before"] == "" and conf[1]["after"] == "key = 1\n"


def test_diff_shows_content_as_text_and_attributes_apart(tmp_path):
    ensure(wanted(tmp_path))
    (tmp_path / "etc/app.conf").write_text("key = 0\n")
    os.chmod(tmp_path / "etc/app.conf", 0o644)
    os.chmod(tmp_path / "etc", 0o755)  # noqa: S103 - a mode the converge must change back
    result = ensure(wanted(tmp_path), diff=True)
    etc, conf_attrs, conf_text = result["diff"]
    assert etc["after_header"] == f"{tmp_path}/etc"
    assert (etc["before"]["mode"], etc["after"]["mode"]) == ("0755", "0750")
    assert conf_attrs["after_header"] == f"{tmp_path}/etc/app.conf"
    assert (conf_attrs["before"]["mode"], conf_attrs["after"]["mode"]) == ("0644", "0640")
    assert (conf_text["before"], conf_text["after"]) == ("key = 0\n", "key = 1\n")
    assert mode_of(tmp_path / "etc/app.conf") == "0640"


def test_a_link_in_place_of_a_file_is_replaced_not_followed(tmp_path):
    target = tmp_path / "target"
    target.write_text("keep me\n")
    (tmp_path / "conf").symlink_to(target)
    ensure([{"path": f"{tmp_path}/conf", "content": "new\n", "mode": "0644"}])
    assert not (tmp_path / "conf").is_symlink() and (tmp_path / "conf").read_text() == "new\n"
    assert target.read_text() == "keep me\n"


def test_a_link_in_place_of_a_directory_fails_without_follow(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "dir").symlink_to(tmp_path / "real")
    result = ensure(
        [
            {"path": f"{tmp_path}/before", "state": "directory"},
            {"path": f"{tmp_path}/dir", "state": "directory", "mode": "0700", "follow": False},
            {"path": f"{tmp_path}/after", "state": "directory"},
        ]
    )
    assert result["failed"] and "symbolic link" in result["msg"] and result["msg"].startswith(f"{tmp_path}/dir:")
    assert result["changed_paths"] == [f"{tmp_path}/before"]
    assert not (tmp_path / "after").exists()
    assert mode_of(tmp_path / "real") != "0700"


def test_directory_follows_a_link_by_default(tmp_path):
    (tmp_path / "real").mkdir(mode=0o755)
    (tmp_path / "dir").symlink_to(tmp_path / "real")
    ensure([{"path": f"{tmp_path}/dir", "state": "directory", "mode": "0700"}])
    assert mode_of(tmp_path / "real") == "0700"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "relative/path", "state": "directory"}, "absolute path"),
        ({"path": "/x", "mode": "u=rw"}, "octal digits"),
        ({"path": "/x", "state": "link"}, "needs src"),
        ({"path": "/x", "state": "link", "src": "/y", "mode": "0644"}, "takes no mode"),
        ({"path": "/x", "state": "directory", "content": "a"}, "content is only for state=file"),
        ({"path": "/x", "src": "/y"}, "src is only for state=link"),
        ({"path": "/x", "content": "a", "validate": "true"}, "%s in the command"),
        ({"path": "/x", "content": "a", "owner": "no-such-user-here"}, "no user 'no-such-user-here'"),
        ({"path": "/x", "content": "a", "group": "no-such-group-here"}, "no group 'no-such-group-here'"),
    ],
)
def test_bad_entries_fail_before_anything_changes(tmp_path, entry, message):
    first = {"path": f"{tmp_path}/made", "state": "directory"}
    result = ensure([first, entry])
    assert result["failed"] and message in result["msg"], result["msg"]
    assert not (tmp_path / "made").exists()


def test_a_directory_where_a_link_belongs_is_left_alone(tmp_path):
    (tmp_path / "current").mkdir()
    result = ensure([{"path": f"{tmp_path}/current", "state": "link", "src": "base-2"}])
    assert result["failed"] and "a directory is there" in result["msg"]
    assert (tmp_path / "current").is_dir()


def test_attributes_only_needs_the_file(tmp_path):
    result = ensure([{"path": f"{tmp_path}/missing", "mode": "0600"}])
    assert result["failed"] and "no content" in result["msg"]
    (tmp_path / "there").write_text("x")
    os.chmod(tmp_path / "there", 0o644)
    assert ensure([{"path": f"{tmp_path}/there", "mode": "0600"}])["changed_paths"] == [f"{tmp_path}/there"]
    assert mode_of(tmp_path / "there") == "0600"


def test_a_rewrite_keeps_what_the_entry_does_not_set(tmp_path):
    conf = tmp_path / "conf"
    conf.write_text("old\n")
    os.chmod(conf, 0o640)
    ensure([{"path": str(conf), "content": "new\n"}])
    assert conf.read_text() == "new\n" and mode_of(conf) == "0640"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_validate_refuses_bad_content_and_keeps_the_file(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text("good\n")
    check = "grep -q good %s"
    result = ensure([{"path": str(conf), "content": "bad\n", "validate": check}])
    assert result["failed"] and "refused the new content (rc 1)" in result["msg"]
    assert conf.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["site.conf"]
    assert ensure([{"path": str(conf), "content": "still good\n", "validate": check}])["changed_paths"] == [str(conf)]
    assert conf.read_text() == "still good\n"


def test_the_manifest_records_what_is_managed_never_a_secret(tmp_path, monkeypatch):
    monkeypatch.setattr(_managed_paths, "MANIFEST_DIR", str(tmp_path / "manifests"))
    root = tmp_path / "root"
    root.mkdir()
    assert ensure(wanted(root), check_mode=True) and not (tmp_path / "manifests").exists()
    result = run_module(managed_paths.main, {"paths": wanted(root), "manifest": "demo.main"})
    recorded = json.loads((tmp_path / "manifests" / "demo.main.json").read_text())
    assert result["manifest"] == str(tmp_path / "manifests" / "demo.main.json")
    assert [entry["path"] for entry in recorded] == [entry["path"] for entry in wanted(root)]
    conf, secret = recorded[1], recorded[2]
    assert conf["sha256"] == hashlib.sha256(b"key = 1\n").hexdigest() and "content" not in conf
    assert "sha256" not in secret and "content" not in secret and secret["mode"] == "0600"
    assert recorded[3] == {"path": f"{root}/current", "state": "link", "src": "etc"}
    bad = run_module(managed_paths.main, {"paths": [], "manifest": "../escape"})
    assert bad["failed"] and "manifest must be a name" in bad["msg"]
