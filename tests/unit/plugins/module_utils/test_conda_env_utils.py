"""Pure helpers of _conda_env: environment specs (read with conda's recorded answers), lock files."""

from __future__ import annotations

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_env

from .. import matchspec_double


def _read(data: dict) -> tuple[dict, list[dict]]:
    """An environment as conda reads it, with conda's recorded answers (matchspec_double)."""
    env = _conda_env.parse_environment(data)
    request = {"specs": _conda_env.specs_to_ask(env), "records": []}
    return _conda_env.with_answers(env, matchspec_double.answers(request), "environment.yml")


def test_an_environment_is_read_as_conda_env_create_reads_it():
    env, answers = _read({"channels": ["conda-forge", "nodefaults"], "dependencies": ["python >= 3.8", "pip"]})
    assert env["specs"] == ["python >= 3.8", "pip"] and env["warnings"] == []
    assert [a["name"] for a in answers] == ["python", "pip"]
    assert _conda_env.channel_args(env) == ["--override-channels", "-c", "conda-forge"]


def test_a_pip_section_without_pip_gets_pip_as_conda_adds_it():
    env, answers = _read({"dependencies": ["python=3.11", {"pip": ["mlflow"]}]})
    assert env["specs"] == ["python=3.11", "pip"] and [a["spec"] for a in answers] == env["specs"]
    assert "pip added" in env["warnings"][0]


def test_a_pip_spec_with_a_version_is_pip_too():
    env = _read({"dependencies": ["pip=20.3", {"pip": ["mlflow"]}]})[0]  # lllyasviel/ControlNet
    assert env["specs"] == ["pip=20.3"] and env["warnings"] == []


def test_every_spec_conda_refuses_is_named_with_its_reason_and_source():
    with pytest.raises(_conda_env.SpecError) as caught:
        _read({"dependencies": ["python=3.11", "cudatoolkit >= 10.", "numpy >=1.0 <2"]})
    message = str(caught.value)
    assert message.startswith("environment.yml: conda refuses ")
    assert "'cudatoolkit >= 10.': InvalidMatchSpec: Invalid spec 'cudatoolkit >= 10.'" in message
    assert "Invalid version '10.': empty version component" in message
    assert "'numpy >=1.0 <2': InvalidMatchSpec" in message and "python=3.11" not in message


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([], "must be a mapping"),
        ({"channels": ["conda-forge"]}, "no 'dependencies' list"),
        ({"dependencies": ["python", {"conda": ["x"]}]}, "match specs or a 'pip:' list"),
        ({"dependencies": ["python"], "channels": "conda-forge"}, "'channels' must be a list"),
    ],
)
def test_a_malformed_environment_says_what_to_fix(data, error):
    with pytest.raises(_conda_env.SpecError, match=error):
        _conda_env.parse_environment(data)


def test_lock_digest_ignores_comments_and_order():
    a = "# platform: linux-64\n@EXPLICIT\nhttp://u/c/noarch/a-1-h_0.conda#1\nhttp://u/c/noarch/b-1-h_0.conda#2\n"
    b = "@EXPLICIT\nhttp://u/c/noarch/b-1-h_0.conda#2\nhttp://u/c/noarch/a-1-h_0.conda#1\n"
    assert _conda_env.lock_digest(a) == _conda_env.lock_digest(b)
    assert _conda_env.lock_platform(a) == "linux-64"


def test_parse_explicit_keeps_sha256():
    (pkg,) = _conda_env.parse_explicit("@EXPLICIT\nhttps://h/c/linux-64/x-1.0-h_1.tar.bz2#sha256:abcd\n")
    assert pkg == {
        "name": "x",
        "version": "1.0",
        "build": "h_1",
        "url": "https://h/c/linux-64/x-1.0-h_1.tar.bz2",
        "subdir": "linux-64",
        "sha256": "abcd",
    }
