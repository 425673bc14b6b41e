"""Damage, or check, every path the collection's roles manage on this node, as their manifests record them.

Test helper, run on the nodes by molecule/shared/damage.yml and restored.yml; not part of the collection.
Reads /var/lib/hpcenv-gpu-cluster/managed-paths/*.json (hpcenv.gpu_cluster.managed_paths' manifests).

    damage  alter each recorded path the way an admin or a broken package might: delete or edit a file,
            chmod or chown a file or directory, point a link elsewhere, create what must be absent.
            Prints {"damaged": [{path, manifest, how}], "kept": [{path, manifest, why}]}.
    check   compare each recorded path with its record; prints {"checked": N, "differ": [{path, manifest, what}]}.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import stat
import sys

MANIFESTS = "/var/lib/hpcenv-gpu-cluster/managed-paths"
NOBODY = 65534
ELSEWHERE = "/nonexistent/moved-by-the-damage-test"


def recorded() -> list[dict]:
    """Every recorded path once (the first manifest, by name, that records it)."""
    seen: dict[str, dict] = {}
    names = sorted(os.listdir(MANIFESTS)) if os.path.isdir(MANIFESTS) else []
    for name in names:
        if name.endswith(".json"):
            with open(os.path.join(MANIFESTS, name), encoding="utf-8") as fh:
                for entry in json.load(fh):
                    seen.setdefault(entry["path"], {**entry, "manifest": name})
    return list(seen.values())


def _uid(name: str) -> int:
    return int(name) if name.isdigit() else pwd.getpwnam(name).pw_uid


def _gid(name: str) -> int:
    return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid


def _follows(entry: dict) -> bool:
    """managed_paths' rule: a directory follows a link there unless told not to; a file only when told to."""
    return entry.get("follow", entry["state"] == "directory")


def damage(entry: dict, index: int) -> str | None:
    """Alter ENTRY's path; how, or None when nothing recorded can be altered (the reason is the caller's)."""
    path, state = entry["path"], entry["state"]
    if state == "absent":
        if os.path.lexists(path) or not os.path.isdir(os.path.dirname(path)):
            return None
        with open(path, "w", encoding="utf-8"):  # empty: valid wherever a configuration directory is read
            pass
        return "created"
    if state == "link":
        os.unlink(path)
        os.symlink(ELSEWHERE, path)
        return "relinked"
    if state == "file" and "sha256" in entry:
        if index % 2 == 0:
            os.unlink(path)
            return "deleted"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("\n# edited by hand\n")
        return "edited"
    target = os.path.realpath(path) if _follows(entry) else path
    if index % 2 and ("owner" in entry or "group" in entry):
        os.lchown(target, NOBODY, NOBODY)
        return "chowned"
    if "mode" in entry:
        os.chmod(target, int(entry["mode"], 8) ^ 0o020)
        return "chmodded"
    if "owner" in entry or "group" in entry:
        os.lchown(target, NOBODY, NOBODY)
        return "chowned"
    if state == "directory" and not os.listdir(target):
        os.rmdir(target)
        return "removed"
    return None


def differs(entry: dict) -> str | None:
    """What about ENTRY's path is not as recorded; None when it is."""
    path, state = entry["path"], entry["state"]
    if state == "absent":
        return "exists" if os.path.lexists(path) else None
    if not os.path.lexists(path):
        return "missing"
    if state == "link":
        return None if os.path.islink(path) and os.readlink(path) == entry["src"] else "link target"
    st = os.stat(path) if _follows(entry) else os.lstat(path)
    want_type = stat.S_ISDIR if state == "directory" else stat.S_ISREG
    if not want_type(st.st_mode):
        return "type"
    wrong = []
    if "owner" in entry and st.st_uid != _uid(entry["owner"]):
        wrong.append("owner")
    if "group" in entry and st.st_gid != _gid(entry["group"]):
        wrong.append("group")
    if "mode" in entry and stat.S_IMODE(st.st_mode) != int(entry["mode"], 8):
        wrong.append("mode")
    if "sha256" in entry:
        with open(path, "rb") as fh:
            if hashlib.sha256(fh.read()).hexdigest() != entry["sha256"]:
                wrong.append("content")
    return ", ".join(wrong) or None


def main(action: str) -> None:
    entries = recorded()
    if action == "damage":
        damaged, kept = [], []
        for index, entry in enumerate(entries):
            how = damage(entry, index)
            record = {"path": entry["path"], "manifest": entry["manifest"]}
            if how:
                damaged.append({**record, "how": how})
            else:
                kept.append({**record, "why": "only created when missing, and not empty or already gone"})
        print(json.dumps({"damaged": damaged, "kept": kept}))
    else:
        problems = [
            {"path": e["path"], "manifest": e["manifest"], "what": what} for e in entries if (what := differs(e))
        ]
        print(json.dumps({"checked": len(entries), "differ": problems}))


if __name__ == "__main__":
    main(sys.argv[1])
