// When a memory-bound kernel opens an OpenMP parallel region. A region costs microseconds, and
// far more on a loaded machine, where every region ends in a barrier (bench/README.md,
// finding 4): below this many elements read or written, one thread is faster. The kernels
// whose unit is not elements touched (GEMM's multiply-adds, im2col's column elements) keep
// their own threshold, beside its reason.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

constexpr int64_t kMinParallelElements = int64_t{1} << 16;

}  // namespace tapegrad::kernels
