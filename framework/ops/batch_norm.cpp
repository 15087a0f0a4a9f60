// batch_norm op; see batch_norm.hpp. Messages are PyTorch's (F.batch_norm's
// _verify_batch_size, at::native's check_dims_match_num_input_features).
#include "framework/ops/batch_norm.hpp"

#include <cmath>
#include <memory>
#include <optional>
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
BasicTensor<T> batch_norm(const BasicTensor<T>& x, const BasicTensor<T>& running_mean,
                          const BasicTensor<T>& running_var, const BasicTensor<T>& weight, const BasicTensor<T>& bias,
                          bool training, double momentum, double eps, std::optional<int64_t> virtual_batch_size) {
    if (x.dim() < 2)
        throw std::invalid_argument(
            "batch_norm: expected at least 2 dimensions for input tensor (N, C, *), but got input of shape " +
            to_string(x.shape()));
    if (virtual_batch_size && *virtual_batch_size <= 0)
        throw std::invalid_argument("batch_norm: expected virtual_batch_size > 0, but got " +
                                    std::to_string(*virtual_batch_size));
    const int64_t N = x.size(0), C = x.size(1);
    const int64_t inner = N * C > 0 ? x.numel() / (N * C) : 0;
    // Training normalises `groups` chunks of B samples each: the whole batch as one, or the
    // virtual batches. Evaluation is per-sample, so its groups do not matter.
    int64_t B = N, groups = 1;
    if (training && virtual_batch_size) {
        B = *virtual_batch_size;
        if (N % B != 0)
            throw std::invalid_argument("batch_norm: virtual_batch_size " + std::to_string(B) +
                                        " does not divide the batch of " + std::to_string(N));
        groups = N / B;
    }
    int64_t per_channel = B;  // values per channel in a group, counted as PyTorch's _verify_batch_size does
    for (int64_t d = 2; d < x.dim(); ++d) per_channel *= x.size(d);
    if (training && per_channel == 1 && groups > 0) {
        Shape group_shape = x.shape();  // PyTorch, given the chunk alone, names its size
        group_shape[0] = B;
        throw std::invalid_argument("Expected more than 1 value per channel when training, got input size " +
                                    torch_size(group_shape));
    }
    check_features("running_mean", running_mean, C);
    check_features("running_var", running_var, C);
    check_features("weight", weight, C);
    check_features("bias", bias, C);
    detail::check_running_stats("batch_norm", running_mean.defined(), running_var.defined(), !training, "not training",
                                eps, momentum);

    BasicTensor<T> y = empty<T>(x.shape());
    // (groups, C) statistics the backward uses: each group's, or the running ones in evaluation.
    const size_t stats = static_cast<size_t>(groups * C);
    auto mean = std::make_shared<std::vector<double>>(stats);
    auto rstd = std::make_shared<std::vector<double>>(stats);
    const T* w = weight.defined() ? weight.data() : nullptr;
    const T* b = bias.defined() ? bias.data() : nullptr;
    const int64_t chunk = B * C * inner;  // elements of a group; the groups lie one after the other
    if (training) {
        std::vector<double> var(stats);
        for (int64_t g = 0; g < groups; ++g)
            kernels::batch_norm_forward<T>(y.data() + g * chunk, mean->data() + g * C, var.data() + g * C,
                                           rstd->data() + g * C, x.data() + g * chunk, w, b, B, C, inner, eps);
        if (running_mean.defined() && per_channel > 0) {
            // Training with one value per channel was rejected above, so n >= 2 here.
            BasicTensor<T> rm = running_mean, rv = running_var;  // updated in place
            kernels::batch_norm_update_running_stats_grouped<T>(rm.data(), rv.data(), mean->data(), var.data(), groups,
                                                                C, momentum, per_channel);
        }
    } else {
        kernels::batch_norm_running_stats<T>(mean->data(), rstd->data(), running_mean.data(), running_var.data(), C,
                                             eps);
        kernels::batch_norm_forward_eval<T>(y.data(), x.data(), mean->data(), rstd->data(), w, b, N, C, inner);
    }

    record_affine_op("batch_norm", y, x, weight, bias,
                     [mean, rstd, B, groups, chunk, C, inner, training](const AffineGrads<T>& g, const T* dy) {
                         // Each group's backward adds its share into dγ and dβ, in group order.
                         for (int64_t k = 0; k < groups; ++k)
                             kernels::batch_norm_backward<T>(g.dx.data ? g.dx.data + k * chunk : nullptr, g.dweight,
                                                             g.dbias, dy + k * chunk, g.x + k * chunk,
                                                             mean->data() + k * C, rstd->data() + k * C, g.weight, B, C,
                                                             inner, training, g.dx.accumulate);
                     });
    return y;
}

#define TAPEGRAD_INSTANTIATE(T)                                                                             \
    template BasicTensor<T> batch_norm(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&, \
                                       const BasicTensor<T>&, const BasicTensor<T>&, bool, double, double,  \
                                       std::optional<int64_t>);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
