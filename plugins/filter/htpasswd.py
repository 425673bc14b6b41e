# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ssha filter (documented in ssha.yml)."""

from __future__ import annotations

import base64
import hashlib

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text


def ssha(password) -> str:
    """PASSWORD as an RFC 2307 {SSHA} hash, the salt derived from the password (the same file on every run)."""
    text = to_text(password) if password is not None else ""  # a vaulted string too
    if not text:
        raise AnsibleFilterError("ssha: the password must be a non-empty string")
    secret = text.encode()
    salt = hashlib.sha256(b"hpcenv-ssha:" + secret).digest()[:8]
    return "{SSHA}" + base64.b64encode(hashlib.sha1(secret + salt).digest() + salt).decode()  # noqa: S324


class FilterModule:
    def filters(self):
        return {"ssha": ssha}
