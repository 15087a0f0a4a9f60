#!/usr/bin/env bash
# tapegrad's entry point on Debian 12 (run as root, or with sudo available): installs the
# Debian packages that are missing, builds the Release preset, then runs
#   bash run.sh           the main job: examples/fashion_mnist, training the reference CNN
#   bash run.sh test      the whole test suite (ctest)
#   bash run.sh fresh     the two commands above in a fresh minimal Debian 12 root (debootstrap):
#                         bash run.sh test, then bash run.sh main --epochs 1, with times and results
#   bash run.sh dist [n]  the main job data-parallel on n MPI processes (default 2, 1 thread each;
#                         docs/distributed.md)
#   bash run.sh study     the GN-vs-BN batch-size study, examples/gn_vs_bn (docs/study.md)
#   bash run.sh bench     the speed comparison with PyTorch (bench/README.md, docs/speed.md)
#   bash run.sh tsan      the threaded suites under ThreadSanitizer (clang, build/tsan)
#   bash run.sh fuzz [s]  the libFuzzer harnesses of tests/fuzz, s seconds each (default 300)
#   bash run.sh package   the Debian package tapegrad-dev_<version>_amd64.deb (build/package), then
#                         installs it, builds examples/consumer against /usr and removes it again
#                         (--keep: leave it installed)
# Extra arguments after the mode are passed to the program being run; arguments that start with
# "-" and no mode go to the main job.
set -euo pipefail
cd "$(dirname "$0")"

# Flags without a mode are the main job's: `bash run.sh --epochs 1` is `bash run.sh main --epochs 1`.
mode=main
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
    mode="$1"
    shift
fi

packages=(cmake g++ ninja-build ccache pkg-config
          xtensor-dev xtl-dev libxsimd-dev nlohmann-json3-dev libboost-test-dev
          libopenblas-openmp-dev zlib1g-dev libcli11-dev dataset-fashion-mnist)
# For the clang builds (tsan, fuzz; .ci/run runs a short fuzz after the tests): the sanitizer
# and libFuzzer runtimes are only a Recommends of clang, and clang's -fopenmp needs LLVM's libomp.
clang_packages=(clang libclang-rt-dev libomp-dev)
# The optional MPI component (framework/distributed) and its dist_* tests.
mpi_packages=(libopenmpi-dev openmpi-bin)
# The suites that run kernels, GEMM, the Loader and SGD on 2 threads.
tsan_suites=(test_threading test_training test_group_norm_kernels test_activation_kernels
             test_pooling_kernels test_conv_kernels test_relu_max_pool)

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

# build [--target T...]: everything, or only the targets named.
build() {
    cmake --preset release >/dev/null
    cmake --build --preset release -j "$(nproc)" "$@"
}

case "$mode" in
    main)
        install_missing "${packages[@]}" gnuplot-nox
        build
        ./build/release/examples/fashion_mnist "$@"
        ;;
    dist)
        install_missing "${packages[@]}" "${mpi_packages[@]}" gnuplot-nox
        build --target fashion_mnist
        # bash run.sh dist [RANKS] [fashion_mnist flags...]; 2 ranks unless a number comes first.
        ranks=2
        if [[ "${1:-}" =~ ^[0-9]+$ ]]; then ranks="$1"; shift; fi
        # Open MPI refuses root without consent; loopback shared memory only.
        OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader \
            mpirun --oversubscribe -np "$ranks" ./build/release/examples/fashion_mnist --distributed --threads 1 "$@"
        ;;
    study)
        install_missing "${packages[@]}" gnuplot-nox
        build --target gn_vs_bn
        ./build/release/examples/gn_vs_bn "$@"
        ;;
    test)
        install_missing "${packages[@]}" "${clang_packages[@]}" "${mpi_packages[@]}"
        build
        ctest --preset release -j "$(nproc)" "$@"
        ;;
    tsan)
        # libgomp is not instrumented for TSan, so this build uses clang's libomp (OpenMP::OpenMP_CXX
        # finds it for clang), and LLVM's Archer tool tells TSan about OpenMP's barriers and
        # tasks; without it every parallel region's join would be reported as a race. The tsan
        # test preset sets TSAN_OPTIONS=ignore_noninstrumented_modules=1, as Archer asks: libomp
        # and the dlopen'ed OpenBLAS are not instrumented, and their internal locking otherwise
        # shows as races; our own code is still checked (a deliberate race in an `omp parallel
        # for` is reported). No suppressions are needed. Extra arguments go to ctest instead of
        # the suite list (e.g. -R test_tensor, after building that suite in build/tsan).
        install_missing "${packages[@]}" "${clang_packages[@]}"
        cmake --preset tsan >/dev/null
        cmake --build --preset tsan -j "$(nproc)" --target "${tsan_suites[@]}"
        clang_version="$(clang++ -dumpversion)"
        archer="/usr/lib/llvm-${clang_version%%.*}/lib/libarcher.so"
        [ -f "$archer" ] || { echo "run.sh: libarcher.so not found (apt-get install libomp-dev)" >&2; exit 1; }
        selection=(-R "^($(IFS='|'; echo "${tsan_suites[*]}"))\$")
        [ $# -gt 0 ] && selection=()
        OMP_TOOL_LIBRARIES="$archer" ctest --preset tsan "${selection[@]}" "$@"
        ;;
    fuzz)
        install_missing "${packages[@]}" "${clang_packages[@]}"
        bash tests/fuzz/run.sh "${1:-300}"
        ;;
    bench)
        install_missing "${packages[@]}" libbenchmark-dev python3-torch python3-numpy gcc
        if [ "${1:-}" = "--dispatch" ]; then
            # What run-time dispatch costs: the native build (release: -march=native) against the
            # dispatch preset's (the x86-64 baseline with per-ISA kernels, as the package
            # installs), GroupNorm and CNN training at 1 and 2 threads, the two alternating.
            shift
            for preset in release dispatch; do
                cmake --preset "$preset" -DTAPEGRAD_BUILD_BENCH=ON >/dev/null
                cmake --build --preset "$preset" -j "$(nproc)" --target bench_group_norm bench_cnn_throughput
            done
            /usr/bin/python3 bench/compare_builds.py build/release build/dispatch "$@"
            exit 0
        fi
        cmake --preset release -DTAPEGRAD_BUILD_BENCH=ON >/dev/null
        cmake --build --preset release -j "$(nproc)"
        /usr/bin/python3 bench/compare.py --build build/release "$@"
        ;;
    fresh)
        # As root: a chroot, /proc, /sys and /dev mounted into it. Arguments go to the main job.
        bash tests/package/fresh_machine.sh "$@"
        ;;
    package)
        # For the x86-64 baseline (the package preset: TAPEGRAD_NATIVE=OFF), so the package runs
        # on any x86-64 CPU; dpkg-dev's dpkg-shlibdeps works out the Depends on shared libraries.
        install_missing "${packages[@]}" dpkg-dev
        cmake --preset package >/dev/null
        cmake --build --preset package -j "$(nproc)"
        rm -f build/package/tapegrad-dev_*.deb
        (cd build/package && cpack -G DEB)
        deb="$(ls build/package/tapegrad-dev_*_amd64.deb)"
        dpkg-deb --info "$deb" | grep -E "Package|Version|Depends"
        if [ "${1:-}" = "--clean-room" ]; then
            # A fresh Debian 12 (debootstrap) and emulated AVX2 and SSE-only CPUs (qemu-user);
            # as root, since it mounts /proc and /dev into the chroot.
            bash tests/package/clean_room.sh build/package
            exit 0
        fi
        sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "./$deb"
        rm -rf build/package/consumer
        cmake -S examples/consumer -B build/package/consumer -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build build/package/consumer
        ./build/package/consumer/consumer
        if [ "${1:-}" != "--keep" ]; then
            DEBIAN_FRONTEND=noninteractive $sudo apt-get remove -y -q tapegrad-dev >/dev/null
            echo "run.sh: $deb installed, used by examples/consumer and removed again"
        fi
        ;;
    *)
        echo "usage: bash run.sh [main|test|fresh|dist|study|bench|package|tsan|fuzz] [args...]" >&2
        exit 2
        ;;
esac
