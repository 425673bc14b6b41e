"""Drive JupyterHub over real HTTP(S) as a user would, for the jupyter scenario's verify.

    python hub_client.py URL CA_FILE USER PASSWORD KERNEL      log in, read the page of shared
        environments, start a server, run code in KERNEL
    python hub_client.py --wait-culled URL CA_FILE USER PASSWORD SECONDS
    python hub_client.py --logins URL CA_FILE USER:PASSWORD...     the login form's status for each
    python hub_client.py --swap URL CA_FILE USER PASSWORD KERNEL MARKER_DIR
        start KERNEL, keep it busy until MARKER_DIR/swap-done appears (the playbook swaps the
        env meanwhile), then import in it again and start a second kernel; the env version
        each kernel reports (language_info)

Runs with the hub environment's Python (requests and tornado come with JupyterHub).
Prints one JSON object with what it saw; the playbook asserts on it.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import uuid

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


def login(base: str, ca: str, user: str, password: str) -> tuple[int, requests.Session]:
    """Log in through the login form (XSRF token included), as a browser does; (status, session)."""
    browser = requests.Session()
    browser.verify = ca
    page = browser.get(f"{base}hub/login", timeout=30)
    found = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    form = {"username": user, "password": password, "_xsrf": found.group(1) if found else ""}
    reply = browser.post(f"{base}hub/login", data=form, allow_redirects=False, timeout=60)
    return reply.status_code, browser


def session_token(base: str, browser: requests.Session, user: str) -> tuple[int, str]:
    """A token for the REST API, requested with the logged-in browser session."""
    xsrf = next((c.value for c in browser.cookies if c.name == "_xsrf"), "")
    reply = browser.post(
        f"{base}hub/api/users/{user}/tokens",
        json={"expires_in": 900, "note": "molecule verify"},
        headers={"X-XSRFToken": xsrf},
        timeout=30,
    )
    return reply.status_code, reply.json().get("token", "") if reply.ok else ""


def token_for(base: str, ca: str, user: str, password: str) -> tuple[int, str]:
    """A token from the REST API alone, authenticated by the user's system password (PAM).

    Works for users the hub already knows (who logged in once)."""
    reply = requests.post(
        f"{base}hub/api/users/{user}/tokens",
        json={"auth": {"username": user, "password": password}, "expires_in": 900, "note": "molecule verify"},
        verify=ca,
        timeout=30,
    )
    return reply.status_code, reply.json().get("token", "") if reply.ok else ""


def user_model(base: str, ca: str, user: str, headers: dict) -> dict:
    reply = requests.get(f"{base}hub/api/users/{user}", headers=headers, verify=ca, timeout=30)
    reply.raise_for_status()
    return reply.json()


async def request(ws_url: str, ca: str, headers: dict, msg_type: str, content: dict, timeout: float = 120) -> list:
    """Send one shell request to a kernel; the messages it answers with (its parent): its reply, and all up to idle."""
    conn = await websocket_connect(HTTPRequest(ws_url, headers=headers, ca_certs=ca, validate_cert=True))
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": msg_type, "username": "verify", "session": uuid.uuid4().hex}
    header["version"] = "5.3"
    conn.write_message(
        json.dumps({"header": header, "parent_header": {}, "metadata": {}, "channel": "shell", "content": content})
    )
    # Done when both the reply (shell channel) and the idle status (iopub) came: the two channels
    # keep no order between them, so either may arrive first.
    replies, deadline, reply_type = [], time.monotonic() + timeout, msg_type.replace("_request", "_reply")
    while time.monotonic() < deadline:
        raw = await asyncio.wait_for(conn.read_message(), timeout=timeout)
        if raw is None:
            break
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        replies.append(msg)
        types = [m["msg_type"] for m in replies]
        idle = any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" for m in replies)
        if idle and reply_type in types:
            break
    conn.close()
    return replies


async def execute(ws_url: str, ca: str, headers: dict, code: str, timeout: float = 120) -> str:
    """Run CODE in the kernel; its output (errors as 'ERROR name: value')."""
    content = {"code": code, "silent": False, "store_history": False, "allow_stdin": False}
    out = []
    for msg in await request(ws_url, ca, headers, "execute_request", content, timeout):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("ERROR " + msg["content"].get("ename", "") + ": " + msg["content"].get("evalue", ""))
    return "".join(out)


async def env_version(ws_url: str, ca: str, headers: dict) -> dict:
    """The env version the kernel reports in its language_info (what JupyterLab saves in a notebook)."""
    for msg in await request(ws_url, ca, headers, "kernel_info_request", {}):
        if msg["msg_type"] == "kernel_info_reply":
            return msg["content"].get("language_info", {}).get("hpcenv.gpu_cluster", {})
    return {}


def start_server(base: str, ca: str, user: str, password: str) -> tuple[dict, dict]:
    """Log in through the form, take a token, start the user's server; (headers, what was seen)."""
    seen: dict = {}
    seen["login_status"], browser = login(base, ca, user, password)
    status, token = session_token(base, browser, user)
    seen["token_status"] = status
    headers = {"Authorization": f"token {token}"}
    deadline = time.monotonic() + 180
    # A server still stopping (an earlier story stopped it, and the hub stops it in the
    # background) refuses a start with 400 until it is gone: ask again until the hub takes it.
    while True:
        start = requests.post(f"{base}hub/api/users/{user}/server", headers=headers, verify=ca, timeout=60)
        pending = user_model(base, ca, user, headers).get("servers", {}).get("", {}).get("pending")
        if start.status_code != 400 or pending != "stop" or time.monotonic() > deadline:
            break
        time.sleep(2)
    seen["spawn_status"] = start.status_code
    server = {}
    while time.monotonic() < deadline:
        server = user_model(base, ca, user, headers).get("servers", {}).get("", {})
        if server.get("ready"):
            break
        time.sleep(2)
    seen["server_ready"] = bool(server.get("ready"))
    return headers, seen


def new_kernel(base: str, ca: str, user: str, headers: dict, kernel: str) -> str:
    """The websocket URL of a new kernel of spec KERNEL on the user's server."""
    server_api = f"{base}user/{user}/api"
    started = requests.post(f"{server_api}/kernels", json={"name": kernel}, headers=headers, verify=ca, timeout=60)
    started.raise_for_status()
    ws_url = f"{server_api}/kernels/{started.json()['id']}/channels"
    return ws_url.replace("https://", "wss://").replace("http://", "ws://")


def swap(base: str, ca: str, user: str, password: str, kernel: str, marker_dir: str) -> dict:
    headers, seen = start_server(base, ca, user, password)
    ws_url = new_kernel(base, ca, user, headers, kernel)
    started = f"{marker_dir}/kernel-started"
    done = f"{marker_dir}/swap-done"
    code = (
        "import os, sys, time\n"
        f"open({started!r}, 'w').write(sys.prefix)\n"
        f"while not os.path.exists({done!r}):\n"  # output is activity: the idle culler leaves it alone
        "    print('.', end='', flush=True)\n"
        "    time.sleep(2)\n"
        "print()\n"
        "print(sys.prefix)"
    )
    seen["before"] = asyncio.run(execute(ws_url, ca, headers, code, timeout=900)).strip().splitlines()[-1]
    later = "import sys, numpy; print(sys.prefix); print(numpy.__file__)\nimport six; print(six.__file__)"
    seen["after_swap_same_kernel"] = asyncio.run(execute(ws_url, ca, headers, later)).splitlines()
    seen["old_kernel_env"] = asyncio.run(env_version(ws_url, ca, headers))
    fresh = new_kernel(base, ca, user, headers, kernel)
    seen["new_kernel"] = asyncio.run(execute(fresh, ca, headers, later)).splitlines()
    seen["new_kernel_env"] = asyncio.run(env_version(fresh, ca, headers))
    return seen


def environments_page(base: str, ca: str, user: str, password: str) -> dict:
    """The hub's page of shared environments: for a stranger (sent to log in) and for USER, logged in."""
    page = f"{base}services/environments/"
    stranger = requests.get(page, verify=ca, timeout=30, allow_redirects=False)
    browser = login(base, ca, user, password)[1]
    seen = browser.get(page, timeout=60)  # through the hub's OAuth: authorize, callback, the page
    return {
        "stranger_status": stranger.status_code,
        "stranger_location": stranger.headers.get("Location", ""),
        "status": seen.status_code,
        "url": seen.url,
        "text": seen.text,
    }


def session(base: str, ca: str, user: str, password: str, kernel: str) -> dict:
    seen: dict = {"environments_page": environments_page(base, ca, user, password)}
    page = requests.get(f"{base}hub/login", verify=ca, timeout=30)
    seen["login_page"] = {"status": page.status_code, "has_password_field": 'name="password"' in page.text}
    seen["wrong_password_status"] = login(base, ca, user, password + "-wrong")[0]
    headers, started = start_server(base, ca, user, password)
    seen.update(started)
    specs = requests.get(f"{base}user/{user}/api/kernelspecs", headers=headers, verify=ca, timeout=30).json()
    seen["kernelspecs"] = sorted(specs.get("kernelspecs", {}))
    seen["default_kernel"] = specs.get("default")
    # What a notebook's user sees: the env's prefix, their own uid, the env's bin first on PATH
    # (so `!pip`, `!python` are the env's), the activated env's name, and conda found on PATH.
    code = (
        "import os, shutil, subprocess, sys\n"
        "print(sys.prefix); print(os.getuid()); print(os.environ['PATH'].split(':')[0])\n"
        "print(os.environ.get('CONDA_DEFAULT_ENV')); print(shutil.which('pip'))\n"
        "print(subprocess.run(['conda', 'env', 'list'], capture_output=True, text=True).returncode)"
    )
    ws_url = new_kernel(base, ca, user, headers, kernel)
    seen["kernel_output"] = asyncio.run(execute(ws_url, ca, headers, code)).splitlines()
    return seen


def wait_culled(base: str, ca: str, user: str, password: str, seconds: float) -> dict:
    login(base, ca, user, password)  # token_for needs a user the hub knows: a story may be the first to log in
    token = token_for(base, ca, user, password)[1]
    headers = {"Authorization": f"token {token}"}
    began, deadline = time.monotonic(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "" not in user_model(base, ca, user, headers).get("servers", {}):
            return {"culled": True, "after_seconds": round(time.monotonic() - began)}
        time.sleep(3)
    return {"culled": False, "after_seconds": round(time.monotonic() - began)}


def logins(base: str, ca: str, pairs: list[str]) -> dict:
    """The status of a login through the form for each USER:PASSWORD, in order (302: logged in)."""
    return {"statuses": [login(base, ca, *pair.split(":", 1))[0] for pair in pairs]}


def main() -> None:
    args = sys.argv[1:]
    if args[0] == "--wait-culled":
        result = wait_culled(args[1], args[2], args[3], args[4], float(args[5]))
    elif args[0] == "--logins":
        result = logins(args[1], args[2], args[3:])
    elif args[0] == "--swap":
        result = swap(*args[1:7])
    else:
        result = session(*args[:5])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
