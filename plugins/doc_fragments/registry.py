# Copyright: hpcenv.gpu_cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The registry options of the image modules, env_image and env_image_sif
    # (plugins/module_utils/_registry.py: ARGUMENT_SPEC holds the same options and defaults).
    DOCUMENTATION = r"""
notes:
  - Set the registry options once for both image modules with C(module_defaults) of
    C(group/hpcenv.gpu_cluster.registry).
options:
  registry:
    description:
      - The registry, as C(host:port). Its certificate is checked against C(/etc/containers/certs.d/<registry>/ca.crt)
        when that file exists (where Podman looks too), else against the system's CAs.
    type: str
    required: true
  namespace:
    description: The first part of the images' repository paths, C(<namespace>/<variant>/<name>).
    type: str
    default: hpcenv
  authfile:
    description: A containers-auth.json file (root's, 0600) holding the credentials that may push to O(registry).
    type: path
    required: true
  plain_http:
    description: Reach O(registry) over plain HTTP instead of HTTPS (only where the admin opted into it).
    type: bool
    default: false
"""
