# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers: conda match specs, read and matched by the node's own conda.

conda's MatchSpec (conda.models.match_spec) has more rules than its documentation tells:
bracket fields, channels with their labels and mirrors, subdirs, build numbers with
operators, URLs and file names as specs. Rather than keep a copy of those rules, a module
asks the conda installed on the node, in one interpreter for every spec of a check
(SCRIPT, run by that installation's Python): what conda reads as each spec's name, whether
it refuses the spec and why, and whether the installed record of that name matches.
No Ansible imports; callers pass their module's run_command.
"""

from __future__ import annotations

import json
import os

# Run by the Python of the node's conda installation: a JSON request on stdin
# ({"specs": [...], "records": [conda-meta records]}), a JSON list on stdout, one answer per
# spec: {"spec", "name"} and, where a record of that name is given, "installed" (its
# name-version-build) and "match" (or "match_error", when conda cannot compare that record);
# or {"spec", "error"} when conda refuses the spec.
SCRIPT = r"""
import json, sys
from conda.models.match_spec import MatchSpec
request = json.load(sys.stdin)
installed = {record["name"]: record for record in request.get("records") or []}
answers = []
for text in request["specs"]:
    answer = {"spec": text}
    answers.append(answer)
    try:
        spec = MatchSpec(text)
    except Exception as exc:
        answer["error"] = "%s: %s" % (type(exc).__name__, str(exc).strip())
        continue
    answer["name"] = spec.name
    record = installed.get(spec.name)
    if record is not None:
        answer["installed"] = "%s-%s-%s" % (record["name"], record["version"], record["build"])
        try:
            answer["match"] = bool(spec.match(record))
        except Exception as exc:
            answer["match_error"] = "%s: %s" % (type(exc).__name__, str(exc).strip())
json.dump(answers, sys.stdout)
"""

# The fields of a conda-meta record that a match spec can name (conda's MatchSpec.FIELD_NAMES
# that records carry); file lists and dependencies stay out of the request.
RECORD_FIELDS = (
    "name",
    "version",
    "build",
    "build_number",
    "channel",
    "subdir",
    "fn",
    "md5",
    "sha256",
    "url",
    "license",
    "license_family",
    "features",
    "track_features",
)


class MatchSpecError(ValueError):
    """conda refused a spec, or could not be asked; the message says which and why."""


def python_of(root_prefix: str) -> str:
    """The interpreter of a conda installation (the one whose conda package is imported)."""
    return os.path.join(root_prefix, "bin", "python")


def ask(run_command, python: str, specs: list[str], records: list[dict] | None = None) -> list[dict]:
    """conda's answer for each spec (SCRIPT's output), in one run of the installation's Python."""
    if not specs:
        return []
    request = {
        "specs": list(specs),
        "records": [{k: r[k] for k in RECORD_FIELDS if k in r} for r in records or []],
    }
    return run_script(run_command, python, SCRIPT, request, len(specs), "read the match specs")


def run_script(run_command, python: str, script: str, request, count: int, what: str) -> list:
    """SCRIPT's JSON list of COUNT answers to REQUEST (JSON on its stdin), run by a conda installation's PYTHON.

    WHAT says what conda was asked to do, in the MatchSpecError raised when it could not answer.
    """
    if not os.path.exists(python):
        raise MatchSpecError(f"{python} not found: conda must {what}, install it first")
    rc, out, err = run_command([python, "-c", script], data=json.dumps(request), environ_update={"LC_ALL": "C"})
    try:
        answers = json.loads(out) if rc == 0 else None
    except ValueError:
        answers = None
    if not isinstance(answers, list) or len(answers) != count:
        detail = "\n".join((err or out or "no output").strip().splitlines()[-20:])
        raise MatchSpecError(f"asking {python}'s conda to {what} failed (exit status {rc}): {detail}")
    return answers


def refusals(answers: list[dict]) -> list[str]:
    """One line per spec conda refuses: the spec, then conda's reason."""
    return [f"{a['spec']!r}: {a['error']}" for a in answers if a.get("error")]
