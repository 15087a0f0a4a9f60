// dropout: inverted dropout as torch.nn.functional.dropout — in training each element is
// zeroed with probability p and the survivors are scaled by 1/(1 − p); otherwise (or p = 0)
// the input itself is returned. The mask comes from tapegrad's Generator, not PyTorch's.
#pragma once

#include "framework/tensor.hpp"

namespace tapegrad {

class Generator;

// p in [0, 1), else std::invalid_argument. Element i (row-major) survives when the i-th
// uniform draw from `gen` (or the global generator) is >= p, so a seeded generator gives
// the same mask every time. The gradient is masked and scaled the same way.
template <typename T>
BasicTensor<T> dropout(const BasicTensor<T>& x, double p = 0.5, bool training = true, Generator* gen = nullptr);

}  // namespace tapegrad
