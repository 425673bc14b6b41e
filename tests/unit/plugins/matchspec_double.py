"""TEST DOUBLE of the node's conda reading match specs (_matchspec.SCRIPT run by conda's Python).

Every answer is replayed from module_utils/fixtures/matchspec/cases.yaml, a table of what the
real conda 26.7.1 answers for a spec and an installed record. tests/toolchain runs the very
same SCRIPT with the real conda over every row, so the table cannot say what conda does not;
`python -m tests.support.matchspec_table` rewrites its answers from the real conda.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _matchspec

TABLE_FILE = Path(__file__).parent / "module_utils" / "fixtures" / "matchspec" / "cases.yaml"
TABLE = yaml.safe_load(TABLE_FILE.read_text())
# A row's record with the fields the table leaves out (the toolchain builds records the same way).
RECORD_DEFAULTS = {"build_number": 0, "channel": "conda-forge", "subdir": "linux-64"}


def row_record(row: dict) -> dict:
    """The installed record a row is about: [name, version, build] or a mapping with more fields."""
    record = row["record"]
    if isinstance(record, list):
        record = dict(zip(("name", "version", "build"), record))
    return {**RECORD_DEFAULTS, **record}


def _same(installed: dict, row: dict) -> bool:
    wanted = row_record(row)
    return all(installed.get(key, RECORD_DEFAULTS.get(key)) == value for key, value in wanted.items())


def answers(request: dict) -> list[dict]:
    """What the real conda answered for these specs and records, from the table."""
    installed = {r["name"]: r for r in request.get("records") or []}
    replies = []
    for spec in request["specs"]:
        rows = [row for row in TABLE if row["spec"] == spec]
        assert rows, f"no recorded answer of conda for {spec!r}: add a row to {TABLE_FILE.name}"
        if rows[0]["conda"] == "error":
            replies.append({"spec": spec, "error": rows[0]["error"]})
            continue
        reply = {"spec": spec, "name": rows[0]["name"]}
        record = installed.get(reply["name"])
        if record is not None:
            row = next((row for row in rows if _same(record, row)), None)
            assert row, f"no recorded answer of conda for {spec!r} against {record}: add a row to {TABLE_FILE.name}"
            reply["installed"] = "-".join((record["name"], record["version"], record["build"]))
            reply["match"] = row["conda"]
        replies.append(reply)
    return replies


def is_matchspec_call(argv: list[str]) -> bool:
    return len(argv) == 3 and argv[1] == "-c" and argv[2] == _matchspec.SCRIPT


def reply(kwargs: dict) -> tuple[int, str, str]:
    """run_command's result for a SCRIPT call (its request is the call's stdin, `data`)."""
    return 0, json.dumps(answers(json.loads(kwargs["data"]))), ""
