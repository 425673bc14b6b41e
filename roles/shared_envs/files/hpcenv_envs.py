# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hpcenv-envs: this cluster's shared conda environments, their versions and what changed.

    hpcenv-envs list                    every shared environment, its active and kept versions
    hpcenv-envs show NAME [VERSION]     its versions with their changelogs (or one version)
    hpcenv-envs diff NAME FROM TO       what changed from one version to another, step by step (the
                                        steps of FROM that TO does not build on are undone first)
    hpcenv-envs extend NAME DIR [--version VERSION]
                                        your own layer over a shared environment: a Python venv in DIR
                                        that sees the env's packages (a .pth file names the env's
                                        site-packages) and takes yours (pip install), so
                                        you add a few packages without copying the env. It follows the
                                        env's active version (a swap brings its new packages), or the
                                        one VERSION while the node keeps it.
    hpcenv-envs check DIR               whether the layer in DIR still fits its env (activating the
                                        layer runs this too, and says what to do when it does not)
    hpcenv-envs mine [--stale-days N]   your own conda envs (where conda looks for them, and those it
                                        recorded you made elsewhere): size as du counts it, files,
                                        last use, and which are stale
    hpcenv-envs mine --remove NAME... | --stale [--yes]
                                        which of them would be removed (nothing is, without --yes);
                                        with --yes, conda removes them (conda env remove)

A VERSION is a version number (v2), a lock id, or "active". --json prints the catalogue's own
data instead. It reads the catalogue that the hpcenv.gpu_cluster collection keeps on every node
(NAME.json and NAME.md, in this script's directory); it needs no root.
"""

import argparse
import glob
import json
import os
import pwd
import subprocess
import sys
import time

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


LAYER_RECORD = "hpcenv-layer.json"
ACTIVATE_MARK = "# hpcenv-envs: check that this layer still fits its shared environment"
PYTHON_VERSION = "import sys; print('%d.%d' % sys.version_info[:2])"


def python_version(python):
    """The X.Y of PYTHON, or "" when it does not run."""
    try:
        done = subprocess.run([python, "-c", PYTHON_VERSION], check=False, capture_output=True, text=True, timeout=60)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


SHARED_PTH = "_hpcenv_shared_env.pth"
SITE_PACKAGES = "import json, site, sys; print(json.dumps([sys.prefix, site.getsitepackages()]))"


def env_site_packages(python, base):
    """The env's site-packages directories under BASE (its stable or pinned name)."""
    done = subprocess.run([python, "-c", SITE_PACKAGES], check=False, capture_output=True, text=True)
    try:
        prefix, dirs = json.loads(done.stdout)
    except ValueError:
        raise CatalogueError(f"{python} cannot list its site-packages: {done.stderr.strip()}") from None
    real = os.path.realpath(prefix)
    inside = [os.path.relpath(os.path.realpath(d), real) for d in dirs if os.path.realpath(d).startswith(real + os.sep)]
    return [os.path.join(base, rel) for rel in inside]


def envs_dir(page):
    """Where the env's names are: the versions' directories are <envs dir>/.versions/<dir>."""
    for version in page["versions"]:
        if version["path"]:
            return os.path.dirname(os.path.dirname(version["path"]))
    raise CatalogueError(f"{page['name']} has no version on this node")


def do_extend(args):
    page = page_of(args.name)
    if args.version:
        version = page["versions"][find(page, args.version)]
        if not version.get("activate"):
            raise CatalogueError(
                f"{page['name']} {label(version)} is not kept whole on this node ({where(version)}): "
                f"choose one of: {', '.join(label(v) for v in page['versions'] if v.get('activate')) or 'none'}"
            )
        base, follows = os.path.join(envs_dir(page), f"{page['name']}-{version['version']}"), version["version"]
    else:
        version = page["versions"][find(page, "active")]
        base, follows = os.path.join(envs_dir(page), page["name"]), "active"
    target = os.path.abspath(args.dir)
    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        raise CatalogueError(f"{target} exists and is not empty: give a new directory")
    python = os.path.join(base, "bin", "python")
    made_for = python_version(python)
    if not made_for:
        raise CatalogueError(f"{python} does not run: {page['name']} has no Python on this node")
    has_pip = subprocess.run([python, "-c", "import pip"], check=False, capture_output=True).returncode == 0
    if not has_pip:
        raise CatalogueError(f"{page['name']} has no pip to install your packages with: ask for pip in it")
    # The env's site-packages, seen through its stable name (or the pinned version's), not the
    # directory it points at now: the layer follows a swap. The env's own pip installs into the
    # layer (no second pip to keep up to date).
    shared = env_site_packages(python, base)
    venv = [python, "-m", "venv", "--without-pip", target]
    done = subprocess.run(venv, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise CatalogueError(f"python -m venv failed: {done.stderr.strip() or done.stdout.strip()}")
    layer_site = os.path.join(target, "lib", f"python{made_for}", "site-packages")
    with open(os.path.join(layer_site, SHARED_PTH), "w", encoding="utf-8") as fh:
        fh.write("".join(path + "\n" for path in shared))
    for name in ("pip", "pip3"):
        wrapper = os.path.join(target, "bin", name)
        with open(wrapper, "w", encoding="utf-8") as fh:
            fh.write("#!/bin/sh\n# pip of the layer: the shared env's pip, installing into this layer\n")
            fh.write('exec "$(dirname "$0")/python" -m pip "$@"\n')
        os.chmod(wrapper, 0o700)  # the user's own layer
    record = {
        "env": page["name"],
        "follows": follows,
        "base": base,
        "python": made_for,
        "made_over": {"version": label(version), "lock_id": version["lock_id"]},
    }
    with open(os.path.join(target, LAYER_RECORD), "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2)
        fh.write("\n")
    command = os.path.join(CATALOGUE, "hpcenv-envs")
    with open(os.path.join(target, "bin", "activate"), "a", encoding="utf-8") as fh:
        fh.write(f'\n{ACTIVATE_MARK}\n"{command}" check "$VIRTUAL_ENV" --quiet || true\n')
    if args.json:
        return record
    return "\n".join(
        [
            f"{target}: your layer over {page['name']} ({'its active version' if follows == 'active' else follows}, "
            f"now {label(version)}), Python {made_for}",
            f"  source {target}/bin/activate      then: pip install ...   (your packages go to {target})",
            f"  hpcenv-envs check {target}         does it still fit {page['name']}?",
        ]
    )


def do_check(args):
    target = os.path.abspath(args.dir)
    try:
        with open(os.path.join(target, LAYER_RECORD), encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"{target} is not a layer made by hpcenv-envs extend ({exc})") from None
    name, base = record["env"], record["base"]
    site = f"{target}/lib/python{record['python']}/site-packages"
    remake = (
        f"your packages are the *.dist-info in {site}; make a new layer (hpcenv-envs extend {name} NEW_DIR)"
        " and pip install them there"
    )
    now = python_version(os.path.join(base, "bin", "python"))
    if not now:
        problem = f"{base} is gone from this node ({name} {record['follows']} is no longer kept)"
    elif now != record["python"]:
        problem = f"{name}'s Python is {now} now, this layer's packages are for {record['python']} and not seen"
    else:
        problem = ""
    found = dict(record, python_now=now, fits=not problem, problem=problem)
    if args.json:
        return found
    if problem:
        raise CatalogueError(f"{target}: {problem}; {remake}")
    if args.quiet:
        return None
    over = os.path.basename(os.path.realpath(base))
    return f"{target}: fits {name} ({record['follows']}: {over}), Python {now}"


def usage_library():
    """The collection's own measuring code (its module_utils _usage), laid beside this script."""
    if CATALOGUE not in sys.path:
        sys.path.insert(0, CATALOGUE)
    import hpcenv_usage  # noqa: PLC0415 - beside this script on the node

    return hpcenv_usage


def conda_command():
    return os.path.join(os.path.dirname(sys.executable), "conda")


def conda_envs_dirs():
    """The envs directories as conda itself expands them in this session (conda config)."""
    done = subprocess.run(
        [conda_command(), "config", "--show", "envs_dirs", "--json"], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise CatalogueError(f"conda config --show envs_dirs failed: {done.stderr.strip()}")
    return json.loads(done.stdout)["envs_dirs"]


def human(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def do_mine(args):
    usage = usage_library()
    user = pwd.getpwuid(os.getuid())
    shared = {os.path.realpath(v["path"]) for page in pages() for v in page["versions"] if v.get("path")}
    now = time.time()
    found = usage.envs_of(user, conda_envs_dirs(), shared)
    envs = [e for e in (usage.measure(prefix, real, args.stale_days, now) for prefix, real in found) if e]
    if args.remove or args.stale:
        chosen = [e for e in envs if {e["name"], e["path"]} & set(args.remove) or (args.stale and e["stale"])]
        unknown = [wanted for wanted in args.remove if not any(wanted in (e["name"], e["path"]) for e in envs)]
        if unknown:
            mine = ", ".join(e["name"] for e in envs) or "none"
            raise CatalogueError(f"not one of your envs: {', '.join(unknown)}; yours are: {mine}. Nothing was removed.")
        twice = sorted(
            {e["name"] for e in envs if e["name"] in args.remove and [x["name"] for x in envs].count(e["name"]) > 1}
        )
        if twice:
            paths = ", ".join(e["path"] for e in envs if e["name"] in twice)
            raise CatalogueError(
                f"several of your envs are named {', '.join(twice)} ({paths}): give the path. Nothing was removed."
            )
        if not args.yes:
            lines = [f"would remove {e['path']} ({human(e['bytes'])})" for e in chosen] or ["nothing to remove"]
            return "\n".join([*lines, "run again with --yes to remove them"] if chosen else lines)
        for e in chosen:
            done = subprocess.run(
                [conda_command(), "env", "remove", "--yes", "--quiet", "-p", e["path"]],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                said = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise CatalogueError(
                    f"conda could not remove {e['path']}: {' '.join(said)}; those listed before it are removed"
                )
        return "\n".join(f"removed {e['path']} ({human(e['bytes'])})" for e in chosen) or "nothing to remove"
    if args.json:
        return envs
    rows = [f"{'env':<20} {'size':>10} {'files':>8}  {'last used':<10}  path"]
    for e in sorted(envs, key=lambda e: e["last_used"]):
        used = time.strftime("%Y-%m-%d", time.localtime(e["last_used"])) if e["last_used"] else "never"
        stale = f"  STALE (unused {args.stale_days}+ days)" if e["stale"] else ""
        rows.append(f"{e['name']:<20} {human(e['bytes']):>10} {e['files']:>8}  {used:<10}  {e['path']}{stale}")
    total = sum(e["bytes"] for e in envs)
    rows.append(f"{len(envs)} env(s), {human(total)}; remove with: hpcenv-envs mine --remove NAME (a dry run first)")
    return "\n".join(rows)


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
    extend = commands.add_parser("extend", parents=[common], help="your own layer over a shared environment")
    extend.add_argument("name")
    extend.add_argument("dir")
    extend.add_argument("--version", help="follow this version (while the node keeps it), not the active one")
    extend.set_defaults(run=do_extend)
    check = commands.add_parser("check", parents=[common], help="whether a layer still fits its environment")
    check.add_argument("dir")
    check.add_argument("--quiet", action="store_true", help="say nothing when it fits")
    check.set_defaults(run=do_check)
    mine = commands.add_parser("mine", parents=[common], help="your own conda envs and their disk use")
    mine.add_argument("--stale-days", type=int, default=90, help="unused this long: stale (default 90)")
    mine.add_argument("--remove", nargs="+", default=[], metavar="NAME", help="remove these envs (name or path)")
    mine.add_argument("--stale", action="store_true", help="remove every stale env")
    mine.add_argument("--yes", action="store_true", help="remove for real (without it: what would be removed)")
    mine.set_defaults(run=do_mine)
    args = parser.parse_args(argv)
    try:
        answer = args.run(args)
    except CatalogueError as exc:
        print("hpcenv-envs: " + str(exc), file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"hpcenv-envs: cannot read the catalogue in {CATALOGUE}: {exc}", file=sys.stderr)
        return 1
    if answer is not None:
        print(json.dumps(answer, indent=2) if args.json else answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
