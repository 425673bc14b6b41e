# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers for .condarc files: known keys, validation, merge, #!final markers.

Pure functions, no Ansible imports: unit-tested directly. PyYAML is needed only
to parse and render (callers check HAS_YAML first).
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re

try:
    import yaml

    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - depends on the node
    HAS_YAML = False
    YAML_IMPORT_ERROR = _exc

HEADER = "# Managed by Ansible (hpcenv.gpu_cluster.condarc). Keys marked #!final cannot be overridden.\n"
FINAL_MARK = "#!final"
_FINAL_RE = re.compile(r"^([A-Za-z_][\w-]*)\s*:.*#!final\s*$")

# conda's configuration keys (conda.base.context.Context) and the value type we check.
# "any" keys are accepted with any YAML value.
_BOOL = "bool"
_INT = "int"
_NUM = "number"
_STR = "str"
_LIST = "list"
_MAP = "map"
_ANY = "any"
KNOWN_KEYS = {
    "add_anaconda_token": _BOOL,
    "add_pip_as_python_dependency": _BOOL,
    "aggressive_update_packages": _LIST,
    "allow_conda_downgrades": _BOOL,
    "allow_cycles": _BOOL,
    "allow_non_channel_urls": _BOOL,
    "allow_softlinks": _BOOL,
    "allowlist_channels": _LIST,
    "always_copy": _BOOL,
    "always_softlink": _BOOL,
    "always_yes": _BOOL,
    "anaconda_upload": _BOOL,
    "auto_activate": _BOOL,
    "auto_activate_base": _BOOL,
    "auto_stack": _INT,
    "auto_update_conda": _BOOL,
    "bld_path": _STR,
    "changeps1": _BOOL,
    "channel_alias": _STR,
    "channel_priority": ("strict", "flexible", "disabled"),
    "channel_settings": _LIST,
    "channels": _LIST,
    "client_ssl_cert": _STR,
    "client_ssl_cert_key": _STR,
    "clobber": _BOOL,
    "conda_build": _MAP,
    "create_default_packages": _LIST,
    "croot": _STR,
    "custom_channels": _MAP,
    "custom_multichannels": _MAP,
    "debug": _BOOL,
    "default_channels": _LIST,
    "default_python": _STR,
    "default_threads": _INT,
    "denylist_channels": _LIST,
    "deps_modifier": _STR,
    "dev": _BOOL,
    "disallowed_packages": _LIST,
    "download_only": _BOOL,
    "dry_run": _BOOL,
    "enable_private_envs": _BOOL,
    "env_prompt": _STR,
    "envs_dirs": _LIST,
    "envvars_force_uppercase": _BOOL,
    "execute_threads": _INT,
    "experimental": _LIST,
    "extra_safety_checks": _BOOL,
    "fetch_threads": _INT,
    "force_32bit": _BOOL,
    "json": _BOOL,
    "local_repodata_ttl": _ANY,
    "migrated_channel_aliases": _LIST,
    "migrated_custom_channels": _MAP,
    "no_lock": _BOOL,
    "no_plugins": _BOOL,
    "non_admin_enabled": _BOOL,
    "notify_outdated_conda": _BOOL,
    "number_channel_notices": _INT,
    "offline": _BOOL,
    "override_channels_enabled": _BOOL,
    "path_conflict": ("clobber", "warn", "prevent"),
    "pinned_packages": _LIST,
    "pip_interop_enabled": _BOOL,
    "pkgs_dirs": _LIST,
    "proxy_servers": _MAP,
    "quiet": _BOOL,
    "register_envs": _BOOL,
    "remote_backoff_factor": _NUM,
    "remote_connect_timeout_secs": _NUM,
    "remote_max_retries": _INT,
    "remote_read_timeout_secs": _NUM,
    "repodata_fns": _LIST,
    "repodata_threads": _INT,
    "repodata_use_zst": _BOOL,
    "report_errors": _ANY,
    "restore_free_channel": _BOOL,
    "rollback_enabled": _BOOL,
    "root_prefix": _STR,
    "safety_checks": ("disabled", "warn", "enabled"),
    "sat_solver": _STR,
    "separate_format_cache": _BOOL,
    "shortcuts": _BOOL,
    "show_channel_urls": _ANY,
    "signing_metadata_url_base": _STR,
    "solver": ("classic", "libmamba"),
    "ssl_verify": _ANY,
    "subdir": _STR,
    "subdirs": _LIST,
    "track_features": _LIST,
    "unsatisfiable_hints": _BOOL,
    "unsatisfiable_hints_check_depth": _INT,
    "update_modifier": _STR,
    "use_index_cache": _BOOL,
    "use_local": _BOOL,
    "use_only_tar_bz2": _BOOL,
    "verbosity": _INT,
    "verify_threads": _INT,
}


# Names conda also accepts for a key (conda.base.context's ParameterLoader aliases), alias -> key.
ALIASES = {
    "add_binstar_token": "add_anaconda_token",
    "auto_activate_base": "auto_activate",
    "binstar_upload": "anaconda_upload",
    "channel": "channels",
    "client_cert": "client_ssl_cert",
    "client_cert_key": "client_ssl_cert_key",
    "copy": "always_copy",
    "disallow": "disallowed_packages",
    "envs_path": "envs_dirs",
    "experimental_solver": "solver",
    "root_dir": "root_prefix",
    "self_update": "auto_update_conda",
    "softlink": "always_softlink",
    "verify_ssl": "ssl_verify",
    "whitelist_channels": "allowlist_channels",
    "yes": "always_yes",
}


def canonical(key: str) -> str:
    """The key conda means by a name (its own, or the key an alias stands for)."""
    return ALIASES.get(key, key)


# The condarc module's options for what the file holds; host_state_info's condarc option takes the same,
# to ask whether the module would change the file.
ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "settings": {"type": "dict", "default": {}},
    "unset": {"type": "list", "elements": "str", "default": []},
    "merge": {"type": "str", "choices": ["replace", "append", "remove"], "default": "replace"},
    "final": {"type": "list", "elements": "str", "default": []},
    "validate_keys": {"type": "bool", "default": True},
}


class CondarcError(ValueError):
    """Invalid input: the message says what to fix."""


class NeedsYamlError(CondarcError):
    """An existing file must be parsed, and PyYAML is not installed."""


def closest_key(key: str) -> str | None:
    matches = difflib.get_close_matches(key, [*KNOWN_KEYS, *ALIASES], n=1, cutoff=0.6)
    return matches[0] if matches else None


def _type_problem(key: str, value) -> str | None:
    kind = KNOWN_KEYS[canonical(key)]
    if value is None or kind == _ANY:
        return None
    if isinstance(kind, tuple):
        return None if value in kind else f"'{key}' must be one of {', '.join(kind)}; got {value!r}"
    checks = {
        _BOOL: lambda v: isinstance(v, bool),
        _INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
        _NUM: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        _STR: lambda v: isinstance(v, str),
        _LIST: lambda v: isinstance(v, list),
        _MAP: lambda v: isinstance(v, dict),
    }
    names = {
        _BOOL: "a boolean",
        _INT: "an integer",
        _NUM: "a number",
        _STR: "a string",
        _LIST: "a list",
        _MAP: "a mapping",
    }
    return None if checks[kind](value) else f"'{key}' must be {names[kind]}; got {type(value).__name__} {value!r}"


def validate(settings: dict, unset: list, final: list, check_keys: bool = True) -> list[str]:
    """Every problem with the requested change, as messages that say what to fix."""
    problems = []
    for key in list(settings) + list(unset) + list(final):
        if check_keys and canonical(key) not in KNOWN_KEYS:
            hint = closest_key(key)
            suggestion = f"; did you mean '{hint}'?" if hint else ""
            problems.append(f"unknown condarc key '{key}'{suggestion}")
    for key, value in settings.items():
        if canonical(key) in KNOWN_KEYS:
            problem = _type_problem(key, value)
            if problem:
                problems.append(problem)
    both = sorted(set(settings) & set(unset))
    if both:
        problems.append(f"keys both set and unset: {', '.join(both)}")
    marked_unset = sorted(set(final) & set(unset))
    if marked_unset:
        problems.append(f"keys cannot be unset and marked #!final: {', '.join(marked_unset)}")
    return sorted(set(problems), key=problems.index)


def parse(text: str) -> tuple[dict, set]:
    """(data, keys marked #!final) of a condarc text; raises CondarcError if not a mapping."""
    if not text.strip():
        return {}, set()
    if not HAS_YAML:
        raise NeedsYamlError("reading an existing condarc file needs PyYAML on the node (Debian: python3-yaml)")
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise CondarcError(f"cannot parse the existing file as YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CondarcError(f"the existing file is not a YAML mapping but {type(data).__name__}")
    finals = {m.group(1) for m in map(_FINAL_RE.match, text.splitlines()) if m} & set(data)
    return data, finals


def _merge(current, value, merge: str, key: str):
    if merge == "replace" or current is None:
        if merge == "remove":
            return current
        return copy.deepcopy(value)
    if isinstance(current, list) and isinstance(value, list):
        if merge == "append":
            return current + [v for v in value if v not in current]
        return [v for v in current if v not in value]
    if isinstance(current, dict) and isinstance(value, dict):
        if merge == "append":
            return {**current, **copy.deepcopy(value)}
        return {k: v for k, v in current.items() if k not in value}
    raise CondarcError(f"merge={merge} needs a list or a mapping for '{key}', found {type(current).__name__}")


def apply(data: dict, finals: set, settings: dict, unset: list, merge: str, final: list) -> tuple[dict, set]:
    """The new (data, finals). Keys not named in settings/unset/final are kept as they are."""
    new = copy.deepcopy(data)
    new_finals = set(finals)
    for key in list(settings) + list(unset):
        # The same setting under another of its names would be a second, conflicting value.
        for other in [k for k in new if k != key and canonical(k) == canonical(key)]:
            new.pop(other)
            new_finals.discard(other)
    for key, value in settings.items():
        result = _merge(new.get(key), value, merge, key)
        if result is None or (merge == "remove" and result in ([], {})):
            new.pop(key, None)
        else:
            new[key] = result
        new_finals.discard(key)
    for key in unset:
        new.pop(key, None)
        new_finals.discard(key)
    for key in final:
        if key not in new:
            raise CondarcError(f"cannot mark '{key}' #!final: it has no value in the file")
        new_finals.add(key)
    return new, new_finals & set(new)


_PLAIN = re.compile(r"^[A-Za-z_/~][A-Za-z0-9_./:@~+=-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "~"}


def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def _emit(value, indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            item = value[key]
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{_scalar(key)}:")
                lines += _emit(item, indent + 2)
            else:
                lines.append(f"{pad}{_scalar(key)}: {_empty_or_scalar(item)}")
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                sub = _emit(item, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {_empty_or_scalar(item)}")
    return lines


def _empty_or_scalar(value) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def render(data: dict, finals: set) -> str:
    """Deterministic block YAML, one #!final comment on each pinned key's first line.

    Written without PyYAML, so a first run (or check mode) works on a node that has none.
    """
    chunks = [HEADER]
    for key in sorted(data):
        lines = _emit({key: data[key]}, 0)
        if key in finals:
            lines[0] += f"  {FINAL_MARK}"
        chunks.append("\n".join(lines) + "\n")
    return "".join(chunks)


def changed_keys(before: dict, before_final: set, after: dict, after_final: set) -> list[str]:
    """The keys whose value or #!final mark differs between two (data, finals)."""
    keys = set(before) | set(after)
    return sorted(
        k
        for k in keys
        if before.get(k, object()) != after.get(k, object()) or (k in before_final) != (k in after_final)
    )


def plan(path: str, settings: dict, unset: list, merge: str, final: list) -> dict:
    """What the condarc module makes of the file at PATH, read now: its text and data before and after, and
    the keys that change. The module writes `after_text` when it differs; a read asks the same question.

    Raises CondarcError with a message that names PATH (NeedsYamlError when an existing file needs PyYAML).
    """
    if os.path.isdir(path):
        raise CondarcError(f"{path} is a directory; give the path of a condarc file")
    before_text = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            before_text = fh.read()
    try:
        before, before_final = parse(before_text)
        after, after_final = apply(before, before_final, settings, unset, merge, final)
    except NeedsYamlError:
        raise
    except CondarcError as exc:
        raise CondarcError(f"{path}: {exc}") from exc
    keys = changed_keys(before, before_final, after, after_final)
    return {
        "before_text": before_text,
        "before": before,
        "before_final": before_final,
        "after": after,
        "after_final": after_final,
        "changed_keys": keys,
        "after_text": (
            render_preserving(before_text, before, before_final, after, after_final)
            if (keys or not before_text)
            else before_text
        ),
    }


_TOKEN = re.compile(r"/t/[^/\s]+/")


def mask_tokens(value):
    """Every string of a config with its channel token hidden, as conda prints them (/t/<TOKEN>/)."""
    if isinstance(value, str):
        return _TOKEN.sub("/t/<TOKEN>/", value)
    if isinstance(value, list):
        return [mask_tokens(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_tokens(v) for k, v in value.items()}
    return value


def merge_files(texts: list[str]) -> tuple[dict, set]:
    """conda's merge of several condarc files, lowest precedence first.

    Later files win; lists merge with the later file's items first; maps merge
    key by key; a key marked #!final in a file is not changed by later files.
    """
    merged: dict = {}
    final: set = set()
    for text in texts:
        data, finals = parse(text)
        data = {canonical(k): v for k, v in data.items()}
        finals = {canonical(k) for k in finals}
        for key, value in data.items():
            if key in final:
                continue
            if isinstance(value, list) and isinstance(merged.get(key), list):
                merged[key] = value + [v for v in merged[key] if v not in value]
            elif isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        final |= finals
    return merged, final


# Rewriting a file an admin edited by hand: keep what the change does not touch.
_KEY_LINE = re.compile(r"""^(?P<key>[A-Za-z_][\w.-]*|"[^"]+"|'[^']+')\s*:(?:\s|$)""")
_COMMENTED_ITEM = re.compile(r"^#\s*-\s")


def _blocks(text: str) -> tuple[list[str], list[tuple[str, list[str]]], list[str]]:
    """(lines before the first key, [(key, lines of its block)], lines after the last block).

    A block is a top-level key line and what belongs to it: indented lines, list items at
    column 0 (conda config writes `- item` under the key), and commented-out list items
    (`# - defaults`) that follow its content. Other comment and blank lines at column 0 are
    kept with the block they precede (or at the end of the file).
    """
    head: list[str] = []
    blocks: list[tuple[str, list[str]]] = []
    pending: list[str] = []  # column-0 comments/blank lines not yet attached
    for line in text.splitlines():
        found = _KEY_LINE.match(line)
        if found:  # a key line; the comments waiting before it lead its block
            blocks.append((found["key"].strip("\"'"), [*pending, line]))
            pending = []
            continue
        inside = blocks and (line[:1] in (" ", "\t") or line.startswith("- ") or line == "-")
        commented_item = blocks and not pending and _COMMENTED_ITEM.match(line)
        if inside or commented_item:
            if pending:  # a blank or comment line in the middle of a block stays in it
                blocks[-1][1].extend(pending)
                pending = []
            blocks[-1][1].append(line)
        elif not blocks:
            head.append(line)
        else:
            pending.append(line)
    return head, blocks, pending


def _lead_and_body(key: str, lines: list[str]) -> tuple[list[str], list[str]]:
    """Split a block into its leading comment/blank lines and the key's own lines."""
    for index, line in enumerate(lines):
        found = _KEY_LINE.match(line)
        if found and found["key"].strip("\"'") == key:
            return lines[:index], lines[index:]
    return [], lines


def render_preserving(before_text: str, before: dict, before_finals: set, after: dict, after_finals: set) -> str:
    """The new file text: unchanged keys keep their lines byte for byte, with every comment
    and unknown line around them; a changed key's lines are rewritten in place (keeping the
    comment lines inside its block, such as commented-out list items); removed keys go; new
    keys are appended. A file that does not exist yet gets the deterministic layout."""
    if not before_text.strip():
        return render(after, after_finals)
    head, blocks, tail = _blocks(before_text)
    out: list[str] = []
    if HEADER.strip() not in before_text:
        out.append(HEADER.rstrip("\n"))
    out.extend(head)
    written: set = set()
    last_of = {block[0]: index for index, block in enumerate(blocks)}  # YAML keeps a key's last value
    for index, (key, lines) in enumerate(blocks):
        lead, body = _lead_and_body(key, lines)
        if key not in after or last_of[key] != index:
            out.extend(lead)  # a removed or duplicated key's lines go; comments before it stay
            continue
        written.add(key)
        unchanged = before.get(key, object()) == after[key] and (key in before_finals) == (key in after_finals)
        if unchanged:
            out.extend(lines)
            continue
        comments = [line for line in body[1:] if line.lstrip().startswith("#")]
        new = _emit({key: after[key]}, 0)
        if key in after_finals:
            new[0] += f"  {FINAL_MARK}"
        out.extend([*lead, *new, *comments])
    out.extend(tail)
    for key in sorted(set(after) - written):
        new = _emit({key: after[key]}, 0)
        if key in after_finals:
            new[0] += f"  {FINAL_MARK}"
        out.extend(new)
    return "\n".join(out).rstrip("\n") + "\n"
