"""Unit tests for the kernel start script (roles/jupyter/files/jupyter_kernel_start.py): the env version
a kernel reports, read from a catalogue page made by the module_utils the shared_env module writes it with."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _catalogue

from .role_files import load_role_file

start = load_role_file("jupyter", "jupyter_kernel_start.py")

VERSIONS = "/opt/conda.d/envs/.versions"
RECORDED = [
    {"version": "v1", "lock_id": "aaaaaaaaaaaa", "created": "2026-12-01T10:00:00Z", "by": "admin", "summary": ""},
    {"version": "v2", "lock_id": "bbbbbbbbbbbb", "created": "2026-12-02T10:00:00Z", "by": "admin", "summary": ""},
]
KEPT = ["shared-ml-aaaaaaaaaaaa-20261201T100000", "shared-ml-bbbbbbbbbbbb-20261202T100000"]


def _page(tmp_path: Path) -> Path:
    page = _catalogue.entry("shared-ml", "/opt/conda.d/envs", RECORDED, KEPT, KEPT[1], "cpu", "linux-64")
    path = tmp_path / "shared-ml.json"
    path.write_text(_catalogue.as_json(page))
    return path


def test_a_kernel_reports_the_version_it_runs_in_also_an_older_kept_one(tmp_path):
    page = _page(tmp_path)
    for directory, version, lock in [(KEPT[1], "v2", "bbbbbbbbbbbb"), (KEPT[0], "v1", "aaaaaaaaaaaa")]:
        prefix = f"{VERSIONS}/{directory}"
        assert start.env_version("shared-ml", str(page), prefix) == {
            "env": "shared-ml",
            "version": version,
            "lock_id": lock,
            "prefix": prefix,
        }


def test_no_catalogue_or_an_unreadable_one_leaves_the_version_empty_and_keeps_the_lock(tmp_path):
    prefix = f"{VERSIONS}/{KEPT[1]}"
    (tmp_path / "broken.json").write_text('{"versions": [1, 2')
    (tmp_path / "odd.json").write_text('["not", "a", "page"]')
    for page in ["missing.json", "broken.json", "odd.json"]:
        found = start.env_version("shared-ml", str(tmp_path / page), prefix)
        assert (found["version"], found["lock_id"]) == ("", "bbbbbbbbbbbb")


def test_a_prefix_that_is_no_version_directory_has_no_lock_and_no_version(tmp_path):
    found = start.env_version("mine", str(_page(tmp_path)), "/home/alice/envs/mine")
    assert (found["version"], found["lock_id"]) == ("", "")
