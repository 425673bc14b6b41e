"""Pure helpers of _conda_env: match specs, versions, lock files."""

from __future__ import annotations

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_env, _matchspec


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("numpy", {"name": "numpy", "version": None, "build": None}),
        ("numpy=1.26", {"name": "numpy", "version": "1.26*", "build": None}),
        ("numpy=1.26.*", {"name": "numpy", "version": "1.26.*", "build": None}),
        ("numpy==1.26.4", {"name": "numpy", "version": "1.26.4", "build": None}),
        ("numpy>=2,<3", {"name": "numpy", "version": ">=2,<3", "build": None}),
        ("numpy >=2 py311*", {"name": "numpy", "version": ">=2", "build": "py311*"}),
        ("python >= 3.8", {"name": "python", "version": ">=3.8", "build": None}),
        ("pytorch=2.4.1=cuda*", {"name": "pytorch", "version": "2.4.1", "build": "cuda*"}),
        ("conda-forge::Six", {"name": "six", "version": None, "build": None, "channel": "conda-forge"}),
    ],
)
def test_parse_spec(spec, parsed):
    got = _conda_env.parse_spec(spec)
    assert {k: got[k] for k in parsed} == parsed


@pytest.mark.parametrize(
    ("version", "constraint", "ok"),
    [
        ("1.26.4", "1.26*", True),
        ("1.26.4", "1.2*", False),
        ("1.26.4", "1.26.*", True),
        ("2.1.3", ">=2,<3", True),
        ("3.0", ">=2,<3", False),
        ("1.26.4", "<1.27", True),
        ("1.26.4", "==1.26.4", True),
        ("1.26.4", "!=1.26.4", False),
        ("2.0", "==2", True),
        ("2.0.2", "1.*|2.*", True),
        ("2024b", ">=2024a", True),
        ("12.4.127", ">=12.4,<12.5", True),
        ("1.10", ">1.9", True),
    ],
)
def test_version_matches(version, constraint, ok):
    assert _matchspec.version_matcher(constraint)(version) is ok


def test_a_spec_conda_refuses_is_a_spec_error():
    with pytest.raises(_conda_env.SpecError, match="no package name"):
        _conda_env.parse_spec(">=1.2")


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
