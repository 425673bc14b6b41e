# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hub's page of shared environments: the node's catalogue, for the users JupyterHub lets in.

    python jupyter_environments.py CATALOGUE_DIR

A JupyterHub-managed service (see jupyterhub_config.py), run as an unprivileged user with the hub
environment's Python. JupyterHub starts it with its URL, prefix and API token in the environment
and lists it in the Services menu of the hub's pages; users reach it through the proxy at
/services/environments/. It asks the hub who the user is (OAuth) and answers only users whose
roles give them this service. Each request reads the catalogue's NAME.html sections, which the
shared_env module writes beside NAME.json and NAME.md, so the page is always the node's.
"""

from __future__ import annotations

import glob
import os
import sys
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import ioloop, web

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Shared environments</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 70em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
code {{ background: #f4f4f4; }}
</style>
</head>
<body>
<p><a href="{home}">Back to the hub</a></p>
<h1>Shared environments</h1>
<p>The environments every node of this cluster offers, their versions and what changed in each.
A kept version stays usable by its own name for as long as it is kept; a notebook records the
version its kernel ran in. In a terminal, <code>hpcenv-envs list</code>, <code>show</code> and
<code>diff</code> say the same.</p>
{sections}
</body>
</html>
"""


class EnvironmentsPage(HubOAuthenticated, web.RequestHandler):
    def initialize(self, catalogue: str) -> None:
        self.catalogue = catalogue

    @web.authenticated
    def get(self) -> None:
        sections = []
        for path in sorted(glob.glob(os.path.join(self.catalogue, "*.html"))):
            try:
                with open(path, encoding="utf-8") as section:
                    sections.append(section.read())
            except OSError:
                continue  # removed while listed: the env is going away
        home = url_path_join(os.environ.get("JUPYTERHUB_BASE_URL", "/"), "hub/home")
        found = "\n".join(sections) or "<p>No shared environment on this node yet.</p>"
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(PAGE.format(home=home, sections=found))


def main() -> None:
    catalogue = sys.argv[1]
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    app = web.Application(
        [
            (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
            (prefix, EnvironmentsPage, {"catalogue": catalogue}),
        ],
        cookie_secret=os.urandom(32),
    )
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    app.listen(url.port, url.hostname)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
