"""TEST DOUBLE: fetching repodata.json like conda, honouring the .condarc network keys.

ssl_verify (bool or CA bundle path), remote_connect_timeout_secs,
remote_read_timeout_secs, remote_max_retries, offline; a repodata cache under
the first pkgs_dir (conda keeps it in <pkgs_dir>/cache). HTTP failures become
conda's own error shapes (errors.py).
"""

from __future__ import annotations

import hashlib
import http.client
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

from . import errors

USER_AGENT = "conda/24.11.3 requests/2.32.3 CPython/3 Linux (hpcenv conda test double)"


class Fetcher:
    def __init__(self, config, cache_dir: Path, offline: bool = False):
        self.connect_timeout = float(config.get("remote_connect_timeout_secs"))
        self.read_timeout = float(config.get("remote_read_timeout_secs"))
        self.retries = int(config.get("remote_max_retries"))
        self.ssl_verify = config.get("ssl_verify")
        self.offline = offline or bool(config.get("offline"))
        self.cache_dir = cache_dir

    def _context(self) -> ssl.SSLContext:
        if self.ssl_verify is False or str(self.ssl_verify).lower() == "false":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        if isinstance(self.ssl_verify, str) and self.ssl_verify.lower() != "true":
            return ssl.create_default_context(cafile=self.ssl_verify)
        return ssl.create_default_context()

    def get(self, url: str) -> tuple[int, str, bytes]:
        """GET url -> (status, reason, body); raises OSError on connection problems."""
        parts = urlsplit(url)
        if parts.scheme == "file":
            path = Path(parts.path)
            if not path.is_file():
                return 404, "NOT FOUND", b""
            return 200, "OK", path.read_bytes()
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=self.connect_timeout, context=self._context()
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.connect_timeout)
        try:
            conn.connect()
            conn.sock.settimeout(self.read_timeout)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            conn.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
            resp = conn.getresponse()
            return resp.status, resp.reason.upper(), resp.read()
        finally:
            conn.close()

    def repodata(self, channel: str, base_url: str, subdir: str) -> Path:
        """Path of a fresh (or, offline, cached) repodata.json for base_url/subdir."""
        url = f"{base_url}/{subdir}/repodata.json"
        cache = self.cache_dir / (hashlib.md5(url.encode(), usedforsecurity=False).hexdigest()[:8] + ".json")
        if self.offline:
            if cache.is_file():
                return cache
            raise errors.http_error(url, "000", "CONNECTION FAILED", "offline mode and no cached repodata")
        last: OSError | None = None
        for attempt in range(self.retries + 1):
            try:
                status, reason, body = self.get(url)
                break
            except OSError as exc:  # refused, unreachable, timed out, name not known
                last = exc
                time.sleep(min(0.2 * (2**attempt), 2))
        else:
            raise errors.http_error(url, "000", "CONNECTION FAILED", str(last))
        if status == 404 and subdir == "noarch":
            raise errors.unavailable_channel(channel, base_url, "404", reason)
        if status == 404:
            # conda tolerates a channel without this platform's subdir
            body = b'{"info": {"subdir": "%s"}, "packages": {}, "packages.conda": {}}' % subdir.encode()
        elif status != 200:
            raise errors.http_error(url, str(status), reason, body.decode(errors="replace")[:500])
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_bytes(body)
        tmp.replace(cache)
        return cache
