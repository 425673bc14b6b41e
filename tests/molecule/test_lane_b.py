"""Scenario lane B, in order on one worker: jupyter, conda (tests/molecule/cluster.py),
then the check that the harness's node images are reused."""

from __future__ import annotations

import subprocess

import pytest

from tests.molecule.cluster import LANES, ROOT, run_molecule

pytestmark = pytest.mark.molecule


@pytest.mark.parametrize("scenario", LANES["b"])
def test_scenario(scenario):
    run_molecule(scenario, scenario)


def test_harness_images_are_reused_when_their_recipe_did_not_change():
    """After the scenarios ran on them, building the node images again rebuilds nothing."""
    for variant in ("bookworm", "trixie"):
        proc = subprocess.run(
            [str(ROOT / "tests" / "harness" / "build-image"), variant], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert "up to date" in proc.stdout, f"image {variant} was rebuilt although its recipe did not change"
