// Adam and AdamW — torch.optim.Adam and torch.optim.AdamW's single-tensor algorithm (PyTorch
// 1.13, foreach=False), in the parameters' precision. Per parameter, on its t-th step:
//   g = ∇ (−∇ with maximize)
//   AdamW: p = p·(1 − lr·λ)        Adam: g = g + λ·p (λ ≠ 0)
//   m = β1·m + (1 − β1)·g,  v = β2·v + (1 − β2)·g²,  amsgrad: v_max = max(v_max, v), used for v
//   p = p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
// t counts each parameter's own steps (a parameter without a gradient is skipped and does
// not count), as PyTorch's state["step"]. The state (m as "exp_avg", v as "exp_avg_sq",
// v_max as "max_exp_avg_sq", and the steps) is saved by state_dict(), so a resumed run
// continues bit for bit. Each parameter group has its own options (add_param_group()).
#pragma once

#include <array>
#include <vector>

#include "optim/optimizer.hpp"

namespace tapegrad {

// Where the weight decay goes: Adam's L2 penalty adds λ·p to the gradient (so it is scaled by
// the adaptive denominator); AdamW's decoupled decay shrinks p by lr·λ before the update.
enum class AdamWeightDecay { l2, decoupled };

// torch's names and defaults; only weight_decay's default differs between the two (0 for
// Adam, 1e-2 for AdamW).
template <AdamWeightDecay Decay>
struct AdamOptionsFor {
    double lr = 1e-3;
    std::array<double, 2> betas = {0.9, 0.999};
    double eps = 1e-8;
    double weight_decay = Decay == AdamWeightDecay::decoupled ? 1e-2 : 0.0;
    bool amsgrad = false;
    bool maximize = false;
};
using AdamOptions = AdamOptionsFor<AdamWeightDecay::l2>;
using AdamWOptions = AdamOptionsFor<AdamWeightDecay::decoupled>;

template <typename T, AdamWeightDecay Decay>
class BasicAdamFor : public BasicOptionsOptimizer<T, AdamOptionsFor<Decay>> {
  public:
    using Options = AdamOptionsFor<Decay>;

    // std::invalid_argument with PyTorch's messages ("Adam: Invalid learning rate: -1.0",
    // "Invalid epsilon value: ...", "Invalid beta parameter at index 0: 1.0", "Invalid
    // weight_decay value: ..."), and for values that are not finite; add_param_group()
    // checks a group's options alike.
    BasicAdamFor(std::vector<BasicTensor<T>> params, const Options& options = {});

    void step() override;

    // Parameter i's steps so far (0 before its first; std::out_of_range past the last parameter).
    int64_t param_step(size_t i) const;
    // Parameter i's exp_avg, exp_avg_sq and (with amsgrad) max_exp_avg_sq; undefined before
    // its first step.
    const BasicTensor<T>& exp_avg(size_t i) const { return this->buffers(0).at(i); }
    const BasicTensor<T>& exp_avg_sq(size_t i) const { return this->buffers(1).at(i); }
    const BasicTensor<T>& max_exp_avg_sq(size_t i) const { return this->buffers(2).at(i); }

  protected:
    // "param_steps": each parameter's step count, in the metadata.
    void write_extra_state(nlohmann::ordered_json& out) const override;
    void check_extra_state(const nlohmann::ordered_json& in, const std::vector<std::vector<bool>>& held,
                           const std::string& who) const override;
    void apply_extra_state(const nlohmann::ordered_json& in) override;

  private:
    std::vector<int64_t> steps_;  // per parameter; step() extends it over groups added since
};

template <typename T>
using BasicAdam = BasicAdamFor<T, AdamWeightDecay::l2>;
template <typename T>
using BasicAdamW = BasicAdamFor<T, AdamWeightDecay::decoupled>;
using Adam = BasicAdam<float>;
using AdamW = BasicAdamW<float>;

}  // namespace tapegrad
