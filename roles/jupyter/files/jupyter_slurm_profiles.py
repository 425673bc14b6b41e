# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Users' servers as Slurm jobs, from profiles an admin lists (jupyter_spawner: slurm).

Loaded by jupyterhub_config.py. The spawn form offers the profiles of jupyter_slurm_profiles (CPU,
one GPU, a partition, a time limit); the chosen one runs the user's server as a batch job submitted
as the user (batchspawner's SlurmSpawner, behind wrapspawner's ProfilesSpawner). A profile can be
limited to groups: the form shows it to others greyed out with the groups it is for, and a start
that asks for it anyway (an edited form, the REST API) is refused with a message the user sees,
never submitted.

What a user sends never reaches the job but the profile's name: the job's requests come from the
profile alone, at every start and after a hub restart (the saved state keeps the job, not its
settings), and the hub's endpoint the job reports its port to takes a port and nothing else
(batchspawner's own sets any attribute the job names on the hub's spawner).
"""

from __future__ import annotations

import grp
import html
import importlib
import json
import os
import pwd
import re

FIELD = "profile"
CHILD = "batchspawner.SlurmSpawner"
# A profile's keys and the SlurmSpawner traits they set (#SBATCH lines of batchspawner's job script).
REQUESTS = {
    "partition": "req_partition",
    "time": "req_runtime",
    "cpus": "req_nprocs",
    "memory": "req_memory",
    "gres": "req_gres",
}
# The hub's endpoint a job reports its port to (batchspawner's path, under /hub).
PORT_API = r"/api/batchspawner"
# Names the hub passes to a root shell (batchspawner runs its commands through one): POSIX
# portable user names only.
SAFE_USER = re.compile(r"[a-z_][a-z0-9_.-]*[$]?")


def groups_of(user: str) -> set:
    """The names of USER's groups (primary and supplementary, as NSS gives them); none for an unknown user."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return set()
    names = set()
    for gid in os.getgrouplist(user, entry.pw_gid):
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return names


class SlurmProfiles:
    """The profiles, who may use each, the spawn form, and what a choice submits."""

    def __init__(self, profiles: list, groups_of=groups_of):
        self.profiles = [
            {**p, "display": p.get("display") or p["name"], "groups": list(p.get("groups") or [])} for p in profiles
        ]
        self.groups_of = groups_of

    def allowed(self, profile: dict, user: str) -> bool:
        return not profile["groups"] or bool(set(profile["groups"]) & self.groups_of(user))

    def find(self, key: str):
        return next((p for p in self.profiles if p["name"] == key), None)

    def refusal(self, key: str, user: str):
        """Why USER may not start profile KEY, or None when they may."""
        profile = self.find(key)
        if not SAFE_USER.fullmatch(user):
            return f"The user name {user!r} cannot be passed to Slurm: servers as Slurm jobs need a POSIX user name."
        if not key:
            return f"No profile of this hub is open to {user}: ask the cluster's admins which group gives access."
        if profile is None:
            return f"There is no profile {key!r} on this hub: reload the page and choose one it offers."
        if not self.allowed(profile, user):
            return (
                f"The profile {profile['display']!r} is for members of {', '.join(profile['groups'])}, and {user} is "
                "not one: choose another profile, or ask the cluster's admins to add you to one of those groups."
            )
        return None

    def default(self, user: str) -> str:
        """The first profile USER may use (a start without a form or options), or '' when none."""
        return next((p["name"] for p in self.profiles if self.allowed(p, user)), "")

    def options_form(self, user: str) -> str:
        """The spawn form for USER: every profile, those of other groups greyed out with who may use them."""
        first = self.default(user)
        if not first:
            return f"<p>{html.escape(self.refusal('', user))}</p>"
        rows = [
            f'<label for="hpcenv-{FIELD}">Your server runs as a Slurm job, as you. Choose its resources:</label>',
            f'<select class="form-control" name="{FIELD}" id="hpcenv-{FIELD}" required autofocus>',
        ]
        for p in self.profiles:
            label = p["display"]
            state = ""
            if not self.allowed(p, user):
                label += f" (for members of {', '.join(p['groups'])})"
                state = " disabled"
            elif p["name"] == first:
                state = " selected"
            rows.append(f'<option value="{html.escape(p["name"])}"{state}>{html.escape(label)}</option>')
        rows.append("</select>")
        return "\n".join(rows)

    def options_from_form(self, formdata: dict, user: str) -> dict:
        """The form's choice; one USER may not start is refused here, and the hub shows the form again
        with the message."""
        key = (formdata.get(FIELD) or [self.default(user)])[0]
        reason = self.refusal(key, user)
        if reason:
            raise ValueError(reason)
        return {FIELD: key}

    def wrapspawner_profiles(self) -> list:
        """ProfilesSpawner's profiles: (display, key, spawner class, its traits) per profile."""
        return [
            (p["display"], p["name"], CHILD, {trait: str(p[key]) for key, trait in REQUESTS.items() if p.get(key)})
            for p in self.profiles
        ]

    def spawner_class(self):
        """ProfilesSpawner with these profiles' form, their group limits checked at every start, and
        nothing of a job's settings taken from anywhere but the profile."""
        # The hub's own packages (absent in unit tests).
        slurm_spawner = importlib.import_module("batchspawner").SlurmSpawner
        profiles_spawner = importlib.import_module("wrapspawner").ProfilesSpawner
        _port_endpoint_only()
        profiles = self

        class SlurmProfilesSpawner(profiles_spawner):
            """ProfilesSpawner whose form and starts know who may use each profile."""

            async def get_options_form(self):
                return profiles.options_form(self.user.name)

            def options_from_form(self, formdata):
                return profiles.options_from_form(formdata, self.user.name)

            def select_profile(self, profile):
                # The profile's own settings, copied; a profile renamed or removed while its job ran
                # still gets a SlurmSpawner, which finds the job and can stop it.
                found = next((p for p in self.profiles if p[1] == profile), None)
                self.child_class = found[2] if found else slurm_spawner
                self.child_config = dict(found[3]) if found else {}

            def get_state(self):
                state = super().get_state()
                state.pop("child_conf", None)
                return state

            def load_state(self, state):
                super().load_state({key: value for key, value in state.items() if key != "child_conf"})

            async def start(self):
                key = (self.user_options or {}).get(FIELD) or profiles.default(self.user.name)
                reason = profiles.refusal(key, self.user.name)
                if reason:
                    raise _refused(reason)
                # The profile's name, nothing else: batchspawner puts a spawner's user options into
                # the job script's variables.
                self.user_options = {FIELD: key}
                # A new job from the chosen profile; the port the new job reports, not an old one.
                self.child_spawner = None
                self.child_state = {}
                self.child_config = {}
                self.port = 0
                return await super().start()

        return SlurmProfilesSpawner


def _refused(reason: str) -> Exception:
    """A refused start as the hub shows it to the user: 403 with the reason."""
    try:
        web = importlib.import_module("tornado.web")
    except ImportError:
        return ValueError(reason)
    return web.HTTPError(403, reason)


def _port_endpoint_only() -> None:
    """Put a handler that takes a port, and nothing else, at batchspawner's endpoint.

    batchspawner's own (registered when it is imported) sets every attribute the request names on
    the hub's spawner, with the token every job has in its environment."""
    web = importlib.import_module("tornado.web")
    apihandlers = importlib.import_module("jupyterhub.apihandlers")

    class PortHandler(apihandlers.APIHandler):
        @web.authenticated
        def post(self):
            token = self.get_auth_token()
            spawners = getattr(self.current_user, "spawners", {}) or {}
            spawner = next((s for s in spawners.values() if s.api_token == token), None)
            body = self.get_json_body()
            port = body.get("port") if isinstance(body, dict) else None
            # A number of JSON's, not true or false (bool is an int in Python).
            valid = isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535
            if spawner is None or not valid or set(body) != {"port"}:
                raise web.HTTPError(400, 'A server reports {"port": <1-65535>} only, with its own token.')
            spawner.port = port
            self.set_status(201)
            self.finish(json.dumps({"message": "port set"}))

    others = [entry for entry in apihandlers.default_handlers if entry[0] != PORT_API]
    apihandlers.default_handlers[:] = [*others, (PORT_API, PortHandler)]
