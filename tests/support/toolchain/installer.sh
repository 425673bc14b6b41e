#!/bin/sh
# TEST DOUBLE: a constructor-style @FLAVOUR@ @VERSION@ installer built by
# hpcenv.gpu_cluster's offline toolchain (tests/support/README.md). It accepts
# the real installer's -b -p PREFIX -u -f -h options and lays down a base prefix
# (@PACKAGES@, Python and pip) from its own payload, with no network access.
# The packages are real conda packages (conda is the real conda); py-rattler,
# run with the node's own Python, links them where constructor uses conda-standalone.
set -eu
PREFIX="${HOME:-/root}/@FLAVOUR@"
BATCH=0
UPDATE=0
usage() {
    cat <<USAGE
usage: $0 [options]

Installs @FLAVOUR@ @VERSION@ (TEST DOUBLE)

-b           run install in batch mode (without manual intervention),
             it is expected the license terms (if any) are agreed upon
-f           no error if install prefix already exists
-h           print this help message and exit
-p PREFIX    install prefix, defaults to $PREFIX, must not contain spaces.
-s           skip running pre/post-link/install scripts
-u           update an existing installation
USAGE
}
FORCE=0
while getopts "bfhp:su" opt; do
    case "$opt" in
        b) BATCH=1 ;;
        f) FORCE=1 ;;
        h) usage; exit 2 ;;
        p) PREFIX="$OPTARG" ;;
        s) ;;
        u) UPDATE=1 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[ "$BATCH" = 1 ] || { echo "ERROR: this test installer only supports batch mode (-b)" >&2; exit 2; }
case "$PREFIX" in *" "*) echo "ERROR: Cannot install into directories with spaces" >&2; exit 1 ;; esac
if [ -e "$PREFIX" ] && [ "$UPDATE" = 0 ] && [ "$FORCE" = 0 ]; then
    echo "ERROR: File or directory already exists: '$PREFIX'" >&2
    echo "If you want to update an existing installation, use the -u option." >&2
    exit 1
fi
[ -x /usr/bin/python3 ] || { echo "ERROR: this test installer needs /usr/bin/python3 on the node" >&2; exit 1; }
PREFIX="$(mkdir -p "$PREFIX" && cd "$PREFIX" && pwd)"
echo "PREFIX=$PREFIX"
payload="$(mktemp -d)"
trap 'rm -rf "$payload"' EXIT
echo "Unpacking payload ..."
skip=$(awk '/^__PAYLOAD_BELOW__$/ { print NR + 1; exit }' "$0")
tail -n +"$skip" "$0" | tar -xzf - -C "$payload" --no-same-owner
echo "Installing base environment ..."
PYTHONPATH="$payload/bootstrap" /usr/bin/python3 "$payload/bootstrap/bootstrap.py" "$payload" "$PREFIX"
echo "installation finished."
exit 0
# shellcheck disable=SC2317  # the payload below is data: the shell stops at the exit above
__PAYLOAD_BELOW__
