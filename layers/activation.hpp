// Activation layers: ReLU (torch.nn.ReLU, max(0, x) element-wise, any shape; no in-place
// variant). No parameters; the computation is framework/ops/elementwise's relu.
#pragma once

#include "layers/module.hpp"

namespace tapegrad {

template <typename T>
class BasicReLU : public BasicModule<T> {
  public:
    BasicReLU() = default;
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    std::string type_name() const override { return "ReLU"; }
};

using ReLU = BasicReLU<float>;

}  // namespace tapegrad
