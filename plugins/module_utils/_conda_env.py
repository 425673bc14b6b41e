# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers for conda environments: lock files, match specs, drift records.

Pure functions over data read from conda-meta/*.json; no Ansible imports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _matchspec

_ARCHIVE_RE = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)-(?P<build>[^-]+)\.(?P<ext>conda|tar\.bz2)$")


class SpecError(ValueError):
    """An environment spec or lock file we cannot use; the message says what to fix."""


# ----------------------------------------------------------------------------- lock files


def parse_explicit(text: str) -> list[dict]:
    """Packages of an @EXPLICIT lock (conda list --explicit, conda-lock's explicit render)."""
    lines = [line.strip() for line in text.splitlines()]
    if "@EXPLICIT" not in lines:
        raise SpecError("not an explicit lock file: the line @EXPLICIT is missing")
    packages = []
    for line in lines[lines.index("@EXPLICIT") + 1 :]:
        if not line or line.startswith("#"):
            continue
        url, digest = line.partition("#")[::2]
        filename = url.rsplit("/", 1)[-1]
        match = _ARCHIVE_RE.match(filename)
        if not match or "://" not in url:
            raise SpecError(f"lock file line is not a package URL: {line}")
        entry = {
            "name": match["name"],
            "version": match["version"],
            "build": match["build"],
            "url": url,
            "subdir": url.rsplit("/", 2)[-2],
        }
        if digest.startswith("sha256:"):
            entry["sha256"] = digest[len("sha256:") :]
        elif digest:
            entry["md5"] = digest
        packages.append(entry)
    return packages


# pip packages in a lock: conda's explicit format has no place for them, so the
# shared_envs role records them as comment lines that conda itself ignores:
#   # pip: --index-url https://pypi.example.org/simple     (an option of the pip: section)
#   # pip: jupyterhub==6.1.1                               (a pinned distribution)
PIP_LOCK_MARK = "# pip: "


def parse_pip_lock(text: str) -> dict:
    """options and pins (normalized name==version) of a lock's '# pip:' lines."""
    options, pins = [], []
    for line in text.splitlines():
        if not line.startswith(PIP_LOCK_MARK):
            continue
        entry = line[len(PIP_LOCK_MARK) :].strip()
        if entry.startswith("-"):
            options.append(entry)
        elif "==" in entry and not re.search(r"[<>!~;\[\s]", entry):
            name, version = entry.split("==", 1)
            pins.append(f"{normalize_dist(name)}=={version}")
        else:
            raise SpecError(f"lock file '# pip:' line is neither an option nor name==version: {line}")
    return {"options": options, "pins": sorted(pins)}


def normalize_dist(name: str) -> str:
    """A Python distribution name as PEP 503 compares them (Jupyter_Server -> jupyter-server)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_options(requirements: list[str]) -> list[str]:
    """The option lines (--index-url ..., --extra-index-url ...) of a pip: section."""
    return [r.strip() for r in requirements if r.strip().startswith("-")]


def drift_pip(installed: list[str], pins: list[str]) -> tuple[list[str], list[str]]:
    """(missing, extra) as 'pip:name==version', comparing pip-installed distributions with a lock's pins."""
    have, want = set(installed), set(pins)
    return sorted(f"pip:{p}" for p in want - have), sorted(f"pip:{p}" for p in have - want)


def lock_platform(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("# platform:"):
            return line.split(":", 1)[1].strip()
    return None


_LOCK_LINE = re.compile(r"(?m)^(?:[a-z][a-z0-9+.-]*://\S+|# pip: .+)$")


def lock_id(text: str) -> str:
    """A lock's id: the first 12 hex digits of the SHA256 of its sorted package URL and '# pip:' lines."""
    return hashlib.sha256("\n".join(sorted(_LOCK_LINE.findall(text))).encode()).hexdigest()[:12]


def lock_digest(text: str) -> str:
    """Content hash of a lock: its package lines only (comments and order do not count)."""
    packages = sorted(p["url"] + "#" + p.get("md5", p.get("sha256", "")) for p in parse_explicit(text))
    return hashlib.sha256("\n".join(packages).encode()).hexdigest()


# ----------------------------------------------------------------------------- environment.yml


def parse_environment(data) -> dict:
    """channels, conda specs, pip requirements and notes of an environment.yml mapping, read as
    `conda env create` reads it: `nodefaults` in channels means --override-channels. The specs
    themselves are read by the node's conda (_matchspec.ask on specs_to_ask, then with_answers)."""
    if not isinstance(data, dict):
        raise SpecError(f"an environment spec must be a mapping with 'dependencies', got {type(data).__name__}")
    deps = data.get("dependencies")
    if not isinstance(deps, list) or not deps:
        raise SpecError("the environment spec has no 'dependencies' list")
    specs, pip = [], []
    for dep in deps:
        if isinstance(dep, dict) and set(dep) == {"pip"} and isinstance(dep["pip"], list):
            pip += [str(p) for p in dep["pip"]]
        elif isinstance(dep, str) and dep.strip():
            specs.append(dep.strip())
        else:
            raise SpecError(f"dependency entries must be match specs or a 'pip:' list, got {dep!r}")
    channels = data.get("channels") or []
    if not isinstance(channels, list):
        raise SpecError("'channels' must be a list")
    names = [str(c) for c in channels]
    return {
        "channels": [c for c in names if c != "nodefaults"],
        "override_channels": "nodefaults" in names,
        "specs": specs,
        "pip": pip,
        "warnings": [],
    }


def specs_to_ask(env: dict) -> list[str]:
    """What the node's conda is asked to read for an environment: its specs, and `pip` when it
    has a pip: section (conda adds pip when no spec names it)."""
    return env["specs"] + (["pip"] if env["pip"] else [])


def with_answers(env: dict, answers: list[dict], source: str) -> tuple[dict, list[dict]]:
    """The environment as conda reads it, given conda's answers for specs_to_ask(env): every spec
    conda refuses is an error naming it and where it comes from; a pip: section without `pip`
    among the specs gets pip added, as conda adds it. Returns it and the answers of its specs."""
    refused = _matchspec.refusals(answers)
    if refused:
        raise SpecError(f"{source}: conda refuses " + "; ".join(refused))
    count = len(env["specs"])
    spec_answers = list(answers[:count])
    env = {**env, "specs": list(env["specs"]), "warnings": list(env["warnings"])}
    if env["pip"] and not any(a.get("name") == "pip" for a in spec_answers):
        env["specs"].append("pip")
        spec_answers += answers[count:]
        env["warnings"].append("a pip: section but no 'pip' among the dependencies: pip added, as conda adds it")
    return env, spec_answers


def channel_args(env: dict) -> list[str]:
    """-c per channel; `nodefaults` in the file means only these channels (conda: --override-channels)."""
    args = ["--override-channels"] if env["override_channels"] else []
    for channel in env["channels"]:
        args += ["-c", channel]
    return args


# ----------------------------------------------------------------------------- drift


def missing_files(prefix: str, record: dict, limit: int = 5) -> list[str]:
    """Files the record says it installed that are not in the prefix (first few)."""
    missing = []
    for rel in record.get("files", []):
        if not os.path.lexists(os.path.join(prefix, rel)):
            missing.append(rel)
            if len(missing) >= limit:
                break
    return missing


def _pkg(record: dict) -> str:
    return f"{record['name']}-{record['version']}-{record['build']}"


def drift_from_lock(installed: list[dict], lock: list[dict], prefix: str, check_files: bool = True) -> dict:
    have = {r["name"]: r for r in installed}
    want = {p["name"]: p for p in lock}
    missing = sorted(_pkg(want[n]) for n in set(want) - set(have))
    extra = sorted(_pkg(have[n]) for n in set(have) - set(want))
    changed = sorted(
        (
            {"name": n, "installed": _pkg(have[n]), "wanted": _pkg(want[n])}
            for n in set(have) & set(want)
            if (have[n]["version"], have[n]["build"]) != (want[n]["version"], want[n]["build"])
        ),
        key=lambda c: c["name"],
    )
    broken = []
    if check_files:
        for name in sorted(set(have) & set(want)):
            files = missing_files(prefix, have[name])
            if files:
                broken.append({"name": _pkg(have[name]), "missing_files": files})
    return _record(missing, extra, changed, broken)


def drift_from_specs(installed: list[dict], answers: list[dict], prefix: str, check_files: bool = True) -> dict:
    """Drift of a prefix from an environment's specs, given conda's answers for them
    (_matchspec.ask with the prefix's records): a spec with no record of its name is missing,
    one whose record conda does not match is changed."""
    have = {r["name"]: r for r in installed}
    missing, changed = [], []
    for answer in answers:
        if "installed" not in answer:
            missing.append(answer["spec"])
        elif not answer.get("match"):
            entry = {"name": answer["name"], "installed": answer["installed"], "wanted": answer["spec"]}
            if answer.get("match_error"):  # conda could not compare the record: it is not in order either
                entry["reason"] = answer["match_error"]
            changed.append(entry)
    broken = []
    if check_files:
        for name in sorted(have):
            files = missing_files(prefix, have[name])
            if files:
                broken.append({"name": _pkg(have[name]), "missing_files": files})
    return _record(sorted(missing), [], sorted(changed, key=lambda c: c["name"]), broken)


def _record(missing, extra, changed, broken) -> dict:
    return {
        "in_sync": not (missing or extra or changed or broken),
        "missing": missing,
        "extra": extra,
        "changed": changed,
        "broken": broken,
    }


def package_lines(records: list[dict]) -> str:
    """One line per package, for --diff output."""
    return "".join(f"{r['name']} {r['version']} {r['build']}\n" for r in sorted(records, key=lambda r: r["name"]))


# ----------------------------------------------------------------------------- CLI output

# How much of a plain-text failure to show (the head of conda's or pip's report).
TEXT_ERROR_LINES = 60


def json_object(text: str):
    """The JSON object a command printed, also when other text precedes it (mamba prints
    banners and "Pinned packages:" lines first); None when there is none."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
        lines = text.splitlines()
        for number, line in enumerate(lines):
            if line.startswith("{"):
                try:
                    data = json.loads("\n".join(lines[number:]))
                    break
                except ValueError:
                    continue
    return data if isinstance(data, dict) else None


def _reason(data: dict) -> str:
    """One JSON error of conda (CondaError.dump_map()) or mamba, with every part that says why."""
    name = str(data.get("exception_name") or "").strip()
    if isinstance(data.get("errors"), list) and data["errors"]:  # CondaMultiError: the reasons are inside
        parts = list(dict.fromkeys(_reason(e) for e in data["errors"] if isinstance(e, dict)))
        return f"{name or 'errors'}: " + " | ".join(parts)
    message = str(data.get("message") or "").strip()
    if not message:
        error = str(data.get("error") or "").strip()
        message = error.split(": ", 1)[1] if name and error.startswith(name + ": ") else error
    # Fields conda keeps out of some messages, and mamba's solver report.
    for key in ("packages_formatted", "channels_formatted"):
        value = str(data.get(key) or "").strip()
        if value and value not in message:
            message += f"\n{key.split('_', maxsplit=1)[0]}: {value}"
    for key in ("solver_problems", "problems"):
        if isinstance(data.get(key), list) and data[key]:
            message += "\n" + "\n".join(f"  - {problem}" for problem in data[key])
    message = message.strip() or "no reason given"
    return f"{name}: {message}" if name else message


def cli_error(stdout: str, stderr: str) -> str:
    """conda's whole reason for a failure: its JSON error (on stdout or stderr), else the head
    of the text it printed (stderr first), so the admin sees which package, channel and why."""
    for text in (stdout, stderr):
        data = json_object(text)
        if data is not None and (data.get("exception_name") or data.get("error") or data.get("errors")):
            return _reason(data)
        if data is not None and data.get("success") is False:
            return _reason(data)
    text = "\n".join(part.strip() for part in (stderr, stdout) if part and part.strip())
    lines = text.splitlines()
    if len(lines) > TEXT_ERROR_LINES:
        lines = [*lines[:TEXT_ERROR_LINES], f"... ({len(lines) - TEXT_ERROR_LINES} more lines in stdout/stderr)"]
    return "\n".join(lines) or "no output"


def actions_from_records(before: list[dict], after: list[dict]) -> dict:
    """LINK and UNLINK in the shape of conda's JSON actions, from the prefix's records before and
    after a run (real conda prints nothing for an explicit lock)."""

    def dist(record: dict) -> str:
        return f"{record['name']}-{record['version']}-{record['build']}"

    def entry(record: dict) -> dict:
        return {
            "name": record["name"],
            "version": record["version"],
            "build_string": record["build"],
            "dist_name": dist(record),
            "channel": str(record.get("channel", "")).rstrip("/").rsplit("/", 1)[0].rsplit("/", 1)[-1],
        }

    old, new = {dist(r): r for r in before}, {dist(r): r for r in after}
    return {
        "LINK": [entry(new[d]) for d in sorted(set(new) - set(old))],
        "UNLINK": [entry(old[d]) for d in sorted(set(old) - set(new))],
    }
