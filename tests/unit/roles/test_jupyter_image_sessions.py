"""Unit tests for the spawn form and hook of sessions in images (roles/jupyter/files/jupyter_image_sessions.py):
what the form offers, read from catalogue pages made by the module_utils the shared_env module writes them with,
and what a choice does to the (reused) spawner."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _catalogue

from .role_files import load_role_file

sessions = load_role_file("jupyter", "jupyter_image_sessions.py")

VERSIONS = "/opt/conda.d/envs/.versions"
RECORDED = [
    {"version": "v1", "lock_id": "aaaaaaaaaaaa", "created": "2026-12-01T10:00:00Z", "by": "admin", "summary": ""},
    {"version": "v2", "lock_id": "bbbbbbbbbbbb", "created": "2026-12-02T10:00:00Z", "by": "admin", "summary": ""},
    {"version": "v3", "lock_id": "cccccccccccc", "created": "2026-12-03T10:00:00Z", "by": "admin", "summary": ""},
]
# v1 is no longer kept on the node; v2 is active; v3 is kept (a rollback target).
KEPT = ["shared_ml-bbbbbbbbbbbb-20261202T100000", "shared_ml-cccccccccccc-20261203T100000"]
LAUNCHER = "/usr/local/libexec/hpcenv-gpu-cluster/jupyter-image-session"


def _hub(tmp_path, envs=("shared_ml",)) -> sessions.ImageSessions:
    page = _catalogue.entry("shared_ml", "/opt/conda.d/envs", RECORDED, KEPT, KEPT[0], "cuda12.4", "linux-64")
    (tmp_path / "shared_ml.json").write_text(_catalogue.as_json(page))
    return sessions.ImageSessions(
        catalogue=str(tmp_path),
        envs=list(envs),
        registry="hub:5443",
        namespace="hpcenv",
        launcher=LAUNCHER,
        timeout=300,
    )


def _spawner(choice: str | None) -> SimpleNamespace:
    return SimpleNamespace(
        cmd=["/opt/conda.d/envs/jupyterhub/bin/jupyterhub-singleuser"],
        http_timeout=30,
        start_timeout=60,
        disable_user_sudo=True,
        unit_extra_properties={"SendSIGHUP": "yes"},
        user_options={} if choice is None else {"environment": choice},
        user=SimpleNamespace(name="alice"),
        log=logging.getLogger("test"),
    )


def test_the_form_offers_each_version_kept_on_the_node_newest_first_as_its_image(tmp_path):
    offered = _hub(tmp_path, envs=("shared_ml", "no_page_yet")).offered()
    assert [(c["value"], c["image"], c["active"]) for c in offered] == [
        ("shared_ml:v3", "hub:5443/hpcenv/cuda12.4/shared_ml:v3", False),
        ("shared_ml:v2", "hub:5443/hpcenv/cuda12.4/shared_ml:v2", True),
    ]
    # The kernel's prefix is not the hub's: the launcher reads it from the image (its builder's).
    assert all("prefix" not in c for c in offered)


def test_the_node_is_the_first_choice_and_selected(tmp_path):
    form = _hub(tmp_path).options_form(None)
    options = [line for line in form.splitlines() if line.startswith("<option")]
    assert options[0] == '<option value="" selected>This node, with the shared environments as kernels</option>'
    assert 'value="shared_ml:v2"' in options[2] and "shared_ml v2 (active), as an image" in options[2]
    assert _hub(tmp_path).options_from_form({"environment": ["shared_ml:v2"]}) == {"environment": "shared_ml:v2"}
    assert _hub(tmp_path).options_from_form({}) == {"environment": ""}
    with pytest.raises(ValueError, match="not an environment image this hub offers"):
        _hub(tmp_path).options_from_form({"environment": ["shared_ml:v1"]})


def test_a_chosen_image_runs_through_the_launcher_and_the_next_node_spawn_is_as_configured(tmp_path):
    hub = _hub(tmp_path)
    spawner = _spawner("shared_ml:v3")
    hub.pre_spawn_hook(spawner)
    assert spawner.cmd == [
        LAUNCHER,
        "hub:5443/hpcenv/cuda12.4/shared_ml:v3",
        "shared_ml",
        "v3",
    ]
    assert (spawner.http_timeout, spawner.start_timeout) == (300, 300)
    assert spawner.disable_user_sudo is False
    assert spawner.unit_extra_properties == {"SendSIGHUP": "no", "KillMode": "mixed"}
    # The same (reused) spawner, next time on the node: everything as configured again.
    spawner.user_options = {}
    hub.pre_spawn_hook(spawner)
    assert spawner.cmd == ["/opt/conda.d/envs/jupyterhub/bin/jupyterhub-singleuser"]
    assert (spawner.http_timeout, spawner.start_timeout, spawner.disable_user_sudo) == (30, 60, True)
    assert spawner.unit_extra_properties == {"SendSIGHUP": "yes"}


@pytest.mark.parametrize("choice", ["shared_ml:v1", "other:v1", "shared_ml:v2; rm -rf ~", "/bin/sh"])
def test_a_choice_the_hub_does_not_offer_is_refused_and_changes_nothing(tmp_path, choice):
    spawner = _spawner(choice)
    with pytest.raises(ValueError, match="not an environment image this hub offers"):
        _hub(tmp_path).pre_spawn_hook(spawner)
    assert spawner.cmd == ["/opt/conda.d/envs/jupyterhub/bin/jupyterhub-singleuser"]
    assert spawner.disable_user_sudo is True
