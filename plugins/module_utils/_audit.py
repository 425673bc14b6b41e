# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helper: the node's audit log, one JSON line per change this collection makes.

Every module that changes a node (a shared env built, swapped, rolled back or pruned, condarc
keys, subordinate id ranges, a role's files, and the changes roles make through ansible-core's
modules, given to the audit_log module) calls record() after the change, in the same process,
so a change is never made without its line. A line is appended with one write(2) to a file
opened O_APPEND, under flock(2) on that file: two runs that overlap (a nightly correction
racing an admin's site.yml) never lose or interleave lines. The file is root's only (0600 in a
0700 directory). The same line goes to the journal with SYSLOG_IDENTIFIER=hpcenv-audit, so a
site ships it with the rest of its logs. Nothing is written in check mode or when nothing changed.

The line: time (UTC), node, user (the node account the change ran as, and the account that
became it, SUDO_USER), run (the play, when the caller names it), what, subject, before, after,
and whatever else the change has (lock ids, reasons).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import pwd
import re
import socket
import syslog

DEFAULT_PATH = "/var/log/hpcenv.gpu_cluster/audit.jsonl"
IDENT = "hpcenv-audit"
FIELDS = ("time", "node", "user", "run", "what", "subject", "before", "after")  # every line's own, in this order
# The option of every module that writes it (documented once: doc_fragments/audit.py).
ARGUMENT_SPEC = {"audit_log": {"type": "path", "default": DEFAULT_PATH}}


# Credentials that may sit in a value (a condarc's channel URL or proxy), masked before a line is
# written anywhere: user:password@, anaconda.org's /t/<token> (at the end too) and a query's
# token=/password= values.
_SECRETS = (
    (re.compile(r"(?<=://)[^/@\s]+@"), "***@"),
    (re.compile(r"(?<=/t/)[^/?#\s]+"), "<TOKEN>"),
    (re.compile(r"(?i)([?&](?:token|password|passwd|secret|key)=)[^&#\s]+"), r"\1<TOKEN>"),
)


def mask(value):
    """VALUE with credentials in its strings masked (dicts and lists too)."""
    if isinstance(value, str):
        for pattern, replacement in _SECRETS:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, dict):
        return {key: mask(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [mask(item) for item in value]
    return value


def _user() -> str:
    try:
        name = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a passwd entry (a container, a broken NSS)
        name = str(os.geteuid())
    became = os.environ.get("SUDO_USER", "")
    return f"{name} (as {became})" if became and became != name else name


def entry(what: str, subject: str, before=None, after=None, run: str = "", **details) -> dict:
    """One audit record (not yet written)."""
    record = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "node": socket.gethostname(),  # no DNS lookup: a slow resolver never delays a change
        "user": _user(),
        "run": run,
        "what": what,
        "subject": subject,
        "before": mask(before),
        "after": mask(after),
    }
    record.update({key: mask(value) for key, value in details.items() if value not in (None, "", [], {})})
    return record


def append(path: str, records: list[dict]) -> None:
    """Append RECORDS to the log at PATH and to the journal; an empty PATH turns the log off."""
    if not path or not records:
        return
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    text = "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        written = 0
        while written < len(text):  # one write(2) for any sane line; the loop only finishes a short write
            written += os.write(fd, text[written:])
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the flock
    syslog.openlog(IDENT, 0, syslog.LOG_AUTHPRIV)
    for line in text.decode().splitlines():
        syslog.syslog(syslog.LOG_NOTICE, line)
    syslog.closelog()


def record(module, records: list[dict]) -> None:
    """Append RECORDS unless the module runs in check mode; a failure to log fails the module, naming the log."""
    if module.check_mode or not records:
        return
    path = module.params.get("audit_log", DEFAULT_PATH)
    try:
        append(path, records)
    except OSError as exc:
        module.fail_json(msg=f"the change was made but the audit log {path} could not be written: {exc}")
