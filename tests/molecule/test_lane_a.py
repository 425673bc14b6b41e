"""Scenario lane A, in order on one worker: shared_envs, conda, containers, the harness twice
(tests/molecule/cluster.py)."""

from __future__ import annotations

import subprocess

import pytest

from tests.molecule.cluster import LANES, ROOT, run_molecule

pytestmark = pytest.mark.molecule


@pytest.mark.parametrize("scenario", LANES["a"])
def test_scenario(scenario):
    run_molecule(scenario, scenario)


def test_harness_rerun_reuses_cached_images():
    """The harness self-test passes a second time in a row, reusing the cached images."""
    for variant in ("bookworm", "trixie"):
        proc = subprocess.run(
            [str(ROOT / "tests" / "harness" / "build-image"), variant], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert "up to date" in proc.stdout, f"image {variant} was rebuilt although its recipe did not change"
    run_molecule("harness", "harness-rerun")
