"""_lock_changes: the changelog between two locks, with versions ordered by the node's conda (one call)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _lock_changes, _matchspec

CF = "http://mirror/conda-forge/linux-64"
OLD = f"""# platform: linux-64
@EXPLICIT
{CF}/python-3.11.9-h0_0.conda#00000000000000000000000000000001
{CF}/numpy-1.26.4-py311h0_0.conda#00000000000000000000000000000002
{CF}/pandas-2.2.2-py311h0_0.conda#00000000000000000000000000000003
{CF}/six-1.16.0-pyh0_0.tar.bz2#00000000000000000000000000000004
{CF}/libfoo-2024a-h0_0.conda#00000000000000000000000000000005
{CF}/scipy-1.14.0-py311h0_0.conda#00000000000000000000000000000006
# pip: --index-url http://mirror/pypi/simple
# pip: Jupyter_Server==2.14.0
# pip: aiodns==4.0.4
"""
NEW = f"""# platform: linux-64
@EXPLICIT
{CF}/python-3.11.9-h0_0.conda#00000000000000000000000000000001
{CF}/numpy-2.0.1-py311h0_0.conda#00000000000000000000000000000012
{CF}/pandas-2.2.2-py311h1_1.conda#00000000000000000000000000000013
{CF}/libfoo-2024b-h0_0.conda#00000000000000000000000000000015
{CF}/scipy-1.13.1-py311h0_0.conda#00000000000000000000000000000016
{CF}/tqdm-4.66.5-pyhd8ed1ab_0.conda#00000000000000000000000000000017
# pip: --index-url http://mirror/pypi/simple
# pip: jupyter-server==2.15.0
"""


def plain_order(pairs):
    """Stands in for conda's answer where the versions are plain dotted numbers; None otherwise."""

    def key(version):
        return tuple(int(part) for part in version.split("."))

    answers = []
    for _kind, a, b in pairs:
        try:
            answers.append((key(a) > key(b)) - (key(a) < key(b)))
        except ValueError:
            answers.append(None)
    return answers


def test_each_kind_of_change_is_named_with_both_sides():
    log = _lock_changes.between(OLD, NEW, plain_order)
    assert log == {
        "added": [{"name": "tqdm", "version": "4.66.5", "build": "pyhd8ed1ab_0"}],
        "removed": [
            {"name": "pip:aiodns", "version": "4.0.4", "build": ""},
            {"name": "six", "version": "1.16.0", "build": "pyh0_0"},
        ],
        "upgraded": [
            {"name": "numpy", "from": "1.26.4", "to": "2.0.1", "from_build": "py311h0_0", "to_build": "py311h0_0"},
            # pip names compare as pip does (PEP 503): Jupyter_Server is jupyter-server
            {"name": "pip:jupyter-server", "from": "2.14.0", "to": "2.15.0", "from_build": "", "to_build": ""},
        ],
        "downgraded": [
            {"name": "scipy", "from": "1.14.0", "to": "1.13.1", "from_build": "py311h0_0", "to_build": "py311h0_0"}
        ],
        "rebuilt": [{"name": "pandas", "version": "2.2.2", "from_build": "py311h0_0", "to_build": "py311h1_1"}],
        # the stand-in cannot order 2024a and 2024b: the change is still named, without a direction
        "changed": [{"name": "libfoo", "from": "2024a", "to": "2024b", "from_build": "h0_0", "to_build": "h0_0"}],
    }
    assert _lock_changes.summary(log) == "1 added, 2 removed, 2 upgraded, 1 downgraded, 1 rebuilt, 1 changed"


def test_the_versions_are_ordered_in_one_call_new_first_with_their_kind():
    calls = []

    def order(pairs):
        calls.append(pairs)
        return plain_order(pairs)

    _lock_changes.between(OLD, NEW, order)
    assert calls == [
        [
            ["conda", "2024b", "2024a"],
            ["conda", "2.0.1", "1.26.4"],
            ["pip", "2.15.0", "2.14.0"],
            ["conda", "1.13.1", "1.14.0"],
        ]
    ]


def test_a_first_version_adds_everything_and_asks_nothing():
    def order(pairs):
        raise AssertionError(f"nothing to order, asked {pairs}")

    log = _lock_changes.between("", OLD, order)
    assert [p["name"] for p in log["added"]] == [
        "libfoo",
        "numpy",
        "pandas",
        "pip:aiodns",
        "pip:jupyter-server",
        "python",
        "scipy",
        "six",
    ]
    assert not any(log[kind] for kind in _lock_changes.KINDS if kind != "added")


def test_the_same_lock_is_no_change():
    log = _lock_changes.between(OLD, OLD, plain_order)
    assert _lock_changes.summary(log) == "no change"


class Recorder:
    def __init__(self, result):
        self.result, self.calls = result, []

    def __call__(self, argv, **kwargs):
        self.calls.append((argv, kwargs))
        return self.result


def test_conda_order_sends_the_pairs_to_the_installations_python(tmp_path):
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text("")
    run = Recorder((0, "[1, -1]", ""))
    order = _lock_changes.conda_order(run, str(python))
    assert order([["conda", "2.0", "1.9"], ["pip", "1.0", "1.1"]]) == [1, -1]
    (argv, kwargs) = run.calls[0]
    assert argv[:2] == [str(python), "-c"] and "VersionOrder" in argv[2]
    assert json.loads(kwargs["data"]) == [["conda", "2.0", "1.9"], ["pip", "1.0", "1.1"]]


@pytest.mark.parametrize("result", [(1, "", "ModuleNotFoundError: No module named 'conda'"), (0, "[1]", "")])
def test_a_conda_that_cannot_order_is_a_message(tmp_path, result):
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text("")
    order = _lock_changes.conda_order(Recorder(result), str(python))
    with pytest.raises(_matchspec.MatchSpecError, match="to order package versions failed"):
        order([["conda", "2.0", "1.9"], ["conda", "3", "2"]])


def test_no_conda_is_a_message(tmp_path):
    order = _lock_changes.conda_order(Recorder((0, "[]", "")), str(tmp_path / "bin" / "python"))
    with pytest.raises(_matchspec.MatchSpecError, match="not found: conda must order package versions"):
        order([["conda", "2.0", "1.9"]])
