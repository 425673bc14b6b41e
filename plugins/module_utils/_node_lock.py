# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helper: the node lock, held by whatever changes the shared conda installation.

One lock per node (a file, default /run/lock/hpcenv.gpu_cluster.lock), taken with
flock(2) by the module process that changes the shared prefix: building, swapping
and pruning an environment's versions, writing the system condarc, running the
installer. The kernel releases it when that process ends, however it ends, so a
run that was killed never leaves a stale lock behind. While a process holds it,
the file names the holder (what, pid, since when, and the caller's description,
e.g. the playbook run), so a second run can say who it waited for.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time

DEFAULT_PATH = "/run/lock/hpcenv.gpu_cluster.lock"
# The options of every module that takes the lock (documented once: doc_fragments/node_lock.py).
ARGUMENT_SPEC = {
    "node_lock": {"type": "path", "default": DEFAULT_PATH},
    "lock_timeout": {"type": "int", "default": 1800},
    "lock_by": {"type": "str", "default": ""},
}


class LockTimeoutError(RuntimeError):
    """The lock stayed held past the timeout; the message names the holder."""


def _holder_text(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, 4096).decode("utf-8", "replace").strip()
    try:
        holder = json.loads(data)
    except ValueError:
        return data or "an unnamed process"
    return (
        f"{holder.get('what', '?')} for {holder.get('by') or 'an unnamed run'} "
        f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {holder.get('since', '?')})"
    )


class NodeLock:
    """`with NodeLock(path, timeout, what, by) as lock:` - waits up to `timeout` seconds.

    `lock.waited` is how long it waited; LockTimeoutError names the holder when it gives up.
    """

    def __init__(self, path: str = DEFAULT_PATH, timeout: float = 600, what: str = "", by: str = ""):
        self.path, self.timeout, self.what, self.by = path, timeout, what, by
        self.fd: int | None = None
        self.waited = 0.0
        self.waited_for = ""

    def __enter__(self) -> NodeLock:
        directory = os.path.dirname(self.path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, mode=0o755, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        start = time.monotonic()
        delay = 0.2
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                self.waited_for = self.waited_for or _holder_text(self.fd)
                if time.monotonic() - start >= self.timeout:
                    holder = _holder_text(self.fd)
                    os.close(self.fd)
                    self.fd = None
                    raise LockTimeoutError(
                        f"the node lock {self.path} is held by {holder}; waited {self.timeout:g} s. Let that run "
                        "finish (or stop it), or raise the lock timeout."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 1.5, 2.0)
        self.waited = time.monotonic() - start
        holder = {
            "what": self.what,
            "by": self.by,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.write(self.fd, (json.dumps(holder) + "\n").encode())
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)  # no holder any more
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
