// Row-major GEMM through OpenBLAS's CBLAS: C (M, N) = alpha · op(A) · op(B) + beta · C,
// where op(A) is (M, K) and op(B) is (K, N). beta = 1 accumulates, as backward passes need.
//
// OpenBLAS is loaded on first use (dlopen), not at program start, so that tapegrad can choose
// its kernels first: OpenBLAS 0.3.21 (Debian 12) picks them from the CPU's model number and
// falls back to its SSE3 "Prescott" kernels on Intel models it does not know (an Emerald
// Rapids Xeon: 2× slower training). Unless OPENBLAS_CORETYPE is set, tapegrad names the core
// for the instruction set an Intel CPU has: Cooperlake with AVX-512 BF16, SkylakeX with
// AVX-512, Haswell with AVX2 and FMA (what OpenBLAS itself picks on the Intel models it
// knows). Other vendors keep OpenBLAS's own choice.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, const T* B, T beta, T* C);

// OpenBLAS's own thread count, kept equal to ours (its OpenMP build follows OpenMP's count
// anyway; gemm() still runs every call on one thread), and the name of the kernel set it runs
// ("SkylakeX", "Haswell", ...). Each loads OpenBLAS if it is not yet.
void blas_set_num_threads(int n);
int blas_num_threads();
const char* blas_core_name();

}  // namespace tapegrad::kernels
