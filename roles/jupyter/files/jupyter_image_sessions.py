# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sessions inside a shared environment's image: the spawn form's choice, and the spawn it makes.

Loaded by jupyterhub_config.py when jupyter_image_sessions is on. The spawn form offers this
node's shared environments (the default, as without this file) and the image of every version of
every kernel environment that the node's catalogue keeps whole: the images the env_images role
publishes, C(<registry>/<namespace>/<variant>/<env>:vN). A chosen image runs the user's server
through the session launcher (jupyter-image-session): rootless Podman as the user, the home
mounted, the hub environment's jupyterhub-singleuser mounted read-only from the node.

The form and the check of a choice both read the catalogue when they run, so a new version is
offered without a restart of the hub, and a choice that is not (or no longer) offered is refused
with a message the user sees, never run.
"""

from __future__ import annotations

import html
import json
import os

FIELD = "environment"
NODE = ""  # the form's value for "this node's shared environments"


class ImageSessions:
    """The spawn form and the pre-spawn hook, for the given hub settings."""

    def __init__(self, catalogue: str, envs: list, registry: str, namespace: str, launcher: str, timeout: int):
        self.catalogue = catalogue
        self.envs = envs
        self.registry = registry
        self.namespace = namespace
        self.launcher = launcher
        self.timeout = timeout

    def offered(self) -> list:
        """Every image the form offers, newest version first per env: dicts with value, env, version,
        image, active."""
        found = []
        for env in self.envs:
            try:
                with open(os.path.join(self.catalogue, env + ".json"), encoding="utf-8") as f:
                    page = json.load(f)
                versions = page.get("versions", [])
                variant = page["variant"]
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # no page yet (a new env): nothing of it to offer
            # As the env_images role publishes them: numbered, kept whole on the node (the catalogue
            # says so with the version's `activate` line, given only to those).
            kept = [v for v in versions if isinstance(v, dict) and v.get("activate")]
            for v in reversed(kept):
                repo = "/".join(part for part in (self.registry, self.namespace, variant, env) if part)
                found.append(
                    {
                        "value": f"{env}:{v['version']}",
                        "env": env,
                        "version": v["version"],
                        "image": f"{repo}:{v['version']}",
                        "active": bool(v.get("active")),
                    }
                )
        return found

    def options_form(self, spawner) -> str:
        """The spawn form: this node's shared environments (selected), then each offered image."""
        rows = [
            f'<label for="hpcenv-{FIELD}">Where your server runs</label>',
            f'<select class="form-control" name="{FIELD}" id="hpcenv-{FIELD}">',
            f'<option value="{NODE}" selected>This node, with the shared environments as kernels</option>',
        ]
        for choice in self.offered():
            label = f"{choice['env']} {choice['version']}{' (active)' if choice['active'] else ''}, as an image"
            rows.append(
                f'<option value="{html.escape(choice["value"])}" title="{html.escape(choice["image"])}">'
                f"{html.escape(label)}</option>"
            )
        rows.append("</select>")
        return "\n".join(rows)

    def options_from_form(self, formdata: dict) -> dict:
        """The form's choice; one the form does not offer is refused here, and the hub shows the
        form again with the message."""
        wanted = (formdata.get(FIELD) or [NODE])[0]
        if wanted != NODE and self.choice(wanted) is None:
            raise ValueError(self.refusal(wanted))
        return {FIELD: wanted}

    def choice(self, wanted: str):
        return next((c for c in self.offered() if c["value"] == wanted), None)

    @staticmethod
    def refusal(wanted: str) -> str:
        return f"{wanted!r} is not an environment image this hub offers (any more): reload the page and choose again."

    def pre_spawn_hook(self, spawner) -> None:
        """Point this spawn at the chosen image, or at the node as configured (a spawner is reused)."""
        defaults = getattr(spawner, "_hpcenv_defaults", None)
        if defaults is None:
            defaults = {
                "cmd": list(spawner.cmd),
                "disable_user_sudo": getattr(spawner, "disable_user_sudo", None),
                "unit_extra_properties": dict(getattr(spawner, "unit_extra_properties", {}) or {}),
                "http_timeout": spawner.http_timeout,
                "start_timeout": spawner.start_timeout,
            }
            spawner._hpcenv_defaults = defaults
        spawner.cmd = list(defaults["cmd"])
        spawner.http_timeout = defaults["http_timeout"]
        spawner.start_timeout = defaults["start_timeout"]
        if defaults["disable_user_sudo"] is not None:
            spawner.disable_user_sudo = defaults["disable_user_sudo"]
            spawner.unit_extra_properties = dict(defaults["unit_extra_properties"])
        wanted = (spawner.user_options or {}).get(FIELD, NODE)
        if wanted == NODE:
            return
        choice = self.choice(wanted)
        if choice is None:  # a start through the REST API, with options no form checked
            try:
                from tornado.web import HTTPError  # noqa: PLC0415 - the hub's own; absent in unit tests
            except ImportError:
                raise ValueError(self.refusal(wanted)) from None
            raise HTTPError(400, self.refusal(wanted))
        spawner.log.info("%s: server in the image %s", spawner.user.name, choice["image"])
        spawner.cmd = [self.launcher, choice["image"], choice["env"], choice["version"]]
        # The first start pulls the image: time for that before the server must answer.
        spawner.http_timeout = max(spawner.http_timeout, self.timeout)
        spawner.start_timeout = max(spawner.start_timeout, self.timeout)
        if defaults["disable_user_sudo"] is not None:
            # Rootless Podman maps the user's subordinate ids with the setuid newuidmap, which a unit
            # with NoNewPrivileges cannot run; the launcher gives the container no-new-privileges
            # itself, so nothing the user runs in the session can gain a privilege.
            spawner.disable_user_sudo = False
            # Stop: SIGTERM to the launcher alone, which stops the container (the server and its
            # terminals with it) and waits until Podman removed it; no SIGHUP to Podman's processes.
            spawner.unit_extra_properties = {
                **defaults["unit_extra_properties"],
                "KillMode": "mixed",
                "SendSIGHUP": "no",
            }
