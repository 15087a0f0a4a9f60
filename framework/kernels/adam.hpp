// The Adam / AdamW update of one parameter tensor, element-wise over raw memory: the tensor
// operations of torch.optim's single-tensor Adam and AdamW (PyTorch 1.13) in their order, each
// hyper-parameter rounded to T where PyTorch applies a Python float to a T tensor. One pass
// over the parameter and its state, in parallel when large. A scalar reference twin.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// One step's hyper-parameters, as the optimizer holds them (doubles, as PyTorch's Python floats).
struct AdamStep {
    double lr = 0.0;
    double beta1 = 0.0, beta2 = 0.0;
    double eps = 0.0;
    double weight_decay = 0.0;
    int64_t step = 1;        // the parameter's own step count, this step included (1 on its first)
    bool amsgrad = false;    // normalise by the running maximum of exp_avg_sq (max_exp_avg_sq)
    bool maximize = false;   // ascend: the gradient's sign flipped
    bool decoupled = false;  // AdamW's weight decay, p·(1 − lr·λ), instead of Adam's g + λ·p
};

// With g = ±grad (− when maximize), t = step, and the Python-float scalars
//   bias_correction1 = 1 − β1^t, bias_correction2 = 1 − β2^t, step_size = lr / bias_correction1,
// each element goes through
//   AdamW: p = p·(1 − lr·λ)                         (param.mul_(1 - lr * weight_decay))
//   Adam:  g = g + λ·p            if λ ≠ 0          (grad.add(param, alpha=weight_decay))
//   m = m·β1 + (1 − β1)·g                           (exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1))
//   v = v·β2 + (1 − β2)·g·g                         (exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2))
//   amsgrad: v_max = max(v_max, v), and v_max in place of v below
//   denom = √v / √bias_correction2 + eps
//   p = p + (−step_size)·m / denom                  (param.addcdiv_(exp_avg, denom, value=-step_size))
// param, exp_avg, exp_avg_sq (and max_exp_avg_sq, which may be null without amsgrad) are
// updated in place; all hold n elements. A first step starts from zeroed state.
template <typename T>
void adam_update(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n, const AdamStep& s);

template <typename T>
void adam_update_reference(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
                           const AdamStep& s);

}  // namespace tapegrad::kernels
