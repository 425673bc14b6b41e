# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: parse nvidia-smi's XML and CSV output and /proc/driver/nvidia (pure functions)."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

# The per-GPU query; compute_cap needs driver R510 or newer.
QUERY_FIELDS = (
    "index",
    "uuid",
    "name",
    "driver_version",
    "memory.total",
    "mig.mode.current",
    "compute_cap",
    "pci.bus_id",
)

# Known nvidia-smi failure messages -> what the admin should do.
_HINTS = (
    (
        "Driver/library version mismatch",
        "The loaded kernel module and the user-space driver differ, usually after a driver upgrade "
        "without a reboot: reboot the node (or unload and reload the nvidia kernel modules).",
    ),
    (
        "couldn't communicate with the NVIDIA driver",
        "The NVIDIA kernel module is not loaded or its device files are missing: check `lsmod | grep nvidia`, "
        "`dmesg | grep -i nvidia` and /dev/nvidia*.",
    ),
    (
        "GPU access blocked by the operating system",
        "The driver is loaded but /dev/nvidiactl or /dev/nvidia<N> cannot be opened: check the device files' "
        "permissions, cgroup device rules, or the container's device list.",
    ),
    (
        "is not a valid field to query",
        "This nvidia-smi is too old for the query (compute_cap needs driver R510 or newer): upgrade the driver.",
    ),
)


# What nvidia-smi prints when the driver works but sees no GPU (exit status 6).
NO_DEVICES = "no devices were found"


def normalize(output: str) -> str:
    """Output as pasted by people and printed by drivers alike: typographic quotes made plain,
    line breaks and runs of spaces made single spaces, lower case."""
    for quote in ("\u2018", "\u2019", "\u00b4", "`"):
        output = output.replace(quote, "'")
    return " ".join(output.split()).lower()


def hint_for(output: str) -> str:
    text = normalize(output)
    for needle, hint in _HINTS:
        if normalize(needle) in text:
            return hint
    return "Run nvidia-smi on the node by hand to see the full error."


def no_devices(output: str) -> bool:
    return NO_DEVICES in normalize(output)


def _text(node, path: str) -> str | None:
    found = node.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return None if value in ("", "N/A") else value


def _mib(value: str | None) -> int | None:
    match = re.match(r"^(\d+)\s*MiB$", value or "")
    return int(match.group(1)) if match else None


def parse_query_xml(text: str) -> dict:
    """`nvidia-smi -q -x` -> driver and CUDA versions, and per-GPU details keyed by UUID."""
    # The text is what the node's own root-owned nvidia-smi printed, not input from users.
    root = ET.fromstring(text)  # noqa: S314
    gpus = {}
    for gpu in root.findall("gpu"):
        uuid = _text(gpu, "uuid")
        gpus[uuid] = {
            "name": _text(gpu, "product_name"),
            "uuid": uuid,
            "architecture": _text(gpu, "product_architecture"),
            "pci_bus_id": _text(gpu, "pci/pci_bus_id") or gpu.get("id"),
            "memory_total_mib": _mib(_text(gpu, "fb_memory_usage/total")),
            "mig_mode": {"current": _text(gpu, "mig_mode/current_mig"), "pending": _text(gpu, "mig_mode/pending_mig")},
        }
    return {
        "driver_version": _text(root, "driver_version"),
        "cuda_version": _text(root, "cuda_version"),
        "gpus": gpus,
    }


def parse_query_csv(text: str) -> list[dict]:
    """`nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,noheader,nounits` -> one dict per GPU.

    Raises ValueError, naming the line, for a row that is not one GPU's fields (a header row
    left in, a missing field, an index that is not a number)."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = [v.strip() for v in line.split(",")]
        if len(values) != len(QUERY_FIELDS):
            raise ValueError(f"expected {len(QUERY_FIELDS)} comma-separated fields, got: {line!r}")
        row = {k: (None if v in ("[N/A]", "N/A") else v) for k, v in zip(QUERY_FIELDS, values)}
        if not (row["index"] or "").isdigit():
            raise ValueError(f"the GPU index is not a number in: {line!r}")
        rows.append(row)
    return rows


def _gpu(**known) -> dict:
    """One GPU's record: every key the module returns, null where the source does not say."""
    return {
        "index": None,
        "name": None,
        "uuid": None,
        "pci_bus_id": None,
        "architecture": None,
        "memory_total_mib": None,
        "compute_capability": None,
        "mig_mode": {"current": None, "pending": None},
        **known,
    }


def merge(xml_facts: dict, rows: list[dict]) -> list[dict]:
    """Per-GPU facts in nvidia-smi's index order: the CSV's index and compute capability, the XML's rest."""
    gpus = []
    for row in rows:
        # The XML's MIG mode has the pending one too; the CSV's is the fallback.
        csv_mig = {"current": row["mig.mode.current"], "pending": None}
        detail = _gpu(**{"mig_mode": csv_mig, **xml_facts["gpus"].get(row["uuid"], {})})
        detail.update(
            {
                "index": int(row["index"]),
                "uuid": row["uuid"],
                "name": detail["name"] or row["name"],
                "memory_total_mib": detail["memory_total_mib"] or _int(row["memory.total"]),
                "compute_capability": row["compute_cap"],
                "pci_bus_id": detail["pci_bus_id"] or row["pci.bus_id"],
            }
        )
        gpus.append(detail)
    return sorted(gpus, key=lambda g: g["index"])


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def read_proc(proc_path: str) -> dict | None:
    """/proc/driver/nvidia -> driver version and GPUs (no CUDA version, memory or MIG there); None without it."""
    gpus_dir = os.path.join(proc_path, "gpus")
    if not os.path.isdir(gpus_dir):
        return None
    driver = None
    try:
        with open(os.path.join(proc_path, "version"), encoding="utf-8") as handle:
            match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", handle.read())
            driver = match.group(1) if match else None
    except OSError:
        pass
    gpus = []
    for bus in sorted(os.listdir(gpus_dir)):
        info = {}
        try:
            with open(os.path.join(gpus_dir, bus, "information"), encoding="utf-8") as handle:
                for line in handle:
                    key, sep, value = line.partition(":")
                    if sep:
                        info[key.strip()] = value.strip()
        except OSError:
            continue
        minor = info.get("Device Minor", "")
        gpus.append(
            _gpu(
                index=int(minor) if minor.isdigit() else len(gpus),
                name=info.get("Model"),
                uuid=info.get("GPU UUID"),
                pci_bus_id=info.get("Bus Location", bus),
            )
        )
    return {"driver_version": driver, "cuda_version": None, "gpus": sorted(gpus, key=lambda g: g["index"])}
