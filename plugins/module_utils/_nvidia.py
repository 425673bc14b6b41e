# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: parse nvidia-smi's XML and CSV output and /proc/driver/nvidia (pure functions), and read a node's
GPUs with them (read_gpus: nvidia_gpu_info's answer, which host_state_info returns too)."""

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


# Where nvidia-smi is looked for besides PATH.
SEARCH_DIRS = ["/usr/bin", "/usr/local/nvidia/bin"]
_NONE = {"driver_version": None, "cuda_version": None, "gpus": []}


def _run(module, smi: str, args: list[str]) -> str | None:
    """nvidia-smi's output; None when it says no device was found (the driver sees no GPU)."""
    cmd = [smi, *args]
    rc, out, err = module.run_command(cmd, environ_update={"LC_ALL": "C"})
    if rc != 0 and no_devices(out + err):
        return None
    if rc != 0:
        output = "\n".join(part.strip() for part in (out, err) if part.strip())
        module.fail_json(
            msg=f"nvidia-smi failed (rc {rc}): {output or '(no output)'} {hint_for(output)}",
            cmd=cmd,
            rc=rc,
            stdout=out,
            stderr=err,
        )
    return out


def _result(source: str, facts: dict, reason: str = "") -> dict:
    gpus = facts["gpus"]
    return {
        "present": bool(gpus),
        "reason": reason if not gpus else "",
        "source": source if gpus else "none",
        "driver_version": facts["driver_version"],
        "cuda_version": facts["cuda_version"],
        "count": len(gpus),
        "mig_enabled": any(g["mig_mode"]["current"] == "Enabled" for g in gpus),
        "gpus": gpus,
    }


def read_gpus(module, smi: str | None = None, proc_path: str = "/proc/driver/nvidia") -> dict:
    """The node's NVIDIA GPUs as nvidia_gpu_info returns them (without `changed`): from nvidia-smi (SMI, else the one
    on PATH or in SEARCH_DIRS), else from PROC_PATH, with a warning; MODULE (an AnsibleModule) runs the commands and
    fails with what nvidia-smi said."""
    smi = smi or module.get_bin_path("nvidia-smi", opt_dirs=SEARCH_DIRS)
    if smi and not os.access(smi, os.X_OK):
        module.fail_json(msg=f"nvidia_smi={smi} is not an executable file.")
    if not smi:
        proc = read_proc(proc_path)
        if proc is None:
            return _result("none", _NONE, f"no nvidia-smi and no {proc_path}: no NVIDIA driver on this node")
        module.warn(
            f"nvidia-smi not found; GPU facts come from {proc_path} and lack the CUDA version, "
            "memory, MIG mode and compute capability. Install the driver's utilities (nvidia-smi)."
        )
        return _result("proc", proc)

    no_gpu = f"{smi}: No devices were found (the driver sees no GPU)"
    query = [f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv,noheader,nounits"]
    try:
        xml = _run(module, smi, ["-q", "-x"])
        if xml is None:
            return _result("nvidia-smi", _NONE, no_gpu)
        xml_facts = parse_query_xml(xml)
        csv = _run(module, smi, query)
        if csv is None:
            return _result("nvidia-smi", _NONE, no_gpu)
        rows = parse_query_csv(csv)
        gpus = merge(xml_facts, rows)
    except (ValueError, SyntaxError) as exc:  # ET.ParseError is a SyntaxError
        module.fail_json(msg=f"Could not parse nvidia-smi output ({exc}); is {smi} really nvidia-smi?")
    # Where the XML does not say (older drivers, some containers), the CSV's driver version does.
    driver = xml_facts["driver_version"] or next((r["driver_version"] for r in rows if r["driver_version"]), None)
    return _result("nvidia-smi", {**xml_facts, "driver_version": driver, "gpus": gpus})
