# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private helpers of the image modules (env_image, env_image_sif): read and retag images in an OCI
registry (the distribution API v2) as Podman on the node would reach it - the registry's CA from
/etc/containers/certs.d/<registry>/, the push credentials from a containers-auth.json file -, where
the SIF files go, and running the tools. Reads are anonymous; a retag (a manifest PUT under another
tag) and a file upload (an HTTP PUT under /sif/, the image_registry role's nginx) carry the
credentials. Images themselves are built, pushed and pulled by Podman. HTTP goes through
ansible-core's open_url; run() takes the module.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import urllib.error

from ansible.module_utils import urls

# The manifest types a registry may hold for one image (Podman pushes the first two).
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
CERTS_DIR = "/etc/containers/certs.d"
# The registry options of the image modules (documented once: doc_fragments/registry.py).
ARGUMENT_SPEC = {
    "registry": {"type": "str", "required": True},
    "namespace": {"type": "str", "default": "hpcenv"},
    "authfile": {"type": "path", "required": True},
    "plain_http": {"type": "bool", "default": False},
}
# Where the registry host serves the SIF files (the image_registry role's nginx).
SIF_ROOT = "sif"
# An env's numbered version, as its tag.
VERSION_TAG = re.compile(r"^v[0-9]+$")


def repository(namespace: str, variant: str, name: str) -> str:
    """The repository of env NAME's images for VARIANT (cpu, cuda12.4, ...)."""
    return f"{namespace}/{variant}/{name}"


def sif_path(repo: str, version: str) -> str:
    """Where the SIF file of REPO's VERSION is, relative to the registry host's root:
    sif/<namespace>/<variant>/<name>-<version>.sif (its checksum: the same + .sha256)."""
    namespace_variant, name = repo.rsplit("/", 1)
    return f"{SIF_ROOT}/{namespace_variant}/{name}-{version}.sif"


def run(module, argv: list[str], what: str, fix: str = "", env: dict | None = None) -> str:
    """Run ARGV (with ENV added to the environment); when it fails, fail the module saying WHAT failed, the
    tool's own words, and what to FIX."""
    rc, out, err = module.run_command(argv, environ_update=env or {})
    if rc != 0:
        tool, said = os.path.basename(argv[0]), (err or out).strip()[-2000:]
        module.fail_json(msg=f"{what} failed ({tool} exit {rc}): {said}" + (f"; {fix}" if fix else ""), cmd=argv)
    return out.strip()


# What to check, said after a registry's error: it cannot be read, or it refused the push account.
UNREACHABLE_FIX = "is the image_registry role converged on it, and its CA on this node?"
REFUSED_FIX = "check env_images_push_password"


class RegistryError(RuntimeError):
    """The registry could not be reached, or refused a request; the message says which and why."""


def credentials(authfile: str, registry: str) -> str:
    """The Basic credentials (base64 of user:password) AUTHFILE holds for REGISTRY, '' when none."""
    try:
        with open(authfile, encoding="utf-8") as handle:
            auths = json.load(handle).get("auths", {})
    except (OSError, ValueError, AttributeError) as exc:
        raise RegistryError(f"cannot read the push credentials in {authfile}: {exc}") from exc
    return str((auths.get(registry) or {}).get("auth", ""))


def open_registry(params: dict, check_mode: bool) -> Registry:
    """The registry an image module's PARAMS name, with the push credentials (none in check mode,
    which pushes nothing: the authfile may not be there yet)."""
    auth = "" if check_mode else credentials(params["authfile"], params["registry"])
    return Registry(params["registry"], params["plain_http"], auth)


class Registry:
    """REGISTRY (host:port) over HTTPS (its CA as Podman finds it), or plain HTTP when PLAIN_HTTP."""

    def __init__(self, registry: str, plain_http: bool = False, auth: str = "", timeout: float = 30.0):
        self.registry, self.auth, self.timeout = registry, auth, timeout
        self.root = f"{'http' if plain_http else 'https'}://{registry}/"
        self.base = self.root + "v2/"
        self.ca = ""
        ca = os.path.join(CERTS_DIR, registry, "ca.crt")
        if not plain_http and os.path.isfile(ca):
            try:  # a file that is no certificate: said here, not as a failed connection
                ssl.create_default_context(cafile=ca)
            except (ssl.SSLError, OSError) as exc:
                raise RegistryError(f"cannot use {ca} as the registry's CA: {exc}") from exc
            self.ca = ca

    def _request(self, method: str, path: str, body=None, headers: dict | None = None, root: bool = False):
        headers = dict(headers or {})
        if self.auth and method not in ("GET", "HEAD"):
            headers["Authorization"] = f"Basic {self.auth}"
        url = (self.root if root else self.base) + path
        try:
            return urls.open_url(
                url,
                data=body,
                headers=headers,
                method=method,
                timeout=self.timeout,
                validate_certs=True,
                ca_path=self.ca or None,
                use_netrc=False,
            )
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, urls.ConnectionError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryError(f"cannot reach the registry {self.registry}: {reason}") from exc

    def digest(self, repository: str, tag: str) -> str:
        """The digest of REPOSITORY:TAG's manifest, '' when the tag does not exist."""
        try:
            with self._request(
                "HEAD", f"{repository}/manifests/{tag}", headers={"Accept": ", ".join(MANIFEST_TYPES)}
            ) as r:
                return r.headers.get("Docker-Content-Digest", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return ""
            raise RegistryError(
                f"the registry {self.registry} answered {exc.code} {exc.reason} for {repository}:{tag}"
            ) from exc

    def retag(self, repository: str, source: str, tag: str) -> str:
        """Point REPOSITORY:TAG at the manifest of REPOSITORY:SOURCE (no image data moves); its digest."""
        try:
            with self._request(
                "GET", f"{repository}/manifests/{source}", headers={"Accept": ", ".join(MANIFEST_TYPES)}
            ) as r:
                body, media_type = r.read(), r.headers.get("Content-Type", MANIFEST_TYPES[0])
            with self._request(
                "PUT", f"{repository}/manifests/{tag}", body=body, headers={"Content-Type": media_type}
            ) as r:
                return r.headers.get("Docker-Content-Digest", "")
        except urllib.error.HTTPError as exc:
            what = "refused the credentials" if exc.code in (401, 403) else f"answered {exc.code} {exc.reason}"
            raise RegistryError(f"the registry {self.registry} {what} when tagging {repository}:{tag}") from exc

    def has_file(self, path: str) -> bool:
        """Whether the registry host serves PATH (relative to its root, for example sif/...)."""
        try:
            with self._request("HEAD", path, root=True):
                return True
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise RegistryError(f"the registry {self.registry} answered {exc.code} {exc.reason} for /{path}") from exc

    def upload(self, path: str, filename: str) -> None:
        """PUT the file FILENAME at PATH on the registry host (nginx writes it whole, then renames it)."""
        try:
            with open(filename, "rb") as handle:
                size = str(os.fstat(handle.fileno()).st_size)
                headers = {"Content-Length": size, "Content-Type": "application/octet-stream"}
                with self._request("PUT", path, body=handle, headers=headers, root=True):
                    return
        except urllib.error.HTTPError as exc:
            what = "refused the credentials" if exc.code in (401, 403) else f"answered {exc.code} {exc.reason}"
            raise RegistryError(f"the registry {self.registry} {what} when uploading /{path}") from exc

    def repositories(self) -> list[str]:
        """Every repository the registry holds (its catalogue, followed page by page)."""
        found, path = [], "_catalog?n=1000"
        while path:
            try:
                with self._request("GET", path) as r:
                    found += json.load(r).get("repositories") or []
                    link = r.headers.get("Link", "")
            except (urllib.error.HTTPError, ValueError) as exc:
                raise RegistryError(f"the registry {self.registry} did not list its repositories: {exc}") from exc
            path = link.split(";")[0].strip("<> ").split("/v2/", 1)[-1] if link else ""
        return found

    def tags(self, repository: str) -> list[str]:
        """REPOSITORY's tags ([] when it does not exist)."""
        try:
            with self._request("GET", f"{repository}/tags/list") as r:
                return json.load(r).get("tags") or []
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise RegistryError(
                f"the registry {self.registry} answered {exc.code} {exc.reason} for {repository}"
            ) from exc
