// instance_norm: the functional form of InstanceNorm (torch.nn.functional.instance_norm).
// With the input's statistics it runs the GroupNorm kernels with one group per channel (the
// same computation: each (sample, channel) over its spatial positions); with given running
// statistics, BatchNorm's evaluation kernels (a per-channel affine map). Records the
// hand-derived backward of whichever ran.
#pragma once

#include "framework/tensor.hpp"

namespace tapegrad {

// Normalises x (N, C, *) per (sample, channel) over the trailing dimensions.
// - use_input_stats: with each instance's mean and biased variance; fewer than 2 values per
//   instance is std::invalid_argument ("Expected more than 1 spatial element when training,
//   ..."). running_mean and running_var, when defined, are updated in place as BatchNorm's,
//   with the per-instance mean and unbiased variance averaged over the batch.
// - otherwise: with running_mean and running_var, which must be defined.
// weight, bias, running_mean and running_var have C elements or are undefined. Messages are
// PyTorch's (which counts elements after repeating them for the N samples).
template <typename T>
BasicTensor<T> instance_norm(const BasicTensor<T>& x, const BasicTensor<T>& running_mean = {},
                             const BasicTensor<T>& running_var = {}, const BasicTensor<T>& weight = {},
                             const BasicTensor<T>& bias = {}, bool use_input_stats = true, double momentum = 0.1,
                             double eps = 1e-5);

}  // namespace tapegrad
