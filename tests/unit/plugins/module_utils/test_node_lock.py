"""_node_lock: one holder at a time, the waiter names the holder, a killed holder frees the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _node_lock

# The folder holding ansible_collections/ that this test imported the module from (the
# checkout's collections/, or ansible-test's own collection root).
COLLECTIONS = str(Path(_node_lock.__file__).parents[5])

HOLD = """
import sys, time
sys.path.insert(0, {collections!r})
from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _node_lock
with _node_lock.NodeLock({path!r}, 5, "building shared_ml", "site.yml by admin"):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    path = str(tmp_path / "node.lock")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(collections=COLLECTIONS, path=path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    yield path, proc
    proc.kill()
    proc.wait()


def test_a_second_taker_waits_then_names_the_holder(holder):
    path = holder[0]
    start = time.monotonic()
    with pytest.raises(_node_lock.LockTimeoutError) as stop, _node_lock.NodeLock(path, 1, "pruning", "drift.yml"):
        pass
    assert time.monotonic() - start >= 1
    message = str(stop.value)
    assert "building shared_ml for site.yml by admin" in message and "waited 1 s" in message


def test_a_killed_holder_leaves_no_stale_lock(holder):
    path, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with _node_lock.NodeLock(path, 5, "building", "the next run") as lock:
        assert lock.waited < 5
        assert "the next run" in Path(path).read_text()
    assert Path(path).read_text() == "", "a released lock names no holder"


def test_the_lock_is_free_again_after_use(tmp_path):
    path = str(tmp_path / "sub" / "node.lock")
    with _node_lock.NodeLock(path, 1, "a", "b"):
        pass
    with _node_lock.NodeLock(path, 1, "c", "d") as lock:
        assert lock.waited < 1
