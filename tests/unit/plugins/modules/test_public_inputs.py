"""Files and outputs as they are on real machines: condarc files edited by hand, conda's and
mamba's error reports as users pasted them. fixtures/public-cli/SOURCES.md names the public
source of every file; nothing there was written for these tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from unittest import mock

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_env, _conda_meta
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import conda_env, conda_info, condarc

from .runner import run_module

PUBLIC = Path(__file__).parent / "fixtures" / "public-cli"


def text(name: str) -> str:
    return (PUBLIC / name).read_text()


def edit(tmp_path, fixture: str, **args) -> tuple[str, str, dict]:
    path = tmp_path / ".condarc"
    before = text(fixture)
    path.write_text(before)
    result = run_module(condarc.main, {"path": str(path), **args})
    return before, path.read_text(), result


# ----------------------------------------------------------------------------- condarc edited by hand


def test_a_commented_site_condarc_keeps_every_comment_when_one_key_changes(tmp_path):
    # aseetharam/conda-example-files condarc: comments everywhere, $USER and ~ in the paths
    before, after, result = edit(tmp_path, "condarc-comments-1-aseetharam.yml", settings={"channels": ["conda-forge"]})
    assert result["changed"] and result["changed_keys"] == ["channels"]
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in after.splitlines() if line.lstrip().startswith("#")][1:] == comments
    assert "  - /depot/projectspace/$USER/envs\n  - ~/.conda/envs\n" in after, "untouched keys stay byte for byte"
    assert "bioconda" not in after and "channels:\n  - conda-forge\n" in after
    assert (
        run_module(condarc.main, {"path": str(tmp_path / ".condarc"), "settings": {"channels": ["conda-forge"]}})[
            "changed"
        ]
        is False
    )


def test_a_commented_out_list_item_stays_in_its_list(tmp_path):
    # ickc/dotfiles conda/.condarc: `    # - mamba` inside create_default_packages
    after = edit(
        tmp_path, "condarc-commented-list-item-ickc.yml", settings={"create_default_packages": ["pip", "ipykernel"]}
    )[1]
    assert "create_default_packages:\n  - pip\n  - ipykernel\n    # - mamba\ndefault_threads: 16\n" in after
    assert after.startswith("# Managed by Ansible") and "channels:\n    - conda-forge\n    - defaults\n" in after


def test_condas_other_names_for_keys_are_accepted(tmp_path):
    # conda/conda-docs sample condarc: disallow (disallowed_packages), binstar_upload (anaconda_upload)
    after, result = edit(
        tmp_path, "condarc-aliases-disallow-binstar-conda-docs.yml", settings={"disallow": ["anaconda"]}
    )[1:]
    assert not result.get("failed"), result.get("msg")
    after, result = edit(
        tmp_path, "condarc-aliases-disallow-binstar-conda-docs.yml", settings={"anaconda_upload": False}
    )[1:]
    assert "binstar_upload" not in after and "anaconda_upload: false" in after, "one setting, under one name"


def test_conda_info_hides_channel_tokens(tmp_path):
    # conda/conda#5147: a site condarc with a token channel URL (and commented-out channels)
    (tmp_path / "etc" / "conda").mkdir(parents=True)
    (tmp_path / "etc" / "conda" / ".condarc").write_text(text("condarc-token-commented-channels-5147.partial.yml"))
    prefix = tmp_path / "conda"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "bin").mkdir()
    (prefix / "bin" / "conda").write_text("")
    with mock.patch.object(_conda_meta, "SYSTEM_CONDARC_BASES", (str(tmp_path / "etc" / "conda"),)):
        result = run_module(conda_info.main, {"prefix": str(prefix)})
    assert "https://conda.anaconda.org/t/<TOKEN>/anaconda-nb-extensions" in result["channels"]
    assert "a642ee89" not in json.dumps(result)


@pytest.mark.parametrize(
    ("fixture", "user", "wanted"),
    [
        # FNLCR-DMAP/nidap_hpc_environment_twin .condarc: a bare `envs_dirs:` (null)
        ("condarc-envs-dirs-null-fnlcr.yml", "alice", "{root}/conda/envs/tools"),
        # aseetharam/conda-example-files condarc: /depot/projectspace/$USER/envs first
        ("condarc-comments-1-aseetharam.yml", "alice", "/depot/projectspace/alice/envs/tools"),
    ],
)
def test_named_envs_are_placed_as_conda_places_them(tmp_path, fixture, user, wanted):
    (tmp_path / "etc" / "conda").mkdir(parents=True)
    (tmp_path / "etc" / "conda" / ".condarc").write_text(text(fixture))
    (tmp_path / "conda" / "bin").mkdir(parents=True)
    (tmp_path / "conda" / "bin" / "conda").write_text("")
    (tmp_path / "conda" / "bin" / "python").write_text("")
    args = {"name": "tools", "environment": {"dependencies": ["six"]}, "root_prefix": str(tmp_path / "conda")}
    with (
        mock.patch.object(_conda_meta, "SYSTEM_CONDARC_BASES", (str(tmp_path / "etc" / "conda"),)),
        mock.patch.dict(os.environ, {"USER": user}),
    ):
        result = run_module(conda_env.main, args, check_mode=True)
    assert result["prefix"] == wanted.format(root=tmp_path)


# ----------------------------------------------------------------------------- error reports, whole


def test_a_micromamba_json_failure_says_what_failed():
    # mamba-org/mamba#1811: micromamba install --json ... imaginary-package (exit status 1)
    reason = _conda_env.cli_error(text("micromamba-json-fail-solver-problems-1811.json"), "")
    assert reason != "}" and "nothing provides requested imaginary-package" in reason


def test_a_libsolv_problem_list_reaches_the_admin():
    # mamba-org/mamba#2513: a solver_problems failure of micromamba create -f
    data = json.loads(text("micromamba-json-fail-solver-problems-2513.json"))
    reason = _conda_env.cli_error(text("micromamba-json-fail-solver-problems-2513.json"), "")
    assert all(problem in reason for problem in data["solver_problems"])


def test_a_condamultierror_lists_its_errors():
    # conda/conda-lock tests/test-stdout/mamba.txt: CondaMultiError around a CondaHTTPError 401
    data = json.loads(text("mamba-json-fail-condamultierror-conda-lock.json"))
    reason = _conda_env.cli_error(text("mamba-json-fail-condamultierror-conda-lock.json"), "")
    assert reason.startswith("CondaMultiError: ") and "CondaHTTPError" in reason
    assert data["errors"][0]["message"].strip().splitlines()[0] in reason


@pytest.mark.parametrize("fixture", ["conda-packagesnotfound-13659.txt", "conda-packagesnotfound-7858.txt"])
def test_a_text_packages_not_found_error_keeps_packages_and_channels(fixture):
    # conda/conda#13659 and #7858, as conda printed them (stderr, no JSON)
    pasted = text(fixture)
    reason = _conda_env.cli_error("", pasted)
    missing = [line.strip() for line in pasted.splitlines() if line.strip().startswith("- ")]
    assert missing and all(line in reason for line in missing[:3]), "which package, which channel"
    assert "PackagesNotFoundError" in reason


def test_a_text_unsatisfiable_error_keeps_its_conflict_trees():
    # JonathonLuiten/Dynamic3DGaussians#29
    reason = _conda_env.cli_error("", text("conda-unsatisfiable-dynamic3dgaussians-29.txt"))
    assert reason.count("conflicts for:") >= 2 and "UnsatisfiableError" in reason


@pytest.mark.parametrize(
    ("fixture", "wanted"),
    [
        # mamba-org/mamba#1029: "Pinned packages:" lines before the JSON on stdout
        (
            "mamba-pinned-before-json-1029.txt",
            {"message": "All requested packages already installed.", "success": True},
        ),
        # mamba-org/mamba#207: "DryRunExit: Dry run. Exiting." before the JSON object
        ("mamba-dryrunexit-before-json-207.partial.txt", None),
    ],
)
def test_json_after_other_text_is_read(fixture, wanted):
    data = _conda_env.json_object(text(fixture))
    assert data is not None
    if wanted:
        assert data == wanted
