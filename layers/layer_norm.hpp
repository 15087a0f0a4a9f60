// LayerNorm: torch.nn.LayerNorm in C++. Normalises each input over its trailing dimensions
// normalized_shape (mean and biased variance over their prod(normalized_shape) elements),
// then applies a learnable per-ELEMENT scale γ ("weight", ones) and shift β ("bias", zeros)
// of shape normalized_shape. The same computation in training and evaluation.
#pragma once

#include "layers/module.hpp"

namespace tapegrad {

struct LayerNormOptions {
    Shape normalized_shape;
    double eps = 1e-5;
    bool elementwise_affine = true;
};

template <typename T>
class BasicLayerNorm : public BasicModule<T> {
  public:
    // Throws std::invalid_argument for a negative extent in normalized_shape or eps < 0.
    explicit BasicLayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
    explicit BasicLayerNorm(const LayerNormOptions& options);

    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    // γ back to ones and β to zeros.
    void reset_parameters();

    const LayerNormOptions& options() const { return options_; }
    // Undefined tensors when elementwise_affine is false.
    BasicTensor<T> weight() const { return weight_; }
    BasicTensor<T> bias() const { return bias_; }

    std::string type_name() const override { return "LayerNorm"; }
    // "(4, 5), eps=1e-05, elementwise_affine=True"
    std::string extra_repr() const override;

  private:
    LayerNormOptions options_;
    BasicTensor<T> weight_;
    BasicTensor<T> bias_;
};

using LayerNorm = BasicLayerNorm<float>;

}  // namespace tapegrad
