# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hpcenv-envs: this cluster's shared conda environments, their versions and what changed.

    hpcenv-envs list                    every shared environment, its active and kept versions
    hpcenv-envs show NAME [VERSION]     its versions with their changelogs (or one version)
    hpcenv-envs diff NAME FROM TO       what changed from one version to another, step by step (the
                                        steps of FROM that TO does not build on are undone first)

A VERSION is a version number (v2), a lock id, or "active". --json prints the catalogue's own
data instead. It reads the catalogue that the hpcenv.gpu_cluster collection keeps on every node
(NAME.json and NAME.md, in this script's directory); it needs no root.
"""

import argparse
import glob
import json
import os
import sys

CATALOGUE = os.path.dirname(os.path.realpath(__file__))


class CatalogueError(Exception):
    """A request the catalogue cannot answer; its message says what there is instead."""


def pages():
    found = []
    for path in sorted(glob.glob(os.path.join(CATALOGUE, "*.json"))):
        with open(path, encoding="utf-8") as fh:
            found.append(json.load(fh))
    return found


def page_of(name):
    path = os.path.join(CATALOGUE, name + ".json")
    if os.sep in name or not os.path.isfile(path):
        names = ", ".join(p["name"] for p in pages()) or "none"
        raise CatalogueError(f"no shared environment named {name!r} on this node; there are: {names}")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def label(version):
    return version["version"] or version["lock_id"]


def find(page, wanted):
    for index, version in enumerate(page["versions"]):
        if wanted in (version["version"], version["lock_id"]) or (wanted == "active" and version["active"]):
            return index
    known = ", ".join(label(v) for v in page["versions"]) or "none"
    raise CatalogueError(f"{page['name']} has no version {wanted!r}; its versions are: {known}")


def where(version):
    if version["active"]:
        return "active"
    if version.get("damaged"):
        return "damaged on this node, not offered (" + version["damaged"] + ")"
    return "kept on this node" if version["on_node"] else "not on this node"


def do_list(args):
    found = pages()
    if args.json:
        return found
    if not found:
        return "no shared environments are listed on this node"
    rows = [("NAME", "ACTIVE", "VARIANT", "ON THIS NODE", "VERSIONS")]
    for page in found:
        here = " ".join(label(v) for v in page["versions"] if v["on_node"]) or "-"
        rows.append((page["name"], page["active"] or "-", page["variant"], here, str(len(page["versions"]))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def do_show(args):
    page = page_of(args.name)
    if args.version is None:
        if args.json:
            return page
        with open(os.path.join(CATALOGUE, args.name + ".md"), encoding="utf-8") as fh:
            return fh.read().rstrip("\n")
    version = page["versions"][find(page, args.version)]
    if args.json:
        return version
    lines = [
        f"{page['name']} {label(version)} ({page['variant']}, {page['platform']})",
        "lock id:   " + version["lock_id"],
        f"created:   {version['created'] or '-'} by {version['by'] or '-'}",
        "commit:    " + (version["commit"] or "-"),
        "here:      " + where(version) + (" at " + version["path"] if version["path"] else ""),
        "changes:   " + (version["summary"] or "-"),
    ]
    return "\n".join(lines + ["  " + line for line in version["lines"]])


def parent(page, index):
    """The index of the version this one's changes are from, or None: its `from` ("" for a first version),
    or, for a numbered version recorded without one (null), the version before it."""
    version = page["versions"][index]
    if version.get("from"):
        return find(page, version["from"])
    if version.get("from") is None and version["version"] and index > 0:
        return index - 1
    return None


def lineage(page, index):
    """INDEX and the versions its changes build on, back to the first."""
    chain = []
    while index is not None and index not in chain:
        chain.append(index)
        index = parent(page, index)
    return chain


def do_diff(args):
    """From OLD to NEW through the versions they were rolled out from: the steps from OLD back to the
    version both build on are undone, then NEW's own steps are applied."""
    page = page_of(args.name)
    first, last = find(page, args.old), find(page, args.new)
    back, forward = lineage(page, first), lineage(page, last)
    common = next((i for i in forward if i in back), None)
    undone = back[: back.index(common)] if common is not None else back
    applied = list(reversed(forward[: forward.index(common)] if common is not None else forward))
    old, new = label(page["versions"][first]), label(page["versions"][last])
    steps = [("undo", page["versions"][i]) for i in undone] + [("apply", page["versions"][i]) for i in applied]
    if args.json:
        changes = [
            {"version": label(v), "undo": how == "undo", "summary": v["summary"], "changes": v["changes"]}
            for how, v in steps
        ]
        return {"name": page["name"], "from": old, "to": new, "steps": changes}
    if first == last:
        return f"{page['name']}: {old} and {new} are the same version"
    out = [f"{page['name']}: from {old} to {new}"]
    for how, version in steps:
        prefix = "undo " if how == "undo" else ""
        out.append(f"{prefix}{label(version)}: {version['summary'] or 'no changelog recorded'}")
        out += ["  " + line for line in version["lines"]]
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="hpcenv-envs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the catalogue's JSON")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[common], help="every shared environment").set_defaults(run=do_list)
    show = commands.add_parser("show", parents=[common], help="an environment's versions, or one version")
    show.add_argument("name")
    show.add_argument("version", nargs="?")
    show.set_defaults(run=do_show)
    diff = commands.add_parser("diff", parents=[common], help="what changed between two versions")
    diff.add_argument("name")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.set_defaults(run=do_diff)
    args = parser.parse_args(argv)
    try:
        answer = args.run(args)
    except CatalogueError as exc:
        print("hpcenv-envs: " + str(exc), file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"hpcenv-envs: cannot read the catalogue in {CATALOGUE}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2) if args.json else answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
