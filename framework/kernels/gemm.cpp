// gemm: a thin typed wrapper over cblas_sgemm / cblas_dgemm, and the loading of OpenBLAS;
// see gemm.hpp.
#include "framework/kernels/gemm.hpp"

#include <cblas.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

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
    if (p == nullptr) throw std::runtime_error(std::string("tapegrad: OpenBLAS (") + TAPEGRAD_OPENBLAS_LIBRARY + ") has no " + name);
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
        throw std::runtime_error(std::string("tapegrad: cannot load OpenBLAS (") + TAPEGRAD_OPENBLAS_LIBRARY + "): " + dlerror() +
                                 "; apt-get install libopenblas0-openmp");
    return {symbol<decltype(OpenBlas::sgemm)>(library, "cblas_sgemm"), symbol<decltype(OpenBlas::dgemm)>(library, "cblas_dgemm"),
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

}  // namespace

template <>
void gemm<float>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C) {
    if (M == 0 || N == 0) return;
    if (K == 0) return scale_only(M, N, beta, C);
    openblas().sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, blas_int(M),
                     blas_int(N), blas_int(K), alpha, A, blas_int(trans_a ? M : K), B, blas_int(trans_b ? K : N), beta, C,
                     blas_int(N));
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                  const double* B, double beta, double* C) {
    if (M == 0 || N == 0) return;
    if (K == 0) return scale_only(M, N, beta, C);
    openblas().dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, blas_int(M),
                     blas_int(N), blas_int(K), alpha, A, blas_int(trans_a ? M : K), B, blas_int(trans_b ? K : N), beta, C,
                     blas_int(N));
}

void blas_set_num_threads(int n) { openblas().set_num_threads(n); }
int blas_num_threads() { return openblas().get_num_threads(); }
const char* blas_core_name() { return openblas().get_corename(); }

}  // namespace tapegrad::kernels
