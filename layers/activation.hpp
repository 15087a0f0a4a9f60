// Activation layers with torch.nn's names, defaults and printing: ReLU, SiLU, GELU(approximate),
// Sigmoid, Tanh, LeakyReLU(negative_slope), Identity. Element-wise on any shape, no parameters,
// no in-place variants; each calls its functional op of framework/ops (elementwise, math).
#pragma once

#include <string>

#include "layers/module.hpp"

namespace tapegrad {

template <typename T>
class BasicReLU : public BasicModule<T> {
  public:
    BasicReLU() = default;
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    std::string type_name() const override { return "ReLU"; }
};

template <typename T>
class BasicSiLU : public BasicModule<T> {
  public:
    BasicSiLU() = default;
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    std::string type_name() const override { return "SiLU"; }
};

// approximate: "none" or "tanh" (std::invalid_argument otherwise, PyTorch's words).
template <typename T>
class BasicGELU : public BasicModule<T> {
  public:
    explicit BasicGELU(std::string approximate = "none");
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    std::string type_name() const override { return "GELU"; }
    std::string extra_repr() const override { return "approximate='" + approximate_ + "'"; }
    const std::string& approximate() const { return approximate_; }

  private:
    std::string approximate_;
};

template <typename T>
class BasicSigmoid : public BasicModule<T> {
  public:
    BasicSigmoid() = default;
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    std::string type_name() const override { return "Sigmoid"; }
};

template <typename T>
class BasicTanh : public BasicModule<T> {
  public:
    BasicTanh() = default;
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    std::string type_name() const override { return "Tanh"; }
};

template <typename T>
class BasicLeakyReLU : public BasicModule<T> {
  public:
    explicit BasicLeakyReLU(double negative_slope = 0.01) : negative_slope_(negative_slope) {}
    BasicTensor<T> forward(const BasicTensor<T>& x) override;
    std::string type_name() const override { return "LeakyReLU"; }
    std::string extra_repr() const override { return "negative_slope=" + python_float_repr(negative_slope_); }
    double negative_slope() const { return negative_slope_; }

  private:
    double negative_slope_;
};

// Returns its input itself (the same tensor, as torch.nn.Identity), recording nothing.
template <typename T>
class BasicIdentity : public BasicModule<T> {
  public:
    BasicIdentity() = default;
    BasicTensor<T> forward(const BasicTensor<T>& x) override { return x; }
    std::string type_name() const override { return "Identity"; }
};

using ReLU = BasicReLU<float>;
using SiLU = BasicSiLU<float>;
using GELU = BasicGELU<float>;
using Sigmoid = BasicSigmoid<float>;
using Tanh = BasicTanh<float>;
using LeakyReLU = BasicLeakyReLU<float>;
using Identity = BasicIdentity<float>;

}  // namespace tapegrad
