#!/usr/bin/python
# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nameserver_info
short_description: The host's DNS servers, and which of them resolve the names a service needs
version_added: 1.0.0
description:
  - Reads the host's C(resolv.conf) as the C library does (at most three C(nameserver) lines, C(#) and C(;)
    comments, the last C(search)/C(domain) line) and returns its nameservers, read afresh on every run rather
    than from cached facts.
  - With O(names), asks each nameserver directly (one UDP query per name and server) and returns RV(usable),
    the nameservers that resolve every name that any of them resolves. Services with their own DNS client,
    such as nginx's C(resolver), spread their queries over all the servers they are given and take a
    "no such name" answer as final, so they must only get servers that agree; unreachable ones are left out too.
author:
  - hpcenv.gpu_cluster contributors (@hpcenv)
extends_documentation_fragment:
  - hpcenv.gpu_cluster.read_only
options:
  names:
    description:
      - Host names to look up at each nameserver (IP addresses are skipped). Empty to only read the file.
    type: list
    elements: str
    default: []
  path:
    description: The resolver configuration to read.
    type: path
    default: /etc/resolv.conf
  timeout:
    description: Seconds to wait for each answer.
    type: float
    default: 2.0
  port:
    description: The DNS port of the nameservers.
    type: int
    default: 53
notes:
  - A name no nameserver resolves (a typo, an upstream that is down, an air-gapped site) does not count against
    any server; it is listed in RV(unresolved). When no server answers at all, RV(usable) is empty and the caller
    decides whether to fail or to fall back on RV(nameservers).
seealso:
  - name: resolv.conf(5)
    description: The resolver configuration file this module reads.
    link: https://man7.org/linux/man-pages/man5/resolv.conf.5.html
  - name: nginx resolver directive
    description: Where the result goes (nginx needs an explicit resolver for names in proxy_pass variables).
    link: https://nginx.org/en/docs/http/ngx_http_core_module.html#resolver
"""

EXAMPLES = r"""
- name: Find the DNS servers that know the upstream hosts
  hpcenv.gpu_cluster.nameserver_info:
    names: [conda.anaconda.org, github.com]
  register: dns

- name: Show which servers answer
  ansible.builtin.debug:
    msg: "{{ dns.usable }} of {{ dns.nameservers }}"
"""

RETURN = r"""
nameservers:
  description: The nameservers the C library uses, in the file's order (at most three).
  returned: always
  type: list
  elements: str
  sample: ["10.89.0.1", "10.255.255.53"]
ignored:
  description: C(nameserver) entries the C library ignores (not an address, or beyond the third).
  returned: always
  type: list
  elements: str
  sample: []
search:
  description: The search domains.
  returned: always
  type: list
  elements: str
  sample: [dns.podman]
usable:
  description:
    - The nameservers that resolved every name of O(names) that any nameserver resolved, in the file's order; all
      of RV(nameservers) when O(names) is empty.
  returned: always
  type: list
  elements: str
  sample: ["10.89.0.1"]
unresolved:
  description: Names of O(names) that no nameserver resolved.
  returned: always
  type: list
  elements: str
  sample: []
lookups:
  description:
    - One entry per nameserver and name, C(status) being C(ok), C(nxdomain), C(servfail), C(refused),
      C(timeout) or C(error).
  returned: always
  type: list
  elements: dict
  sample:
    - {"nameserver": "10.89.0.1", "name": "mirror-upstream", "status": "ok", "addresses": ["10.89.0.2"], "error": ""}
    - {"nameserver": "10.255.255.53", "name": "mirror-upstream", "status": "nxdomain", "addresses": [], "error": ""}
"""

import ipaddress

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcenv.gpu_cluster.plugins.module_utils import _dns


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "names": {"type": "list", "elements": "str", "default": []},
            "path": {"type": "path", "default": "/etc/resolv.conf"},
            "timeout": {"type": "float", "default": 2.0},
            "port": {"type": "int", "default": 53},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        with open(p["path"], encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        module.fail_json(msg=f"cannot read {p['path']}: {exc.strerror}; the host has no DNS configuration")
    conf = _dns.parse_resolv_conf(text)
    names = [n for n in dict.fromkeys(p["names"]) if n and not _is_address(n)]
    lookups = [
        {"nameserver": server, "name": name, **_dns.query(server, name, p["timeout"], p["port"])}
        for server in conf["nameservers"]
        for name in names
    ]
    resolved = {entry["name"] for entry in lookups if entry["status"] == "ok"}
    usable = [
        server
        for server in conf["nameservers"]
        if all(
            entry["status"] == "ok" for entry in lookups if entry["nameserver"] == server and entry["name"] in resolved
        )
    ]
    module.exit_json(
        changed=False,
        nameservers=conf["nameservers"],
        ignored=conf["ignored"],
        search=conf["search"],
        usable=usable,
        unresolved=[name for name in names if name not in resolved],
        lookups=lookups,
    )


if __name__ == "__main__":
    main()
