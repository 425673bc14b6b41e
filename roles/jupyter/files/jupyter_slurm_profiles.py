# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Users' servers as Slurm jobs, from profiles an admin lists (jupyter_spawner: slurm).

Loaded by jupyterhub_config.py. The spawn form offers the profiles of jupyter_slurm_profiles (CPU,
one GPU, a partition, a time limit); the chosen one runs the user's server as a batch job submitted
as the user (batchspawner's SlurmSpawner, behind wrapspawner's ProfilesSpawner). A profile can be
limited to groups: the form shows it to others greyed out with the groups it is for, and a start
that asks for it anyway (an edited form, the REST API) is refused with a message the user sees,
never submitted.
"""

from __future__ import annotations

import grp
import html
import importlib
import os
import pwd

FIELD = "profile"
CHILD = "batchspawner.SlurmSpawner"
# A profile's keys and the SlurmSpawner traits they set (the job's #SBATCH lines).
REQUESTS = {
    "partition": "req_partition",
    "time": "req_runtime",
    "cpus": "req_nprocs",
    "memory": "req_memory",
    "gres": "req_gres",
    "account": "req_account",
    "qos": "req_qos",
}


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
        """ProfilesSpawner with these profiles' form, and their group limits checked at every start."""
        # The hub's own packages (absent in unit tests). batchspawner registers the hub's API its
        # jobs report their port to.
        importlib.import_module("batchspawner")
        profiles_spawner = importlib.import_module("wrapspawner").ProfilesSpawner
        profiles = self

        class SlurmProfilesSpawner(profiles_spawner):
            """ProfilesSpawner whose form and starts know who may use each profile."""

            async def get_options_form(self):
                return profiles.options_form(self.user.name)

            def options_from_form(self, formdata):
                return profiles.options_from_form(formdata, self.user.name)

            async def start(self):
                key = (self.user_options or {}).get(FIELD) or profiles.default(self.user.name)
                reason = profiles.refusal(key, self.user.name)
                if reason:
                    raise ValueError(reason)
                self.user_options = {**(self.user_options or {}), FIELD: key}
                # A new job from the chosen profile: never a child left from an earlier one.
                self.child_spawner = None
                self.child_state = {}
                self.child_config = {}
                return await super().start()

        return SlurmProfilesSpawner
