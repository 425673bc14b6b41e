"""Unit tests for hpcenv.gpu_cluster.nameserver_info against replayed real DNS answers."""

from __future__ import annotations

from ansible_collections.hpcenv.gpu_cluster.plugins.modules import nameserver_info

from ..dns_double import ReplayingDnsServer
from .runner import run_module


def test_only_servers_that_know_every_name_are_usable(tmp_path):
    # Like a container on a Podman network: the network's DNS knows the node names, the host's does not.
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search dns.podman\nnameserver 127.0.0.1\nnameserver 127.0.0.2\nnameserver 127.0.0.3\n")
    with (
        ReplayingDnsServer("127.0.0.1", reply="dnsmasq-known-name") as network_dns,
        ReplayingDnsServer("127.0.0.2", network_dns.port, reply="host-resolver-container-name"),
        ReplayingDnsServer("127.0.0.3", network_dns.port, reply=None),
    ):
        args = {
            "path": str(resolv),
            "names": ["mirror-upstream", "192.0.2.7"],
            "port": network_dns.port,
            "timeout": 0.5,
        }
        result = run_module(nameserver_info.main, args, check_mode=True)
    assert result["changed"] is False
    assert result["nameservers"] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert result["usable"] == ["127.0.0.1"]
    assert result["unresolved"] == []
    statuses = {(e["nameserver"], e["name"]): e["status"] for e in result["lookups"]}
    assert statuses == {
        ("127.0.0.1", "mirror-upstream"): "ok",
        ("127.0.0.2", "mirror-upstream"): "nxdomain",
        ("127.0.0.3", "mirror-upstream"): "timeout",
    }, "IP addresses are never looked up"


def test_without_names_every_nameserver_is_usable(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.1\nnameserver 2001:db8::1\n")
    result = run_module(nameserver_info.main, {"path": str(resolv)})
    assert result["usable"] == ["192.0.2.1", "2001:db8::1"]
    assert result["lookups"] == []


def test_missing_file_fails_with_a_message(tmp_path):
    result = run_module(nameserver_info.main, {"path": str(tmp_path / "absent")})
    assert result["failed"] and "cannot read" in result["msg"] and "absent" in result["msg"]


def test_a_name_nobody_knows_does_not_rule_out_a_server(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\nnameserver 127.0.0.2\n")
    with (
        ReplayingDnsServer("127.0.0.1", reply="host-resolver-container-name") as first,
        ReplayingDnsServer("127.0.0.2", first.port, reply="host-resolver-container-name"),
    ):
        result = run_module(
            nameserver_info.main, {"path": str(resolv), "names": ["mirror-upstream"], "port": first.port}
        )
    assert result["usable"] == ["127.0.0.1", "127.0.0.2"]
    assert result["unresolved"] == ["mirror-upstream"]
