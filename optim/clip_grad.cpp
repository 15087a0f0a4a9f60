// clip_grad_norm_; see clip_grad.hpp. The norm's sums are taken in double over every gradient
// (PyTorch takes each tensor's norm in T, then the norm of those norms: the same value to T's
// rounding); the coefficient is PyTorch's, in T.
#include "optim/clip_grad.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "framework/format.hpp"
#include "framework/kernels/grad_norm.hpp"

namespace tapegrad {

template <typename T>
T clip_grad_norm_(const std::vector<BasicTensor<T>>& params, double max_norm, double norm_type,
                  bool error_if_nonfinite) {
    if (!(norm_type > 0.0))
        throw std::invalid_argument("clip_grad_norm_: expected norm_type > 0 (or inf), but got norm_type=" +
                                    python_float_repr(norm_type));
    std::vector<BasicTensor<T>> grads;
    for (const auto& p : params)
        if (p.grad().defined()) grads.push_back(p.grad());
    if (grads.empty()) return T(0);

    double total = 0.0;
    if (std::isinf(norm_type)) {
        for (const auto& g : grads) {
            const double m = kernels::max_abs(g.data(), g.numel());
            total = std::isnan(m) || std::isnan(total) ? NAN : std::max(total, m);
        }
    } else {
        for (const auto& g : grads) total += kernels::norm_power_sum(g.data(), g.numel(), norm_type);
        total = norm_type == 2.0 ? std::sqrt(total) : norm_type == 1.0 ? total : std::pow(total, 1.0 / norm_type);
    }
    const T total_norm = static_cast<T>(total);
    if (error_if_nonfinite && !std::isfinite(total_norm))
        throw std::runtime_error("The total norm of order " + python_float_repr(norm_type) +
                                 " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable "
                                 "this error and scale the gradients by the non-finite norm anyway, set "
                                 "`error_if_nonfinite=False`");
    // max_norm / (total_norm + 1e-6) on a 0-dim tensor is reciprocal(total_norm + 1e-6) * max_norm
    // (Tensor.__rtruediv__), clamped to 1 (a NaN stays NaN, as torch.clamp's).
    const T coef = T(1) / (total_norm + static_cast<T>(1e-6)) * static_cast<T>(max_norm);
    const T clamped = coef > T(1) ? T(1) : coef;
    for (auto& g : grads) kernels::scale_in_place(g.data(), g.numel(), clamped);
    return total_norm;
}

template float clip_grad_norm_<float>(const std::vector<BasicTensor<float>>&, double, double, bool);
template double clip_grad_norm_<double>(const std::vector<BasicTensor<double>>&, double, double, bool);

}  // namespace tapegrad
