// Parameter initialisation as torch.nn.init: constant_, zeros_, ones_, uniform_ and
// kaiming_uniform_ (leaky-ReLU gain only), plus the fan computation they rest on. They write a
// tensor's values in place (the tensor is a handle, so a layer's weight() can be passed
// directly) and record nothing.
#pragma once

#include <cstdint>
#include <utility>

#include "framework/tensor.hpp"

namespace tapegrad {

class Generator;

enum class FanMode { fan_in, fan_out };

// (fan_in, fan_out) of a weight of shape (out, in, *): in · Π(*) and out · Π(*).
// Throws std::invalid_argument for fewer than 2 dimensions.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Shape& shape);

// Fills t with `value` (rounded once to T); returns t. zeros_ and ones_ are value 0 and 1, as
// torch.nn.init's: e.g. the last norm's γ of a residual block set to 0, so that each block
// starts as the identity (Goyal et al., 2017).
template <typename T>
BasicTensor<T> constant_(BasicTensor<T> t, double value);
template <typename T>
BasicTensor<T> zeros_(BasicTensor<T> t) {
    return constant_(t, 0.0);
}
template <typename T>
BasicTensor<T> ones_(BasicTensor<T> t) {
    return constant_(t, 1.0);
}

// Fills t with draws from U(low, high) (from `gen`, or the global generator), in row-major
// order; returns t. Throws std::invalid_argument unless low <= high.
template <typename T>
BasicTensor<T> uniform_(BasicTensor<T> t, double low, double high, Generator* gen = nullptr);

// U(−bound, bound) with bound = gain · sqrt(3 / fan), gain = sqrt(2 / (1 + a²)) (leaky ReLU
// with negative slope a; a = 0 is ReLU's sqrt(2)). With a = sqrt(5), PyTorch's default for
// Linear and Conv2d, bound = 1/sqrt(fan_in). A tensor with no elements is left as it is.
template <typename T>
BasicTensor<T> kaiming_uniform_(BasicTensor<T> t, double a = 0.0, FanMode mode = FanMode::fan_in,
                                Generator* gen = nullptr);

}  // namespace tapegrad
