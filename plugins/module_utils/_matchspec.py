# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers: conda match specs and version ordering, as conda reads them.

Implements the documented behaviour of conda's MatchSpec, VersionSpec and VersionOrder
(https://docs.conda.io/projects/conda/en/stable/user-guide/concepts/pkg-specs.html) for
checking installed package records against the specs of an environment.yml: names with
`channel::` and `[key=value]` parts, versions with or without spaces around operators,
`=` (fuzzy) and `==` (exact), `,` (and), `|` (or), parentheses, `*` globs, `~=`, regexes,
trailing-zero equality (1.7 == 1.7.0), epochs and local versions, and a build string after
a space or an `=`. A toolchain test checks every case of the unit test table against the
real conda's MatchSpec. Pure Python, no Ansible imports.
"""

from __future__ import annotations

import fnmatch
import re

_OPERATOR_START = ("=", "<", ">", "!", "~")


class MatchSpecError(ValueError):
    """A spec conda would refuse; the message says why."""


# ----------------------------------------------------------------------------- versions

_VERSION_CHARS = re.compile(r"^[*.+!_0-9a-z]+$")
_VERSION_RUNS = re.compile(r"([0-9]+|[*]+|[^0-9*]+)")


def _component(text: str, version: str) -> list:
    runs = _VERSION_RUNS.findall(text)
    if not runs:
        raise MatchSpecError(f"version {version!r}: empty version component")
    parts: list = []
    for run in runs:
        if run.isdigit():
            parts.append(int(run))
        elif run == "post":
            parts.append(float("inf"))  # a number that follows every release
        elif run == "dev":
            parts.append("DEV")  # upper case sorts before every other string
        else:
            parts.append(run)
    # Components start with a number, so numbers and strings stay in step: 1.1a1 is 1.1.0a1.
    return parts if text[0].isdigit() else [0, *parts]


class Version:
    """A version ordered like conda's VersionOrder (epoch, release components, local version)."""

    def __init__(self, text: str):
        version = str(text).strip().lower()
        if not version:
            raise MatchSpecError("empty version string")
        if not _VERSION_CHARS.match(version) and "-" in version and "_" not in version:
            version = version.replace("-", "_")  # dashes allowed when there is no underscore
        if not _VERSION_CHARS.match(version):
            raise MatchSpecError(f"version {text!r}: invalid character(s)")
        self.text = version
        epoch, rest = version.rpartition("!")[::2] if "!" in version else ("0", version)
        if not epoch.isdigit() or "!" in rest:
            raise MatchSpecError(f"version {text!r}: the epoch must be one integer before '!'")
        release, local = rest.partition("+")[::2]
        if not release or "+" in local:
            raise MatchSpecError(f"version {text!r}: bad local version separator '+'")
        if release.endswith("_"):  # openssl-like 1.0.1_ keeps its trailing underscore on the last part
            pieces = release[:-1].replace("_", ".").split(".")
            pieces[-1] += "_"
        else:
            pieces = release.replace("_", ".").split(".")
        self.release = [_component(p, text) for p in [epoch, *pieces]]
        self.local = [_component(p, text) for p in local.replace("_", ".").split(".")] if local else []

    @staticmethod
    def _same(a: list, b: list) -> bool:
        for x, y in _zip(a, b, []):
            for c, d in _zip(x, y, 0):
                if c != d:
                    return False
        return True

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Version)
            and self._same(self.release, other.release)
            and self._same(self.local, other.local)
        )

    def __hash__(self) -> int:
        return hash(self.text)

    def __lt__(self, other: Version) -> bool:
        for mine, theirs in ((self.release, other.release), (self.local, other.local)):
            for x, y in _zip(mine, theirs, []):
                for c, d in _zip(x, y, 0):
                    if c == d:
                        continue
                    if isinstance(c, str) != isinstance(d, str):
                        return isinstance(c, str)  # a string part sorts before a number
                    return c < d
        return False

    def __le__(self, other: Version) -> bool:
        return not other < self

    def __gt__(self, other: Version) -> bool:
        return other < self

    def __ge__(self, other: Version) -> bool:
        return not self < other

    def startswith(self, other: Version) -> bool:
        """Whether self lies under the prefix other (1.7.0.1 starts with 1.7; 1.7 with 1.7.0)."""
        if other.local:
            if not self._same(self.release, other.release):
                return False
            mine, theirs = self.local, other.local
        else:
            mine, theirs = self.release, other.release
        last = len(theirs) - 1
        if not self._same(mine[:last], theirs[:last]):
            return False
        part = mine[last] if len(mine) > last else []
        prefix = theirs[last]
        if not self._same([part[: len(prefix) - 1]], [prefix[:-1]]):
            return False
        c = part[len(prefix) - 1] if len(part) >= len(prefix) else 0
        d = prefix[-1]
        if isinstance(d, str):
            return isinstance(c, str) and c.startswith(d)
        return c == d


def _zip(a: list, b: list, fill):
    for i in range(max(len(a), len(b))):
        yield (a[i] if i < len(a) else fill), (b[i] if i < len(b) else fill)


# ----------------------------------------------------------------------------- version specs

_RELATION = re.compile(r"^(==|!=|<=|>=|~=|<|>|=)(?![=<>!~])(\S+)$")
_TOKENS = re.compile(r"\s*\^[^$]*[$]|\s*[()|,]|[^()|,]+")


def _tree(text: str):
    """The spec as a tree of (',' | '|', children...) tuples and leaves, ',' binding tighter."""
    output: list = []
    stack: list[str] = []

    def reduce(stop: str) -> None:
        while stack and stack[-1] not in stop:
            if len(output) < 2:
                raise MatchSpecError(f"version spec {text!r}: an operator needs two sides")
            op = stack.pop()
            right, left = output.pop(), output.pop()
            right = right[1:] if isinstance(right, tuple) and right[0] == op else (right,)
            left = left[1:] if isinstance(left, tuple) and left[0] == op else (left,)
            output.append((op, *left, *right))

    for raw in _TOKENS.findall(f"({text})"):
        piece = raw.strip()
        if piece == "|":
            reduce("(")
            stack.append("|")
        elif piece == ",":
            reduce("|(")
            stack.append(",")
        elif piece == "(":
            stack.append("(")
        elif piece == ")":
            reduce("(")
            if not stack:
                raise MatchSpecError(f"version spec {text!r}: unbalanced parentheses")
            stack.pop()
        elif piece:
            output.append(piece)
    if stack or len(output) != 1:
        raise MatchSpecError(f"version spec {text!r}: cannot read it")
    return output[0]


def _leaf(spec: str):
    """A matcher function for one version spec without ',' or '|'."""
    spec = spec.strip()
    if spec.startswith("^") or spec.endswith("$"):
        if not (spec.startswith("^") and spec.endswith("$")):
            raise MatchSpecError(f"version spec {spec!r}: regexes start with '^' and end with '$'")
        pattern = re.compile(spec)
        return lambda v: bool(pattern.match(v.text))
    if spec.startswith(_OPERATOR_START):
        found = _RELATION.match(spec)
        if not found:
            raise MatchSpecError(f"version spec {spec!r}: invalid operator")
        op, value = found.groups()
        if value.endswith(".*"):
            if op == "~=":
                raise MatchSpecError(f"version spec {spec!r}: '~=' does not take '.*'")
            value = value[:-2]
            if op == "!=":
                prefix = Version(value)
                return lambda v: not v.startswith(prefix)
        target = Version(value)
        if op == "~=":  # >= target and the same release up to its next-to-last component
            head = Version(".".join(value.split(".")[:-1]))
            return lambda v: v >= target and v.startswith(head)
        compare = {
            "==": lambda v: v == target,
            "!=": lambda v: v != target,
            "<=": lambda v: v <= target,
            ">=": lambda v: v >= target,
            "<": lambda v: v < target,
            ">": lambda v: v > target,
            "=": lambda v: v.startswith(target),
        }
        return compare[op]
    if spec == "*":
        return lambda v: True
    if "*" in spec.rstrip("*"):
        pattern = re.compile("^(?:" + spec.replace(".", r"\.").replace("+", r"\+").replace("*", ".*") + ")$")
        return lambda v: bool(pattern.match(v.text))
    if spec.endswith("*"):
        prefix = Version(spec.rstrip("*").rstrip("."))
        return lambda v: v.startswith(prefix)
    exact = Version(spec)
    return lambda v: v == exact


def version_matcher(spec: str):
    """A function telling whether a version string satisfies a conda version spec."""

    def build(node):
        if isinstance(node, tuple):
            parts = [build(child) for child in node[1:]]
            if node[0] == "|":
                return lambda v: any(p(v) for p in parts)
            return lambda v: all(p(v) for p in parts)
        return _leaf(node)

    matcher = build(_tree(spec) if re.search(r"[()|,^$]", spec) else spec)

    def match(version: str) -> bool:
        try:
            return matcher(Version(version))
        except MatchSpecError:
            return False

    return match


# ----------------------------------------------------------------------------- match specs

_BRACKETS = re.compile(r"^(?P<before>[^\[]*)\[(?P<inner>.*)\](?P<after>[^\]]*)$")
_BRACKET_PAIR = re.compile(r"""\s*(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^,\s]+))\s*(?:,|$)""")
_PARENS = re.compile(r".*(?:(\(.*\)))")
_NAME_REST = re.compile(r"^([^ =<>!~]+)?([><!=~ ].+)?$")
_VERSION_BUILD = re.compile(r"((?:.+?)[^><!,|]?)(?:(?<![=!|,<>~])(?:[ =])([^-=,|<>~]+?))?$")


def _version_and_build(rest: str) -> tuple[str | None, str | None]:
    found = _VERSION_BUILD.search(rest)
    version, build = (found.group(1), found.group(2)) if found else (rest, None)
    version = version.replace(" ", "") if version else None
    build = build.strip() if build else None
    return version, build


def _sanitize(version: str, build: str | None) -> str:
    """conda's reading of '=' (fuzzy: =1.2 is 1.2*) and '==' (exact) in a 'name=...' spec."""
    if version in ("=", "==") or not version.startswith("="):
        return version
    bare = version.lstrip("=")
    if version.startswith("==") and build is None:
        return bare
    if not any(c in bare for c in "=,|") and build is None and not bare.endswith("*"):
        return bare + "*"
    return bare


def parse(spec: str) -> dict:
    """name, version, build, build_number, channel and subdir of a match spec (None: not given)."""
    original = spec
    text = spec.split("#", 1)[0].split(" if ", 1)[0].strip()
    fields: dict = {}
    brackets = _BRACKETS.match(text)
    if brackets:
        for pair in _BRACKET_PAIR.finditer(brackets["inner"]):
            key, *values = pair.groups()
            fields[key] = next(v for v in values if v is not None)
        text = (brackets["before"] + brackets["after"]).strip()
    legacy = _PARENS.match(text)  # conda drops a "(key=value)" section of old specs
    if legacy:
        text = text.replace(legacy.group(1), "")
    channel, subdir = None, None
    parts = text.rsplit(":", 2)
    if len(parts) == 3:
        channel, text = parts[0], parts[2]
    elif len(parts) == 2:
        text = parts[1]
    if (
        channel
        and "/" in channel
        and channel.rsplit("/", 1)[1] in ("noarch", "linux-64", "linux-aarch64", "linux-ppc64le")
    ):
        channel, subdir = channel.rsplit("/", 1)
    found = _NAME_REST.match(text.strip())
    if not found or not found.group(1):
        raise MatchSpecError(f"match spec {original!r}: no package name found")
    name, rest = found.group(1).lower(), (found.group(2) or "").strip()
    version, build = _version_and_build(rest) if rest else (None, None)
    if version is not None:
        version = _sanitize(version, build)
        if version in ("=", "==", "<", ">", "<=", ">=", "!=", "~="):
            raise MatchSpecError(f"match spec {original!r}: an operator without a version")
    if "version" in fields:
        version = _sanitize(fields["version"].replace(" ", ""), fields.get("build"))
    if "build" in fields:
        build = fields["build"]
    if "channel" in fields:
        channel = fields["channel"]
    return {
        "name": name,
        "version": version,
        "build": build,
        "build_number": fields.get("build_number"),
        "channel": channel,
        "subdir": fields.get("subdir", subdir),
    }


def _text_match(pattern: str, value: str) -> bool:
    if pattern.startswith("^") and pattern.endswith("$"):
        return bool(re.match(pattern, value))
    return fnmatch.fnmatchcase(value, pattern) if "*" in pattern else value == pattern


def _channel_name(value: str) -> str:
    """conda-forge from conda-forge, https://host/conda-forge or https://host/conda-forge/linux-64."""
    parts = [p for p in value.rstrip("/").split("/") if p]
    if len(parts) > 1 and parts[-1] in ("noarch", "linux-64", "linux-aarch64", "linux-ppc64le", "osx-64", "osx-arm64"):
        parts = parts[:-1]
    return parts[-1] if parts else ""


def matches(record: dict, spec: dict) -> bool:
    """Whether an installed package record (conda-meta/*.json) satisfies a parsed match spec."""
    if not _text_match(spec["name"], str(record.get("name", ""))):
        return False
    if spec["version"] is not None and not version_matcher(spec["version"])(str(record.get("version", ""))):
        return False
    if spec["build"] is not None and not _text_match(spec["build"], str(record.get("build", ""))):
        return False
    if spec["build_number"] is not None and str(record.get("build_number")) != str(spec["build_number"]).strip():
        return False
    if spec["channel"] and record.get("channel"):
        return _channel_name(str(record["channel"])) == _channel_name(spec["channel"])
    return True
