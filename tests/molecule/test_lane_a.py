"""Scenario lane A, in order on one worker: shared_envs, mirror (tests/molecule/cluster.py)."""

from __future__ import annotations

import pytest

from tests.molecule.cluster import LANES, run_molecule

pytestmark = pytest.mark.molecule


@pytest.mark.parametrize("scenario", LANES["a"])
def test_scenario(scenario):
    run_molecule(scenario, scenario)
