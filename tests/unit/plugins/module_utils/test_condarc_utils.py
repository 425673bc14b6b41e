"""Pure helpers of _condarc: the YAML we write reads back as the same data."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _condarc


@pytest.mark.parametrize(
    "data",
    [
        {"channels": ["conda-forge", "bioconda"]},
        {"channel_alias": "http://mirror:8080/conda", "ssl_verify": "/etc/ssl/certs/ca.pem"},
        {"custom_channels": {"internal": "https://x.example.org/conda", "b": "http://h:1/p"}},
        {"auto_update_conda": False, "remote_read_timeout_secs": 60.0, "remote_max_retries": 3},
        {"envs_dirs": ["~/.conda/envs", "/opt/conda.d/envs"], "default_channels": []},
        {"weird": ["yes", "no", "null", "1.5", "a: b", "#hash", " lead", "", "on"], "empty": {}},
        {"nested": [{"a": 1, "b": [1, 2]}, [3, 4], "x"], "none": None},
    ],
)
def test_render_roundtrips_through_yaml(data):
    text = _condarc.render(data, set())
    assert yaml.safe_load(text) == data
    assert _condarc.parse(text) == (data, set())


def test_final_markers_roundtrip():
    data = {"channels": ["conda-forge"], "channel_priority": "strict", "ssl_verify": True}
    text = _condarc.render(data, {"channels", "channel_priority"})
    assert "channels:  #!final\n  - conda-forge\n" in text
    assert _condarc.parse(text) == (data, {"channels", "channel_priority"})


def test_merge_files_like_conda():
    system = "channels: [conda-forge]  #!final\nchannel_priority: flexible\ncustom_channels: {a: http://a}\n"
    user = "channels: [defaults]\nchannel_priority: strict\ncustom_channels: {b: http://b}\npkgs_dirs: [/x]\n"
    merged, final = _condarc.merge_files([system, user])
    assert merged == {
        "channels": ["conda-forge"],
        "channel_priority": "strict",
        "custom_channels": {"a": "http://a", "b": "http://b"},
        "pkgs_dirs": ["/x"],
    }
    assert final == {"channels"}


def test_list_merge_puts_later_items_first():
    merged = _condarc.merge_files(["envs_dirs: [/a, /b]\n", "envs_dirs: [/c, /a]\n"])[0]
    assert merged["envs_dirs"] == ["/c", "/a", "/b"]


@pytest.mark.parametrize(
    ("typo", "hint"),
    [("channel_prority", "channel_priority"), ("pkg_dirs", "pkgs_dirs"), ("allowlist_channel", "allowlist_channels")],
)
def test_closest_key(typo, hint):
    assert _condarc.closest_key(typo) == hint
