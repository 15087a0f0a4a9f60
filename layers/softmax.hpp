// Softmax: torch.nn.Softmax(dim), exp(x) / Σ exp(x) along dim (negative counts from the end),
// any rank; the dimension is checked against each input. No parameters; the computation is
// framework/ops/reduction's softmax.
#pragma once

#include <cstdint>

#include "layers/module.hpp"

namespace tapegrad {

template <typename T>
class BasicSoftmax : public BasicModule<T> {
  public:
    explicit BasicSoftmax(int64_t dim) : dim_(dim) {}
    BasicTensor<T> forward(const BasicTensor<T>& x) override;

    int64_t dim() const { return dim_; }

    std::string type_name() const override { return "Softmax"; }
    // "dim=1"
    std::string extra_repr() const override;

  private:
    int64_t dim_;
};

using Softmax = BasicSoftmax<float>;

}  // namespace tapegrad
