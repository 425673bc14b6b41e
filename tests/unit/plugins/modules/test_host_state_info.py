"""Unit tests for hpcenv.gpu_cluster.host_state_info (one read of a role's state), on real files."""

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


def test_everything_in_order_differs_nothing(tree):
    checksum = hashlib.sha1(b"export X=1\n").hexdigest()  # noqa: S324
    result = probe(
        [
            {"path": str(tree / "root"), "part": "layout", "state": "directory", "owner": ME, "mode": "0700"},
            {"path": str(tree / "current"), "part": "layout", "state": "link", "src": str(tree / "root" / "base-2")},
            {"path": str(tree / "hook.sh"), "part": "hook", "state": "file", "mode": "0644", "checksum": checksum},
            {"path": str(tree / "gone"), "part": "hook", "state": "absent"},
            {"path": str(tree / "nothing-here"), "state": "any"},
        ]
    )
    assert result["changed"] is False
    assert result["differs"] == {}
    assert result["paths"][str(tree / "current")]["src"] == str(tree / "root" / "base-2")
    assert result["paths"][str(tree / "hook.sh")]["checksum"] == checksum
    assert result["paths"][str(tree / "nothing-here")]["exists"] is False


def test_names_each_difference_under_its_part(tree):
    os.chmod(tree / "root", 0o500)
    result = probe(
        [
            {"path": str(tree / "root"), "part": "layout", "state": "directory", "mode": "0700"},
            {"path": str(tree / "current"), "part": "link", "state": "link", "src": str(tree / "root" / "base-1")},
            {"path": str(tree / "hook.sh"), "part": "hook", "state": "file", "checksum": "0" * 40},
            {"path": str(tree / "hook.sh"), "part": "gone", "state": "absent"},
            {"path": str(tree / "missing"), "part": "new", "state": "directory"},
            {"path": str(tree / "hook.sh"), "part": "kind", "state": "directory"},
        ]
    )
    assert result["differs"] == {
        "layout": [str(tree / "root")],
        "link": [str(tree / "current")],
        "hook": [str(tree / "hook.sh")],
        "gone": [str(tree / "hook.sh")],
        "new": [str(tree / "missing")],
        "kind": [str(tree / "hook.sh")],
    }
    assert result["paths"][str(tree / "root")]["differs"] == ["mode"]
    assert result["paths"][str(tree / "current")]["differs"] == ["src"]
    assert result["paths"][str(tree / "missing")]["differs"] == ["exists"]


def test_an_owner_without_an_account_differs(tree):
    result = probe([{"path": str(tree / "root"), "state": "directory", "owner": "no-such-user-hpcenv"}])
    assert result["differs"] == {"main": [str(tree / "root")]}
    assert result["paths"][str(tree / "root")]["differs"] == ["owner"]


def test_directory_follows_a_link_like_the_file_module(tree):
    result = probe([{"path": str(tree / "current"), "state": "directory", "group": MY_GROUP}])
    assert result["differs"] == {}
    assert result["paths"][str(tree / "current")]["type"] == "directory"


def test_lists_entries_with_their_mtime(tree):
    result = probe([{"path": str(tree / "root"), "state": "directory", "list": True}])
    entries = result["paths"][str(tree / "root")]["entries"]
    assert [e["name"] for e in entries] == ["base-1", "base-2"]
    assert all(e["type"] == "directory" and e["mtime"] > 0 for e in entries)


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


def test_missing_packages_are_named_under_their_part(tmp_path, monkeypatch):
    status = tmp_path / "status"
    status.write_text(DPKG_STATUS)
    monkeypatch.setattr(host_state_info, "DPKG_STATUS", str(status))
    result = probe([], packages=["python3-yaml", "nginx"], packages_part="install")
    assert result["differs"] == {"install": ["nginx"]}
    assert result["packages"] == {"python3-yaml": "6.0-3+b2", "nginx": None}


@pytest.mark.parametrize("mode", ["u+rwX", "0o755", "99"])
def test_refuses_a_mode_it_cannot_compare(tree, mode):
    result = probe([{"path": str(tree / "root"), "state": "directory", "mode": mode}])
    assert result["failed"] and "octal" in result["msg"]


def test_refuses_a_relative_path():
    result = probe([{"path": "relative/path", "state": "directory"}])
    assert result["failed"] and "absolute" in result["msg"]


def test_a_link_is_compared_as_the_modules_that_write_it_see_it(tree):
    # template/copy replace a link with a file: a linked file is not in order for state=file...
    linked = tree / "linked.sh"
    linked.symlink_to(tree / "hook.sh")
    checksum = hashlib.sha1(b"export X=1\n").hexdigest()  # noqa: S324
    result = probe([{"path": str(linked), "part": "hook", "state": "file", "checksum": checksum}])
    assert result["differs"] == {"hook": [str(linked)]}
    assert "type" in result["paths"][str(linked)]["differs"]
    # ...unless the caller's module follows it (file without a state, e.g. a TLS key's mode).
    result = probe([{"path": str(linked), "state": "file", "mode": "0644", "follow": True}])
    assert result["differs"] == {}
    # A link's owner is never compared: the file module would apply it to the target.
    result = probe([{"path": str(tree / "current"), "state": "link", "owner": "no-such-user-hpcenv"}])
    assert result["differs"] == {}


def test_a_path_given_twice_keeps_both_reads(tree):
    result = probe(
        [
            {"path": str(tree / "root"), "part": "layout", "state": "directory", "list": True},
            {"path": str(tree / "root"), "part": "other", "state": "directory", "mode": "0755"},
        ]
    )
    assert result["differs"] == {"other": [str(tree / "root")]}
    record = result["paths"][str(tree / "root")]
    assert [e["name"] for e in record["entries"]] == ["base-1", "base-2"]
    assert record["differs"] == ["mode"]


def test_a_dangling_link_followed_is_missing_not_a_traceback(tree):
    (tree / "dangling").symlink_to(tree / "nowhere")
    result = probe([{"path": str(tree / "dangling"), "part": "x", "state": "file", "follow": True}])
    assert result["differs"] == {"x": [str(tree / "dangling")]}
    assert result["paths"][str(tree / "dangling")] == {"exists": False, "type": None, "differs": ["exists"]}
