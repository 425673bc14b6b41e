# shellcheck shell=bash
# Shared helpers for the scripts in this folder. Sourced, never executed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HPCENV_VENV:-$REPO_ROOT/.venv}"
export REPO_ROOT VENV

log() { printf '\033[1m==> [%d:%02d] %s\033[0m\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

require_root() {
  [ "$(id -u)" -eq 0 ] || die "run this as root (it installs Debian packages and runs system containers): sudo $0 $*"
}

activate_venv() {
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
  export ANSIBLE_CONFIG="$REPO_ROOT/ansible.cfg"
}
