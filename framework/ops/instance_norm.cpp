// instance_norm op; see instance_norm.hpp. Messages are PyTorch's (F.instance_norm's
// _verify_spatial_size; at::instance_norm reshapes to (1, N·C, *) and repeats weight, bias
// and the running statistics N times before at::batch_norm checks their sizes).
#include "framework/ops/instance_norm.hpp"

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "framework/kernels/batch_norm.hpp"
#include "framework/kernels/group_norm.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

template <typename T>
void check_features(const char* name, const BasicTensor<T>& p, int64_t N, int64_t C) {
    if (p.defined() && p.numel() != C)
        throw std::invalid_argument(std::string(name) + " should contain " + std::to_string(N * C) + " elements not " +
                                    std::to_string(N * p.numel()));
}

}  // namespace

template <typename T>
BasicTensor<T> instance_norm(const BasicTensor<T>& x, const BasicTensor<T>& running_mean,
                             const BasicTensor<T>& running_var, const BasicTensor<T>& weight, const BasicTensor<T>& bias,
                             bool use_input_stats, double momentum, double eps) {
    if (x.dim() < 2)
        throw std::invalid_argument("instance_norm: expected at least 2 dimensions for input tensor (N, C, *), but got input of shape " +
                                    to_string(x.shape()));
    const int64_t N = x.size(0), C = x.size(1);
    int64_t inner = 1;
    for (int64_t d = 2; d < x.dim(); ++d) inner *= x.size(d);
    if (use_input_stats && inner == 1)
        throw std::invalid_argument("Expected more than 1 spatial element when training, got input size torch.Size(" +
                                    to_string(x.shape()) + ")");
    check_features("running_mean", running_mean, N, C);
    check_features("running_var", running_var, N, C);
    check_features("weight", weight, N, C);
    check_features("bias", bias, N, C);
    if (running_mean.defined() != running_var.defined())
        throw std::invalid_argument("instance_norm: running_mean and running_var must be both defined or both undefined");
    if (!use_input_stats && !running_mean.defined())
        throw std::invalid_argument("instance_norm: running_mean and running_var must be defined when use_input_stats is false");
    if (!(eps >= 0.0)) throw std::invalid_argument("instance_norm: expected eps >= 0, but got eps=" + std::to_string(eps));
    if (!(momentum >= 0.0 && momentum <= 1.0))
        throw std::invalid_argument("instance_norm: expected momentum in [0, 1], but got momentum=" + std::to_string(momentum));

    BasicTensor<T> y = empty<T>(x.shape());
    const T* w = weight.defined() ? weight.data() : nullptr;
    const T* b = bias.defined() ? bias.data() : nullptr;
    const bool needs_grad = any_requires_grad(x, weight, bias);
    auto grads = [x, weight, bias](auto&& backward) {
        const GradBuffer<T> dx = x.requires_grad() ? x.grad_buffer() : GradBuffer<T>{nullptr, true};
        T* dw = weight.defined() && weight.requires_grad() ? weight.grad_data_for_accumulation() : nullptr;
        T* db = bias.defined() && bias.requires_grad() ? bias.grad_data_for_accumulation() : nullptr;
        backward(dx, dw, db, weight.defined() ? weight.data() : nullptr);
    };

    if (use_input_stats) {
        // GroupNorm with one group per channel: (N, C) statistics.
        auto mean = std::make_shared<std::vector<double>>(static_cast<size_t>(N * C));
        auto rstd = std::make_shared<std::vector<double>>(static_cast<size_t>(N * C));
        kernels::group_norm_forward<T>(y.data(), mean->data(), rstd->data(), x.data(), w, b, N, C, inner, C, eps);
        if (running_mean.defined()) {
            BasicTensor<T> rm = running_mean, rv = running_var;  // updated in place
            kernels::instance_norm_update_running_stats<T>(rm.data(), rv.data(), mean->data(), rstd->data(), N, C, inner,
                                                           eps, momentum);
        }
        record_op("instance_norm", y, needs_grad, [grads, x, mean, rstd, N, C, inner](const T* dy) {
            grads([&](const GradBuffer<T>& dx, T* dw, T* db, const T* gamma) {
                kernels::group_norm_backward<T>(dx.data, dw, db, dy, x.data(), mean->data(), rstd->data(), gamma, N, C,
                                                inner, C, dx.accumulate);
            });
        });
    } else {
        // The running statistics: a per-channel affine map, BatchNorm's evaluation kernels.
        auto mean = std::make_shared<std::vector<double>>(static_cast<size_t>(C));
        auto rstd = std::make_shared<std::vector<double>>(static_cast<size_t>(C));
        kernels::batch_norm_running_stats<T>(mean->data(), rstd->data(), running_mean.data(), running_var.data(), C, eps);
        kernels::batch_norm_forward_eval<T>(y.data(), x.data(), mean->data(), rstd->data(), w, b, N, C, inner);
        record_op("instance_norm", y, needs_grad, [grads, x, mean, rstd, N, C, inner](const T* dy) {
            grads([&](const GradBuffer<T>& dx, T* dw, T* db, const T* gamma) {
                kernels::batch_norm_backward<T>(dx.data, dw, db, dy, x.data(), mean->data(), rstd->data(), gamma, N, C,
                                                inner, /*batch_stats=*/false, dx.accumulate);
            });
        });
    }
    return y;
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                    \
    template BasicTensor<T> instance_norm(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&,    \
                                          const BasicTensor<T>&, const BasicTensor<T>&, bool, double, double);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
