"""The host preparation works on a machine that has nothing installed.

CI runs on a machine that keeps the packages of earlier runs, so a missing
install step would stay hidden there. This test starts a pristine node
container (the locally built Debian 12 image: none of the host's packages;
privileged, with a private cgroup namespace so Podman can run inside it),
runs the project's own host preparation for containers in it
(tests/harness/install-packages, configure-podman), and then the DNS
self-check (check-container-dns): two nested containers on a new network must
resolve each other by name. Drop a package that name resolution needs from
install-packages and this test fails, whatever this machine has installed.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "harness"
IMAGE = "localhost/hpcenv-node:bookworm"
pytestmark = pytest.mark.fresh_host


def podman(*args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, check=False, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"podman {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def pristine_host(tmp_path):
    """A booted, privileged Debian 12 node container with the node image saved beside it."""
    podman("save", "--quiet", "-o", str(tmp_path / "node.tar"), IMAGE)
    name = f"hpcenv-freshhost-{uuid.uuid4().hex[:8]}"
    podman(
        "run", "-d", "--name", name, "--hostname", name, "--privileged", "--cgroupns=private",
        "--systemd=always", "--tmpfs", "/var/lib/containers:rw,size=4g",
        "-v", f"{HARNESS}:/srv/harness:ro", "-v", f"{tmp_path}:/srv/image:ro",
        IMAGE, "/sbin/init",
    )  # fmt: skip
    try:
        for _attempt in range(60):  # systemd's bus appears a moment after the start
            boot = podman("exec", name, "timeout", "90", "systemctl", "is-system-running", "--wait", check=False)
            if boot.stdout.strip() in ("running", "degraded"):
                break
            time.sleep(1)
        assert boot.stdout.strip() in ("running", "degraded"), boot.stdout + boot.stderr
        yield name
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


def test_host_preparation_gives_containers_name_resolution(pristine_host):
    before = podman("exec", pristine_host, "sh", "-c", "command -v podman || echo absent").stdout.strip()
    assert before == "absent", "the fresh host must start without podman"

    install = podman("exec", pristine_host, "/srv/harness/install-packages")
    assert "installing:" in install.stdout, install.stdout
    driver = podman("exec", pristine_host, "chromedriver", "--version")  # the browser test's driver
    assert driver.stdout.startswith("ChromeDriver "), driver.stdout
    podman("exec", pristine_host, "/srv/harness/configure-podman")
    podman("exec", pristine_host, "podman", "load", "--quiet", "-i", "/srv/image/node.tar")

    check = podman("exec", pristine_host, "/srv/harness/check-container-dns", IMAGE, check=False)
    assert check.returncode == 0, (
        "two containers on a new network could not resolve each other on a freshly prepared host "
        f"(is a package missing from tests/harness/install-packages?)\n{check.stdout}\n{check.stderr}"
    )
    assert "container DNS works on new Podman networks" in check.stdout
    assert check.stdout.count(" resolves ") == 2, check.stdout
