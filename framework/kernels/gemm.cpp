// gemm: a thin typed wrapper over cblas_sgemm / cblas_dgemm, and the loading of OpenBLAS;
// see gemm.hpp.
#include "framework/kernels/gemm.hpp"

#include <cblas.h>
#include <dlfcn.h>

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>
#include <stdexcept>
#include <string>

#include "framework/core/parallel.hpp"

namespace tapegrad::kernels {

namespace {

// OpenBLAS's entry points, resolved once. decltype keeps the prototypes of cblas.h without
// linking against the library.
struct OpenBlas {
    decltype(&cblas_sgemm) sgemm;
    decltype(&cblas_dgemm) dgemm;
    decltype(&openblas_set_num_threads) set_num_threads;
    decltype(&openblas_get_num_threads) get_num_threads;
    decltype(&openblas_get_corename) get_corename;
};

// The OpenBLAS core for an Intel CPU's instruction set, or nullptr to leave the choice to
// OpenBLAS (see gemm.hpp).
const char* core_for_this_cpu() {
    __builtin_cpu_init();
    if (!__builtin_cpu_is("intel")) return nullptr;
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vl");
    if (avx512) return __builtin_cpu_supports("avx512bf16") ? "Cooperlake" : "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return nullptr;
}

template <typename F>
F symbol(void* library, const char* name) {
    void* p = dlsym(library, name);
    if (p == nullptr)
        throw std::runtime_error(std::string("tapegrad: OpenBLAS (") + TAPEGRAD_OPENBLAS_LIBRARY + ") has no " + name);
    return reinterpret_cast<F>(p);
}

OpenBlas load() {
    // OpenBLAS reads OPENBLAS_CORETYPE once, while it loads; a value the user set wins. It is
    // set only for the load, so that child processes see the environment they were given.
    const char* core = std::getenv("OPENBLAS_CORETYPE") == nullptr ? core_for_this_cpu() : nullptr;
    if (core) setenv("OPENBLAS_CORETYPE", core, 0);
    void* library = dlopen(TAPEGRAD_OPENBLAS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (core) unsetenv("OPENBLAS_CORETYPE");
    if (library == nullptr)
        throw std::runtime_error(std::string("tapegrad: cannot load OpenBLAS (") + TAPEGRAD_OPENBLAS_LIBRARY +
                                 "): " + dlerror() + "; apt-get install libopenblas0-openmp");
    return {symbol<decltype(OpenBlas::sgemm)>(library, "cblas_sgemm"),
            symbol<decltype(OpenBlas::dgemm)>(library, "cblas_dgemm"),
            symbol<decltype(OpenBlas::set_num_threads)>(library, "openblas_set_num_threads"),
            symbol<decltype(OpenBlas::get_num_threads)>(library, "openblas_get_num_threads"),
            symbol<decltype(OpenBlas::get_corename)>(library, "openblas_get_corename")};
}

const OpenBlas& openblas() {
    static const OpenBlas library = load();
    return library;
}

blasint blas_int(int64_t v) { return static_cast<blasint>(v); }

// An empty sum: C = beta·C, spelled out so that beta = 0 clears an uninitialised C.
template <typename T>
void scale_only(int64_t M, int64_t N, T beta, T* C) {
    if (beta == T(0))
        std::fill(C, C + M * N, T(0));
    else
        std::transform(C, C + M * N, C, [beta](T v) { return beta * v; });
}

// One BLAS call on row-major operands with explicit leading dimensions.
template <typename T>
void call_blas(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
               const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
    const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    if constexpr (std::is_same_v<T, float>)
        openblas().sgemm(CblasRowMajor, ta, tb, blas_int(M), blas_int(N), blas_int(K), alpha, A, blas_int(lda), B,
                         blas_int(ldb), beta, C, blas_int(ldc));
    else
        openblas().dgemm(CblasRowMajor, ta, tb, blas_int(M), blas_int(N), blas_int(K), alpha, A, blas_int(lda), B,
                         blas_int(ldb), beta, C, blas_int(ldc));
}

}  // namespace

// OpenBLAS itself always runs on one thread. Its own level-3 threading
// waits for its threads with sched_yield loops: at 2 threads on the Xeon they took 14% of a
// training step, and on a loaded machine the step ran 3-5x slower than with one BLAS thread.
// A GEMM called outside our parallel regions is split here instead, into one block of C per
// OpenMP thread (columns, or rows when C has fewer columns than rows), each a single-threaded
// BLAS call; inside a parallel region (conv2d over samples) it runs on the calling thread.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B, T beta, T* C) {
    if (M == 0 || N == 0) return;
    if (K == 0) return scale_only(M, N, beta, C);
    const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
    const int64_t threads = parallel_threads(Work::multiply_adds, M * N * K);
    if (threads == 1) {
        // OpenBLAS's OpenMP build takes its thread count from omp_get_max_threads() at each
        // call outside a parallel region; lower it to 1 for this call alone.
        const int saved = omp_get_max_threads();
        if (saved > 1 && !omp_in_parallel()) omp_set_num_threads(1);
        call_blas(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, N);
        if (saved > 1 && !omp_in_parallel()) omp_set_num_threads(saved);
        return;
    }
    const bool by_columns = N >= M;
    // Column blocks are multiples of 16 elements, so that threads never write one cache line.
    const int64_t extent = by_columns ? N : M, align = by_columns ? 16 : 1;
    const int64_t per = ((extent + threads - 1) / threads + align - 1) / align * align;
#pragma omp parallel num_threads(static_cast<int>(threads))
    {
        const int64_t begin = std::min(extent, omp_get_thread_num() * per), end = std::min(extent, begin + per);
        if (end > begin) {
            if (by_columns)  // C[:, begin:end] = op(A) · op(B)[:, begin:end]
                call_blas(trans_a, trans_b, M, end - begin, K, alpha, A, lda, trans_b ? B + begin * K : B + begin, ldb,
                          beta, C + begin, N);
            else  // C[begin:end, :] = op(A)[begin:end, :] · op(B)
                call_blas(trans_a, trans_b, end - begin, N, K, alpha, trans_a ? A + begin : A + begin * K, lda, B, ldb,
                          beta, C + begin * N, N);
        }
    }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, const float*, float, float*);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, const double*, double,
                           double*);

void blas_set_num_threads(int n) { openblas().set_num_threads(n); }
int blas_num_threads() { return openblas().get_num_threads(); }
const char* blas_core_name() { return openblas().get_corename(); }

}  // namespace tapegrad::kernels
