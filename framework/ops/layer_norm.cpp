// layer_norm op; see layer_norm.hpp. Messages are PyTorch's (at::native's
// _check_layer_norm_inputs), checked in its order.
#include "framework/ops/layer_norm.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "framework/kernels/layer_norm.hpp"
#include "framework/ops/autograd.hpp"
#include "framework/ops/norm_checks.hpp"

namespace tapegrad {

namespace {

template <typename T>
void check_affine(const char* name, const BasicTensor<T>& p, const Shape& normalized_shape) {
    if (p.defined() && p.shape() != normalized_shape)
        throw std::invalid_argument(std::string("Expected ") + name +
                                    " to be of same shape as normalized_shape, but got " + name + " of shape " +
                                    to_string(p.shape()) + " and normalized_shape = " + to_string(normalized_shape));
}

}  // namespace

template <typename T>
BasicTensor<T> layer_norm(const BasicTensor<T>& x, const Shape& normalized_shape, const BasicTensor<T>& weight,
                          const BasicTensor<T>& bias, double eps) {
    const size_t nd = normalized_shape.size();
    if (nd == 0)
        throw std::invalid_argument(
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got "
            "normalized_shape = []");
    check_affine("weight", weight, normalized_shape);
    check_affine("bias", bias, normalized_shape);
    const Shape& shape = x.shape();
    if (shape.size() < nd ||
        !std::equal(normalized_shape.begin(), normalized_shape.end(), shape.end() - static_cast<std::ptrdiff_t>(nd))) {
        std::string expected = "[*";
        for (int64_t d : normalized_shape) expected += ", " + std::to_string(d);
        throw std::invalid_argument("Given normalized_shape=" + to_string(normalized_shape) +
                                    ", expected input with shape " + expected + "], but got input of size" +
                                    to_string(shape));
    }
    detail::check_norm_eps("layer_norm", eps);

    int64_t rows = 1, M = 1;
    for (size_t d = 0; d < shape.size() - nd; ++d) rows *= shape[d];
    for (int64_t d : normalized_shape) M *= d;
    BasicTensor<T> y = empty<T>(shape);
    // (rows) statistics, saved for the backward.
    auto mean = std::make_shared<std::vector<double>>(static_cast<size_t>(rows));
    auto rstd = std::make_shared<std::vector<double>>(static_cast<size_t>(rows));
    const T* w = weight.defined() ? weight.data() : nullptr;
    const T* b = bias.defined() ? bias.data() : nullptr;
    kernels::layer_norm_forward<T>(y.data(), mean->data(), rstd->data(), x.data(), w, b, rows, M, eps);

    record_affine_op("layer_norm", y, x, weight, bias, [mean, rstd, rows, M](const AffineGrads<T>& g, const T* dy) {
        kernels::layer_norm_backward<T>(g.dx.data, g.dweight, g.dbias, dy, g.x, mean->data(), rstd->data(), g.weight,
                                        rows, M, g.dx.accumulate);
    });
    return y;
}

template BasicTensor<float> layer_norm(const BasicTensor<float>&, const Shape&, const BasicTensor<float>&,
                                       const BasicTensor<float>&, double);
template BasicTensor<double> layer_norm(const BasicTensor<double>&, const Shape&, const BasicTensor<double>&,
                                        const BasicTensor<double>&, double);

}  // namespace tapegrad
