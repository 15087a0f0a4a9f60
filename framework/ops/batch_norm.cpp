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
#include "framework/ops/norm_checks.hpp"

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
    detail::check_running_stats("batch_norm", running_mean.defined(), running_var.defined(), !training, "not training",
                                eps, momentum);

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

    record_affine_op(
        "batch_norm", y, x, weight, bias, [mean, rstd, N, C, inner, training](const AffineGrads<T>& g, const T* dy) {
            kernels::batch_norm_backward<T>(g.dx.data, g.dweight, g.dbias, dy, g.x, mean->data(), rstd->data(),
                                            g.weight, N, C, inner, training, g.dx.accumulate);
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
