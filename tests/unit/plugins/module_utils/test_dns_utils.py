"""_dns: resolv.conf as the C library reads it, DNS messages as servers really send them.

Fixtures (fixtures/dns/README.md says where each comes from): a Podman container's
resolv.conf and raw DNS responses recorded on the project's test host, and the
resolv.conf systemd-resolved writes, taken from systemd's source.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _dns

from ..dns_double import RESPONSES, ReplayingDnsServer

FIXTURES = Path(__file__).parent / "fixtures" / "dns"


def test_podman_container_resolv_conf():
    conf = _dns.parse_resolv_conf((FIXTURES / "podman-cni-dnsname.resolv.conf").read_text())
    assert conf == {
        "nameservers": ["10.89.0.1", "10.255.255.53"],
        "ignored": [],
        "search": ["dns.podman"],
        "options": [],
    }


def test_systemd_resolved_file_keeps_three_servers_like_glibc():
    conf = _dns.parse_resolv_conf((FIXTURES / "systemd-resolved-four-servers.resolv.conf").read_text())
    assert conf["nameservers"] == ["192.0.2.1", "192.0.2.2", "2001:db8::53"]
    assert conf["ignored"] == ["192.0.2.4"]
    assert conf["search"] == ["example.org", "lab.example.org"]


@pytest.mark.parametrize(
    ("text", "nameservers", "ignored", "search"),
    [
        pytest.param("; comment\n# nameserver 192.0.2.9\nnameserver 192.0.2.1\n", ["192.0.2.1"], [], [], id="comments"),
        pytest.param("nameserver resolver.example.org\n", [], ["resolver.example.org"], [], id="not-an-address"),
        pytest.param("search a.example b.example\ndomain c.example\n", [], [], ["c.example"], id="last-domain-wins"),
        pytest.param("nameserver fe80::1%eth0\n", ["fe80::1%eth0"], [], [], id="scoped-ipv6"),
        pytest.param("", [], [], [], id="empty"),
    ],
)
def test_resolv_conf_rules(text, nameservers, ignored, search):
    conf = _dns.parse_resolv_conf(text)
    assert (conf["nameservers"], conf["ignored"], conf["search"]) == (nameservers, ignored, search)


@pytest.mark.parametrize("case", sorted(RESPONSES), ids=sorted(RESPONSES))
def test_recorded_responses(case):
    recorded = RESPONSES[case]
    answer = _dns.parse_response(bytes.fromhex(recorded["hex"]), 0x1234)
    assert answer == {"status": recorded["status"], "addresses": recorded["addresses"]}


def test_query_matches_what_was_sent_when_recording():
    # The recorded responses echo the question: the query we build is the one that was sent.
    recorded = RESPONSES["dnsmasq-known-name"]
    question = _dns.build_query(recorded["name"], 0x1234)[12:]
    assert bytes.fromhex(recorded["hex"])[12 : 12 + len(question)] == question


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param(b"\x12\x34", "shorter than a header", id="short"),
        pytest.param(bytes.fromhex(RESPONSES["dnsmasq-known-name"]["hex"])[:-6], "truncated", id="truncated"),
        pytest.param(bytes.fromhex("4321" + RESPONSES["dnsmasq-unknown-name"]["hex"][4:]), "does not match", id="id"),
    ],
)
def test_malformed_responses_raise_dns_error(data, problem):
    with pytest.raises(_dns.DnsError, match=problem):
        _dns.parse_response(data, 0x1234)


def test_bad_names_are_refused():
    with pytest.raises(_dns.DnsError):
        _dns.build_query("a..b", 1)
    assert _dns.query("127.0.0.1", "x" * 64 + ".example", timeout=0.1)["status"] == "error"


def test_query_over_udp():
    with ReplayingDnsServer("127.0.0.1") as server:
        server.reply = "dnsmasq-known-name"
        assert _dns.query("127.0.0.1", "mirror-upstream", timeout=2, port=server.port) == {
            "status": "ok",
            "addresses": ["10.89.0.2"],
            "error": "",
        }
        server.reply = "host-resolver-container-name"
        assert _dns.query("127.0.0.1", "mirror-upstream", timeout=2, port=server.port)["status"] == "nxdomain"
        server.reply = None
        assert _dns.query("127.0.0.1", "mirror-upstream", timeout=0.2, port=server.port)["status"] == "timeout"
