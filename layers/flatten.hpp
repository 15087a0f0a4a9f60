// Flatten: torch.nn.Flatten, merging dimensions start_dim..end_dim (negative counts from the
// end) into one; the default (1, −1) turns (N, C, H, W) into (N, C·H·W). No parameters.
#pragma once

#include <cstdint>

#include "layers/module.hpp"

namespace tapegrad {

template <typename T>
class BasicFlatten : public BasicModule<T> {
  public:
    // The dimensions are checked against each input (std::out_of_range, as flatten()).
    explicit BasicFlatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim_(start_dim), end_dim_(end_dim) {}
    BasicTensor<T> forward(const BasicTensor<T>& x) override;

    int64_t start_dim() const { return start_dim_; }
    int64_t end_dim() const { return end_dim_; }

    std::string type_name() const override { return "Flatten"; }
    // "start_dim=1, end_dim=-1"
    std::string extra_repr() const override;

  private:
    int64_t start_dim_;
    int64_t end_dim_;
};

using Flatten = BasicFlatten<float>;

}  // namespace tapegrad
