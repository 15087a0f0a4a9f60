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
#include "framework/ops/norm_checks.hpp"

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
                             const BasicTensor<T>& running_var, const BasicTensor<T>& weight,
                             const BasicTensor<T>& bias, bool use_input_stats, double momentum, double eps) {
    if (x.dim() < 2)
        throw std::invalid_argument(
            "instance_norm: expected at least 2 dimensions for input tensor (N, C, *), but got input of shape " +
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
    detail::check_running_stats("instance_norm", running_mean.defined(), running_var.defined(), !use_input_stats,
                                "use_input_stats is false", eps, momentum);

    BasicTensor<T> y = empty<T>(x.shape());
    const T* w = weight.defined() ? weight.data() : nullptr;
    const T* b = bias.defined() ? bias.data() : nullptr;

    if (use_input_stats) {
        // GroupNorm with one group per channel: (N, C) statistics.
        auto mean = std::make_shared<std::vector<double>>(static_cast<size_t>(N * C));
        auto rstd = std::make_shared<std::vector<double>>(static_cast<size_t>(N * C));
        kernels::group_norm_forward<T>(y.data(), mean->data(), rstd->data(), x.data(), w, b, N, C, inner, C, eps);
        if (running_mean.defined()) {
            BasicTensor<T> rm = running_mean, rv = running_var;  // updated in place
            kernels::instance_norm_update_running_stats<T>(rm.data(), rv.data(), mean->data(), rstd->data(), N, C,
                                                           inner, eps, momentum);
        }
        const auto backward = [mean, rstd, N, C, inner](const AffineGrads<T>& g, const T* dy) {
            kernels::group_norm_backward<T>(g.dx.data, g.dweight, g.dbias, dy, g.x, mean->data(), rstd->data(),
                                            g.weight, N, C, inner, /*groups=*/C, g.dx.accumulate);
        };
        record_affine_op("instance_norm", y, x, weight, bias, backward);
    } else {
        // The running statistics: a per-channel affine map, BatchNorm's evaluation kernels.
        auto mean = std::make_shared<std::vector<double>>(static_cast<size_t>(C));
        auto rstd = std::make_shared<std::vector<double>>(static_cast<size_t>(C));
        kernels::batch_norm_running_stats<T>(mean->data(), rstd->data(), running_mean.data(), running_var.data(), C,
                                             eps);
        kernels::batch_norm_forward_eval<T>(y.data(), x.data(), mean->data(), rstd->data(), w, b, N, C, inner);
        const auto backward = [mean, rstd, N, C, inner](const AffineGrads<T>& g, const T* dy) {
            kernels::batch_norm_backward<T>(g.dx.data, g.dweight, g.dbias, dy, g.x, mean->data(), rstd->data(),
                                            g.weight, N, C, inner, /*batch_stats=*/false, g.dx.accumulate);
        };
        record_affine_op("instance_norm", y, x, weight, bias, backward);
    }
    return y;
}

template Tensor instance_norm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double,
                              double);
template DoubleTensor instance_norm(const DoubleTensor&, const DoubleTensor&, const DoubleTensor&, const DoubleTensor&,
                                    const DoubleTensor&, bool, double, double);

}  // namespace tapegrad
