#!/usr/bin/env bash
# tapegrad on a clean Debian 12, and on CPUs without AVX-512 (docs/packaging.md, "The clean room"):
#   tests/package/clean_room.sh build/package
# with the package preset's build directory, after cpack made its .deb there (bash run.sh
# package --clean-room does both; as root, since it mounts /proc and /dev into a chroot).
#
# A minimal Debian 12 (debootstrap --variant=minbase bookworm, made once into
# build/cleanroom/pristine) is copied fresh for each of the first two checks:
# 1. The installed tree: `cmake --install` of that build into a staging prefix, copied into
#    the chroot's /opt/tapegrad; apt brings only the .deb's Depends, cmake, ninja-build and
#    g++; examples/consumer is built with -DCMAKE_PREFIX_PATH=/opt/tapegrad and run.
# 2. The .deb: apt-get install ./tapegrad-dev_*.deb cmake ninja-build g++ and nothing else (the
#    package's Depends must bring the rest); examples/consumer is built against /usr and run.
# 3. That consumer binary, with the chroot's libraries, runs under QEMU's user-mode emulator
#    as a Haswell (AVX2 + FMA, no AVX-512) and as a Nehalem (SSE4.2, no AVX): it must train as
#    on this CPU, with the kernels chosen for each (tapegrad::simd_level()). A control first:
#    an AVX-512 instruction must die with SIGILL on the emulated Haswell, so the emulator
#    really lacks what the check says it lacks.
set -euo pipefail

build="$(realpath "$1")"
deb="$(ls "$build"/tapegrad-dev_*_amd64.deb)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
base="$here/build/cleanroom"
pristine="$base/pristine" root="$base/root"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-x86_64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
mkdir -p "$base"
if [ ! -x "$pristine/usr/bin/apt-get" ]; then
    rm -rf "$pristine"
    echo "clean_room: debootstrap bookworm into $pristine"
    debootstrap --variant=minbase bookworm "$pristine" "$mirror" >"$base/debootstrap.log" 2>&1 ||
        { tail -20 "$base/debootstrap.log"; exit 1; }
fi

mounted=()
cleanup() {
    for m in "${mounted[@]}"; do umount "$m" || true; done
    mounted=()
}
trap cleanup EXIT
fresh_root() {  # a new copy of the pristine system, with /proc, /dev and the consumer's sources
    cleanup
    for m in proc dev; do mountpoint -q "$root/$m" 2>/dev/null && umount "$root/$m"; done
    rm -rf --one-file-system "$root"
    cp -a "$pristine" "$root"
    mount -t proc proc "$root/proc" && mounted+=("$root/proc")
    mount --bind /dev "$root/dev" && mounted+=("$root/dev")
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    cp -r "$here/examples/consumer" "$root/tmp/consumer"
}
in_root() {  # in_root <script>: runs it in the chroot, in a clean environment
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive \
        /bin/bash -euo pipefail -c "$1"
}
apt_install() {  # the chroot's script that installs "$@" from Debian 12's archive
    printf '%s\n' "apt-get update -q >/dev/null" \
        "apt-get install -y -q --no-install-recommends $* >/tmp/apt.log 2>&1 || { tail -30 /tmp/apt.log; exit 1; }"
}
# The chroot's script that configures, builds and runs the consumer ($1: extra cmake flags);
# the consumer's last line gives its accuracy, the library's version and the kernels in use.
consumer() {
    printf '%s\n' \
        "cmake -S /tmp/consumer -B /tmp/consumer-build -G Ninja -DCMAKE_BUILD_TYPE=Release $1 >/tmp/cmake.log 2>&1 || { cat /tmp/cmake.log; exit 1; }" \
        "cmake --build /tmp/consumer-build >/dev/null" \
        "/tmp/consumer-build/consumer | tail -1"
}

# The .deb's Depends as package names (versions and alternatives dropped), for the tree.
depends="$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/ //g' | grep -v '^$' | tr '\n' ' ')"

echo "clean_room: 1. the installed tree (cmake --install $build), in a fresh Debian 12"
rm -rf "$base/stage"
cmake --install "$build" --prefix "$base/stage" >/dev/null
fresh_root
mkdir -p "$root/opt"
cp -a "$base/stage" "$root/opt/tapegrad"
in_root ". /etc/os-release && echo \"chroot: \$PRETTY_NAME, \$(dpkg -l | grep -c ^ii) packages\"
$(apt_install "$depends" cmake ninja-build g++)
echo 'chroot: apt-get install ${depends}cmake ninja-build g++'
test ! -e /usr/include/tapegrad
echo 'chroot: the consumer, built with -DCMAKE_PREFIX_PATH=/opt/tapegrad, on this CPU:'
$(consumer -DCMAKE_PREFIX_PATH=/opt/tapegrad)"

echo "clean_room: 2. the package $(basename "$deb"), in a fresh Debian 12"
fresh_root
cp "$deb" "$root/tmp/"
cat >"$root/tmp/avx512.cpp" <<'CPP'
#include <immintrin.h>
int main(int argc, char**) {
    __m512 v = _mm512_set1_ps(float(argc));
    return int(_mm512_reduce_add_ps(_mm512_add_ps(v, v))) == 32 ? 0 : 3;
}
CPP
in_root "$(apt_install "/tmp/$(basename "$deb")" cmake ninja-build g++)
echo \"chroot: apt-get install ./\$(basename /tmp/*.deb) cmake ninja-build g++: \$(dpkg-query -W -f='\${Package} \${Version}' tapegrad-dev)\"
g++ -O1 -mavx512f /tmp/avx512.cpp -o /tmp/avx512
echo 'chroot: the consumer, built against /usr, on this CPU:'
$(consumer "")"

echo "clean_room: 3. that consumer on emulated CPUs without AVX-512 (qemu-user $(qemu-x86_64 --version | head -1 | awk '{print $3}'))"
rc=0
qemu-x86_64 -cpu Haswell -L "$root" "$root/tmp/avx512" 2>/dev/null || rc=$?
if [ "$rc" -ne 132 ]; then  # 128 + SIGILL
    echo "clean_room: control failed: an AVX-512 program exited $rc on an emulated Haswell, not with SIGILL" >&2
    exit 1
fi
echo "qemu -cpu Haswell: an AVX-512 instruction dies with SIGILL (the control)"
run_as() {  # run_as <QEMU CPU model> <the simd_level() expected there>
    local out rc=0
    out="$(qemu-x86_64 -cpu "$1" -L "$root" "$root/tmp/consumer-build/consumer" 2>&1)" || rc=$?
    printf 'qemu -cpu %s: %s\n' "$1" "$(tail -1 <<<"$out")"
    if [ "$rc" -ne 0 ]; then
        echo "clean_room: the consumer failed on an emulated $1 (exit $rc)" >&2
        exit 1
    fi
    grep -q "kernels $2)" <<<"$out" || { echo "clean_room: expected the $2 kernels on an emulated $1" >&2; exit 1; }
}
run_as Haswell fma3+avx2
run_as Nehalem sse2
echo "clean_room: passed"
