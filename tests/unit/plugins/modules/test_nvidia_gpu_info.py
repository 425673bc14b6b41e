"""Unit tests for hpcenv.gpu_cluster.nvidia_gpu_info.

GPU hardware is replaced by RECORDED REAL nvidia-smi outputs (TEST DOUBLE 3 of DESIGN.md,
tests/support/nvidia_smi/README.md says where each was recorded). Each recording's
commands.json gives the canned (args, rc, output) that the command double answers with.
"""

from __future__ import annotations

import json
import shutil
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


def proc_tree(name: str, into: Path) -> Path:
    """The recording's /proc/driver/nvidia as the driver lays it out: each GPU's folder named by its bus id.

    The recording keeps the bus id with '-' for ':' (a name every checkout can hold); the
    module reads the real name, so the test restores it from the file's own Bus Location."""
    proc = into / "proc"
    shutil.copytree(RECORDINGS / name / "proc", proc)
    for folder in sorted((proc / "gpus").iterdir()):
        info = (folder / "information").read_text()
        bus = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Bus Location:"))
        folder.rename(folder.with_name(bus))
    return proc


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


def test_without_nvidia_smi_the_driver_proc_files_are_read(tmp_path):
    proc = proc_tree("h100-80gb-hbm3", tmp_path)
    assert [p.name for p in (proc / "gpus").iterdir()] == ["0000:00:06.0"]
    with mock.patch.object(basic.AnsibleModule, "warn") as warn:
        result = run({"proc_path": str(proc)}, [], smi_on_path=False)
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
        "reason": f"no nvidia-smi and no {tmp_path / 'nvidia'}: no NVIDIA driver on this node",
        "source": "none",
        "driver_version": None,
        "cuda_version": None,
        "count": 0,
        "mig_enabled": False,
        "gpus": [],
        "_commands": [],
        "_warnings": [],
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


# ----------------------------------------------------------------------------- outputs pasted by users
# fixtures/nvidia-smi-public/README.md names the public source of each.
PUBLIC = Path(__file__).parent / "fixtures" / "nvidia-smi-public"


@pytest.mark.parametrize(
    "paste", ["nvsmi_no_devices_open_gpu_kernel_modules_862.txt", "nvsmi_no_devices_singuconda_6.txt"]
)
def test_no_devices_found_is_no_gpu_not_a_failure(paste):
    out = (PUBLIC / paste).read_text()
    result = run({}, [{"command": [SMI, "-q", "-x"], "rc": 6, "out": out}])
    assert result["present"] is False and result["count"] == 0 and result["source"] == "none"
    assert "No devices were found" in result["reason"]


@pytest.mark.parametrize(
    "paste",
    [
        "nvsmi_driver_fail_straight_shine_cluster_50.txt",
        "nvsmi_driver_fail_u2018_linebreak_qixuema_envs_4.txt",
        "nvsmi_driver_fail_linebreak_quoted_nvidia_docker_988.txt",
        "nvsmi_driver_fail_modprobe_nvidia_docker_365.txt",
    ],
)
def test_the_driver_message_gets_its_hint_whatever_its_apostrophe_and_line_breaks(paste):
    out = (PUBLIC / paste).read_text()
    result = run({}, [{"command": [SMI, "-q", "-x"], "rc": 9, "out": out}])
    assert result["failed"]
    assert "kernel module is not loaded" in result["msg"], result["msg"]


def test_the_version_mismatch_gets_its_hint():
    out = (PUBLIC / "nvsmi_nvml_mismatch_exit18_gputil_55.txt").read_text()
    result = run({}, [{"command": [SMI, "-q", "-x"], "rc": 18, "out": out}])
    assert result["failed"] and "reboot the node" in result["msg"] and "rc 18" in result["msg"]


def test_a_csv_that_is_not_one_gpu_per_line_fails_with_a_message():
    steps = recorded("h100-80gb-hbm3", 2)
    steps[1]["out"] = (PUBLIC / "nvsmi_query_csv_with_header_ksysguard_gpu_27.txt").read_text()
    result = run({}, steps)
    assert result["failed"] and "Could not parse nvidia-smi output" in result["msg"]
    assert "expected 8 comma-separated fields" in result["msg"]


def test_a_header_row_left_in_our_query_is_a_message_not_a_traceback():
    # DERIVED from the H100 recording: the same query with --format=csv (its header row kept),
    # as the ksysguard-gpu paste above shows happens; the index column then says "index".
    steps = recorded("h100-80gb-hbm3", 2)
    steps[1]["out"] = ", ".join(_nvidia.QUERY_FIELDS) + "\n" + steps[1]["out"]
    result = run({}, steps)
    assert result["failed"] and "the GPU index is not a number" in result["msg"]


def test_the_csv_driver_version_is_used_where_the_xml_has_none():
    # DERIVED from the H100 recording: its XML without <driver_version>, as older drivers and some
    # containers print it (netdata/netdata#2759 shows one without <cuda_version> either).
    steps = recorded("h100-80gb-hbm3", 2)
    steps[0]["out"] = "\n".join(line for line in steps[0]["out"].splitlines() if "<driver_version>" not in line)
    result = run({}, steps)
    assert result["present"] is True and result["driver_version"] == "580.159.04"


@pytest.mark.parametrize("recording", sorted(HOPPER))
def test_host_state_info_reads_the_gpus_with_the_same_code(recording):
    from ansible_collections.hpcenv.gpu_cluster.plugins.modules import host_state_info

    info = run({}, recorded(recording, 2))
    with mock.patch.object(basic.AnsibleModule, "get_bin_path", return_value=SMI):
        read = run_module(host_state_info.main, {"nvidia_gpus": True}, commands=recorded(recording, 2))
        unasked = run_module(host_state_info.main, {})
        failing = run_module(host_state_info.main, {"nvidia_gpus": True}, commands=recorded("driver-unreachable", 1))
    assert read["nvidia_gpus"] == {k: v for k, v in info.items() if k not in ("changed", "_commands", "_warnings")}
    assert unasked["nvidia_gpus"] is None and unasked["_commands"] == []
    assert failing["failed"] is True and "couldn't communicate with the NVIDIA driver" in failing["msg"]
