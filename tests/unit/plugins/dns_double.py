"""TEST DOUBLE of a DNS server: answers every query with a response recorded from a real one.

The recordings are module_utils/fixtures/dns/responses.json (see the README there).
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

_FILE = Path(__file__).parent / "module_utils" / "fixtures" / "dns" / "responses.json"
RESPONSES = {k: v for k, v in json.loads(_FILE.read_text()).items() if not k.startswith("_")}


class ReplayingDnsServer:
    """UDP on ADDRESS:port; `reply` names the recorded response to send (None: stay silent)."""

    def __init__(self, address: str, port: int = 0, reply: str | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.port = self.sock.getsockname()[1]
        self.reply = reply

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                return
            if self.reply is not None:
                recorded = bytes.fromhex(RESPONSES[self.reply]["hex"])
                self.sock.sendto(data[:2] + recorded[2:], peer)  # the recorded answer under the query's id

    def __enter__(self) -> ReplayingDnsServer:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()
