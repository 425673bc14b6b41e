# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helper: replace a file in one rename, the one way every module of this collection writes.

A reader (conda, node_exporter, shadow-utils, a running kernel launcher) sees the old file or
the new one, never half of one: the text goes to a temporary file beside the target (same
file system), is flushed to disk, gets its mode, and is renamed over the target. A failure
removes the temporary file and leaves the target as it was. The temporary name starts with a
dot and ends in .tmp, so directory readers that take *.prom, *.yml or *.json skip it.
"""

from __future__ import annotations

import os
import tempfile


def read(path: str) -> str | None:
    """The text of PATH, or None when there is no such file."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def write(path: str, text: str, mode: int | None = 0o644, move=None, owner: tuple[int, int] | None = None) -> None:
    """Replace PATH with TEXT in one rename.

    mode: the new file's mode (None: leave it to MOVE, e.g. AnsibleModule.atomic_move, which keeps an
    existing file's mode, owner and SELinux context). move(src, dest): the rename, os.replace by default.
    owner: (uid, gid) the file gets before the rename (-1 keeps the writer's).
    """
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if owner is not None:
            os.chown(tmp, *owner)
        if mode is not None:
            os.chmod(tmp, mode)
        (move or os.replace)(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_if_changed(path: str, text: str, mode: int | None = 0o644, move=None) -> bool:
    """write() unless PATH already holds exactly TEXT; whether it wrote."""
    if read(path) == text:
        return False
    write(path, text, mode, move)
    return True
