"""Verify as stories: every story a verify.yml names exists, says what it needs, and uses no literal paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.quality
STORY_SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/verify_tasks"))
# Paths the roles declare (conda_prefix, shared_envs_dir, jupyter_*_dir, nightly_drift_home):
# stories read them from the roles' defaults through molecule/shared/story.yml.
LITERAL_PATHS = re.compile(
    r"/opt/conda|/usr/local/share/jupyter|/etc/jupyterhub|/var/lib/jupyterhub|/var/lib/hpcenv-drift"
)


def stories_of(scenario: str) -> list[str]:
    plays = yaml.safe_load((ROOT / "molecule" / scenario / "verify.yml").read_text())
    stories = [play["vars"] for play in plays if "hpcenv_story" in play.get("vars", {})]
    unplaced = [story["hpcenv_story"] for story in stories if not story.get("hpcenv_story_hosts")]
    assert not unplaced, f"{scenario}: stories without hpcenv_story_hosts: {unplaced}"
    return [story["hpcenv_story"] for story in stories]


def test_story_scenarios_exist():
    assert {"shared_envs", "jupyter"} <= set(STORY_SCENARIOS), STORY_SCENARIOS


@pytest.mark.parametrize("scenario", STORY_SCENARIOS)
def test_every_story_is_named_and_says_what_it_needs(scenario):
    folder = ROOT / "molecule" / scenario / "verify_tasks"
    named = stories_of(scenario)
    assert named and len(named) == len(set(named)), f"{scenario}: stories named twice or none: {named}"
    files = {p.stem: p.read_text() for p in folder.glob("*.yml")}
    story_files = {name for name, text in files.items() if text.startswith("---\n# Story:")}
    assert set(named) == story_files, f"{scenario}: verify.yml names {sorted(named)}, files {sorted(story_files)}"
    for name in named:
        header = files[name].split("\n- ", 1)[0]
        assert "Needs:" in header, f"{scenario}/{name}: the header does not say what the story needs"
        leaves = re.search(r"Leaves:|Changes nothing", header)
        assert leaves, f"{scenario}/{name}: the header does not say what it leaves"


@pytest.mark.parametrize("scenario", STORY_SCENARIOS)
def test_stories_use_the_roles_paths(scenario):
    folder = ROOT / "molecule" / scenario
    for path in [folder / "verify.yml", *(folder / "verify_tasks").glob("*.yml")]:
        found = [line.strip() for line in path.read_text().splitlines() if LITERAL_PATHS.search(line)]
        assert not found, f"{path.relative_to(ROOT)} has literal paths (use verify_* from story.yml): {found}"


def test_every_scenario_runs_in_one_lane():
    from tests.molecule.cluster import LANES, scenarios

    laned = [name for lane in LANES.values() for name in lane]
    assert sorted(laned) == scenarios(), f"each scenario in exactly one lane of tests/molecule/cluster.py: {LANES}"
