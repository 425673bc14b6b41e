"""Run an Ansible module's main() in-process for data-driven unit tests.

Each case gives module args, optional expected commands with canned results
(the only way a module may reach the conda CLI in unit tests: a labelled test
double), and the expected result. Style of community.general's data-driven tests.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from unittest import mock

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common import warnings as _ansible_warnings

from .. import matchspec_double

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.18 (the oldest meta/runtime.yml admits) has no such helper

    @contextlib.contextmanager
    def patch_module_args(args: dict | None = None):
        """What 2.19's helper does on 2.18: AnsibleModule reads its args from basic._ANSIBLE_ARGS."""
        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()):
            yield


FIXTURES = Path(__file__).parent / "fixtures"


class ModuleExitError(Exception):
    def __init__(self, result: dict, failed: bool):
        super().__init__(result)
        self.result = result
        self.failed = failed


def _exit_json(self, **kwargs):
    raise ModuleExitError({**kwargs, "_warnings": list(_ansible_warnings.get_warning_messages())}, failed=False)


def _fail_json(self, msg, **kwargs):
    raise ModuleExitError({"msg": msg, "failed": True, **kwargs}, failed=True)


class CommandDouble:
    """TEST DOUBLE of AnsibleModule.run_command: expected argv -> canned (rc, stdout, stderr).

    conda's Python reading match specs (_matchspec.SCRIPT) is answered from the table recorded
    from the real conda (matchspec_double), wherever it comes; it is not one of the expected
    commands and not in `calls`."""

    def __init__(self, expected: list[dict], effects_root: str | None = None):
        self.expected = list(expected)
        self.calls: list[list[str]] = []
        self.root = effects_root

    def __call__(self, args, **kwargs):
        argv = [str(a) for a in args]
        if matchspec_double.is_matchspec_call(argv):
            return matchspec_double.reply(kwargs)
        self.calls.append(argv)
        assert self.expected, f"unexpected command: {argv}"
        step = self.expected.pop(0)
        assert argv == [str(a) for a in step["command"]], f"expected {step['command']}, ran {argv}"
        # What the real command would have done to the disk (paths relative to the case's root).
        for rel, content in (step.get("writes") or {}).items():
            path = Path(self.root) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        for rel in step.get("removes") or []:
            target = Path(self.root) / rel
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        out = step.get("out", "")
        if step.get("out_file"):  # a real tool's output, recorded (fixtures/<tool>/README.md)
            out = (FIXTURES / step["out_file"]).read_text()
        if not isinstance(out, str):
            out = json.dumps(out)
        return step.get("rc", 0), out, step.get("err", "")


def run_module(
    main,
    args: dict,
    commands: list[dict] | None = None,
    check_mode=False,
    diff=False,
    effects_root: str | None = None,
    command_double=None,
) -> dict:
    """Run main() with args; commands are checked by CommandDouble unless a command_double is given."""
    double = command_double or CommandDouble(commands or [], effects_root)
    _ansible_warnings._global_warnings.clear()  # each run reports only its own warnings
    full_args = {**args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}
    with (
        patch_module_args(full_args),
        mock.patch.object(basic.AnsibleModule, "exit_json", _exit_json),
        mock.patch.object(basic.AnsibleModule, "fail_json", _fail_json),
        mock.patch.object(basic.AnsibleModule, "run_command", double),
        pytest.raises(ModuleExitError) as caught,
    ):
        main()
    assert not getattr(double, "expected", None), f"commands expected but not run: {double.expected}"
    result = dict(caught.value.result)
    result["_commands"] = getattr(double, "calls", [])
    return result


def substitute_root(value, root: str):
    """Replace "<root>" in every string of a case (keys included) with the case's temp root."""
    if isinstance(value, str):
        return value.replace("<root>", root)
    if isinstance(value, list):
        return [substitute_root(v, root) for v in value]
    if isinstance(value, dict):
        return {substitute_root(k, root): substitute_root(v, root) for k, v in value.items()}
    return value


def check_result(result: dict, expect: dict) -> bool:
    """Compare a module result with a case's `expect`: a failure and its message, or success;
    then every remaining key. Returns whether the case expected a failure."""
    expect = dict(expect)
    failed = expect.pop("failed", False)
    if failed:
        assert result.get("failed"), result
        wanted = expect.pop("msg_contains")
        for fragment in [wanted] if isinstance(wanted, str) else wanted:
            assert fragment in result["msg"], f"{fragment!r} not in {result['msg']!r}"
    else:
        assert not result.get("failed"), result.get("msg")
    for key, value in expect.items():
        assert result[key] == value, key
    return failed
