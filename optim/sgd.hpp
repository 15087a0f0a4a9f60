// SGD: stochastic gradient descent with momentum, dampening, Nesterov momentum and weight
// decay — exactly torch.optim.SGD's update (PyTorch 1.13), in the parameters' precision:
//   d = grad + weight_decay·p
//   if momentum ≠ 0: buf = d on a parameter's first step, else buf = momentum·buf + (1 − dampening)·d
//                    d = nesterov ? d + momentum·buf : buf
//   p = p − lr·d
// Parameters without a gradient are skipped (no buffer is made for them). Each parameter
// group has its own options (add_param_group()).
#pragma once

#include <vector>

#include "optim/optimizer.hpp"

namespace tapegrad {

struct SGDOptions {
    double lr = 1e-3;  // PyTorch 2's default (1.13 has none)
    double momentum = 0.0;
    double dampening = 0.0;
    double weight_decay = 0.0;
    bool nesterov = false;
};

template <typename T>
class BasicSGD : public BasicOptionsOptimizer<T, SGDOptions> {
  public:
    // std::invalid_argument, naming the values, for lr, momentum or weight_decay < 0 (or not
    // finite), a non-finite dampening, or nesterov without momentum > 0 and dampening = 0;
    // add_param_group() checks a group's options alike.
    BasicSGD(std::vector<BasicTensor<T>> params, const SGDOptions& options);

    void step() override;

    // Parameter i's momentum buffer; undefined before its first step (or without momentum).
    const BasicTensor<T>& momentum_buffer(size_t i) const { return this->buffers(0).at(i); }
};

using SGD = BasicSGD<float>;

}  // namespace tapegrad
