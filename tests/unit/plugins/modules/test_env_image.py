"""Unit tests for hpcenv.gpu_cluster.env_image: which versions it publishes, and what it says when it cannot.

The registry itself is exercised for real in Molecule (the mirror scenario's docker-registry behind nginx);
here a closed local port stands for a registry that is down, and no command may run.
"""

from __future__ import annotations

import json
import socket

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _registry
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import env_image, env_image_sif

from .runner import run_module

ENVS = "/opt/conda.d/envs"


def _version(number, lock, *, active=False, on_node=True, damaged=""):
    directory = f"shared_ml-{lock}-20261204T120000" if on_node else ""
    return {
        "version": number,
        "lock_id": lock,
        "active": active,
        "on_node": on_node,
        "damaged": damaged,
        "path": f"{ENVS}/.versions/{directory}" if directory else "",
    }


PAGE = {
    "name": "shared_ml",
    "variant": "cpu",
    "platform": "linux-64",
    "versions": [
        _version("v1", "aaaa1111", on_node=False),  # pruned here: its image stays as it is
        _version("v2", "bbbb2222", damaged="files differ from the lock"),  # never offered, never published
        _version("v3", "cccc3333"),
        _version("v4", "dddd4444", active=True),
        _version("", "eeee5555"),  # built here before versions were numbered: no number to tag
    ],
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _args(tmp_path, page="default", port=None):
    catalogue = tmp_path / "shared_ml.json"
    if page is not None:
        catalogue.write_text(json.dumps(PAGE if page == "default" else page))
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {f"127.0.0.1:{port}": {"auth": "dXNlcjpwYXNz"}}}))
    return {
        "catalogue": str(catalogue),
        "registry": f"127.0.0.1:{port or _closed_port()}",
        "base": "registry.example.org/library/debian:bookworm-slim",
        "authfile": str(authfile),
        "plain_http": True,
        "audit_log": "",
    }


def test_only_numbered_whole_versions_kept_here_are_published_with_active_last():
    wanted = env_image._wanted(PAGE)
    assert [(v["version"], v["tags"]) for v in wanted] == [
        ("v3", ["cccc3333", "v3"]),
        ("v4", ["dddd4444", "v4", "active"]),
    ]


def test_check_mode_with_the_registry_down_reports_every_tag_to_publish(tmp_path):
    result = run_module(env_image.main, _args(tmp_path), check_mode=True)
    assert result["changed"] is True
    assert result["repository"].endswith("/hpcenv/cpu/shared_ml")
    assert [p["tag"] for p in result["published"]] == ["cccc3333", "v3", "dddd4444", "v4", "active"]
    assert "cannot reach the registry" in result["msg"]  # and a warning
    assert result["_commands"] == [], "check mode builds nothing"


def test_a_registry_that_is_down_fails_the_run_naming_it_before_anything_is_built(tmp_path):
    args = _args(tmp_path)
    result = run_module(env_image.main, args)
    assert result["failed"] is True
    assert f"cannot reach the registry {args['registry']}" in result["msg"]
    assert "image_registry role" in result["msg"]
    assert result["_commands"] == []


def test_a_missing_catalogue_page_fails_and_says_to_converge_shared_envs(tmp_path):
    result = run_module(env_image.main, _args(tmp_path, page=None))
    assert result["failed"] is True
    assert "converge shared_envs first" in result["msg"]


def test_a_missing_catalogue_page_in_check_mode_is_nothing_to_do(tmp_path):
    result = run_module(env_image.main, _args(tmp_path, page=None), check_mode=True)
    assert result["changed"] is False
    assert result["images"] == []


def test_credentials_are_read_per_registry_and_an_unreadable_file_says_so(tmp_path):
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {"reg:5443": {"auth": "dXNlcjpwYXNz"}}}))
    assert _registry.credentials(str(authfile), "reg:5443") == "dXNlcjpwYXNz"
    assert _registry.credentials(str(authfile), "other:5443") == ""
    authfile.write_text("{not json")
    try:
        _registry.credentials(str(authfile), "reg:5443")
    except _registry.RegistryError as exc:
        assert "cannot read the push credentials" in str(exc)
    else:
        raise AssertionError("an unreadable authfile must raise RegistryError")


def test_sif_files_sit_beside_the_repository_named_by_version():
    repo = _registry.repository("hpcenv", "cuda12.4", "shared_ml")
    assert repo == "hpcenv/cuda12.4/shared_ml"
    assert _registry.sif_path(repo, "v2") == "sif/hpcenv/cuda12.4/shared_ml-v2.sif"
    tags = ["v1", "v10", "active", "3f2a9c1e0b7d", "v2-rc"]
    assert [t for t in tags if _registry.VERSION_TAG.match(t)] == ["v1", "v10"]


def test_the_sif_maker_with_the_registry_down_fails_naming_it_and_in_check_mode_warns(tmp_path):
    args = _args(tmp_path)
    args = {key: args[key] for key in ("registry", "authfile", "plain_http", "audit_log")}
    args["envs"] = ["shared_ml"]
    result = run_module(env_image_sif.main, args)
    assert result["failed"] is True
    assert f"cannot reach the registry {args['registry']}" in result["msg"]
    assert result["_commands"] == []
    checked = run_module(env_image_sif.main, args, check_mode=True)
    assert checked["changed"] is False
    assert "cannot reach the registry" in checked["msg"]
