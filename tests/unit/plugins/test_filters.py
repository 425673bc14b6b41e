"""Unit tests for the collection's filters.

Each runs in a child Python: importing ansible.errors (as a filter plugin does) switches
ansible-core into its controller mode, where module warnings go straight to the display,
and the module tests of the same pytest worker would no longer see them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

CHECK_SSHA = """
import base64, hashlib
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcenv.gpu_cluster.plugins.filter.htpasswd import ssha

hashed = ssha("a-long-random-push-password")
assert hashed.startswith("{SSHA}"), hashed
raw = base64.b64decode(hashed[len("{SSHA}"):])
digest, salt = raw[:20], raw[20:]
assert len(salt) == 8
# How nginx (and OpenLDAP) check it: SHA-1 of the password and the salt that follows the digest.
assert hashlib.sha1(b"a-long-random-push-password" + salt).digest() == digest
assert ssha("a-long-random-push-password") == hashed, "the same password gives the same file"
assert ssha("another-password-entirely") != hashed
try:
    ssha("")
except AnsibleFilterError as exc:
    assert "non-empty" in str(exc)
else:
    raise AssertionError("an empty password must be refused")
"""


def test_ssha_is_rfc2307_salted_sha1_that_verifies_is_stable_and_refuses_an_empty_password():
    argv = [sys.executable, "-c", textwrap.dedent(CHECK_SSHA)]
    # The child finds the collection where this process does.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    child = subprocess.run(argv, check=False, capture_output=True, text=True, env=env)
    assert child.returncode == 0, child.stderr
