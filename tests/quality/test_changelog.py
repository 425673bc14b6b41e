"""The changelog is antsibull-changelog's: a fragment per change in changelogs/fragments/, the
releases in changelogs/changelog.yaml, and CHANGELOG.md generated from them, never edited by hand
(docs/testing.md, "The changelog")."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.quality


def changelog(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "antsibull-changelog"), *argv], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_fragments_pass_lint():
    lint = changelog("lint")
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr


def test_changelog_yaml_passes_lint():
    lint = changelog("lint-changelog-yaml", "changelogs/changelog.yaml")
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr


def test_every_fragment_is_yaml_named_dot_yml():
    """antsibull-changelog reads only .yml and .yaml fragments (ignore_other_fragment_extensions)."""
    others = [p.name for p in (ROOT / "changelogs" / "fragments").iterdir() if p.suffix != ".yml"]
    assert not others, f"not a fragment (name it <topic>.yml): {others}"


def test_changelog_md_is_what_antsibull_changelog_generates(tmp_path):
    """Generated in a copy (galaxy.yml and changelogs/), so the checkout's CHANGELOG.md is only read."""
    shutil.copy2(ROOT / "galaxy.yml", tmp_path)
    shutil.copytree(ROOT / "changelogs", tmp_path / "changelogs")
    generate = changelog("generate", cwd=tmp_path)
    assert generate.returncode == 0, generate.stdout + generate.stderr
    expected = (tmp_path / "CHANGELOG.md").read_text()
    assert (ROOT / "CHANGELOG.md").read_text() == expected, (
        "CHANGELOG.md is not what changelogs/ generates: add a fragment to changelogs/fragments/ instead of "
        "editing it, and run `antsibull-changelog generate` after changing changelogs/changelog.yaml"
    )
