// Nearest-neighbour 2-D upsampling by a whole factor s over NC independent (H, W) planes: each
// input element becomes an s×s block of the output, and its gradient is the sum of that block.
// Rows are independent, so both passes run over the NC·H input rows in parallel.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// y (NC, H·s, W·s) [h·s + a, w·s + b] = x (NC, H, W) [h, w] for a, b in [0, s).
template <typename T>
void upsample_nearest2d_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t s);

// dx (NC, H, W) [h, w] = Σ_{a, b < s} dy (NC, H·s, W·s) [h·s + a, w·s + b], added to dx with
// `accumulate`, else written over it (dx may hold anything before). The s rows of a block are
// added first (in order of a), then the s columns (in order of b).
template <typename T>
void upsample_nearest2d_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t s, bool accumulate);

// Scalar twins, straight from the definitions (the backward sums each block in row-major order).
template <typename T>
void upsample_nearest2d_forward_reference(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t s);
template <typename T>
void upsample_nearest2d_backward_reference(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t s,
                                           bool accumulate);

}  // namespace tapegrad::kernels
