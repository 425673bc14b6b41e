"""The match spec table's answers, asked of a real conda.

    python -m tests.support.matchspec_table CONDA_PREFIX          # rewrite the answers
    python -m tests.support.matchspec_table CONDA_PREFIX --check  # only say what differs

The table (tests/unit/plugins/module_utils/fixtures/matchspec/cases.yaml) lists a spec and
an installed record per row, with conda's answer: the name it reads (`name`), whether the
record matches (`conda: true/false`), or its refusal (`conda: error`, `error: <message>`).
The unit tests replay it (tests/unit/plugins/matchspec_double.py); the toolchain tests
check every row against the real conda with the collection's own _matchspec.SCRIPT. This
module writes the answers from the conda of CONDA_PREFIX (the offline toolchain's installer
lays one down: tests/support/README.md), keeping the rest of the file as it is.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _matchspec  # noqa: E402
from tests.unit.plugins import matchspec_double  # noqa: E402

ANSWER_KEYS = ("name", "conda", "error")


def _batches(rows: list[dict]) -> list[list[int]]:
    """Row numbers in groups that hold one record per package name (SCRIPT takes one per name)."""
    batches: list[tuple[dict, list[int]]] = []
    for number, row in enumerate(rows):
        record = matchspec_double.row_record(row)
        for records, members in batches:
            if records.get(record["name"], record) == record:
                records[record["name"]] = record
                members.append(number)
                break
        else:
            batches.append(({record["name"]: record}, [number]))
    return [members for _records, members in batches]


def real_answers(prefix: Path, rows: list[dict], env: dict | None = None) -> list[dict]:
    """conda's answer for each row, in the table's terms ({name, conda} or {conda: error, error})."""
    python = _matchspec.python_of(str(prefix))
    found: list[dict] = [{} for _row in rows]
    for members in _batches(rows):
        records = list({matchspec_double.row_record(rows[n])["name"]: matchspec_double.row_record(rows[n])
                        for n in members}.values())  # fmt: skip

        def run(argv, data, environ_update):
            proc = subprocess.run(argv, input=data, capture_output=True, text=True, env={**(env or os.environ),
                                  **environ_update}, check=False)  # fmt: skip
            return proc.returncode, proc.stdout, proc.stderr

        for number, answer in zip(members, _matchspec.ask(run, python, [rows[n]["spec"] for n in members], records)):
            if "error" in answer:
                found[number] = {"conda": "error", "error": answer["error"]}
            else:
                found[number] = {"name": answer["name"], "conda": bool(answer.get("match"))}
    return found


def recorded(row: dict) -> dict:
    return {key: row[key] for key in ANSWER_KEYS if key in row}


class _RowDumper(yaml.SafeDumper):
    """Rows in block style, a [name, version, build] record on one line."""


_RowDumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)


def _item(row: dict) -> str:
    """One row as a YAML list item: one key a line, a record mapping one field a line."""
    text = yaml.dump(row, Dumper=_RowDumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=150)
    return "- " + text.replace("\n", "\n  ").rstrip(" ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", type=Path, help="a conda installation (its bin/python imports conda)")
    parser.add_argument("--check", action="store_true", help="only list the rows whose answer differs")
    args = parser.parse_args()
    text = matchspec_double.TABLE_FILE.read_text()
    rows = yaml.safe_load(text)
    answers = real_answers(args.prefix, rows)
    differing = [(row["spec"], recorded(row), real) for row, real in zip(rows, answers) if recorded(row) != real]
    for spec, table, real in differing:
        print(f"{spec!r}: the table says {table}, conda answers {real}")
    if args.check:
        sys.exit(1 if differing else 0)
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    body = []
    for row, real in zip(rows, answers):
        kept = {key: value for key, value in row.items() if key not in ANSWER_KEYS}
        body.append(_item({"spec": kept.pop("spec"), "record": kept.pop("record"), **real, **kept}))
    matchspec_double.TABLE_FILE.write_text(header + "".join(body))
    print(f"{len(rows)} rows, {len(differing)} answers rewritten")


if __name__ == "__main__":
    main()
