// gemm: a thin typed wrapper over cblas_sgemm / cblas_dgemm; see gemm.hpp.
#include "framework/kernels/gemm.hpp"

#include <cblas.h>

#include <algorithm>

namespace tapegrad::kernels {

namespace {
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
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, blas_int(M),
                blas_int(N), blas_int(K), alpha, A, blas_int(trans_a ? M : K), B, blas_int(trans_b ? K : N), beta, C,
                blas_int(N));
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                  const double* B, double beta, double* C) {
    if (M == 0 || N == 0) return;
    if (K == 0) return scale_only(M, N, beta, C);
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, blas_int(M),
                blas_int(N), blas_int(K), alpha, A, blas_int(trans_a ? M : K), B, blas_int(trans_b ? K : N), beta, C,
                blas_int(N));
}

}  // namespace tapegrad::kernels
