"""TEST DOUBLE: conda's error shapes.

With --json, conda prints one JSON object for an error and exits 1; its keys
are those of conda.exceptions.CondaError.dump_map() (caused_by, error,
exception_name, exception_type, message, plus the error's own fields). See
https://docs.conda.io/projects/conda/en/stable/dev-guide/api/conda/exceptions/index.html
Without --json, conda prints the "error" text to stderr.
"""

from __future__ import annotations

import json
import sys


class CondaError(Exception):
    """One conda exception: `name` is conda's class name, `fields` its extra keys."""

    def __init__(self, name: str, message: str, **fields):
        super().__init__(message)
        self.name = name
        self.message = message
        self.fields = fields

    def dump_map(self) -> dict:
        return {
            "caused_by": "None",
            "error": f"{self.name}: {self.message}",
            "exception_name": self.name,
            "exception_type": f"<class 'conda.exceptions.{self.name}'>",
            "message": self.message,
            **self.fields,
        }

    def report(self, as_json: bool) -> int:
        if as_json:
            print(json.dumps(self.dump_map(), indent=2, sort_keys=True))
        else:
            print(f"\n{self.name}: {self.message}\n", file=sys.stderr)
        return 1


def packages_not_found(packages: list[str], channel_urls: list[str]) -> CondaError:
    listing = "\n".join(f"  - {p}" for p in packages)
    channels = "\n".join(f"  - {u}" for u in channel_urls)
    return CondaError(
        "PackagesNotFoundError",
        "The following packages are not available from current channels:\n\n"
        f"{listing}\n\nCurrent channels:\n\n{channels}\n\n"
        "To search for alternate channels that may provide the conda package you're\n"
        "looking for, navigate to\n\n    https://anaconda.org\n\n"
        "and use the search bar at the top of the page.\n",
        packages=packages,
        channel_urls=channel_urls,
    )


def unsatisfiable(detail: str) -> CondaError:
    # conda >= 23.10 uses the libmamba solver by default; its error is this one.
    return CondaError("LibMambaUnsatisfiableError", f"Encountered problems while solving:\n{detail}\n")


def http_error(url: str, status: str, reason: str, details: str = "") -> CondaError:
    return CondaError(
        "CondaHTTPError",
        f"HTTP {status} {reason} for url <{url}>\nElapsed: -\n\n"
        "An HTTP error occurred when trying to retrieve this URL.\n"
        "HTTP errors are often intermittent, and a simple retry will get you on your way.\n"
        + (f"\n{details}\n" if details else ""),
        url=url,
        status_code=status,
        reason=reason,
        elapsed_time="-",
        response_details=details,
    )


def unavailable_channel(channel: str, url: str, status: str, reason: str) -> CondaError:
    return CondaError(
        "UnavailableInvalidChannel",
        f"HTTP {status} {reason} for channel {channel} <{url}>\n\nThe channel is not accessible or is invalid.\n",
        channel_name=channel,
        channel_url=url,
        status_code=status,
        reason=reason,
    )


def channel_not_allowed(channel: str, url: str, allowlist: list[str]) -> CondaError:
    allowed = "\n".join(f"    - {a}" for a in allowlist)
    return CondaError(
        "ChannelNotAllowed",
        f"Channel not included in allowlist:\n  channel name: {channel}\n  channel url: {url}\n"
        f"  allowlist channels:\n{allowed}\n",
        channel_name=channel,
        channel_url=url,
    )


def env_not_found(name: str) -> CondaError:
    return CondaError("EnvironmentLocationNotFound", f"Not a conda environment: {name}", location=name)


def prefix_exists(prefix: str) -> CondaError:
    return CondaError(
        "CondaValueError",
        f"prefix already exists: {prefix}",
    )
