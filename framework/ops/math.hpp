// Unary element-wise math with PyTorch's names, defaults and numerics (sigmoid never overflows
// to NaN, softplus returns x above its threshold, abs'(0) = 0, clamp passes the gradient at
// its bounds). Any shape; each output is recorded with its backward when a tape is active.
#pragma once

#include <optional>
#include <string>

#include "framework/tensor.hpp"

namespace tapegrad {

template <typename T> BasicTensor<T> exp(const BasicTensor<T>& x);
// Natural log; inputs <= 0 give -inf/NaN as in PyTorch.
template <typename T> BasicTensor<T> log(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> neg(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> sqrt(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> rsqrt(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> abs(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> sigmoid(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> tanh(const BasicTensor<T>& x);
template <typename T> BasicTensor<T> silu(const BasicTensor<T>& x);
// approximate: "none" (x·Φ(x), erf) or "tanh"; anything else is std::invalid_argument.
template <typename T> BasicTensor<T> gelu(const BasicTensor<T>& x, const std::string& approximate = "none");
template <typename T> BasicTensor<T> softplus(const BasicTensor<T>& x, double beta = 1.0, double threshold = 20.0);
template <typename T> BasicTensor<T> leaky_relu(const BasicTensor<T>& x, double negative_slope = 0.01);
template <typename T> BasicTensor<T> elu(const BasicTensor<T>& x, double alpha = 1.0);
// min(max(x, min), max) with either bound optional (not both absent: std::invalid_argument,
// PyTorch's "At least one of 'min' or 'max' must not be None").
template <typename T>
BasicTensor<T> clamp(const BasicTensor<T>& x, std::optional<double> min, std::optional<double> max = std::nullopt);

}  // namespace tapegrad
