"""The conda role's login hook that makes each user's own conda directories (conda-user-dirs),
rendered as the role renders it, run on a temporary tree (as root, as on a node)."""

from __future__ import annotations

import json
import os
import pwd
import types
from pathlib import Path

import jinja2
import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "conda"
UID = 64123  # a user's uid no account here has


def _hook(fixed: str) -> types.ModuleType:
    """The hook for /FIXED/$USER/conda/envs and /FIXED/conda-${LOGNAME}/pkgs, as the role writes it."""
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, autoescape=False)  # noqa: S701 - Python, not HTML
    env.filters["to_json"] = json.dumps
    env.filters["comment"] = lambda text: "# " + text
    template = env.from_string((ROLE / "templates" / "conda-user-dirs.py.j2").read_text())
    text = "#!/usr/bin/python3 -I\n" + template.render(
        ansible_managed="test",
        conda_user_dirs_mode="0700",
        _conda_user_variable_re=role_vars["_conda_user_variable_re"],
        _conda_user_dirs=[
            {"fixed": fixed, "parts": ["$USER", "conda", "envs"]},
            {"fixed": fixed, "parts": ["conda-${LOGNAME}", "pkgs"]},
        ],
    )
    module = types.ModuleType("conda_user_dirs")
    exec(compile(text, "conda-user-dirs", "exec"), module.__dict__)  # noqa: S102 - the role's own file
    return module


def _user(name: str = "alice") -> pwd.struct_passwd:
    return pwd.struct_passwd((name, "x", UID, UID, "", f"/home/{name}", "/bin/bash"))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the hook gives directories away: root only, as on a node")


@needs_root
def test_a_users_directories_are_made_theirs_the_first_one_private(tmp_path):
    hook = _hook(str(tmp_path))
    assert hook.make(str(tmp_path), ["$USER", "conda", "envs"], _user()) == ""
    assert hook.make(str(tmp_path), ["conda-${LOGNAME}", "pkgs"], _user()) == ""
    for path, mode in [("alice", 0o700), ("alice/conda", 0o755), ("alice/conda/envs", 0o755), ("conda-alice", 0o700)]:
        st = (tmp_path / path).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (UID, UID, mode), path
    # Again (the next login): nothing changes, nothing to say.
    (tmp_path / "alice" / "conda").chmod(0o750)
    assert hook.make(str(tmp_path), ["$USER", "conda", "envs"], _user()) == ""
    assert (tmp_path / "alice" / "conda").stat().st_mode & 0o7777 == 0o750
    # Below a directory that is already alice's, what is missing is made as alice (a process with her ids).
    (tmp_path / "alice" / "conda" / "envs").rmdir()
    assert hook.make(str(tmp_path), ["$USER", "conda", "envs"], _user()) == ""
    assert (tmp_path / "alice" / "conda" / "envs").stat().st_uid == UID


@needs_root
def test_a_run_cut_short_before_giving_the_directory_away_is_finished_by_the_next(tmp_path):
    hook = _hook(str(tmp_path))
    (tmp_path / "alice" / "conda").mkdir(parents=True)
    (tmp_path / "alice").chmod(0o700)  # root's and private: as the run left it
    assert hook.make(str(tmp_path), ["$USER", "conda", "envs"], _user()) == ""
    assert [(tmp_path / p).stat().st_uid for p in ("alice", "alice/conda", "alice/conda/envs")] == [UID, UID, UID]
    assert hook.make(str(tmp_path), ["$USER", "", "envs"], _user()).endswith("a part is empty, '.' or '..' for alice")


@needs_root
def test_a_directory_someone_else_made_first_or_a_link_is_left_alone(tmp_path):
    hook = _hook(str(tmp_path))
    (tmp_path / "alice").mkdir(mode=0o777)  # squatted (root's here: not alice's)
    assert "is not alice's" in hook.make(str(tmp_path), ["$USER", "conda", "envs"], _user())
    assert not (tmp_path / "alice" / "conda").exists()
    assert (tmp_path / "alice").stat().st_uid == 0
    target = tmp_path / "etc"
    target.mkdir()
    (tmp_path / "conda-alice").symlink_to(target)
    with pytest.raises(OSError):  # O_NOFOLLOW: never follows a link it did not make
        hook.make(str(tmp_path), ["conda-${LOGNAME}", "pkgs"], _user())
    assert target.stat().st_uid == 0
    assert not (target / "pkgs").exists()


def test_only_the_users_own_names_are_expanded_and_root_and_system_accounts_get_nothing(tmp_path, monkeypatch):
    hook = _hook(str(tmp_path))
    assert hook.expand("conda-${LOGNAME}-$USER", "alice") == "conda-alice-alice"
    assert hook.expand("$USERS", "alice") == "$USERS"  # another variable (the role refuses it)
    monkeypatch.setenv("PAM_TYPE", "close_session")
    assert hook.main(["conda-user-dirs", "root"]) == 0
    monkeypatch.setenv("PAM_TYPE", "open_session")
    monkeypatch.setenv("PAM_USER", "root")
    assert hook.main(["conda-user-dirs"]) == 0
    assert list(tmp_path.iterdir()) == []
