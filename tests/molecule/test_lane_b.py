"""Scenario lane B, in order on one worker: jupyter, mirror (tests/molecule/cluster.py)."""

from __future__ import annotations

import pytest

from tests.molecule.cluster import LANES, run_molecule

pytestmark = pytest.mark.molecule


@pytest.mark.parametrize("scenario", LANES["b"])
def test_scenario(scenario):
    run_molecule(scenario, scenario)
