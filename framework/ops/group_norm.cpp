// group_norm op; see group_norm.hpp. Messages follow PyTorch's wording.
#include "framework/ops/group_norm.hpp"

#include <memory>
#include <stdexcept>
#include <vector>

#include "framework/kernels/group_norm.hpp"
#include "framework/ops/autograd.hpp"
#include "framework/ops/norm_checks.hpp"

namespace tapegrad {

namespace {

template <typename T>
void check_affine(const char* name, const BasicTensor<T>& p, int64_t C) {
    if (p.defined() && p.shape() != Shape{C})
        throw std::invalid_argument(std::string("group_norm: expected ") + name +
                                    " to be a vector of size equal to the number of channels in input, but got " +
                                    name + " of shape " + to_string(p.shape()) + " and input of shape with " +
                                    std::to_string(C) + " channels");
}

}  // namespace

template <typename T>
BasicTensor<T> group_norm(const BasicTensor<T>& x, int64_t num_groups, const BasicTensor<T>& weight,
                          const BasicTensor<T>& bias, double eps) {
    if (x.dim() < 2)
        throw std::invalid_argument(
            "group_norm: expected at least 2 dimensions for input tensor (N, C, *), but got input of shape " +
            to_string(x.shape()));
    if (num_groups <= 0)
        throw std::invalid_argument("group_norm: expected num_groups to be positive, but got num_groups=" +
                                    std::to_string(num_groups));
    const int64_t N = x.size(0), C = x.size(1);
    // PyTorch's F.group_norm (_verify_batch_size), checked before divisibility as there: the
    // size [N·C // G, G, *] must hold more than one value, or every output would be β. Its
    // message says "when training", though GroupNorm raises it in evaluation too. N·C fits:
    // a tensor's non-zero extents have a product that fits in int64 (shape_numel).
    {
        Shape size{N * C / num_groups, num_groups};
        size.insert(size.end(), x.shape().begin() + 2, x.shape().end());
        bool one_value = size[0] == 1;
        for (size_t d = 2; d < size.size(); ++d) one_value = one_value && size[d] == 1;
        if (one_value)
            throw std::invalid_argument("Expected more than 1 value per channel when training, got input size " +
                                        to_string(size));
    }
    if (C % num_groups != 0)
        throw std::invalid_argument(
            "Expected number of channels in input to be divisible by num_groups, but got input of shape " +
            to_string(x.shape()) + " and num_groups=" + std::to_string(num_groups));
    check_affine("weight", weight, C);
    check_affine("bias", bias, C);
    detail::check_norm_eps("group_norm", eps);

    const int64_t G = num_groups;
    const int64_t inner = C > 0 ? x.numel() / std::max<int64_t>(1, N * C) : 0;
    BasicTensor<T> y = empty<T>(x.shape());
    // (N, G) statistics, saved for the backward.
    auto mean = std::make_shared<std::vector<double>>(static_cast<size_t>(N * G));
    auto rstd = std::make_shared<std::vector<double>>(static_cast<size_t>(N * G));
    const T* w = weight.defined() ? weight.data() : nullptr;
    const T* b = bias.defined() ? bias.data() : nullptr;
    kernels::group_norm_forward<T>(y.data(), mean->data(), rstd->data(), x.data(), w, b, N, C, inner, G, eps);

    record_affine_op("group_norm", y, x, weight, bias,
                     [mean, rstd, N, C, inner, G](const AffineGrads<T>& g, const T* dy) {
                         kernels::group_norm_backward<T>(g.dx.data, g.dweight, g.dbias, dy, g.x, mean->data(),
                                                         rstd->data(), g.weight, N, C, inner, G, g.dx.accumulate);
                     });
    return y;
}

template BasicTensor<float> group_norm(const BasicTensor<float>&, int64_t, const BasicTensor<float>&,
                                       const BasicTensor<float>&, double);
template BasicTensor<double> group_norm(const BasicTensor<double>&, int64_t, const BasicTensor<double>&,
                                        const BasicTensor<double>&, double);

}  // namespace tapegrad
