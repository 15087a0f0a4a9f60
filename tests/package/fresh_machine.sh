#!/usr/bin/env bash
# The README's two set-up commands on a fresh Debian 12, as a new user runs them:
#   bash tests/package/fresh_machine.sh        (bash run.sh fresh does this; as root)
# makes a minimal Debian 12 root (debootstrap --variant=minbase bookworm, made once into
# build/cleanroom/pristine and copied fresh for each run), installs git alone in it, clones this
# repository's committed HEAD into /root/tapegrad, and runs there
#   1. bash run.sh test              (installs what it needs, builds, runs the whole suite)
#   2. bash run.sh main --epochs 1   (the main job, one epoch)
# printing each command's time and result: ctest's summary, and the main job's last epoch line.
# Nothing of this machine's packages, build trees or caches reaches the root: a tool that a test
# needs and the command does not install shows up here as a failure. Full logs stay in
# build/fresh/{test,main}.log. Extra arguments go to the main job (default: --epochs 1).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
base="$here/build/cleanroom"
pristine="$base/pristine" root="$here/build/fresh/root" logs="$here/build/fresh"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
main_args=("$@")
[ ${#main_args[@]} -eq 0 ] && main_args=(--epochs 1)

[ "$(id -u)" -eq 0 ] || { echo "fresh_machine: run as root (it makes a chroot and mounts /proc, /sys and /dev)" >&2; exit 1; }
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
mkdir -p "$base" "$logs"
if [ ! -x "$pristine/usr/bin/apt-get" ]; then
    rm -rf "$pristine"
    echo "fresh_machine: debootstrap --variant=minbase bookworm into $pristine"
    debootstrap --variant=minbase bookworm "$pristine" "$mirror" >"$base/debootstrap.log" 2>&1 ||
        { tail -20 "$base/debootstrap.log"; exit 1; }
fi

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -R "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true; done
    mounted=()
}
trap cleanup EXIT
# A run killed before its cleanup leaves /proc, /sys and /dev mounted in the old root: unmount
# them first, and never let rm cross into a mount (it would delete the host's /dev).
for m in proc sys dev; do mountpoint -q "$root/$m" 2>/dev/null && umount -R "$root/$m"; done
rm -rf --one-file-system "$root"
cp -a "$pristine" "$root"
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys")
mount --rbind /dev "$root/dev" && mounted+=("$root/dev")
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# The committed HEAD, as a clone would have it (uncommitted changes are not part of the check).
git -C "$here" clone -q --bare "$here" "$root/tmp/tapegrad.git"

in_root() {  # in_root <script>: runs it in the chroot as root, in a clean login-like environment
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive /bin/bash -euo pipefail -c "$1"
}
clock() { printf '%dm %02ds' $(($1 / 60)) $(($1 % 60)); }

. "$root/etc/os-release"
echo "fresh_machine: $PRETTY_NAME (minbase), $(in_root 'dpkg -l | grep -c ^ii') packages; python3: $(in_root 'command -v python3 || echo none')"
in_root "apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends git ca-certificates >/dev/null
git clone -q /tmp/tapegrad.git /root/tapegrad"
echo "fresh_machine: cloned $(git -C "$here" rev-parse --short HEAD) into /root/tapegrad (git installed, nothing else)"

status=0
start=$SECONDS
if in_root "cd /root/tapegrad && bash run.sh test" >"$logs/test.log" 2>&1; then result=passed; else result=FAILED; status=1; fi
echo "fresh_machine: bash run.sh test: $result in $(clock $((SECONDS - start)))"
grep -E "tests passed|tests failed|\(Failed\)|\(Not Run\)|\(Timeout\)|\(SEGFAULT\)|Total Test time" "$logs/test.log" | sed 's/^/    /' || true
[ "$result" = passed ] || tail -40 "$logs/test.log" | sed 's/^/    | /'

start=$SECONDS
if in_root "cd /root/tapegrad && bash run.sh main ${main_args[*]}" >"$logs/main.log" 2>&1; then result=passed; else result=FAILED; status=1; fi
echo "fresh_machine: bash run.sh main ${main_args[*]}: $result in $(clock $((SECONDS - start)))"
grep -E "^epoch .*test loss|^final test accuracy" "$logs/main.log" | tail -2 | sed 's/^/    /' || true
[ "$result" = passed ] || tail -30 "$logs/main.log" | sed 's/^/    | /'

[ $status -eq 0 ] && echo "fresh_machine: passed (logs: build/fresh/test.log, build/fresh/main.log)" ||
    echo "fresh_machine: FAILED (logs: build/fresh/test.log, build/fresh/main.log)"
exit $status
