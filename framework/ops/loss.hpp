// log_softmax over the class dimension of (N, C) logits, and cross_entropy with class-index
// targets and mean reduction (torch.nn.functional.cross_entropy's default).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "framework/tensor.hpp"

namespace tapegrad {

// x (N, C); dim must be 1 (or -1).
template <typename T> BasicTensor<T> log_softmax(const BasicTensor<T>& x, int64_t dim = 1);

// logits (N, C), target N class indices in [0, C) → the mean negative log-likelihood, shape [].
template <typename T> BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, std::span<const int64_t> target);
template <typename T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, const std::vector<int64_t>& target) {
    return cross_entropy(logits, std::span<const int64_t>(target));
}

}  // namespace tapegrad
