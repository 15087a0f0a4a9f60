#!/usr/bin/env bash
# Installs the tapegrad build in $1 into a temporary prefix, checks that nothing installed
# refers to the source or build tree, then builds examples/consumer against the prefix out of
# tree — with CMake (find_package(tapegrad 0.2)) and with pkg-config — and runs both builds.
# Usage: install_consumer.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
source="$(cd "$2" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/tapegrad_install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
test -f "$prefix/include/tapegrad/tapegrad.hpp"
lib="$(find "$prefix" -name 'libtapegrad.so.*.*.*' -o -name 'libtapegrad.a' | head -1)"
test -n "$lib" || { echo "no libtapegrad installed"; exit 1; }
if [[ "$lib" == *.so.* ]]; then
    soname="$(objdump -p "$lib" | awk '/SONAME/ {print $2}')"
    [ "$soname" = "libtapegrad.so.0.2" ] || { echo "SONAME is '$soname', expected libtapegrad.so.0.2"; exit 1; }
    if objdump -p "$lib" | grep -E 'RUNPATH|RPATH'; then echo "the installed library has a run path"; exit 1; fi
fi
if grep -rlF -e "$source" -e "$build" "$prefix"; then
    echo "the files above refer to the source or build tree"
    exit 1
fi
# None of the kernel library's headers, and of the core level only checked.hpp, which
# allocator.hpp includes.
internal="$(cd "$prefix/include/tapegrad" && { find framework/kernels framework/core -type f 2>/dev/null || true; } |
            sort | tr '\n' ' ')"
[ "$internal" = "framework/core/checked.hpp " ] || { echo "kernel and core headers installed: $internal"; exit 1; }

# CMake, out of tree, with only the prefix to go on.
cmake -S "$source/examples/consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
cmake --build "$work/consumer" >"$work/build.log"
LD_LIBRARY_PATH="$prefix/lib:$prefix/lib/$(gcc -print-multiarch)" "$work/consumer/consumer"

# pkg-config, with a plain compiler command line.
pc_dir="$(dirname "$(find "$prefix" -name tapegrad.pc)")"
flags="$(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs tapegrad)"
g++ -O2 "$source/examples/consumer/main.cpp" -o "$work/consumer_pc" $flags
LD_LIBRARY_PATH="$(dirname "$lib")" "$work/consumer_pc" >/dev/null
echo "install_consumer: installed into a temporary prefix; the consumer built with CMake and with pkg-config, and learned"
