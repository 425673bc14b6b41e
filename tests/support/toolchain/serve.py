"""TEST DOUBLE "upstream": serve the origin channel and installers over HTTP.

    python3 serve.py --root DIR [--port 8000] [--bind 0.0.0.0] [--log FILE] [--delay GLOB=SECONDS ...]

Stands in for conda.anaconda.org and the Miniforge release downloads. Standard
library only, so it runs with any node's Python. Every request is appended to
--log as one line:  <unix time> <client> <METHOD> <path> <status> <bytes sent>
so tests can count what was fetched (e.g. each package file exactly once).
--delay holds back responses whose path matches GLOB (fnmatch) for SECONDS, so a
test can kill a client in the middle of a download.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import http.server
import threading
import time


class Handler(http.server.SimpleHTTPRequestHandler):
    log_file = None
    delays: tuple = ()  # (glob, seconds) pairs, set once in main()
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def log_request(self, code="-", size="-"):
        self._code = int(code) if str(code).isdigit() else code  # written once the response is sent

    def handle_one_request(self):
        self._code, self._sent = None, 0
        super().handle_one_request()
        if self.log_file is not None and self._code is not None:
            line = f"{time.time():.3f} {self.client_address[0]} {self.command} {self.path} {self._code} {self._sent}\n"
            with self.lock, open(self.log_file, "a") as fh:
                fh.write(line)

    def copyfile(self, source, outputfile):
        for pattern, seconds in self.delays:
            if fnmatch.fnmatch(self.path, pattern):
                time.sleep(seconds)
        while chunk := source.read(64 * 1024):
            outputfile.write(chunk)
            self._sent += len(chunk)

    def log_message(self, format, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--bind", default="0.0.0.0")  # noqa: S104 - it serves a test network
    parser.add_argument("--log")
    parser.add_argument("--delay", action="append", default=[], metavar="GLOB=SECONDS")
    args = parser.parse_args()
    Handler.log_file = args.log
    Handler.delays = tuple((d.rsplit("=", 1)[0], float(d.rsplit("=", 1)[1])) for d in args.delay)
    handler = functools.partial(Handler, directory=args.root)
    server = http.server.ThreadingHTTPServer((args.bind, args.port), handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
