// Full reductions to a one-element tensor of shape []: sum and mean (accumulated in double).
#pragma once

#include "framework/tensor.hpp"

namespace tapegrad {

template <typename T> BasicTensor<T> sum(const BasicTensor<T>& x);
// The mean of zero elements is NaN, as in PyTorch.
template <typename T> BasicTensor<T> mean(const BasicTensor<T>& x);

}  // namespace tapegrad
