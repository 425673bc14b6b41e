"""Podman connection for the test nodes, with pipelining: one `podman exec` a module.

Test harness only (never shipped; galaxy.yml leaves tests/ out), for the
bench's transports (bench/cluster.py --pipelined and --demo). The Molecule
scenarios reach their nodes over SSH instead (tests/harness/node-ssh), which
costs less again. containers.podman.podman runs every module in three or four
`podman exec` calls (make a temporary directory, copy the module, run it,
remove the directory) after a `podman mount`, because it never passes
`--interactive` and so cannot take a module on standard input. This plugin,
found first through ANSIBLE_CONNECTION_PLUGINS, is the same connection with
`podman exec --interactive` when there is input, so Ansible pipelines modules
(one call each), and it mounts a container's file system only when a file is
copied.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: podman
short_description: Podman containers, with modules pipelined through podman exec --interactive
description:
  - The containers.podman.podman connection, run with C(podman exec --interactive) when a command has input,
    so that Ansible pipelines modules into the container (one C(podman exec) a module).
  - The container's file system is mounted only when a file is copied in or out.
author: hpcenv.gpu_cluster test harness
extends_documentation_fragment:
  - ansible.builtin.connection_pipelining
options:
  remote_addr:
    description: The ID or name of the container.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_podman_host
  remote_user:
    description: The user in the container (podman exec --user); the container's default when unset.
    vars:
      - name: ansible_user
    env:
      - name: ANSIBLE_REMOTE_USER
    ini:
      - section: defaults
        key: remote_user
    keyword:
      - name: remote_user
  podman_extra_args:
    description: Extra arguments for podman, before its command.
    default: ""
    vars:
      - name: ansible_podman_extra_args
    env:
      - name: ANSIBLE_PODMAN_EXTRA_ARGS
  podman_executable:
    description: The podman executable.
    default: podman
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
"""

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase

from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection


class Connection(PodmanConnection):
    transport = "podman"
    has_pipelining = True

    def _connect(self):
        # Nothing to set up: put_file and fetch_file mount the container when they need to.
        self._connected = True
        return self

    def _mount(self) -> None:
        if self._mount_point is None and not self.user:
            PodmanConnection._connect(self)

    def exec_command(self, cmd, in_data=None, sudoable=False):
        """Run a command in the container; with input (a pipelined module), keep stdin open."""
        ConnectionBase.exec_command(self, cmd, in_data=in_data, sudoable=sudoable)  # the base's part only
        args = ["exec"]
        if in_data is not None:
            args.append("--interactive")
        if self.user:
            args.extend(("--user", self.user))
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

    def put_file(self, in_path, out_path):
        self._mount()
        return super().put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._mount()
        return super().fetch_file(in_path, out_path)
