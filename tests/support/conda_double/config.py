"""TEST DOUBLE: .condarc search, merge and channel resolution, as conda does them.

Imitates https://docs.conda.io/projects/conda/en/stable/user-guide/configuration/use-condarc.html
("Searching for .condarc", "#!final", "channel_alias", "custom_channels",
"default_channels", "allowlist_channels") for the keys listed in KNOWN.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"
DEFAULT_DEFAULT_CHANNELS = ["https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r"]

# key -> kind ("primitive", "sequence", "map") and default (callables get the root prefix).
KNOWN = {
    "channels": ("sequence", lambda root: ["defaults"]),
    "channel_alias": ("primitive", lambda root: DEFAULT_CHANNEL_ALIAS),
    "custom_channels": ("map", lambda root: {}),
    "default_channels": ("sequence", lambda root: list(DEFAULT_DEFAULT_CHANNELS)),
    "channel_priority": ("primitive", lambda root: "flexible"),
    "allowlist_channels": ("sequence", lambda root: []),
    "denylist_channels": ("sequence", lambda root: []),
    "pkgs_dirs": ("sequence", lambda root: [str(Path(root) / "pkgs"), str(Path.home() / ".conda" / "pkgs")]),
    "envs_dirs": ("sequence", lambda root: [str(Path(root) / "envs"), str(Path.home() / ".conda" / "envs")]),
    "ssl_verify": ("primitive", lambda root: True),
    "remote_connect_timeout_secs": ("primitive", lambda root: 9.15),
    "remote_read_timeout_secs": ("primitive", lambda root: 60.0),
    "remote_max_retries": ("primitive", lambda root: 3),
    "remote_backoff_factor": ("primitive", lambda root: 1),
    "auto_update_conda": ("primitive", lambda root: True),
    "always_yes": ("primitive", lambda root: None),
    "offline": ("primitive", lambda root: False),
    "show_channel_urls": ("primitive", lambda root: None),
    "solver": ("primitive", lambda root: "libmamba"),
    "notify_outdated_conda": ("primitive", lambda root: True),
    "changeps1": ("primitive", lambda root: True),
    "auto_activate_base": ("primitive", lambda root: True),
    "proxy_servers": ("map", lambda root: {}),
    "report_errors": ("primitive", lambda root: None),
    "pip_interop_enabled": ("primitive", lambda root: False),
}
FINAL_RE = re.compile(r"^([A-Za-z_][\w-]*)\s*:.*#!final\s*$")


def search_path(root: str) -> list[Path]:
    """conda's documented .condarc search order, lowest precedence first."""
    home = Path.home()
    xdg = Path(os.environ.get("XDG_CONFIG_HOME", home / ".config"))
    bases = [Path("/etc/conda"), Path("/var/lib/conda"), Path(root), xdg / "conda", home / ".config" / "conda"]
    paths: list[Path] = []
    for base in bases:
        paths += [base / ".condarc", base / "condarc", base / "condarc.d"]
    paths += [home / ".conda" / ".condarc", home / ".conda" / "condarc", home / ".conda" / "condarc.d"]
    paths.append(home / ".condarc")
    prefix = os.environ.get("CONDA_PREFIX")
    if prefix:
        paths += [Path(prefix) / ".condarc", Path(prefix) / "condarc", Path(prefix) / "condarc.d"]
    if os.environ.get("CONDARC"):
        paths.append(Path(os.environ["CONDARC"]))
    seen: list[Path] = []
    for p in paths:
        if p not in seen:
            seen.append(p)
    return seen


def _expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix in (".yml", ".yaml") or f.name.endswith("condarc"))
        elif p.is_file():
            files.append(p)
    return files


class ConfigError(Exception):
    """A .condarc that cannot be parsed (conda: LoadError)."""


class Config:
    """The effective configuration: merged .condarc files plus command-line overrides."""

    def __init__(self, root: str):
        self.root = root
        self.files: list[Path] = []
        self.values: dict = {}
        self.final: set[str] = set()
        self._load()

    def _load(self) -> None:
        merged: dict = {}
        final: set[str] = set()
        for path in _expand(search_path(self.root)):
            text = path.read_text()
            try:
                data = yaml.safe_load(text) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"Load Error: in {path} on line {getattr(exc, 'problem_mark', '?')}:\n{exc}") from exc
            if not isinstance(data, dict):
                raise ConfigError(f"Load Error: {path} does not contain a mapping")
            self.files.append(path)
            finals = {m.group(1) for m in map(FINAL_RE.match, text.splitlines()) if m}
            for key, value in data.items():
                if key in final:
                    continue  # a lower-precedence file pinned this key with #!final
                kind = KNOWN.get(key, ("primitive", None))[0]
                if kind == "sequence" and key in merged and isinstance(value, list):
                    # Later files take precedence: their items come first.
                    merged[key] = value + [v for v in merged[key] if v not in value]
                elif kind == "map" and key in merged and isinstance(value, dict):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
            final |= finals & set(data)
        self.values = merged
        self.final = final

    def get(self, key: str):
        if key in self.values:
            return self.values[key]
        return KNOWN[key][1](self.root)

    def effective(self) -> dict:
        out = {key: self.get(key) for key in sorted(KNOWN)}
        out.update({k: v for k, v in self.values.items() if k not in KNOWN})
        return out

    # ------------------------------------------------------------------ channels

    def channel_url(self, channel: str) -> str:
        """Resolve a channel name or URL to its base URL (no subdir)."""
        channel = channel.rstrip("/")
        if "://" in channel:
            return channel
        custom = self.get("custom_channels") or {}
        first = channel.split("/")[0]
        if first in custom:
            return f"{str(custom[first]).rstrip('/')}/{channel}"
        return f"{str(self.get('channel_alias')).rstrip('/')}/{channel}"

    def channel_name(self, url: str) -> str:
        """The canonical name conda prints for a channel base URL."""
        url = url.rstrip("/")
        for name, base in (self.get("custom_channels") or {}).items():
            if url == f"{str(base).rstrip('/')}/{name}":
                return name
        alias = str(self.get("channel_alias")).rstrip("/") + "/"
        if url.startswith(alias):
            return url[len(alias) :]
        for default in self.get("default_channels"):
            if url == str(default).rstrip("/"):
                return "pkgs/" + url.rsplit("/", 1)[-1]
        return url

    def expand_channels(self, channels: list[str]) -> list[tuple[str, str]]:
        """[(name as given, base URL)], with `defaults` expanded to default_channels."""
        out: list[tuple[str, str]] = []
        for channel in channels:
            if channel == "defaults":
                out += [("defaults", str(url).rstrip("/")) for url in self.get("default_channels")]
            else:
                out.append((channel, self.channel_url(channel)))
        return out

    def allowed(self, url: str) -> bool:
        allow = self.get("allowlist_channels") or []
        if not allow:
            return True
        allowed_urls = {u for _, u in self.expand_channels([str(a) for a in allow])}
        return url.rstrip("/") in allowed_urls

    def denied(self, url: str) -> bool:
        deny = self.get("denylist_channels") or []
        return url.rstrip("/") in {u for _, u in self.expand_channels([str(a) for a in deny])}
