"""Unit tests for hpcenv.gpu_cluster.conda_env, driven by test_conda_env.yaml."""

from __future__ import annotations

import json
import os
from pathlib import Path
from unittest import mock

import pytest
import yaml

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_meta
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import conda_env

from .. import matchspec_double
from .runner import check_result, run_module
from .runner import substitute_root as _sub

CASES = yaml.safe_load((Path(__file__).with_suffix(".yaml")).read_text())


def _record_files(records: dict) -> dict:
    """conda-meta/*.json (and the file each one installs) for name-version-build shorthands."""
    files = {}
    for prefix, packages in records.items():
        files[f"{prefix}/conda-meta/history"] = ""
        for pkg in packages:
            name, version, build = pkg.rsplit("-", 2)
            record = {"name": name, "version": version, "build": build, "files": [f"share/{name}.txt"]}
            files[f"{prefix}/conda-meta/{pkg}.json"] = json.dumps(record)
            files[f"{prefix}/share/{name}.txt"] = pkg
    return files


def _write(root: Path, files: dict) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def _snapshot(root: Path, rel: str) -> dict:
    base = root / rel
    return {str(p.relative_to(base)): p.read_text() for p in base.rglob("*") if p.is_file()} if base.exists() else {}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_conda_env(case, tmp_path):
    root = str(tmp_path)
    _write(tmp_path, {"conda/bin/conda": "", "conda/bin/python": "", "conda/conda-meta/history": ""})
    _write(tmp_path, _sub(case.get("layout", {}), root))
    _write(tmp_path, _record_files(case.get("records", {})))
    for rel in case.get("delete", []):
        os.unlink(tmp_path / rel)
    commands = _sub(case.get("commands", []), root)
    for step in commands:
        if "records_after" in step:
            for prefix in step["records_after"]:
                step.setdefault("removes", []).append(prefix) if (tmp_path / prefix).exists() else None
            step["writes"] = _record_files(step.pop("records_after"))
    before = {rel: _snapshot(tmp_path, rel) for rel in case.get("unchanged", [])}
    args = {"root_prefix": f"{root}/conda", **_sub(case["args"], root)}
    bases = (os.path.join(root, "etc/conda"),)
    with mock.patch.object(_conda_meta, "SYSTEM_CONDARC_BASES", bases):
        result = run_module(
            conda_env.main, args, commands=commands, check_mode=case.get("check_mode", False), effects_root=root
        )
        if case.get("rerun_unchanged"):
            again = run_module(conda_env.main, args, effects_root=root)
            assert again["changed"] is False, "second run must not change anything"
    check_result(result, _sub(case["expect"], root))
    for rel, snapshot in before.items():
        assert _snapshot(tmp_path, rel) == snapshot, f"{rel} changed"
    for rel in case.get("absent_after", []):
        assert not (tmp_path / rel).exists()


def test_diff_mode_is_package_level(tmp_path):
    _write(tmp_path, {"conda/bin/conda": "", "conda/bin/python": ""})
    _write(tmp_path, _record_files({"env": ["zlib-1.2.13-h0_0"]}))
    (tmp_path / "lock.txt").write_text("@EXPLICIT\nhttp://up/c/linux-64/zlib-1.3.1-h0_0.conda#a\n")
    result = run_module(
        conda_env.main,
        {
            "prefix": str(tmp_path / "env"),
            "lock_file": str(tmp_path / "lock.txt"),
            "root_prefix": str(tmp_path / "conda"),
        },
        check_mode=True,
        diff=True,
    )
    assert result["diff"]["before"] == "zlib 1.2.13 h0_0\n"
    assert result["diff"]["after"] == "zlib 1.3.1 h0_0\n"


# ----------------------------------------------------------------------------- published environment.yml files
# fixtures/envyml/SOURCES.md names the repository and commit of each file; the installed
# records are real ones (fixtures/conda-26.7.1/env-conda-meta, made by conda 26.7.1).
ENVYML = Path(__file__).parent / "fixtures" / "envyml"
RECORDS = Path(__file__).parent / "fixtures" / "conda-26.7.1" / "env-conda-meta"


def _published(name: str, lines: list[str]) -> dict:
    """A published environment.yml, with only the given dependency lines (on packages the recorded env has)."""
    spec = yaml.safe_load((ENVYML / name).read_text())
    return {**spec, "dependencies": [d for d in spec["dependencies"] if isinstance(d, str) and d in lines]}


def _recorded_env(tmp_path) -> Path:
    prefix = tmp_path / "env"
    (prefix / "conda-meta").mkdir(parents=True)
    for record in RECORDS.glob("*.json"):
        (prefix / "conda-meta" / record.name).write_text(record.read_text())
    _write(tmp_path, {"conda/bin/conda": "", "conda/bin/python": ""})
    return prefix


@pytest.mark.parametrize(
    ("published", "lines", "satisfied"),
    [
        # NVlabs/stylegan3: `python >= 3.8` (spaces around the operator) and `numpy>=1.20`
        ("spaced-1.yml", ["python >= 3.8", "numpy>=1.20"], True),
        # facebookresearch/dinov2: `pytorch::pytorch-cuda=11.7.0`; the recorded 11.7 came from conda-forge, and
        # conda's MatchSpec wants a channel-qualified package from that channel: not satisfied
        ("fuzzy-1.yml", ["python=3.9", "pytorch::pytorch-cuda=11.7.0"], False),
        # NVlabs/edm: `python>=3.8, < 3.10` (a space after the comma and the operator): 3.11 is outside it
        ("spaced-2.yml", ["python>=3.8, < 3.10"], False),
    ],
)
def test_published_specs_read_as_conda_reads_them(tmp_path, published, lines, satisfied):
    environment = _published(published, lines)
    assert environment["dependencies"] == lines, "the fixture's own lines"
    prefix = _recorded_env(tmp_path)
    args = {
        "prefix": str(prefix),
        "environment": environment,
        "root_prefix": str(tmp_path / "conda"),
        "check_files": False,
    }
    result = run_module(conda_env.main, args, check_mode=True)
    assert result["drift"]["in_sync"] is satisfied, result["drift"]
    if published == "fuzzy-1.yml":
        assert result["drift"]["changed"] == [
            {"name": "python", "installed": "python-3.11.2-h_sys_0_cp311", "wanted": "python=3.9"},
            {"name": "pytorch-cuda", "installed": "pytorch-cuda-11.7-h0_0", "wanted": "pytorch::pytorch-cuda=11.7.0"},
        ]
    if published == "spaced-1.yml":  # converge, then converge again: nothing to do, twice
        assert result["changed"] is False and result["_commands"] == []
        assert run_module(conda_env.main, args)["changed"] is False


def test_nodefaults_means_only_the_listed_channels(tmp_path):
    spec = yaml.safe_load((ENVYML / "nodefaults-1.yml").read_text())  # SalishSeaCast/NEMO-Cmd
    spec["dependencies"] = ["python=3.11", "six"]
    prefix = tmp_path / "env"
    _write(tmp_path, {"conda/bin/conda": "", "conda/bin/python": ""})
    commands = [
        {
            "command": [str(tmp_path / "conda/bin/conda"), "create", "--yes", "--json", "-p", str(prefix),
                        "--override-channels", "-c", "conda-forge", "python=3.11", "six"],
            "out": (Path(__file__).parent / "fixtures" / "conda-26.7.1" / "create-spec.json").read_text(),
        }
    ]  # fmt: skip
    args = {"prefix": str(prefix), "environment": spec, "root_prefix": str(tmp_path / "conda")}
    assert run_module(conda_env.main, args, commands=commands)["changed"] is True


def test_pip_paths_are_relative_to_the_environment_file(tmp_path):
    # thousandbrainsproject/tbp.monty: `pip: [-e .[dev]]`, meant for the file's own folder.
    project = tmp_path / "project"
    project.mkdir()
    (project / "environment.yml").write_text((ENVYML / "pip-editable-1.yml").read_text())
    prefix = _recorded_env(tmp_path)
    seen = {}

    def conda_or_pip(_module, argv, **kwargs):  # bound as AnsibleModule.run_command
        if matchspec_double.is_matchspec_call(argv):
            return matchspec_double.reply(kwargs)
        seen.setdefault("cwd", []).append(kwargs.get("cwd"))
        return 0, "{}", ""

    spec = yaml.safe_load((project / "environment.yml").read_text())
    assert "-e .[dev]" in next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    args = {"prefix": str(prefix), "environment_file": str(project / "environment.yml"),
            "root_prefix": str(tmp_path / "conda"), "check_files": False}  # fmt: skip
    run_module(conda_env.main, args, command_double=conda_or_pip)
    assert seen["cwd"][-1] == str(project), "pip runs in the environment file's folder"


def test_a_malformed_published_file_is_a_message_not_a_traceback(tmp_path):
    # bioAI-Oslo/Spikeometric gpu_environment.yml: `pip:` at the list's indent, invalid YAML.
    bad = tmp_path / "environment.yml"
    bad.write_text((ENVYML / "fuzzy-3-malformed.yml").read_text())
    _write(tmp_path, {"conda/bin/conda": "", "conda/bin/python": ""})
    args = {"prefix": str(tmp_path / "env"), "environment_file": str(bad), "root_prefix": str(tmp_path / "conda")}
    result = run_module(conda_env.main, args, check_mode=True)
    assert result["failed"] and f"{bad} is not valid YAML" in result["msg"]
