// upsample_nearest2d: nearest-neighbour upsampling of (N, C, H, W) by a whole factor, as
// torch.nn.functional.interpolate(x, scale_factor=s, mode="nearest") for an integer s. Each
// element becomes an s×s block; the gradient of an element is the sum of its block's.
#pragma once

#include <cstdint>

#include "framework/tensor.hpp"

namespace tapegrad {

// (N, C, H, W) → (N, C, H·scale, W·scale). Throws std::invalid_argument for an input that is
// not 4-D, and with PyTorch's message when an input or output size is not positive
// (scale < 1, or H or W = 0); N or C may be 0.
template <typename T> BasicTensor<T> upsample_nearest2d(const BasicTensor<T>& x, int64_t scale);

}  // namespace tapegrad
