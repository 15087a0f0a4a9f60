// batch_norm op; see batch_norm.hpp. Messages are PyTorch's (F.batch_norm's
// _verify_batch_size, at::native's check_dims_match_num_input_features).
#include "framework/ops/batch_norm.hpp"

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "framework/kernels/batch_norm.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

template <typename T>
void check_features(const char* name, const BasicTensor<T>& p, int64_t C) {
    if (p.defined() && p.numel() != C)
        throw std::invalid_argument(std::string(name) + " should contain " + std::to_string(C) + " elements not " +
                                    std::to_string(p.numel()));
}

// PyTorch prints the size as a torch.Size.
std::string torch_size(const Shape& shape) { return "torch.Size(" + to_string(shape) + ")"; }

}  // namespace

template <typename T>
BasicTensor<T> batch_norm(const BasicTensor<T>& x, const BasicTensor<T>& running_mean, const BasicTensor<T>& running_var,
                          const BasicTensor<T>& weight, const BasicTensor<T>& bias, bool training, double momentum,
                          double eps) {
    if (x.dim() < 2)
        throw std::invalid_argument("batch_norm: expected at least 2 dimensions for input tensor (N, C, *), but got input of shape " +
                                    to_string(x.shape()));
    const int64_t N = x.size(0), C = x.size(1);
    const int64_t inner = N * C > 0 ? x.numel() / (N * C) : 0;
    int64_t per_channel = N;  // values per channel, counted as PyTorch's _verify_batch_size does
    for (int64_t d = 2; d < x.dim(); ++d) per_channel *= x.size(d);
    if (training && per_channel == 1)
        throw std::invalid_argument("Expected more than 1 value per channel when training, got input size " +
                                    torch_size(x.shape()));
    check_features("running_mean", running_mean, C);
    check_features("running_var", running_var, C);
    check_features("weight", weight, C);
    check_features("bias", bias, C);
    if (running_mean.defined() != running_var.defined())
        throw std::invalid_argument("batch_norm: running_mean and running_var must be both defined or both undefined");
    if (!training && !running_mean.defined())
        throw std::invalid_argument("batch_norm: running_mean and running_var must be defined when not training");
    if (!(eps >= 0.0)) throw std::invalid_argument("batch_norm: expected eps >= 0, but got eps=" + std::to_string(eps));
    if (!(momentum >= 0.0 && momentum <= 1.0))
        throw std::invalid_argument("batch_norm: expected momentum in [0, 1], but got momentum=" + std::to_string(momentum));

    BasicTensor<T> y = empty<T>(x.shape());
    // (C) statistics the backward uses: the batch's, or the running ones in evaluation.
    auto mean = std::make_shared<std::vector<double>>(static_cast<size_t>(C));
    auto rstd = std::make_shared<std::vector<double>>(static_cast<size_t>(C));
    const T* w = weight.defined() ? weight.data() : nullptr;
    const T* b = bias.defined() ? bias.data() : nullptr;
    if (training) {
        std::vector<double> var(static_cast<size_t>(C));
        kernels::batch_norm_forward<T>(y.data(), mean->data(), var.data(), rstd->data(), x.data(), w, b, N, C, inner, eps);
        if (running_mean.defined() && per_channel > 0) {
            // Training with one value per channel was rejected above, so n >= 2 here.
            BasicTensor<T> rm = running_mean, rv = running_var;  // updated in place
            kernels::batch_norm_update_running_stats<T>(rm.data(), rv.data(), mean->data(), var.data(), C, momentum,
                                                        per_channel);
        }
    } else {
        kernels::batch_norm_running_stats<T>(mean->data(), rstd->data(), running_mean.data(), running_var.data(), C, eps);
        kernels::batch_norm_forward_eval<T>(y.data(), x.data(), mean->data(), rstd->data(), w, b, N, C, inner);
    }

    record_op("batch_norm", y, any_requires_grad(x, weight, bias),
              [x, weight, bias, mean, rstd, N, C, inner, training](const T* dy) mutable {
                  const GradBuffer<T> dx = x.requires_grad() ? x.grad_buffer() : GradBuffer<T>{nullptr, true};
                  T* dw = weight.defined() && weight.requires_grad() ? weight.grad_data_for_accumulation() : nullptr;
                  T* db = bias.defined() && bias.requires_grad() ? bias.grad_data_for_accumulation() : nullptr;
                  kernels::batch_norm_backward<T>(dx.data, dw, db, dy, x.data(), mean->data(), rstd->data(),
                                                  weight.defined() ? weight.data() : nullptr, N, C, inner, training,
                                                  dx.accumulate);
              });
    return y;
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                    \
    template BasicTensor<T> batch_norm(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&,       \
                                       const BasicTensor<T>&, const BasicTensor<T>&, bool, double, double);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
