// The number of threads tapegrad uses: for its own OpenMP kernels and for OpenBLAS's GEMM.
// Both pools get the same count, and BLAS is never called from inside an OpenMP region, so
// the two never oversubscribe the cores.
#pragma once

namespace tapegrad {

// n >= 1; throws std::invalid_argument otherwise.
void set_num_threads(int n);
int get_num_threads();

}  // namespace tapegrad
