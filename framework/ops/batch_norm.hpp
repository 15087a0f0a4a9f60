// batch_norm: the functional form of BatchNorm (torch.nn.functional.batch_norm). Checks
// shapes, runs the kernels in framework/kernels/batch_norm, updates the running statistics in
// place, and records the hand-derived backward.
#pragma once

#include <cstdint>
#include <optional>

#include "framework/tensor.hpp"

namespace tapegrad {

// Normalises each channel of x (N, C, *) over N and the trailing dimensions.
// - training: with the batch's mean and biased variance. running_mean and running_var, when
//   defined, are updated in place: running = (1 − momentum)·running + momentum·batch, with the
//   unbiased batch variance into running_var. Fewer than 2 values per channel is
//   std::invalid_argument ("Expected more than 1 value per channel when training, ...").
// - not training: with running_mean and running_var, which must be defined.
// weight, bias, running_mean and running_var have C elements or are undefined. Throws
// std::invalid_argument with PyTorch's messages.
// - virtual_batch_size B (ghost batches, Keras's BatchNormalization(virtual_batch_size=B)):
//   in training, the batch is W = N/B independent groups, the contiguous chunks [g·B, (g+1)·B)
//   of x, each normalised with its own statistics exactly as batch_norm of that chunk alone
//   would (the same bits), and its backward too. The running statistics get ONE update a
//   call, with the groups' batch means and unbiased variances averaged (what W data-parallel
//   replicas, each with one chunk, hold on average). B must be > 0 and divide N
//   (std::invalid_argument naming both); "more than 1 value per channel" counts a group's
//   values. Without training it changes nothing.
template <typename T>
BasicTensor<T> batch_norm(const BasicTensor<T>& x, const BasicTensor<T>& running_mean,
                          const BasicTensor<T>& running_var, const BasicTensor<T>& weight = {},
                          const BasicTensor<T>& bias = {}, bool training = false, double momentum = 0.1,
                          double eps = 1e-5, std::optional<int64_t> virtual_batch_size = std::nullopt);

}  // namespace tapegrad
