// group_norm: the functional form of GroupNorm (torch.nn.functional.group_norm). Checks
// shapes, runs the kernels in framework/kernels/group_norm, and records the hand-derived
// backward, which reuses the mean and rstd saved by the forward.
#pragma once

#include <cstdint>

#include "framework/tensor.hpp"

namespace tapegrad {

// x (N, C, *) of rank >= 2; weight and bias (C) or undefined (no affine transform).
// Throws std::invalid_argument for num_groups <= 0, C not divisible by num_groups, rank < 2,
// or weight/bias of the wrong shape.
template <typename T>
BasicTensor<T> group_norm(const BasicTensor<T>& x, int64_t num_groups, const BasicTensor<T>& weight = {},
                          const BasicTensor<T>& bias = {}, double eps = 1e-5);

}  // namespace tapegrad
