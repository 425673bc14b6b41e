"""Offline stand-in for the get-pip.py that ansible-test downloads to bootstrap pip.

ansible-test makes each sanity test's virtualenv without pip, then runs
`python get_pip_<version>.py [pip options] pip==<version> [--no-setuptools] [--no-wheel]`
with a get-pip.py it fetches from the internet, unless the file is already in
~/.ansible/test/cache/. tests/support/ansible_test.py puts this one there instead.

It does what get-pip.py does, from what this machine has: pip from Python's own
ensurepip, then `pip install` of exactly the packages ansible-test asked for
(pip==<version> from the package index), with ansible-test's options.
"""

from __future__ import annotations

import subprocess
import sys

# get-pip.py's own flags; pip install does not know them (nothing else is installed anyway).
GET_PIP_FLAGS = ("--no-setuptools", "--no-wheel")


def main() -> int:
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_FLAGS]
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "pip", "install", *args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
