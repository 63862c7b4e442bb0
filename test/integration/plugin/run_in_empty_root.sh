#!/bin/sh
# Runs lockstep-rollouts-plugin the way the Argo Rollouts controller image does: in a root that
# holds nothing but the binary and the service-account files, mounted read-only, with only /tmp
# writable, as uid/gid 999. Tests use it as the plugin command.
#
#   run_in_empty_root.sh ROOT HOST_TMP [plugin args...]
#
# ROOT/lockstep-rollouts-plugin is the binary; HOST_TMP is bind-mounted as ROOT/tmp (so the test
# can see the socket). Exit status 77: this machine cannot build the root (no mount namespace).
set -e
root=$1
tmp=$2
shift 2
setup='set -e
mount --bind "$0" "$0"
mount -o remount,ro,bind "$0"
mount --bind "$1" "$0/tmp"
shift 1'
if [ "$(id -u)" = 0 ]; then
  unshare --mount -- true 2>/dev/null || exit 77
  exec unshare --mount -- /bin/sh -c "$setup
exec chroot --userspec=999:999 \"\$0\" /lockstep-rollouts-plugin \"\$@\"" "$root" "$tmp" "$@"
fi
# Without root: a user namespace maps us to root; uid 999 does not exist there.
unshare --user --map-root-user --mount -- true 2>/dev/null || exit 77
exec unshare --user --map-root-user --mount -- /bin/sh -c "$setup
exec chroot \"\$0\" /lockstep-rollouts-plugin \"\$@\"" "$root" "$tmp" "$@"
