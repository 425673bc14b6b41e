"""Unit tests for hpcenv.gpu_cluster.conda_solve.

conda is a TEST DOUBLE here: `create` writes one record per spec (as linking would),
`list --explicit --md5` replays the output recorded from the real conda 26.7.1
(fixtures/conda-26.7.1/list-explicit-md5.txt) and its reading of the specs is replayed from
the table recorded from it (matchspec_double).
"""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_env, _lock_changes, _node_lock
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import conda_solve

from .. import matchspec_double
from .runner import FIXTURES, run_module

EXPLICIT = (FIXTURES / "conda-26.7.1" / "list-explicit-md5.txt").read_text()


def _dotted(a: str, b: str) -> int:
    x, y = (tuple(int(n) for n in v.split(".")) for v in (a, b))
    return (x > y) - (x < y)


class FakeConda:
    def __init__(self):
        self.calls: list[list[str]] = []
        self.orders: list[list] = []

    def __call__(self, args, **kwargs):
        argv = [str(a) for a in args]
        if matchspec_double.is_matchspec_call(argv):
            return matchspec_double.reply(kwargs)
        if argv[1:] == ["-c", _lock_changes.SCRIPT]:  # versions ordered as plain dotted numbers
            self.orders.append(json.loads(kwargs["data"]))
            return 0, json.dumps([_dotted(a, b) for _kind, a, b in self.orders[-1]]), ""
        self.calls.append(argv)
        if argv[1] == "create":
            prefix = Path(argv[argv.index("-p") + 1])
            (prefix / "conda-meta").mkdir(parents=True)
            for spec in argv[argv.index("-p") + 2 :]:
                if spec not in ("-c", "conda-forge"):
                    name = spec.split("=")[0]
                    record = {"name": name, "version": "1.0", "build": "h0_0"}
                    (prefix / "conda-meta" / f"{name}-1.0-h0_0.json").write_text(json.dumps(record))
            return 0, json.dumps({"success": True}), ""
        if argv[1:3] == ["list", "--explicit"]:
            return 0, EXPLICIT, ""
        if argv[1:4] == ["-m", "pip", "install"]:  # pip writes a dist-info marked as its own
            site = Path(argv[0]).parent.parent / "lib" / "python3.11" / "site-packages" / "traitlets-5.14.3.dist-info"
            site.mkdir(parents=True)
            (site / "INSTALLER").write_text("pip\n")
            return 0, "Successfully installed traitlets-5.14.3", ""
        raise AssertionError(f"unexpected command {argv}")


def solve(tmp_path, environment: dict | None, double=None, check_mode=False, **more) -> dict:
    (tmp_path / "conda" / "bin").mkdir(parents=True, exist_ok=True)
    (tmp_path / "conda" / "bin" / "conda").write_text("")
    (tmp_path / "conda" / "bin" / "python").write_text("")
    args = {
        **({"environment": environment} if environment is not None else {}),
        "scratch_dir": str(tmp_path / "staging"),
        "root_prefix": str(tmp_path / "conda"),
        "node_lock": str(tmp_path / "node.lock"),
        "lock_timeout": 1,
        **more,
    }
    return run_module(conda_solve.main, args, command_double=double or FakeConda(), check_mode=check_mode)


def test_a_spec_becomes_an_explicit_lock_and_the_scratch_prefix_goes(tmp_path):
    (tmp_path / "staging" / "solve-killedrun" / "conda-meta").mkdir(parents=True)  # left by a killed run
    result = solve(tmp_path, {"channels": ["conda-forge"], "dependencies": ["python=3.11", "numpy"]})
    assert result["lock"].startswith(EXPLICIT.rstrip("\n")) and "@EXPLICIT" in result["lock"]
    assert {p["name"] for p in result["packages"]} == {"python", "numpy"}
    assert list((tmp_path / "staging").iterdir()) == [], "scratch prefixes are removed, stale ones too"
    create = result["_commands"][0]
    assert create[1:5] == ["create", "--yes", "--json", "-p"] and create[-4:] == [
        "-c",
        "conda-forge",
        "python=3.11",
        "numpy",
    ]


def test_the_pip_section_becomes_pip_lines(tmp_path):
    environment = {"dependencies": ["python=3.11", "pip", {"pip": ["--index-url http://up/pypi/simple", "traitlets"]}]}
    result = solve(tmp_path, environment)
    assert result["pip_lock"] == ["--index-url http://up/pypi/simple", "traitlets==5.14.3"]
    assert result["lock"].endswith("# pip: --index-url http://up/pypi/simple\n# pip: traitlets==5.14.3\n")


def test_a_failed_solve_says_why_and_leaves_nothing(tmp_path):
    def failing(_module, argv, **kwargs):  # bound as AnsibleModule.run_command
        if matchspec_double.is_matchspec_call(argv):
            return matchspec_double.reply(kwargs)
        return 1, (FIXTURES / "conda-26.7.1" / "create-unsatisfiable.json").read_text(), ""

    result = solve(tmp_path, {"dependencies": ["numpy>=2", "numba=0.58.1"]}, double=failing)
    assert result["failed"] and "UnsatisfiableError" in result["msg"] and "numba=0.58.1" in result["msg"]
    assert list((tmp_path / "staging").iterdir()) == []


def test_it_waits_for_the_node_lock(tmp_path):
    with _node_lock.NodeLock(str(tmp_path / "node.lock"), 1, "building shared_ml", "site.yml"):
        result = solve(tmp_path, {"dependencies": ["six"]})
    assert result["failed"] and "building shared_ml for site.yml" in result["msg"]


def test_nodefaults_means_only_the_listed_channels_as_in_conda_env(tmp_path):
    result = solve(tmp_path, {"channels": ["conda-forge", "nodefaults"], "dependencies": ["python=3.11"]})
    assert result["_commands"][0][-4:] == ["--override-channels", "-c", "conda-forge", "python=3.11"]


def test_check_mode_reads_the_specs_with_conda_and_solves_nothing(tmp_path):
    double = FakeConda()
    result = solve(tmp_path, {"dependencies": ["python >= 3.8", {"pip": ["mlflow"]}]}, double=double, check_mode=True)
    assert not result.get("failed") and result["changed"] is False and "lock" not in result
    assert result["msg"].endswith("'s conda: nothing refused") and double.calls == []
    assert result["_warnings"] == [
        "environment: a pip: section but no 'pip' among the dependencies: pip added, as conda adds it"
    ]
    assert not (tmp_path / "staging").exists()


def test_a_spec_conda_refuses_names_the_spec_and_the_file_in_check_mode_too(tmp_path):
    for check_mode in (True, False):
        double = FakeConda()
        environment = {"dependencies": ["python=3.11", "cudatoolkit >= 10."]}
        result = solve(tmp_path, environment, double=double, check_mode=check_mode, source="envs/ml.yml")
        assert result["failed"] and double.calls == []
        assert result["msg"] == (
            "environment spec: envs/ml.yml: conda refuses 'cudatoolkit >= 10.': InvalidMatchSpec: "
            "Invalid spec 'cudatoolkit >= 10.': Invalid version '10.': empty version component"
        )


def test_check_mode_before_conda_is_installed_says_so(tmp_path):
    args = {"environment": {"dependencies": ["six"]}, "scratch_dir": str(tmp_path / "s"), "root_prefix": str(tmp_path)}
    result = run_module(conda_solve.main, args, check_mode=True)
    assert (
        not result.get("failed")
        and result["msg"] == f"{tmp_path}/bin/conda not found: the specs are read once it is installed"
    )


def test_the_changelog_from_the_previous_lock_orders_versions_with_the_nodes_conda(tmp_path):
    python = (
        "http://127.0.0.1:8765/conda-forge/linux-64/python-3.11.2-h_sys_0_cp311.conda#7c0a1d42eb47175991075c92cad90d3b"
    )
    openssl = "http://127.0.0.1:8765/conda-forge/linux-64/openssl-3.4.0-h0_0.conda#bf9e7a8edbf3f64129130a775ca23579"
    assert python in EXPLICIT and openssl in EXPLICIT
    previous = EXPLICIT.replace(python, python.replace("python-3.11.2-", "python-3.11.1-")).replace(openssl + "\n", "")
    previous = previous.rstrip("\n") + "\nhttp://127.0.0.1:8765/conda-forge/noarch/tqdm-4.66.5-pyh0_0.conda#0123\n"
    double = FakeConda()
    result = solve(
        tmp_path, {"channels": ["conda-forge"], "dependencies": ["python=3.11"]}, double, previous_lock=previous
    )
    assert result["lock_id"] == _conda_env.lock_id(result["lock"])
    assert result["changes"]["added"] == [{"name": "openssl", "version": "3.4.0", "build": "h0_0"}]
    assert result["changes"]["removed"] == [{"name": "tqdm", "version": "4.66.5", "build": "pyh0_0"}]
    assert [(u["name"], u["from"], u["to"]) for u in result["changes"]["upgraded"]] == [("python", "3.11.1", "3.11.2")]
    assert result["summary"] == "1 added, 1 removed, 1 upgraded"
    assert double.orders == [[["conda", "3.11.2", "3.11.1"]]], "one call of the node's conda orders every version"


def test_a_first_solve_adds_everything(tmp_path):
    result = solve(tmp_path, {"channels": ["conda-forge"], "dependencies": ["python=3.11"]}, previous_lock="")
    assert len(result["changes"]["added"]) == EXPLICIT.count("://") and result["summary"].endswith(" added")


def test_a_previous_lock_edited_past_reading_leaves_the_new_lock_without_a_changelog(tmp_path):
    result = solve(tmp_path, {"channels": ["conda-forge"], "dependencies": ["python=3.11"]}, previous_lock="garbage\n")
    assert "@EXPLICIT" in result["lock"] and "changes" not in result
    assert any("no changelog: the previous lock cannot be read" in w for w in result["_warnings"])


def test_without_a_previous_lock_no_changelog(tmp_path):
    result = solve(tmp_path, {"channels": ["conda-forge"], "dependencies": ["python=3.11"]})
    assert "changes" not in result and "summary" not in result


def test_a_given_lock_is_read_not_solved_with_its_changelog_and_an_audit_line(tmp_path, audit):
    """An item's own lock_file: recorded as the next version like a solved lock, nothing solved."""
    given = EXPLICIT.rstrip("\n") + "\n# pip: --index-url https://pypi.example.org/simple\n# pip: six==1.17.0\n"
    previous = EXPLICIT.replace("openssl-3.4.0-", "openssl-3.3.2-")
    double = FakeConda()
    result = solve(tmp_path, None, double, lock=given, previous_lock=previous, source="locks/team.txt")
    assert result["lock"] == given and result["lock_id"] == _conda_env.lock_id(given)
    assert result["pip_lock"] == ["--index-url https://pypi.example.org/simple", "six==1.17.0"]
    assert len(result["packages"]) == EXPLICIT.count("://")
    assert [(u["name"], u["from"], u["to"]) for u in result["changes"]["upgraded"]] == [("openssl", "3.3.2", "3.4.0")]
    assert result["summary"] == "1 added, 1 upgraded" and result["previous_lock_id"] == _conda_env.lock_id(previous)
    assert double.calls == [] and not (tmp_path / "staging").exists(), "no solve, no scratch prefix"
    [line] = audit.lines()
    assert (line["what"], line["subject"], line["after"]) == ("lock", "locks/team.txt", result["lock_id"])


def test_a_given_lock_that_is_no_explicit_lock_is_refused_and_one_of_spec_or_lock_is_required(tmp_path):
    bad = solve(tmp_path, None, lock="numpy=2.0\n", source="locks/team.txt")
    assert bad["failed"] and bad["msg"].startswith("lock: locks/team.txt: not an explicit lock file")
    neither = solve(tmp_path, None)
    assert neither["failed"] and "one of the following is required: environment, lock" in neither["msg"]
    both = solve(tmp_path, {"dependencies": ["python"]}, lock=EXPLICIT)
    assert both["failed"] and "mutually exclusive" in both["msg"]
