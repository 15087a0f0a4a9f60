// Upsample: torch.nn.Upsample(scale_factor=s, mode="nearest") for a whole s >= 1 on
// (N, C, H, W) input; no size argument, no other mode. No parameters; the computation is
// framework/ops/upsample's upsample_nearest2d.
#pragma once

#include <cstdint>
#include <string>

#include "layers/module.hpp"

namespace tapegrad {

template <typename T>
class BasicUpsample : public BasicModule<T> {
  public:
    // Throws std::invalid_argument for a scale_factor that is not a whole number >= 1, or a
    // mode other than "nearest".
    explicit BasicUpsample(double scale_factor, const std::string& mode = "nearest");
    BasicTensor<T> forward(const BasicTensor<T>& x) override;

    double scale_factor() const { return static_cast<double>(scale_); }
    const std::string& mode() const { return mode_; }

    std::string type_name() const override { return "Upsample"; }
    // "scale_factor=2.0, mode=nearest", as PyTorch prints it.
    std::string extra_repr() const override;

  private:
    int64_t scale_;
    std::string mode_;
};

using Upsample = BasicUpsample<float>;

}  // namespace tapegrad
