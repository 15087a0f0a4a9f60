// clip_grad_norm_: rescales the gradients of a list of parameters so that their total norm —
// the norm of all of them concatenated into one vector — is at most max_norm, as
// torch.nn.utils.clip_grad_norm_ (PyTorch 1.13). Call it between backward and step().
#pragma once

#include <vector>

#include "framework/tensor.hpp"

namespace tapegrad {

// The total p-norm (p = norm_type; INFINITY for the max-norm) of the gradients of `params`
// that have one (the others are ignored; 0 when none has), in T as PyTorch's 0-dim tensor.
// Each gradient is then multiplied by min(1, max_norm / (total + 1e-6)), computed in T as
// PyTorch does, so a norm below max_norm leaves them as they are. With error_if_nonfinite, a
// NaN or infinite total throws std::runtime_error (PyTorch's message) and changes nothing;
// without it the gradients are scaled by the non-finite coefficient, as in PyTorch.
// std::invalid_argument for a norm_type that is not > 0 (PyTorch also takes 0 and negative
// orders; tapegrad computes p-norms for p > 0 and the max-norm).
template <typename T>
T clip_grad_norm_(const std::vector<BasicTensor<T>>& params, double max_norm, double norm_type = 2.0,
                  bool error_if_nonfinite = false);

}  // namespace tapegrad
