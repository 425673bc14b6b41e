"""_atomic: the one way the collection's modules replace a file."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _atomic


def test_a_new_file_gets_its_text_and_mode_and_no_temporary_file_stays(tmp_path):
    target = tmp_path / "node.prom"
    _atomic.write(str(target), "a 1\n", 0o640)
    assert target.read_text() == "a 1\n" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["node.prom"]


def test_the_rename_is_the_callers_when_given(tmp_path):
    target, moves = tmp_path / ".condarc", []

    def move(src, dest):
        moves.append((os.path.dirname(src), os.path.basename(src).startswith(".") and src.endswith(".tmp"), dest))
        os.replace(src, dest)

    _atomic.write(str(target), "channels: [conda-forge]\n", None, move)
    assert moves == [(str(tmp_path), True, str(target))] and target.read_text() == "channels: [conda-forge]\n"


def test_a_failed_rename_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "subuid"
    target.write_text("alice:100000:65536\n")

    def refuse(src, dest):
        raise PermissionError(dest)

    with pytest.raises(PermissionError):
        _atomic.write(str(target), "bob:165536:65536\n", 0o644, refuse)
    assert target.read_text() == "alice:100000:65536\n" and os.listdir(tmp_path) == ["subuid"]


def test_write_if_changed_writes_only_what_differs(tmp_path):
    target = tmp_path / ".history"
    assert _atomic.write_if_changed(str(target), "v1\n") is True
    before = target.stat().st_ino
    assert _atomic.write_if_changed(str(target), "v1\n") is False and target.stat().st_ino == before
    assert _atomic.read(str(target)) == "v1\n" and _atomic.read(str(tmp_path / "none")) is None
