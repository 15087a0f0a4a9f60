// The number of threads tapegrad uses: for its own OpenMP kernels and for OpenBLAS's GEMM.
// OpenBLAS is its OpenMP build, so both run on the same OpenMP pool with the same count: a
// GEMM called outside our parallel regions uses n threads, one called from inside them
// (conv2d, parallel over samples) runs on its calling thread alone. The cores are never
// oversubscribed.
#pragma once

namespace tapegrad {

// n >= 1; throws std::invalid_argument otherwise.
void set_num_threads(int n);
int get_num_threads();

// The SIMD instruction set the library's kernels were compiled for (xsimd's name: "avx512bw", "avx2", "sse2", ...).
const char* simd_level();

// The OpenBLAS kernel set GEMM runs ("SkylakeX", "Haswell", ...; see kernels/gemm.hpp).
const char* blas_core();

}  // namespace tapegrad
