"""Shared pytest fixtures and paths for the whole suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "test-results"

# Make `ansible_collections.hpcenv.gpu_cluster` importable for unit tests
# through the self-link collections/ansible_collections/hpcenv/gpu_cluster.
sys.path.insert(0, str(ROOT / "collections"))
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
