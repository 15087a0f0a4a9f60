// Dropout: torch.nn.Dropout, inverted dropout in training mode (zero with probability p,
// scale survivors by 1/(1 − p)) and the identity in evaluation mode (after eval()). No
// parameters; masks come from the Generator given (not owned; it must outlive the layer) or
// the global one.
#pragma once

#include "layers/module.hpp"

namespace tapegrad {

class Generator;

template <typename T>
class BasicDropout : public BasicModule<T> {
  public:
    // Throws std::invalid_argument unless 0 <= p < 1.
    explicit BasicDropout(double p = 0.5, Generator* gen = nullptr);
    BasicTensor<T> forward(const BasicTensor<T>& x) override;

    double p() const { return p_; }

    std::string type_name() const override { return "Dropout"; }
    // "p=0.5, inplace=False"
    std::string extra_repr() const override;

  private:
    double p_;
    Generator* gen_;
};

using Dropout = BasicDropout<float>;

}  // namespace tapegrad
