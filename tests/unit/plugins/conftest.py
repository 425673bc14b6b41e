"""The node's audit log, kept inside each test: every module test writes its audit lines
(plugins/module_utils/_audit.py) to its own tmp_path instead of the machine's log, and the
journal copy goes to a list instead of the machine's syslog. A test reads both with the
`audit` fixture."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _audit


class _Syslog:
    """TEST DOUBLE of the syslog module (the journal's /dev/log): keeps what would be sent."""

    LOG_AUTHPRIV = 10 << 3
    LOG_NOTICE = 5

    def __init__(self):
        self.sent: list[tuple[str, int, str]] = []
        self._ident = ""

    def openlog(self, ident, _option, _facility):
        self._ident = ident

    def syslog(self, priority, message):
        self.sent.append((self._ident, priority, message))

    def closelog(self):
        self._ident = ""


@pytest.fixture(autouse=True)
def audit(tmp_path, monkeypatch):
    path = tmp_path / "audit" / "audit.jsonl"
    journal = _Syslog()
    monkeypatch.setitem(_audit.ARGUMENT_SPEC["audit_log"], "default", str(path))
    monkeypatch.setattr(_audit, "syslog", journal)

    def lines() -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    return SimpleNamespace(path=path, lines=lines, journal=journal)
