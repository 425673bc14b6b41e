"""Unit tests for hpcenv.gpu_cluster.host_state_info (one read of what a role decides from), on real files."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.modules import host_state_info

from .runner import run_module

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name

# A dpkg status file as Debian 12 writes it (fields trimmed to those read; paragraph order as dpkg keeps it).
DPKG_STATUS = """\
Package: python3-yaml
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 6.0-3+b2
Description: YAML parser and emitter for Python3
 Python3 bindings for the libyaml library.

Package: nginx
Status: deinstall ok config-files
Architecture: amd64
Version: 1.22.1-9+deb12u1

Package: libc6
Status: install ok installed
Multi-Arch: same
Architecture: amd64
Version: 2.36-9+deb12u10
"""


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "root").mkdir(mode=0o700)
    os.chmod(tmp_path / "root", 0o700)
    (tmp_path / "root" / "base-1").mkdir()
    (tmp_path / "root" / "base-2").mkdir()
    (tmp_path / "hook.sh").write_text("export X=1\n")
    os.chmod(tmp_path / "hook.sh", 0o644)
    (tmp_path / "current").symlink_to(tmp_path / "root" / "base-2")
    return tmp_path


def probe(paths, **kw):
    return run_module(host_state_info.main, {"paths": paths, **kw})


def test_reads_each_kind_of_path(tree):
    result = probe(
        [
            {"path": str(tree / "root")},
            {"path": str(tree / "current")},
            {"path": str(tree / "hook.sh")},
            {"path": str(tree / "nothing-here")},
        ]
    )
    assert result["changed"] is False
    paths = result["paths"]
    root = {"exists": True, "type": "directory", "owner": ME, "group": MY_GROUP, "mode": "0700"}
    assert paths[str(tree / "root")] == root
    # A link is read as a link, never followed.
    assert paths[str(tree / "current")]["type"] == "link"
    assert paths[str(tree / "current")]["src"] == str(tree / "root" / "base-2")
    assert paths[str(tree / "hook.sh")]["type"] == "file" and paths[str(tree / "hook.sh")]["mode"] == "0644"
    assert paths[str(tree / "nothing-here")] == {"exists": False, "type": None}


def test_lists_entries_with_their_mtime(tree):
    result = probe([{"path": str(tree / "root"), "list": True}])
    entries = result["paths"][str(tree / "root")]["entries"]
    assert [e["name"] for e in entries] == ["base-1", "base-2"]
    assert all(e["type"] == "directory" and e["mtime"] > 0 for e in entries)


def test_a_path_given_twice_keeps_its_listing(tree):
    result = probe([{"path": str(tree / "root"), "list": True}, {"path": str(tree / "root")}])
    assert [e["name"] for e in result["paths"][str(tree / "root")]["entries"]] == ["base-1", "base-2"]


def test_checksum_of_a_regular_file_only(tree):
    wanted = hashlib.sha256(b"export X=1\n").hexdigest()
    result = probe(
        [
            {"path": str(tree / "hook.sh"), "checksum": True},
            {"path": str(tree / "root"), "checksum": True},
            {"path": str(tree / "current"), "checksum": True},
            {"path": str(tree / "gone"), "checksum": True},
        ]
    )
    found = result["paths"]
    assert found[str(tree / "hook.sh")]["sha256"] == wanted
    assert all("sha256" not in found[str(tree / name)] for name in ("root", "current", "gone"))
    assert "sha256" not in probe([{"path": str(tree / "hook.sh")}])["paths"][str(tree / "hook.sh")]


def test_packages_from_the_dpkg_database(tmp_path):
    status = tmp_path / "status"
    status.write_text(DPKG_STATUS)
    assert host_state_info.dpkg_installed(["python3-yaml", "nginx", "libc6", "absent-pkg"], str(status)) == {
        "python3-yaml": "6.0-3+b2",
        "nginx": None,
        "libc6": "2.36-9+deb12u10",
        "absent-pkg": None,
    }
    # A host without a dpkg database: every package counts as missing.
    assert host_state_info.dpkg_installed(["nginx"], str(tmp_path / "nope")) == {"nginx": None}


def test_missing_packages_are_named(tmp_path, monkeypatch):
    status = tmp_path / "status"
    status.write_text(DPKG_STATUS)
    monkeypatch.setattr(host_state_info, "DPKG_STATUS", str(status))
    result = probe([], packages=["python3-yaml", "nginx"])
    assert result["missing_packages"] == ["nginx"]
    assert result["packages"] == {"python3-yaml": "6.0-3+b2", "nginx": None}


def test_refuses_a_relative_path():
    result = probe([{"path": "relative/path"}])
    assert result["failed"] and "absolute" in result["msg"]


def test_a_path_through_a_file_says_why_not_a_traceback(tree):
    result = probe([{"path": str(tree / "hook.sh" / "below")}])
    found = result["paths"][str(tree / "hook.sh" / "below")]
    assert found["exists"] is None and "Not a directory" in found["error"]


def test_a_dangling_link_is_read_as_a_link(tree):
    (tree / "dangling").symlink_to(tree / "nowhere")
    found = probe([{"path": str(tree / "dangling")}])["paths"][str(tree / "dangling")]
    assert found["exists"] is True and found["type"] == "link" and found["src"] == str(tree / "nowhere")
