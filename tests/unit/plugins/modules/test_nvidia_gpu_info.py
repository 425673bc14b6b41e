"""Unit tests for hpcenv.gpu_cluster.nvidia_gpu_info.

GPU hardware is replaced by RECORDED REAL nvidia-smi outputs (TEST DOUBLE 3 of DESIGN.md,
tests/support/nvidia_smi/README.md says where each was recorded). Each recording's
commands.json gives the canned (args, rc, output) that the command double answers with.
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
from ansible.module_utils import basic

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _nvidia
from ansible_collections.hpcenv.gpu_cluster.plugins.modules import nvidia_gpu_info

from .runner import run_module

RECORDINGS = Path(__file__).parents[3] / "support" / "nvidia_smi" / "recordings"
# Any executable file will do as the path: the command double answers every call.
SMI = str(RECORDINGS.parent / "nvidia-smi")


def recorded(name: str, count: int | None = None) -> list[dict]:
    """The recording's commands as CommandDouble steps (the first `count` of them)."""
    folder = RECORDINGS / name
    steps = json.loads((folder / "commands.json").read_text())[:count]
    return [{"command": [SMI, *s["args"]], "rc": s["rc"], "out": (folder / s["output"]).read_text()} for s in steps]


def run(args: dict, commands: list[dict], check_mode: bool = False, smi_on_path: bool = True) -> dict:
    with mock.patch.object(basic.AnsibleModule, "get_bin_path", return_value=SMI if smi_on_path else None):
        return run_module(nvidia_gpu_info.main, args, commands=commands, check_mode=check_mode)


HOPPER = {
    "h100-80gb-hbm3": {
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-56eb5d86-3817-2bab-9c02-52f0ddb831c0",
        "memory_total_mib": 81559,
    },
    "h200": {"name": "NVIDIA H200", "uuid": "GPU-4ad0a0ad-e91a-67d8-122e-781eeff8fb8c", "memory_total_mib": 143771},
}


@pytest.mark.parametrize("recording", sorted(HOPPER))
@pytest.mark.parametrize("check_mode", [False, True])
def test_a_working_gpu_node(recording, check_mode):
    result = run({}, recorded(recording, 2), check_mode=check_mode)
    assert result["changed"] is False
    assert result["present"] is True
    assert result["source"] == "nvidia-smi"
    assert result["driver_version"] == "580.159.04"
    assert result["cuda_version"] == "13.0"
    assert result["count"] == 1
    assert result["mig_enabled"] is False
    assert result["gpus"] == [
        {
            "index": 0,
            **HOPPER[recording],
            "pci_bus_id": "00000000:00:06.0",
            "architecture": "Hopper",
            "compute_capability": "9.0",
            "mig_mode": {"current": "Disabled", "pending": "Disabled"},
        }
    ]


@pytest.mark.parametrize(
    ("recording", "rc", "message", "hint"),
    [
        ("gpu-access-blocked", 17, "GPU access blocked by the operating system", "cannot be opened"),
        ("driver-unreachable", 9, "couldn't communicate with the NVIDIA driver", "lsmod | grep nvidia"),
    ],
)
def test_nvidia_smi_that_fails_is_a_clear_error(recording, rc, message, hint):
    result = run({}, recorded(recording, 1))
    assert result["failed"] is True
    assert result["rc"] == rc
    assert f"nvidia-smi failed (rc {rc}): " in result["msg"]
    assert message in result["msg"]
    assert hint in result["msg"]
    assert result["cmd"] == [SMI, "-q", "-x"]


def test_without_nvidia_smi_the_driver_proc_files_are_read():
    with mock.patch.object(basic.AnsibleModule, "warn") as warn:
        result = run({"proc_path": str(RECORDINGS / "h100-80gb-hbm3" / "proc")}, [], smi_on_path=False)
    assert result["present"] is True
    assert result["source"] == "proc"
    assert result["driver_version"] == "580.159.04"
    assert result["cuda_version"] is None
    assert result["gpus"] == [
        {
            "index": 0,
            "name": "NVIDIA H100 80GB HBM3",
            "uuid": "GPU-56eb5d86-3817-2bab-9c02-52f0ddb831c0",
            "pci_bus_id": "0000:00:06.0",
            "architecture": None,
            "memory_total_mib": None,
            "compute_capability": None,
            "mig_mode": {"current": None, "pending": None},
        }
    ]
    assert "lack the CUDA version" in warn.call_args.args[0]


def test_no_nvidia_smi_and_no_driver_is_present_false(tmp_path):
    result = run({"proc_path": str(tmp_path / "nvidia")}, [], smi_on_path=False)
    assert result == {
        "changed": False,
        "present": False,
        "source": "none",
        "driver_version": None,
        "cuda_version": None,
        "count": 0,
        "mig_enabled": False,
        "gpus": [],
        "_commands": [],
    }


def test_a_given_path_that_is_not_executable_fails(tmp_path):
    plain = tmp_path / "nvidia-smi"
    plain.write_text("")
    result = run({"nvidia_smi": str(plain)}, [])
    assert result["failed"] is True
    assert "is not an executable file" in result["msg"]


def test_output_that_is_not_nvidia_smi_fails_clearly():
    commands = [{"command": [SMI, "-q", "-x"], "out": "hello\n"}]
    result = run({}, commands)
    assert result["failed"] is True
    assert "Could not parse nvidia-smi output" in result["msg"]


def test_csv_rows_must_have_every_field():
    with pytest.raises(ValueError, match="expected 8 comma-separated fields"):
        _nvidia.parse_query_csv("0, GPU-x, NVIDIA H100\n")


@pytest.mark.parametrize(
    ("output", "needle"),
    [
        ("Failed to initialize NVML: Driver/library version mismatch", "reboot the node"),
        ('Field "compute_cap" is not a valid field to query.', "R510"),
        ("something new", "Run nvidia-smi on the node by hand"),
    ],
)
def test_hints_name_the_fix(output, needle):
    assert needle in _nvidia.hint_for(output)
