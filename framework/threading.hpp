// The number of threads tapegrad uses: for its own OpenMP kernels and for GEMM. A GEMM
// called outside our parallel regions is split into n blocks on the OpenMP pool, each a
// single-threaded OpenBLAS call; one called from inside them (conv2d, parallel over samples)
// runs on its calling thread alone (kernels/gemm.cpp). The cores are never oversubscribed.
#pragma once

namespace tapegrad {

// n >= 1; throws std::invalid_argument otherwise.
void set_num_threads(int n);
int get_num_threads();

// The SIMD instruction set the library's kernels run (xsimd's name: "avx512bw", "fma3+avx2", "sse2", ...):
// the one they were compiled for, or in a TAPEGRAD_DISPATCH build the level chosen at load time.
const char* simd_level();

// The OpenBLAS kernel set GEMM runs ("SkylakeX", "Haswell", ...; see kernels/gemm.hpp).
const char* blas_core();

}  // namespace tapegrad
