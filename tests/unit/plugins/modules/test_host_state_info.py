"""Unit tests for hpcenv.gpu_cluster.host_state_info (one read of what a role decides from), on real files."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
from pathlib import Path
from unittest import mock

import pytest
import yaml

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


DEBIAN_12 = Path(__file__).parent / "fixtures" / "debian-12"


def test_content_of_a_regular_file_only(tree):
    result = probe([{"path": str(tree / "hook.sh"), "content": True}, {"path": str(tree / "root"), "content": True}])
    assert result["paths"][str(tree / "hook.sh")]["content"] == "export X=1\n"
    assert "content" not in result["paths"][str(tree / "root")]


def test_content_of_a_proc_file_whose_size_reads_zero():
    found = probe([{"path": "/proc/sys/kernel/ostype", "content": True}])["paths"]["/proc/sys/kernel/ostype"]
    assert found["type"] == "file" and found["content"] == "Linux\n"


def test_too_long_a_file_says_so_instead_of_its_content(tree, monkeypatch):
    monkeypatch.setattr(host_state_info, "CONTENT_LIMIT", 4)
    found = probe([{"path": str(tree / "hook.sh"), "content": True}])["paths"][str(tree / "hook.sh")]
    assert "content" not in found and "longer than 4 bytes" in found["error"]


@pytest.mark.parametrize(
    ("raw_hex", "wanted"),
    [
        # Recorded with `setcap cap_setuid,cap_setgid=ep` and `setcap cap_net_raw+p` on Debian 12 (getcap prints
        # "cap_setgid,cap_setuid=ep" and "cap_net_raw=p"), read back with os.getxattr.
        (
            "01000002c0000000000000000000000000000000",
            {"permitted": ["cap_setgid", "cap_setuid"], "inheritable": [], "effective": True, "rootid": None},
        ),
        (
            "0000000200200000000000000000000000000000",
            {"permitted": ["cap_net_raw"], "inheritable": [], "effective": False, "rootid": None},
        ),
        # Too short; revision 1 (32 bits only); an unknown revision.
        ("0100000180000000", None),
        (
            "010000018000000000000000",
            {"permitted": ["cap_setuid"], "inheritable": [], "effective": True, "rootid": None},
        ),
        ("01000009c00000000000000000000000", None),
        # Revision 3, set inside a user namespace whose root is uid 1000 (getcap: "... [rootid=1000]").
        (
            "01000003c0000000000000000001000000000000e8030000",
            {
                "permitted": ["cap_setgid", "cap_setuid", "cap_checkpoint_restore"],
                "inheritable": [],
                "effective": True,
                "rootid": 1000,
            },
        ),
    ],
)
def test_capabilities_are_decoded_as_getcap_names_them(raw_hex, wanted):
    assert host_state_info.decode_capabilities(bytes.fromhex(raw_hex)) == wanted


def test_a_file_without_capabilities_reads_null(tree):
    found = probe([{"path": str(tree / "hook.sh"), "capabilities": True}])["paths"][str(tree / "hook.sh")]
    assert found["capabilities"] is None


def test_accounts_and_groups_through_nss():
    result = probe([], users=[ME, "no-such-user-hpcenv"], groups=[MY_GROUP, "no-such-group-hpcenv"])
    me = pwd.getpwnam(ME)
    assert result["users"] == {
        ME: {"uid": me.pw_uid, "gid": me.pw_gid, "home": me.pw_dir, "shell": me.pw_shell},
        "no-such-user-hpcenv": None,
    }
    assert result["groups"][MY_GROUP] == {"gid": os.getgid(), "members": list(grp.getgrgid(os.getgid()).gr_mem)}
    assert result["groups"]["no-such-group-hpcenv"] is None


def test_apt_is_asked_only_about_packages_not_installed(tmp_path, monkeypatch):
    status = tmp_path / "status"
    status.write_text(DPKG_STATUS)
    monkeypatch.setattr(host_state_info, "DPKG_STATUS", str(status))
    monkeypatch.setattr(host_state_info.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/bin/" + name)
    asked = ["nginx-light", "mail-transport-agent", "apptainer"]
    result = run_module(
        host_state_info.main,
        {"paths": [], "packages": ["nginx"], "candidates": ["python3-yaml", *asked]},
        commands=[
            {
                "command": ["/usr/bin/apt-cache", "policy", "--", *asked],
                "out": (DEBIAN_12 / "apt-cache-policy.txt").read_text(),
            }
        ],
    )
    assert result["candidates"] == {
        "python3-yaml": "6.0-3+b2",  # installed: not asked
        "nginx-light": "1.22.1-9+deb12u12",
        "mail-transport-agent": None,  # known to apt, nothing to install
        "apptainer": None,  # no source has it (apt-cache prints nothing)
    }
    # Only what was asked for with `packages` is reported there.
    assert result["packages"] == {"nginx": None} and result["missing_packages"] == ["nginx"]


def test_nothing_is_run_when_every_candidate_is_installed(tmp_path, monkeypatch):
    status = tmp_path / "status"
    status.write_text(DPKG_STATUS)
    monkeypatch.setattr(host_state_info, "DPKG_STATUS", str(status))
    result = probe([], candidates=["python3-yaml", "libc6"])
    assert (
        result["candidates"] == {"python3-yaml": "6.0-3+b2", "libc6": "2.36-9+deb12u10"} and result["_commands"] == []
    )


def test_units_states_in_the_order_asked(monkeypatch):
    monkeypatch.setattr(host_state_info.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/bin/" + name)
    units = ["jupyterhub.service", "no-such.service", "jupyterhub-proxy.service"]
    result = run_module(
        host_state_info.main,
        {"paths": [], "services": units},
        commands=[
            {
                "command": [
                    "/usr/bin/systemctl",
                    "show",
                    "--property=LoadState,ActiveState,UnitFileState",
                    "--",
                    *units,
                ],
                "out": (DEBIAN_12 / "systemctl-show.txt").read_text(),
            }
        ],
    )
    assert result["services"] == {
        "jupyterhub.service": {"load": "loaded", "active": "active", "enabled": "enabled"},
        "no-such.service": {"load": "not-found", "active": "inactive", "enabled": ""},
        "jupyterhub-proxy.service": {"load": "loaded", "active": "active", "enabled": "enabled"},
    }


def test_no_systemctl_reads_every_unit_as_null(monkeypatch):
    monkeypatch.setattr(host_state_info.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    assert probe([], services=["a.service"])["services"] == {"a.service": None}


def test_systemctl_without_systemd_reads_every_unit_as_null_and_says_why(monkeypatch):
    monkeypatch.setattr(host_state_info.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/bin/" + name)
    # What systemctl prints where systemd is not PID 1 (recorded on a Debian 12 host in a container without it).
    err = (
        "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
        "Failed to connect to bus: Host is down\n"
    )
    argv = ["/usr/bin/systemctl", "show", "--property=LoadState,ActiveState,UnitFileState", "--", "a.service"]
    result = run_module(
        host_state_info.main,
        {"paths": [], "services": ["a.service"]},
        commands=[{"command": argv, "rc": 1, "err": err}],
    )
    assert result["services"] == {"a.service": None} and not result.get("failed")
    assert any("not been booted with systemd" in w for w in result["_warnings"])


def test_setuid_files_of_a_package_from_its_dpkg_file_list(tmp_path):
    info = tmp_path / "info"
    info.mkdir()
    helper, plain, setgid = tmp_path / "starter-suid", tmp_path / "starter", tmp_path / "wall"
    # Only setuid counts (a setgid file, such as bsdutils' wall, is not a way to root).
    for path, mode in ((helper, 0o4755), (plain, 0o755), (setgid, 0o2755)):
        path.write_text("")
        os.chmod(path, mode)
    listed = ["/.", str(tmp_path), str(helper), str(plain), str(tmp_path / "gone")]
    (info / "apptainer.list").write_text("\n".join(listed) + "\n")
    (info / "bsdutils:amd64.list").write_text(f"{setgid}\n")
    (info / "apptainer.md5sums").write_text(f"0 {plain}\n")
    assert host_state_info.dpkg_setuid_files("apptainer", str(info)) == [str(helper)]
    assert host_state_info.dpkg_setuid_files("bsdutils", str(info)) == []
    assert host_state_info.dpkg_setuid_files("not-installed", str(info)) == []
    assert host_state_info.dpkg_setuid_files("apptainer", str(tmp_path / "no-dpkg")) == []


def test_a_pattern_reads_every_match_and_lists_them(tree):
    (tree / "root" / "base-1" / "kernel.json").write_text('{"metadata": {"hpcenv": {}}}')
    (tree / "root" / "base-2" / "kernel.json").write_text("{}")
    pattern = str(tree / "root" / "*" / "kernel.json")
    nothing = str(tree / "root" / "*" / "absent.py")
    result = probe([{"path": pattern, "glob": True, "content": True}, {"path": nothing, "glob": True}])
    matches = [str(tree / "root" / "base-1" / "kernel.json"), str(tree / "root" / "base-2" / "kernel.json")]
    assert result["globs"] == {pattern: matches, nothing: []}
    assert [result["paths"][m]["content"] for m in matches] == ['{"metadata": {"hpcenv": {}}}', "{}"]
    assert pattern not in result["paths"]
    # Through a link, as a shared env's stable name is.
    linked = str(tree / "current" / "*")
    assert probe([{"path": linked, "glob": True}])["globs"][linked] == [str(tree / "current" / "kernel.json")]
    (tree / "root" / "base-2" / "lib").mkdir()
    assert probe([{"path": linked, "glob": True}])["globs"][linked] == [
        str(tree / "current" / "kernel.json"),
        str(tree / "current" / "lib"),
    ]


def test_managed_paths_pending_is_what_managed_paths_changes_and_nothing_is_touched(tmp_path):
    from . import test_managed_paths as mp

    wanted = mp.wanted(tmp_path)
    (tmp_path / "old.conf").write_text("stale\n")
    before = probe([], managed_paths=wanted)["pending_paths"]
    assert (tmp_path / "old.conf").exists() and not (tmp_path / "etc").exists()  # a read: nothing made or removed
    assert before == mp.ensure(wanted)["changed_paths"] == [entry["path"] for entry in wanted]
    assert probe([], managed_paths=wanted)["pending_paths"] == []
    os.chmod(tmp_path / "etc" / "app.conf", 0o600)
    (tmp_path / "etc" / "secret").write_text("another secret\n")  # force: false, content is not compared
    (tmp_path / "current").unlink()
    (tmp_path / "current").symlink_to("elsewhere")
    damaged = probe([], managed_paths=wanted)["pending_paths"]
    assert damaged == [f"{tmp_path}/etc/app.conf", f"{tmp_path}/current"]
    assert stat_mode(tmp_path / "etc" / "app.conf") == 0o600 and os.readlink(tmp_path / "current") == "elsewhere"
    assert mp.ensure(wanted)["changed_paths"] == damaged


def test_managed_paths_that_cannot_be_made_are_pending_and_managed_paths_says_why(tmp_path):
    from . import test_managed_paths as mp

    (tmp_path / "conf").mkdir()
    wanted = [
        {"path": f"{tmp_path}/conf", "content": "x\n"},
        {"path": f"{tmp_path}/key", "mode": "0600"},
        {"path": f"{tmp_path}/dir", "state": "directory", "owner": "no-such-user-here"},
        {"path": f"{tmp_path}/ok", "state": "absent"},
    ]
    assert probe([], managed_paths=wanted)["pending_paths"] == [entry["path"] for entry in wanted[:3]]
    assert mp.ensure(wanted)["msg"] == f"{tmp_path}/dir: there is no user 'no-such-user-here' on this host"
    fixed = mp.ensure(wanted[:1])
    assert fixed["failed"] and f"{tmp_path}/conf: a directory is there, not a file; move it away" in fixed["msg"]
    wrong = probe([], managed_paths=[{"path": f"{tmp_path}/x", "state": "fifo"}])
    assert wrong["failed"] and f"managed_paths entry '{tmp_path}/x'" in wrong["msg"] and "state" in wrong["msg"]


def test_managed_path_sets_name_those_with_a_pending_path(tmp_path):
    from . import test_managed_paths as mp

    wanted = mp.wanted(tmp_path)
    mp.ensure(wanted)
    sets = {"first": wanted[:2], "rest": wanted[2:], "none": []}
    assert probe([], managed_path_sets=sets)["pending_sets"] == []
    (tmp_path / "current").unlink()
    read = probe([], managed_paths=wanted[:1], managed_path_sets=sets)
    assert read["pending_sets"] == ["rest"] and read["pending_paths"] == [f"{tmp_path}/current"]
    assert not (tmp_path / "current").is_symlink()  # a read: nothing made
    os.chmod(tmp_path / "etc" / "app.conf", 0o600)
    read = probe([], managed_paths=wanted, managed_path_sets={"rest": wanted[2:], "first": wanted[:2]})
    assert read["pending_sets"] == ["rest", "first"]  # in the order given, after managed_paths' own
    conf, link = f"{tmp_path}/etc/app.conf", f"{tmp_path}/current"
    assert read["pending_paths"] == [conf, link, link, conf]
    wrong = probe([], managed_path_sets={"layout": {"path": f"{tmp_path}/x"}})
    assert wrong["failed"]
    assert wrong["msg"] == "managed_path_sets 'layout': give a list of paths, as managed_paths takes them"


def stat_mode(path):
    return os.stat(path).st_mode & 0o7777


def test_condarc_pending_is_what_condarc_changes_and_nothing_is_touched(tmp_path):
    from ansible_collections.hpcenv.gpu_cluster.plugins.modules import condarc

    path = tmp_path / "etc" / "conda" / ".condarc"
    want = {"path": str(path), "settings": {"channels": ["conda-forge"]}, "final": ["channels"], "mode": "0644"}

    def write():
        return run_module(condarc.main, want)

    def pending():
        return probe([], condarc=want)["condarc_pending"]

    assert probe([])["condarc_pending"] is None
    assert pending() is True and not path.exists()  # a read: nothing made
    assert write()["changed"] is True
    assert pending() is False
    path.write_text(path.read_text() + "channel_priority: flexible\n")  # an admin's key stays: no change
    assert pending() is False and write()["changed"] is False
    path.write_text(path.read_text().replace("conda-forge", "defaults"))
    edited = path.read_text()
    assert pending() is True and path.read_text() == edited
    assert write()["changed"] is True and pending() is False
    os.chmod(path, 0o600)
    assert pending() is True and stat_mode(path) == 0o600
    assert write()["changed"] is True and pending() is False and stat_mode(path) == 0o644


def test_condarc_the_module_would_refuse_is_pending_and_condarc_says_why(tmp_path):
    from ansible_collections.hpcenv.gpu_cluster.plugins.modules import condarc

    path = tmp_path / ".condarc"
    refused = [
        {"path": str(path), "settings": {"chanels": ["conda-forge"]}},  # unknown key
        {"path": str(tmp_path), "settings": {"channels": ["conda-forge"]}},  # a directory
    ]
    path.write_text("- not a mapping\n")
    refused.append({"path": str(path), "settings": {"channels": ["conda-forge"]}})
    for want in refused:
        assert probe([], condarc=want)["condarc_pending"] is True
        assert run_module(condarc.main, want)["failed"]
    assert path.read_text() == "- not a mapping\n"


CONDA_INFO_CASES = yaml.safe_load((Path(__file__).parent / "test_conda_info.yaml").read_text())


@pytest.mark.parametrize(
    "case",
    [c for c in CONDA_INFO_CASES if not c["args"].get("virtual_packages")],
    ids=[c["id"] for c in CONDA_INFO_CASES if not c["args"].get("virtual_packages")],
)
def test_conda_installation_is_what_conda_info_returns(case, tmp_path):
    from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_meta
    from ansible_collections.hpcenv.gpu_cluster.plugins.modules import conda_info

    from .runner import substitute_root

    root = str(tmp_path)
    for rel, content in case["layout"].items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(substitute_root(content, root))
    prefix = substitute_root(case["args"]["prefix"], root)
    bases = (os.path.join(root, "etc/conda"), os.path.join(root, "var/lib/conda"))
    with mock.patch.object(_conda_meta, "SYSTEM_CONDARC_BASES", bases):
        info = run_module(conda_info.main, {"prefix": prefix})
        read = probe([], conda_installation=prefix)["conda_installation"]
    if info.get("failed"):
        assert read is None  # conda_info says why
    else:
        assert read == {k: v for k, v in info.items() if k not in ("changed", "_commands", "_warnings")}
    assert probe([])["conda_installation"] is None
