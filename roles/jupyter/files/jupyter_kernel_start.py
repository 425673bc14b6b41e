# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start ipykernel in a shared environment, with the environment's version in the kernel's info.

    python jupyter_kernel_start.py ENV_NAME CATALOGUE_PAGE CONNECTION_FILE

Run by the kernel launcher (jupyter-kernel) with the environment's own Python, after it
activated the environment. It starts ipykernel as `python -m ipykernel_launcher -f
CONNECTION_FILE` does, but the kernel's language_info carries one more key:

    "hpcenv.gpu_cluster": {"env": "shared_ml", "version": "v2", "lock_id": "...", "prefix": "..."}

JupyterLab and Notebook save language_info in a notebook's metadata, so every saved notebook
records the environment version it ran in. The version number comes from the environment's
page of the node's catalogue (CATALOGUE_PAGE, written by the shared_envs role); the lock id
from the version directory the kernel runs in. Whatever cannot be read leaves the version
empty, and an ipykernel this cannot extend starts as ipykernel_launcher would: the kernel
always starts. (It runs on each env's own Python: no syntax newer than Python 3.6.)
"""

import json
import os
import runpy
import sys
from typing import ClassVar

MARKER = "hpcenv.gpu_cluster"


def env_version(name: str, page_path: str, prefix: str) -> dict:
    """What the kernel records: the env, its version number (or ""), its lock id, its prefix."""
    parts = os.path.basename(prefix).rsplit("-", 2)  # a version directory is NAME-LOCKID-STAMP
    lock_id = parts[1] if len(parts) == 3 else ""
    version = ""
    try:
        with open(page_path, encoding="utf-8") as page:
            versions = json.load(page).get("versions", [])
        version = next((v["version"] for v in versions if lock_id and v.get("lock_id") == lock_id), "") or ""
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        pass
    return {"env": name, "version": str(version), "lock_id": lock_id, "prefix": prefix}


def main() -> None:
    name, page_path, connection_file = sys.argv[1:4]
    # This script's directory is not the user's: as ipykernel_launcher does with the cwd, take it
    # off the path (ipykernel puts the cwd back for the user's code). The user's code sees the
    # argv it would see under ipykernel_launcher.
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    sys.argv = [sys.argv[0], "-f", connection_file]
    try:
        from ipykernel.ipkernel import IPythonKernel  # noqa: PLC0415 - imported with the path above, as the user's code
        from ipykernel.kernelapp import IPKernelApp  # noqa: PLC0415

        recorded = env_version(name, page_path, sys.prefix)

        class Kernel(IPythonKernel):
            language_info: ClassVar[dict] = {**IPythonKernel.language_info, MARKER: recorded}
    except (ImportError, AttributeError, TypeError):  # an ipykernel this cannot extend: start it as it is
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
        return
    IPKernelApp.launch_instance(kernel_class=Kernel)


if __name__ == "__main__":
    main()
