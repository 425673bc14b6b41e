"""Unit tests for hpcenv.gpu_cluster.subid, driven by test_subid.yaml.

NSS is replaced by the case's passwd table (pwd.getpwnam/getpwall, grp.getgrall).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import yaml

from ansible_collections.hpcenv.gpu_cluster.plugins.modules import subid

from .runner import run_module

CASES = yaml.safe_load((Path(__file__).with_suffix(".yaml")).read_text())


def _nss(passwd: dict):
    entries = [SimpleNamespace(pw_name=n, pw_uid=u) for n, u in passwd.items()]
    entries.append(SimpleNamespace(pw_name="nobody", pw_uid=65534))

    def getpwnam(name):
        for e in entries:
            if e.pw_name == name:
                return e
        raise KeyError(name)

    groups = [SimpleNamespace(gr_name=n, gr_gid=u) for n, u in passwd.items()] + [SimpleNamespace(gr_gid=65534)]
    return (
        mock.patch.object(subid.pwd, "getpwnam", getpwnam),
        mock.patch.object(subid.pwd, "getpwall", lambda: entries),
        mock.patch.object(subid.grp, "getgrall", lambda: groups),
    )


def _read(path: Path):
    return path.read_text() if path.exists() else None


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_subid(case, tmp_path):
    files = {"subuid": tmp_path / "subuid", "subgid": tmp_path / "subgid"}
    for kind, path in files.items():
        if case[kind] is not None:
            path.write_text(case[kind])
    args = {**case["args"], "subuid_file": str(files["subuid"]), "subgid_file": str(files["subgid"])}
    expect = dict(case["expect"])
    a, b, c = _nss(case["passwd"])
    with a, b, c:
        result = run_module(subid.main, args)
        if not expect.get("failed"):
            again = run_module(subid.main, args)
            assert again["changed"] is False, "second run must be idempotent"
    if expect.pop("failed", False):
        assert result.get("failed"), result
        msg = expect.pop("msg_contains").replace("SUBUID", str(files["subuid"]))
        assert msg in result["msg"]
        for kind, path in files.items():
            assert _read(path) == case[kind], f"{kind} was written despite the error"
        return
    assert not result.get("failed"), result.get("msg")
    for kind, path in files.items():
        if f"{kind}_after" in expect:
            assert _read(path) == expect.pop(f"{kind}_after"), kind
    for key, value in expect.items():
        assert result[key] == value, key


def test_check_mode_and_diff(tmp_path):
    files = {"subuid_file": str(tmp_path / "subuid"), "subgid_file": str(tmp_path / "subgid")}
    a, b, c = _nss({"alice": 1000})
    with a, b, c:
        result = run_module(subid.main, {"users": ["alice"], **files}, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["ranges"]["alice"]["subuid"] == {"start": 100000, "count": 65536}
    assert result["diff"][0]["after"] == "alice:100000:65536\n"
    assert not (tmp_path / "subuid").exists()
