#!/usr/bin/env bash
# tapegrad's entry point on Debian 12 (run as root, or with sudo available): installs the
# Debian packages that are missing, builds the Release preset, then runs
#   bash run.sh           the main job: examples/fashion_mnist, training the reference CNN
#   bash run.sh test      the whole test suite (ctest)
#   bash run.sh bench     the speed comparison with PyTorch (bench/README.md)
# Extra arguments after the mode are passed to the program being run.
set -euo pipefail
cd "$(dirname "$0")"

mode="${1:-main}"
[ $# -gt 0 ] && shift

packages=(cmake g++ ninja-build ccache pkg-config
          xtensor-dev xtl-dev libxsimd-dev nlohmann-json3-dev libboost-test-dev
          libopenblas-openmp-dev zlib1g-dev libcli11-dev dataset-fashion-mnist)

install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "run.sh: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
    cmake --preset release >/dev/null
    cmake --build --preset release -j "$(nproc)"
}

case "$mode" in
    main)
        install_missing "${packages[@]}" gnuplot-nox
        build
        ./build/release/examples/fashion_mnist "$@"
        ;;
    test)
        install_missing "${packages[@]}"
        build
        ctest --preset release -j "$(nproc)" "$@"
        ;;
    bench)
        install_missing "${packages[@]}" libbenchmark-dev python3-torch python3-numpy gcc
        cmake --preset release -DTAPEGRAD_BUILD_BENCH=ON >/dev/null
        cmake --build --preset release -j "$(nproc)"
        /usr/bin/python3 bench/compare.py --build build/release "$@"
        ;;
    *)
        echo "usage: bash run.sh [main|test|bench] [args...]" >&2
        exit 2
        ;;
esac
