# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus text exposition for node_exporter's textfile collector (private to this collection).

A textfile is read by node_exporter at every scrape, so it must be replaced in one
rename, never rewritten in place: a scrape in the middle would see half a file
(shared_env_metrics writes it with _atomic.write).
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def escape_label(value) -> str:
    """A label value as the exposition format writes it (backslash, double quote, newline escaped)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def render(families: list[dict]) -> str:
    """Text of metric families: [{name, help, type, samples: [(labels dict, value)]}], in the given order."""
    lines = []
    for family in families:
        name = family["name"]
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        lines.append(f"# HELP {name} {family['help']}")
        lines.append(f"# TYPE {name} {family.get('type', 'gauge')}")
        for labels, value in family["samples"]:
            bad = [key for key in labels if not _LABEL.match(key)]
            if bad:
                raise ValueError(f"invalid label name(s) {bad} in {name}")
            text = ",".join(f'{key}="{escape_label(val)}"' for key, val in labels.items())
            lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"


def without(text: str, volatile: tuple[str, ...]) -> str:
    """TEXT without the samples of the VOLATILE metric names (timestamps), to compare two states."""
    kept = []
    for line in text.splitlines():
        if not line.startswith("#") and line.split("{", 1)[0].split(" ", 1)[0] in volatile:
            continue
        kept.append(line)
    return "\n".join(kept)
