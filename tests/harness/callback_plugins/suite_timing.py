"""Record each playbook run of a test scenario for the suite's budget table.

Test harness only (never shipped; galaxy.yml leaves tests/ out). Enabled by
tests/molecule/cluster.py (run_molecule) for every ansible-playbook a scenario runs,
nested runs from verify included (they inherit the environment). With
HPCENV_TIMING_LOG set, each run appends one JSON line to that file: the
playbook, whether it ran in check mode, its wall time, and its slowest tasks.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: suite_timing
type: aggregate
short_description: One JSON line per playbook run, for the test suite's budget table
description:
  - Appends the playbook's path, check mode, wall time and slowest tasks to the file named by E(HPCENV_TIMING_LOG).
  - Does nothing when that variable is unset.
requirements:
  - enable in the callbacks_enabled setting
"""

import json
import os
import time

from ansible import context
from ansible.plugins.callback import CallbackBase

SLOWEST = 8  # tasks kept per run


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "suite_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._log = os.environ.get("HPCENV_TIMING_LOG")
        self._playbook = None
        self._started = time.time()
        self._task = None
        self._task_started = None
        self._tasks: dict[str, float] = {}

    def _close_task(self) -> None:
        if self._task is not None:
            self._tasks[self._task] = self._tasks.get(self._task, 0.0) + time.time() - self._task_started
        self._task = None

    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.abspath(playbook._file_name)
        self._started = time.time()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_task()
        self._task = f"{task.get_name().strip()} ({task.get_path() or '?'})"
        self._task_started = time.time()

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def v2_playbook_on_stats(self, stats):
        self._close_task()
        if not self._log:
            return
        slowest = sorted(self._tasks.items(), key=lambda kv: kv[1], reverse=True)[:SLOWEST]
        record = {
            "playbook": self._playbook,
            "check": bool(context.CLIARGS.get("check")),
            "start": self._started,
            "seconds": round(time.time() - self._started, 2),
            "slowest": [[name, round(seconds, 2)] for name, seconds in slowest],
        }
        # One short line per run in append mode: concurrent runs do not interleave.
        with open(self._log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
