// Row-major GEMM through OpenBLAS's CBLAS: C (M, N) = alpha · op(A) · op(B) + beta · C,
// where op(A) is (M, K) and op(B) is (K, N). beta = 1 accumulates, as backward passes need.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B, T beta, T* C);

}  // namespace tapegrad::kernels
