"""_matchspec: the node's conda reads the match specs, in one call; and what conda answers for
each class of spec, from the table recorded from the real conda 26.7.1 (matchspec_double)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_env, _matchspec

from .. import matchspec_double


class Recorder:
    """run_command for _matchspec.ask: keeps each call, answers from the recorded table (or as told)."""

    def __init__(self, result=None):
        self.calls: list[tuple[list[str], dict]] = []
        self.result = result

    def __call__(self, argv, **kwargs):
        self.calls.append((argv, kwargs))
        return self.result or matchspec_double.reply(kwargs)


@pytest.fixture
def python(tmp_path):
    path = tmp_path / "conda" / "bin" / "python"
    path.parent.mkdir(parents=True)
    path.write_text("")
    return str(path)


def test_one_call_reads_every_spec_against_the_records_without_their_file_lists_and_dependencies(python):
    run = Recorder()
    numpy = {"name": "numpy", "version": "1.9", "build": "py27_0", "files": ["lib/a.py"] * 1000, "depends": []}
    answers = _matchspec.ask(run, python, ["numpy >=1.8,<2", "python >= 3.8"], [numpy])
    assert answers == [
        {"spec": "numpy >=1.8,<2", "name": "numpy", "installed": "numpy-1.9-py27_0", "match": True},
        {"spec": "python >= 3.8", "name": "python"},
    ]
    ((argv, kwargs),) = run.calls
    assert argv == [python, "-c", _matchspec.SCRIPT] and kwargs["environ_update"] == {"LC_ALL": "C"}
    sent = json.loads(kwargs["data"])
    assert sent["specs"] == ["numpy >=1.8,<2", "python >= 3.8"]
    assert sent["records"] == [{"name": "numpy", "version": "1.9", "build": "py27_0"}]


def test_no_specs_no_call(python):
    run = Recorder()
    assert _matchspec.ask(run, python, []) == [] and run.calls == []


def test_no_conda_python_is_a_message(tmp_path):
    with pytest.raises(_matchspec.MatchSpecError, match=r"bin/python not found: conda must read the match specs"):
        _matchspec.ask(Recorder(), str(tmp_path / "bin" / "python"), ["numpy"])


@pytest.mark.parametrize(
    ("result", "shown"),
    [
        ((1, "", "Traceback ...\nModuleNotFoundError: No module named 'conda'\n"), "No module named 'conda'"),
        ((0, "not json", ""), "not json"),
        ((0, "[]", ""), "exit status 0"),
    ],
)
def test_a_conda_that_cannot_answer_is_a_message_not_a_traceback(python, result, shown):
    with pytest.raises(_matchspec.MatchSpecError, match="read the match specs failed") as caught:
        _matchspec.ask(Recorder(result), python, ["numpy"])
    assert shown in str(caught.value)


# ----------------------------------------------------------------------------- what conda answers, per row

ROWS = matchspec_double.TABLE


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['spec']}~{matchspec_double.row_record(r)['version']}" for r in ROWS])
def test_each_spec_means_what_it_means_to_conda(python, row):
    """The drift of one installed record from one spec, decided by conda's recorded answer."""
    record = matchspec_double.row_record(row)
    env = _conda_env.parse_environment({"dependencies": [row["spec"]]})
    answers = _matchspec.ask(Recorder(), python, env["specs"], [record])
    if row["conda"] == "error":
        with pytest.raises(_conda_env.SpecError) as caught:
            _conda_env.with_answers(env, answers, "env.yml")
        assert str(caught.value) == f"env.yml: conda refuses {row['spec']!r}: {row['error']}"
        return
    answers = _conda_env.with_answers(env, answers, "env.yml")[1]
    drift = _conda_env.drift_from_specs([record], answers, "/nonexistent", check_files=False)
    if row["name"] != record["name"]:
        assert drift["missing"] == [row["spec"]]
    elif row["conda"]:
        assert drift["in_sync"], drift
    else:
        installed = answers[0]["installed"]
        assert drift["changed"] == [{"name": record["name"], "installed": installed, "wanted": row["spec"]}]


@pytest.mark.parametrize(
    ("spec", "conda"),
    [
        ("defaults::libgomp", True),  # `defaults` is pkgs/main (and r, ...) to conda: the record matches
        ("main::numpy", False),  # `main` is another channel than pkgs/main
        ("nvidia::cuda-nvcc", False),  # a label is part of the channel
        ("ipywidgets[build_number=!=0]", True),  # an operator in build_number compares numbers
        ("blas=[build=openblas]", True),  # an empty version before brackets is accepted
        ("numpy=1.2,<2", True),  # a leading = inside `,` is fuzzy, not exact
        ("numpy=^1\\.2\\..*$", True),  # a regex after =
    ],
)
def test_the_classes_a_hand_copy_got_wrong_are_in_the_table(spec, conda):
    assert any(r["spec"] == spec and r["conda"] is conda for r in ROWS), f"{spec} (conda: {conda}) is not recorded"


def test_a_record_conda_cannot_compare_is_drift_with_condas_reason():
    """SCRIPT's answer when MatchSpec.match raises on a record (a hand-edited conda-meta file)."""
    answer = {"spec": "numpy", "name": "numpy", "installed": "numpy-1.9-x", "match_error": "TypeError: ..."}
    drift = _conda_env.drift_from_specs([], [answer], "/nonexistent", check_files=False)
    assert drift["changed"] == [
        {"name": "numpy", "installed": "numpy-1.9-x", "wanted": "numpy", "reason": "TypeError: ..."}
    ]
    assert not drift["in_sync"]
