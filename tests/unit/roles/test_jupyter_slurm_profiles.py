"""Unit tests for the Slurm profiles of users' servers (roles/jupyter/files/jupyter_slurm_profiles.py):
what the form offers each user, which choices are refused and with what message, and what a
profile asks Slurm for. The hub-side spawner class itself is exercised by the jupyter scenario."""

from __future__ import annotations

import grp
import os
import pwd

import pytest

from .role_files import load_role_file

profiles_mod = load_role_file("jupyter", "jupyter_slurm_profiles.py")

PROFILES = [
    {"name": "cpu", "display": "CPU: 1 core, 1 hour", "cpus": 1, "time": "1:00:00"},
    {"name": "gpu", "display": "One GPU", "partition": "gpu", "gres": "gpu:1", "groups": ["gpu-users"]},
    {"name": "gpu-priority", "display": "Priority GPU", "partition": "gpu", "gres": "gpu:1", "groups": ["gpu-admins"]},
]
MEMBERS = {"alice": {"alice", "gpu-users"}, "bob": {"bob"}}


def _groups_of(user: str) -> set:
    return MEMBERS.get(user, set())


def _profiles(profiles=None):
    return profiles_mod.SlurmProfiles(PROFILES if profiles is None else profiles, groups_of=_groups_of)


def _options(form: str) -> list:
    return [line for line in form.splitlines() if line.startswith("<option")]


def test_the_form_greys_out_the_profiles_of_other_groups():
    options = _options(_profiles().options_form("alice"))
    assert options == [
        '<option value="cpu" selected>CPU: 1 core, 1 hour</option>',
        '<option value="gpu">One GPU</option>',
        '<option value="gpu-priority" disabled>Priority GPU (for members of gpu-admins)</option>',
    ]
    assert 'name="profile"' in _profiles().options_form("alice")


def test_the_first_profile_a_user_may_use_is_selected():
    limited = [PROFILES[1], PROFILES[0]]
    assert _options(_profiles(limited).options_form("bob")) == [
        '<option value="gpu" disabled>One GPU (for members of gpu-users)</option>',
        '<option value="cpu" selected>CPU: 1 core, 1 hour</option>',
    ]
    assert _profiles(limited).default("bob") == "cpu"
    assert _profiles(limited).default("alice") == "gpu"


def test_the_form_escapes_what_the_admin_wrote():
    form = _profiles([{"name": "x", "display": "<b>A & B</b>"}]).options_form("bob")
    assert '<option value="x" selected>&lt;b&gt;A &amp; B&lt;/b&gt;</option>' in form


def test_a_choice_the_user_may_use_is_taken():
    assert _profiles().options_from_form({"profile": ["gpu"]}, "alice") == {"profile": "gpu"}
    assert _profiles().options_from_form({}, "bob") == {"profile": "cpu"}


def test_a_profile_of_other_groups_is_refused_with_the_groups_named():
    with pytest.raises(ValueError, match=r"'Priority GPU' is for members of gpu-admins, and alice is not one"):
        _profiles().options_from_form({"profile": ["gpu-priority"]}, "alice")
    with pytest.raises(ValueError, match="gpu-users, and bob is not one"):
        _profiles().options_from_form({"profile": ["gpu"]}, "bob")


def test_an_unknown_profile_is_refused():
    assert "no profile 'tpu'" in _profiles().refusal("tpu", "alice")


def test_a_user_with_no_profile_open_is_told_so():
    only_gpu = _profiles([PROFILES[1]])
    assert only_gpu.default("bob") == ""
    with pytest.raises(ValueError, match="No profile of this hub is open to bob"):
        only_gpu.options_from_form({}, "bob")


def test_each_profile_asks_slurm_for_its_requests_only():
    assert _profiles().wrapspawner_profiles() == [
        ("CPU: 1 core, 1 hour", "cpu", "batchspawner.SlurmSpawner", {"req_nprocs": "1", "req_runtime": "1:00:00"}),
        ("One GPU", "gpu", "batchspawner.SlurmSpawner", {"req_partition": "gpu", "req_gres": "gpu:1"}),
        ("Priority GPU", "gpu-priority", "batchspawner.SlurmSpawner", {"req_partition": "gpu", "req_gres": "gpu:1"}),
    ]


def test_a_profile_without_a_display_shows_its_name():
    assert _profiles([{"name": "short", "display": None, "groups": None}]).wrapspawner_profiles()[0][0] == "short"


def test_groups_come_from_the_system_databases():
    me = pwd.getpwuid(os.getuid()).pw_name
    assert grp.getgrgid(os.getgid()).gr_name in profiles_mod.groups_of(me)
    assert profiles_mod.groups_of("no-such-user-hpcenv") == set()


def test_a_user_with_no_profile_open_reads_why_in_the_form():
    form = _profiles([PROFILES[1]]).options_form("bob")
    assert "<select" not in form
    assert "No profile of this hub is open to bob" in form


def test_a_name_a_shell_would_read_is_never_passed_to_slurm():
    # batchspawner runs its commands, the user's name in them, through a root shell.
    for name in ("bob;id", "bob$(id)", "Bob", "bob smith", "-bob", "bob\n"):
        assert "cannot be passed to Slurm" in _profiles().refusal("cpu", name)
    assert _profiles().refusal("cpu", "bob.smith_2") is None


def test_the_profiles_settings_are_copies():
    profiles = _profiles()
    first = profiles.wrapspawner_profiles()[0][3]
    first["req_nprocs"] = "64"
    assert profiles.wrapspawner_profiles()[0][3]["req_nprocs"] == "1"
