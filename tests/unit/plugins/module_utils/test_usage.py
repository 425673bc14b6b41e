"""_usage: users' conda envs and caches and the shared versions, measured as du and find count them."""

from __future__ import annotations

import json
import os
import pwd
import subprocess

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _prom, _usage

DAY = 86400


def _user(tmp_path, name: str) -> pwd.struct_passwd:
    home = tmp_path / "home" / name
    home.mkdir(parents=True)
    return pwd.struct_passwd((name, "x", os.getuid(), os.getgid(), "", str(home), "/bin/bash"))


def _env(prefix, files: dict, cache=None) -> None:
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("==> 2026-12-01 <==\n")
    (prefix / "bin").mkdir()
    for relative, text in files.items():
        path = prefix / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if cache is not None:  # as conda links a package's files from the cache
            source = cache / relative.replace("/", "_")
            source.write_text(text)
            os.link(source, path)
        else:
            path.write_text(text)


def _du_find(path) -> tuple[int, int]:
    du = int(
        subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    )
    find = subprocess.run(["find", str(path)], capture_output=True, text=True, check=True).stdout.count("\n")
    return du, find


def test_a_tree_is_what_du_and_find_say_with_hard_links_inside_it_once(tmp_path):
    cache = tmp_path / "pkgs"
    cache.mkdir()
    env = tmp_path / "env"
    _env(env, {"bin/python": "x" * 9000, "lib/a.py": "y" * 5000}, cache=cache)
    os.link(env / "lib" / "a.py", env / "lib" / "b.py")  # a second link inside the env
    (env / "bin" / "python3").symlink_to("python")
    measured = _usage.tree(str(env))
    assert (measured["bytes"], measured["files"]) == _du_find(env)
    assert (
        measured["linked_bytes"]
        == (env / "bin" / "python").stat().st_blocks * 512 + (env / "lib" / "a.py").stat().st_blocks * 512
    )


def test_entries_expand_as_conda_does_in_the_users_session_and_shared_ones_are_not_the_users(tmp_path):
    alice = _user(tmp_path, "alice")
    assert _usage.expand("/scratch/$USER/conda/envs", alice) == "/scratch/alice/conda/envs"
    assert _usage.expand("/p/${LOGNAME}-envs", alice) == "/p/alice-envs"
    assert _usage.expand("~/.conda/envs", alice) == f"{alice.pw_dir}/.conda/envs"
    assert _usage.expand("$HOME/envs", alice) == f"{alice.pw_dir}/envs"
    assert _usage.expand("/opt/conda.d/envs", alice) == ""


def test_a_users_envs_are_found_in_their_entries_and_in_condas_record_once_each_and_stale_ones_said(tmp_path):
    alice = _user(tmp_path, "alice")
    scratch = tmp_path / "scratch"
    own = scratch / "alice" / "conda" / "envs"
    _env(own / "cv", {"bin/python": "p"})
    _env(tmp_path / "projects" / "old", {"bin/python": "p"})  # made with -p, recorded by conda
    (own / "not_an_env").mkdir()
    records = tmp_path / "home" / "alice" / ".conda"
    records.mkdir()
    (records / "environments.txt").write_text(f"{own / 'cv'}\n{tmp_path / 'projects' / 'old'}\n/gone/env\n")
    old = tmp_path / "projects" / "old"
    long_ago = 1_700_000_000
    os.utime(old / "bin" / "python", (long_ago, long_ago))
    os.utime(old / "conda-meta" / "history", (long_ago, long_ago))
    now = long_ago + 200 * DAY
    os.utime(own / "cv" / "bin" / "python", (now - DAY, now - 10 * DAY))
    os.utime(own / "cv" / "conda-meta" / "history", (now - 10 * DAY, now - 10 * DAY))
    report = _usage.scan(
        [alice], ["/opt/none/envs", str(scratch) + "/$USER/conda/envs", "~/.conda/envs"], [], "", 90, now
    )
    envs = {env["name"]: env for env in report["users"]["alice"]["envs"]}
    assert sorted(envs) == ["cv", "old"]
    assert envs["cv"]["last_used"] == now - DAY and envs["cv"]["last_used_from"] == "python run"
    assert not envs["cv"]["stale"]
    assert envs["old"]["stale"] and envs["old"]["last_used"] == long_ago
    assert report["users"]["alice"]["bytes"] == envs["cv"]["bytes"] + envs["old"]["bytes"]


def test_the_shared_versions_come_from_the_catalogue_and_are_not_a_users(tmp_path):
    alice = _user(tmp_path, "alice")
    version = tmp_path / "envs" / ".versions" / "shared_ml-aaaa-1"
    _env(version, {"bin/python": "p"})
    catalogue = tmp_path / "envs" / ".catalogue"
    catalogue.mkdir()
    page = {
        "name": "shared_ml",
        "versions": [
            {"version": "v1", "on_node": True, "path": str(version)},
            {"version": "v0", "on_node": False, "path": ""},
        ],
    }
    (catalogue / "shared_ml.json").write_text(json.dumps(page))
    (catalogue / "broken.json").write_text("{")
    cache = tmp_path / "pkgs"
    cache.mkdir()
    records = tmp_path / "home" / "alice" / ".conda"
    records.mkdir()
    (records / "environments.txt").write_text(f"{version}\n")  # conda records what the user activated too
    report = _usage.scan([alice], ["~/.conda/envs"], [str(cache), "~/.conda/pkgs"], str(catalogue), 90, 0)
    assert [(v["env"], v["version"], v["files"]) for v in report["shared"]["versions"]] == [
        ("shared_ml", "v1", _du_find(version)[1])
    ]
    assert [c["path"] for c in report["shared"]["caches"]] == [str(cache)]
    assert report["users"] == {}


def test_the_metrics_name_each_env_and_render(tmp_path):
    report = {
        "users": {
            "alice": {
                "envs": [
                    {"name": "cv", "path": "/s/alice/cv", "bytes": 10, "files": 2, "last_used": 5.0, "stale": False}
                ],
                "caches": [],
                "bytes": 10,
            }
        },
        "shared": {
            "versions": [{"env": "shared_ml", "version": "v1", "path": "/v", "bytes": 7}],
            "caches": [{"path": "/opt/conda.d/pkgs", "bytes": 3}],
        },
    }
    text = _prom.render(_usage.families(report, "node1", 100.0, 0.5))
    assert 'hpcenv_user_env_bytes{user="alice",env="cv",prefix="/s/alice/cv"} 10\n' in text
    assert 'hpcenv_user_env_stale{user="alice",env="cv",prefix="/s/alice/cv"} 0\n' in text
    assert 'hpcenv_shared_env_version_bytes{env="shared_ml",version="v1",prefix="/v"} 7\n' in text
    assert 'hpcenv_conda_pkgs_cache_bytes{path="/opt/conda.d/pkgs"} 3\n' in text


def test_an_env_through_a_link_is_measured_where_it_is_and_conda_records_written_by_hand_do_not_crash(tmp_path):
    alice = _user(tmp_path, "alice")
    real = tmp_path / "big" / "cv"
    _env(real, {"bin/python": "x" * 9000})
    (tmp_path / "home" / "alice" / "envs").mkdir()
    (tmp_path / "home" / "alice" / "envs" / "cv").symlink_to(real)
    records = tmp_path / "home" / "alice" / ".conda"
    records.mkdir()
    (records / "environments.txt").write_text("/bad\0path\n/no/such/env\nnot a path\n")
    [env] = _usage.scan([alice], ["~/envs"], [], "", 90, 0)["users"]["alice"]["envs"]
    assert env["path"] == str(tmp_path / "home" / "alice" / "envs" / "cv")
    assert (env["bytes"], env["files"]) == _du_find(real)


def test_a_users_total_counts_a_file_linked_into_their_env_and_cache_once(tmp_path):
    alice = _user(tmp_path, "alice")
    own_dir = tmp_path / "scratch" / "alice"
    cache = own_dir / "pkgs"
    cache.mkdir(parents=True)
    _env(own_dir / "envs" / "cv", {"lib/a.py": "y" * 50000}, cache=cache)
    scratch = str(tmp_path / "scratch")
    report = _usage.scan([alice], [scratch + "/$USER/envs"], [scratch + "/$USER/pkgs"], "", 90, 0)
    own = report["users"]["alice"]
    du = subprocess.run(["du", "-s", "-c", "-B1", str(own_dir / "envs" / "cv"), str(cache)], capture_output=True,
                        text=True, check=True).stdout.splitlines()[-1].split()[0]  # fmt: skip
    assert own["bytes"] == int(du)
    assert own["bytes"] < own["envs"][0]["bytes"] + own["caches"][0]["bytes"]
