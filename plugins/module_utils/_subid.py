# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers for /etc/subuid and /etc/subgid: parse, validate, allocate. Pure functions."""

from __future__ import annotations


class SubidError(ValueError):
    """Input we refuse to work on; the message names the file and line."""


def parse(text: str, path: str) -> list[dict]:
    """Entries of a subid file: {line, owner, start, count}; malformed lines raise SubidError."""
    entries, problems = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) != 3 or not fields[0]:
            problems.append(f"{path}:{number}: expected NAME:START:COUNT, got {raw!r}")
            continue
        owner, start, count = fields
        if not start.isdigit() or not count.isdigit() or int(count) == 0:
            problems.append(f"{path}:{number}: START and COUNT must be whole numbers, COUNT > 0, got {raw!r}")
            continue
        entries.append({"line": number, "owner": owner, "start": int(start), "count": int(count)})
    if problems:
        raise SubidError("malformed entries: " + "; ".join(problems))
    return entries


def overlaps(entries: list[dict], path: str) -> list[str]:
    """Pairs of entries whose ranges intersect, as messages."""
    found = []
    ordered = sorted(entries, key=lambda e: e["start"])
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b["start"] >= a["start"] + a["count"]:
                break
            found.append(
                f"{path}:{a['line']} ({a['owner']}:{a['start']}:{a['count']}) overlaps "
                f"{path}:{b['line']} ({b['owner']}:{b['start']}:{b['count']})"
            )
    return found


def owned_by(entries: list[dict], name: str, uid: int) -> list[dict]:
    """Entries of one user, matched on the whole name (or the numeric id), never a substring."""
    return [e for e in entries if e["owner"] == name or e["owner"] == str(uid)]


def below(entries: list[dict], highest_real: int, path: str) -> list[str]:
    return [
        f"{path}:{e['line']} ({e['owner']}:{e['start']}:{e['count']}) starts at or below the highest real id "
        f"{highest_real}: ids in that range may belong to real users or groups"
        for e in entries
        if e["start"] <= highest_real
    ]


def _lattice(value: int, origin: int, count: int) -> int:
    """The first origin + k*count >= value (useradd's own layout: 100000, 165536, ...)."""
    return origin + max(0, -(-(value - origin) // count)) * count


def allocate(taken: list[tuple[int, int]], base: int, count: int, origin: int) -> int:
    """Lowest start >= base on the origin + k*count lattice whose block [start, start+count) is free."""
    start = _lattice(base, origin, count)
    for first, size in sorted(taken):
        if start + count <= first:
            break
        start = max(start, _lattice(first + size, origin, count))
    return start


def render(entries: list[dict], text: str = "") -> str:
    """The file after a change: every comment and blank line of `text` and the kept entries' own
    lines stay as they were; entries of removed users go; new entries (line 0) are appended."""
    kept = {e["line"] for e in entries if e["line"]}
    lines = [
        raw
        for number, raw in enumerate(text.splitlines(), start=1)
        if not raw.strip() or raw.strip().startswith("#") or number in kept
    ]
    lines += [f"{e['owner']}:{e['start']}:{e['count']}" for e in entries if not e["line"]]
    return "".join(f"{line}\n" for line in lines)
