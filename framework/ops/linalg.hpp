// Matrix ops on OpenBLAS: matmul of 2-D tensors and linear (x · Wᵀ + b), as torch's.
#pragma once

#include "framework/tensor.hpp"

namespace tapegrad {

// (M, K) · (K, N) → (M, N).
template <typename T> BasicTensor<T> matmul(const BasicTensor<T>& a, const BasicTensor<T>& b);
// x (N, in), weight (out, in), bias (out) or undefined → (N, out).
template <typename T>
BasicTensor<T> linear(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias = {});

}  // namespace tapegrad
