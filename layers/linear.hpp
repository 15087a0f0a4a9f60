// Linear: torch.nn.Linear, y = x·Wᵀ + b over the last dimension of (*, in_features) input.
// weight (out, in) is Kaiming-uniform with a = sqrt(5) and bias U(−1/sqrt(in), 1/sqrt(in)),
// PyTorch's defaults, drawn from the Generator given (or the global one).
#pragma once

#include <cstdint>

#include "layers/module.hpp"

namespace tapegrad {

class Generator;

struct LinearOptions {
    int64_t in_features;
    int64_t out_features;
    bool bias = true;
};

template <typename T>
class BasicLinear : public BasicModule<T> {
  public:
    // Throws std::invalid_argument for negative feature counts.
    BasicLinear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
    explicit BasicLinear(const LinearOptions& options, Generator* gen = nullptr);
    // Linear(in, out, &gen) would turn the pointer into bias = true: pass the bias flag first.
    BasicLinear(int64_t, int64_t, Generator*) = delete;

    // x (*, in_features) → (*, out_features); throws std::invalid_argument naming both shapes
    // when the last dimension is not in_features.
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    // Draws weight and bias afresh, as the constructor did.
    void reset_parameters(Generator* gen = nullptr);

    const LinearOptions& options() const { return options_; }
    BasicTensor<T> weight() const { return weight_; }
    // Undefined when bias is false.
    BasicTensor<T> bias() const { return bias_; }

    std::string type_name() const override { return "Linear"; }
    // "in_features=3136, out_features=128, bias=True"
    std::string extra_repr() const override;

  private:
    LinearOptions options_;
    BasicTensor<T> weight_;
    BasicTensor<T> bias_;
};

using Linear = BasicLinear<float>;

}  // namespace tapegrad
