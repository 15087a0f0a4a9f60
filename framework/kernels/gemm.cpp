// gemm: a thin typed wrapper over cblas_sgemm / cblas_dgemm; see gemm.hpp.
#include "framework/kernels/gemm.hpp"

#include <cblas.h>

namespace tapegrad::kernels {

namespace {
blasint blas_int(int64_t v) { return static_cast<blasint>(v); }
}

template <>
void gemm<float>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 const float* B, float beta, float* C) {
    if (M == 0 || N == 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, blas_int(M),
                blas_int(N), blas_int(K), alpha, A, blas_int(trans_a ? M : K), B, blas_int(trans_b ? K : N), beta, C,
                blas_int(N));
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                  const double* B, double beta, double* C) {
    if (M == 0 || N == 0) return;
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, blas_int(M),
                blas_int(N), blas_int(K), alpha, A, blas_int(trans_a ? M : K), B, blas_int(trans_b ? K : N), beta, C,
                blas_int(N));
}

}  // namespace tapegrad::kernels
