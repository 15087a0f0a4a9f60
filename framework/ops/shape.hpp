// Shape ops: reshape (one extent may be -1, inferred) and flatten. Both copy the values into
// a tensor of the new shape; the gradient flows back unchanged.
#pragma once

#include "framework/tensor.hpp"

namespace tapegrad {

template <typename T> BasicTensor<T> reshape(const BasicTensor<T>& x, const Shape& shape);
// Merges dimensions start_dim..end_dim (negative counts from the end), as torch.flatten.
template <typename T> BasicTensor<T> flatten(const BasicTensor<T>& x, int64_t start_dim = 1, int64_t end_dim = -1);

}  // namespace tapegrad
