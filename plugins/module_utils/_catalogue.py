# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers: one shared environment's page of the node's catalogue, for its users.

The catalogue is a directory of NAME.json (read by the `hpcenv-envs` command, and by anything
else) and NAME.md (the same, for people). An entry joins what the controller recorded of the
env's versions (version number, lock id, when, by whom, the commit, the changelog from the
version before) with what is on this node: which versions are kept here, which one is active.
No Ansible imports.
"""

from __future__ import annotations

import html
import json
import os
import re

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _lock_changes

# Fields of a controller version entry that the catalogue shows, in this order.
# `from`: the version whose lock a version replaced on the controller (its `changes` are from that one).
FIELDS = ("version", "from", "lock_id", "created", "by", "commit", "summary", "changes")


def lock_of(version_dir: str) -> str:
    """The lock id in a version directory's name (NAME-LOCKID-STAMP)."""
    parts = version_dir.rsplit("-", 2)
    return parts[1] if len(parts) == 3 else ""


def entry(
    name: str,
    envs_dir: str,
    recorded: list,
    kept: list,
    active: str,
    variant: str,
    platform: str,
    damaged: dict | None = None,
) -> dict:
    """The catalogue entry of env NAME: RECORDED, the controller's versions (oldest first); KEPT, the
    complete version directories on this node (oldest first); ACTIVE, the one its name points at;
    DAMAGED, kept directories that no longer match their lock, with why (never offered for use)."""
    here = {lock_of(v): v for v in kept}  # the newest directory of each lock (kept is oldest first)
    damaged = damaged or {}
    active_lock = lock_of(active) if active else ""
    versions = []
    for record in recorded if isinstance(recorded, list) else []:
        if not isinstance(record, dict) or not record.get("lock_id"):
            continue
        shown = {field: record.get(field, "" if field != "changes" else {}) for field in FIELDS}
        shown["from"] = record.get("from")  # None: recorded before versions named theirs (the one before it)
        shown["changes"] = shown["changes"] if isinstance(shown["changes"], dict) else {}
        shown["lines"] = describe(shown["changes"])
        versions.append(dict(shown, **_place(envs_dir, here.get(shown["lock_id"], ""), active_lock, damaged)))
    listed = {v["lock_id"] for v in versions}
    # Built here from a lock the controller gave no number (a rollout made before versions were
    # recorded, or a lock the controller no longer lists): listed too, without a number or a changelog.
    for lock in sorted(set(here) - listed, key=lambda lock: here[lock].rsplit("-", 1)[1]):
        unnumbered = dict.fromkeys(FIELDS, "")
        versions.append(
            dict(unnumbered, lock_id=lock, changes={}, lines=[], **_place(envs_dir, here[lock], active_lock, damaged))
        )
    for v in versions:
        usable = v["version"] and v["on_node"] and not v["damaged"]
        v["activate"] = f"conda activate {name}-{v['version']}" if usable else ""
    current = next((v for v in versions if v["active"]), {})
    return {
        "name": name,
        "variant": variant,
        "platform": platform,
        "active": current.get("version") or current.get("lock_id", ""),
        "activate": f"conda activate {name}",
        "versions": versions,
    }


def _place(envs_dir: str, directory: str, active_lock: str, damaged: dict) -> dict:
    lock = lock_of(directory)
    return {
        "on_node": bool(directory),
        "active": bool(directory) and lock == active_lock,
        "path": os.path.join(envs_dir, ".versions", directory) if directory else "",
        "damaged": damaged.get(directory, ""),
    }


def pinned(page: dict) -> dict:
    """The stable name of each numbered version kept on the node (NAME-vN, in the envs dir) -> its directory."""
    return {f"{page['name']}-{v['version']}": v["path"] for v in page["versions"] if v["activate"]}


# The first lines of every modulefile this collection writes: how it finds its own again.
MODULE_MARKER = "## hpcenv.gpu_cluster: "


def _tcl(text: str) -> str:
    """TEXT as one double-quoted Tcl word: nothing in it substituted; line breaks kept as \\n."""
    return '"' + re.sub(r'([\\"$\[\]{}])', r"\\\1", text).replace("\n", "\\n") + '"'


def modulefiles(page: dict, envs_dir: str) -> dict:
    """Environment Modules / Lmod modulefiles of the env's usable numbered versions, by path relative to the
    modulefiles directory: NAME/vN for each (`module load NAME/vN`, like `conda activate NAME-vN`), and
    NAME/.version naming the active one, the default of `module load NAME`."""
    name = page["name"]
    files = {}
    for v in page["versions"]:
        if not v["activate"]:
            continue
        stable = f"{name}-{v['version']}"
        prefix = os.path.join(envs_dir, stable)
        about = f"{name} {v['version']} ({page['variant']}, lock {v['lock_id']})" + (
            f": {v['summary']}" if v["summary"] else ""
        )
        help_text = "\n".join([about, *(f"  {line}" for line in v["lines"]), f"hpcenv-envs show {name} {v['version']}"])
        lines = [
            "#%Module1.0",
            f"{MODULE_MARKER}{name} {v['version']}, written by the shared_envs role; do not edit",
            f"module-whatis {_tcl(about)}",
            "proc ModulesHelp {} {",
            f"    puts stderr {_tcl(help_text)}",
            "}",
            f"conflict {name}",
            f"setenv CONDA_PREFIX {_tcl(prefix)}",
            f"setenv CONDA_DEFAULT_ENV {_tcl(stable)}",
            f"prepend-path PATH {_tcl(os.path.join(prefix, 'bin'))}",
        ]
        files[f"{name}/{v['version']}"] = "\n".join(lines) + "\n"
    active = next((v for v in page["versions"] if v["active"] and v["activate"]), None)
    if active:
        files[f"{name}/.version"] = (
            "\n".join(
                [
                    "#%Module1.0",
                    f"{MODULE_MARKER}the active version of {name}",
                    f"set ModulesVersion {_tcl(active['version'])}",
                ]
            )
            + "\n"
        )
    return files


def as_json(page: dict) -> str:
    return json.dumps(page, indent=2, sort_keys=False) + "\n"


# The columns of a page's table of versions (Markdown and HTML alike).
COLUMNS = ("version", "lock", "created", "by", "on this node", "use it with", "changes")
USE = COLUMNS.index("use it with")


def _rows(page: dict) -> list:
    """The table's rows, newest first, one text per column ("" in `use it with`: not usable)."""
    rows = []
    for v in reversed(page["versions"]):
        here = "active" if v["active"] else ("damaged" if v["damaged"] else ("kept" if v["on_node"] else "no"))
        cells = [v["version"] or "-", v["lock_id"], v["created"] or "-", v["by"] or "-", here, v["activate"]]
        rows.append([str(cell) for cell in [*cells, v["summary"] or "-"]])  # a hand-edited record may hold numbers
    return rows


def _notes(page: dict) -> tuple[list, list]:
    """Why each damaged version is not offered; the changelogs, newest first, as (title, lines)."""
    damaged = [
        f"{v['version'] or v['lock_id']} is damaged on this node, and not offered: {v['damaged']}."
        for v in page["versions"]
        if v["damaged"]
    ]
    changelogs = [(f"{v['version'] or v['lock_id']}: {v['summary']}", v["lines"]) for v in reversed(page["versions"])]
    return damaged, [(title, lines) for title, lines in changelogs if lines]


def as_markdown(page: dict) -> str:
    """The entry for people: the versions, newest first, each with its changelog."""
    lines = [
        f"# {page['name']} ({page['variant']}, {page['platform']})",
        "",
        f"Active version: **{page['active'] or 'none'}**. Use it with `{page['activate']}`.",
        "",
        "A kept version stays usable by its own name for as long as it is kept.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("-" * (len(c) + 2) for c in COLUMNS) + "|",
    ]
    for row in _rows(page):
        row[USE] = f"`{row[USE]}`" if row[USE] else "-"
        lines.append("| " + " | ".join(row) + " |")
    damaged, changelogs = _notes(page)
    for note in damaged:
        lines += ["", note]
    for title, changes in changelogs:
        lines += ["", f"## {title}", ""] + [f"- {line}" for line in changes]
    return "\n".join(lines) + "\n"


def as_html(page: dict) -> str:
    """The same entry as an HTML section, for the hub's page of shared environments."""
    e = html.escape
    out = [
        f'<section id="{e(page["name"])}">',
        f"<h2>{e(page['name'])} ({e(page['variant'])}, {e(page['platform'])})</h2>",
        f"<p>Active version: <strong>{e(page['active'] or 'none')}</strong>. "
        f"Use it with <code>{e(page['activate'])}</code>.</p>",
        "<p>A kept version stays usable by its own name for as long as it is kept.</p>",
        "<table>",
        "<tr>" + "".join(f"<th>{e(c)}</th>" for c in COLUMNS) + "</tr>",
    ]
    for row in _rows(page):
        cells = [e(cell) for cell in row]
        cells[USE] = f"<code>{cells[USE]}</code>" if row[USE] else "-"
        out.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    out.append("</table>")
    damaged, changelogs = _notes(page)
    out += [f"<p>{e(note)}</p>" for note in damaged]
    for title, changes in changelogs:
        out += [f"<h3>{e(title)}</h3>", "<ul>"] + [f"<li>{e(line)}</li>" for line in changes] + ["</ul>"]
    return "\n".join([*out, "</section>"]) + "\n"


def describe(changes: dict) -> list:
    """One line per changed package (the catalogue's `lines`, which `hpcenv-envs diff` prints)."""
    out = []
    for kind in _lock_changes.KINDS:
        for c in changes.get(kind) or []:
            if kind in ("added", "removed"):
                out.append(f"{kind} {c['name']} {c['version']} ({c['build'] or 'pip'})")
            elif kind == "rebuilt":
                out.append(f"rebuilt {c['name']} {c['version']} ({c['from_build']} -> {c['to_build']})")
            else:
                out.append(f"{kind} {c['name']} {c['from']} -> {c['to']}")
    return out
