# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers shared by the modules that run conda: the conda and pip command lines (made
here only), run a command and say why it failed, compare a prefix with an explicit lock,
install a lock (its conda packages, then its pip pins).

No AnsibleModule here: callers pass their module's run_command and catch CommandFailedError.
"""

from __future__ import annotations

import os
import signal

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _conda_env, _conda_meta


def conda_change(conda: str, action: str, prefix: str, *args: str) -> list[str]:
    """conda ACTION (create, install, update, remove) on PREFIX: it never asks, and answers in JSON."""
    return [conda, action, "--yes", "--json", "-p", prefix, *args]


def conda_explicit(conda: str, prefix: str) -> list[str]:
    """conda's explicit lock of PREFIX, with each package's md5."""
    return [conda, "list", "--explicit", "--md5", "-p", prefix]


def pip(python: str, action: str, *args: str) -> list[str]:
    """pip ACTION (install, uninstall) with PYTHON: it never asks, and checks no version of its own."""
    return [python, "-m", "pip", action, "--no-input", "--disable-pip-version-check", *args]


class CommandFailedError(RuntimeError):
    """A command exited non-zero; `reason` is the tool's whole reason and how it ended."""

    def __init__(self, argv: list[str], rc: int, stdout: str, stderr: str):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr
        self.reason = f"{_conda_env.cli_error(stdout, stderr)} ({describe_exit(rc)})"
        super().__init__(self.reason)

    def details(self) -> dict:
        return {"cmd": self.argv, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}


def describe_exit(rc: int) -> str:
    """How a process ended, naming the signal that killed it (directly, or as a shell reports it)."""

    def name(number: int) -> str:
        try:
            return signal.Signals(number).name
        except ValueError:
            return f"signal {number}"

    if rc < 0:
        return f"killed by signal {-rc} ({name(-rc)})"
    if 128 < rc <= 128 + 64:
        return f"exit status {rc}: killed by signal {rc - 128} ({name(rc - 128)})"
    return f"exit status {rc}"


class Runner:
    """Runs commands through run_command with LC_ALL=C, records them, raises CommandFailedError."""

    def __init__(self, run_command):
        self.run_command = run_command
        self.commands: list[list[str]] = []

    def output(self, argv: list[str], cwd: str | None = None) -> str:
        """What the command printed on stdout."""
        self.commands.append(argv)
        rc, out, err = self.run_command(argv, environ_update={"LC_ALL": "C"}, cwd=cwd)
        if rc != 0:
            raise CommandFailedError(argv, rc, out, err)
        return out

    def __call__(self, argv: list[str], cwd: str | None = None) -> dict:
        """The JSON object the command printed ({} when none)."""
        return _conda_env.json_object(self.output(argv, cwd)) or {}


def parse_lock(text: str) -> tuple[list[dict], dict]:
    """(conda packages, pip part) of a lock; raises _conda_env.SpecError."""
    return _conda_env.parse_explicit(text), _conda_env.parse_pip_lock(text)


def lock_drift(prefix: str, packages: list[dict], pip_lock: dict, check_files: bool = True) -> tuple[dict, bool]:
    """(drift, conda part in sync) of a prefix against a lock: its packages, their files, the
    '# pip:' pins, and conda-meta records that cannot be read (they count as drift, never crash)."""
    installed, unreadable = _conda_meta.read_records_checked(prefix)
    drift = _conda_env.drift_from_lock(installed, packages, prefix, check_files)
    if unreadable:
        drift["unreadable"] = unreadable
        drift["in_sync"] = False
    conda_in_sync = drift["in_sync"]
    if pip_lock["pins"]:
        missing, extra = _conda_env.drift_pip(_conda_meta.pip_installed(prefix), pip_lock["pins"])
        drift["missing"] += missing
        drift["extra"] += extra
        drift["in_sync"] = drift["in_sync"] and not (missing or extra)
    return drift, conda_in_sync


def install_pip_pins(run: Runner, prefix: str, pip_lock: dict) -> None:
    """Make the pip-installed distributions exactly the lock's pins (no resolving: --no-deps)."""
    if not pip_lock["pins"]:
        return
    python = os.path.join(prefix, "bin", "python")
    have = set(_conda_meta.pip_installed(prefix))
    extra = sorted(pin.split("==")[0] for pin in have - set(pip_lock["pins"]))
    if extra:
        run(pip(python, "uninstall", "--yes", *extra))
    if set(pip_lock["pins"]) - have:
        path = os.path.join(prefix, "conda-meta", "hpcenv-pip-lock.txt")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in pip_lock["options"] + pip_lock["pins"]))
        run(pip(python, "install", "--no-deps", "-r", path))


def install_lock(run: Runner, conda: str, prefix: str, lock_path: str, pip_lock: dict, conda_part: bool) -> dict:
    """Install a lock file into prefix (its conda packages when conda_part, then its pip pins);
    returns LINK/UNLINK worked out from the records, since conda prints nothing for a lock."""
    before = _conda_meta.read_records_checked(prefix)[0]
    if conda_part:
        run(conda_change(conda, "create", prefix, "--file", lock_path))
    install_pip_pins(run, prefix, pip_lock)
    return _conda_env.actions_from_records(before, _conda_meta.read_records_checked(prefix)[0])
