// Unary element-wise math; see math.hpp. Each op: the kernels/unary forward into a fresh
// output, then a recorded backward dx (+)= dy · f'(x), where f' may read the output y = f(x)
// (exp, sqrt, rsqrt, sigmoid, tanh: their derivatives are cheapest in y). The derivations
// are above each functor in kernels/unary.cpp.
#include "framework/ops/math.hpp"

#include <stdexcept>

#include "framework/kernels/unary.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

using kernels::UnaryOp;
using kernels::UnaryParams;

template <typename T>
BasicTensor<T> unary(const char* name, UnaryOp op, const BasicTensor<T>& x, const UnaryParams& params = {}) {
    BasicTensor<T> out = empty<T>(x.shape());
    kernels::unary_forward(out.data(), x.data(), x.numel(), op, params);
    record_op(name, out, any_requires_grad(x), [x, y = out, op, params](const T* dy) {
        const GradBuffer<T> dx = x.grad_buffer();
        kernels::unary_backward(dx.data, dy, x.data(), y.data(), x.numel(), op, params, dx.accumulate);
    });
    return out;
}

}  // namespace

template <typename T> BasicTensor<T> exp(const BasicTensor<T>& x) { return unary("exp", UnaryOp::exp, x); }
template <typename T> BasicTensor<T> log(const BasicTensor<T>& x) { return unary("log", UnaryOp::log, x); }
template <typename T> BasicTensor<T> neg(const BasicTensor<T>& x) { return unary("neg", UnaryOp::neg, x); }
template <typename T> BasicTensor<T> sqrt(const BasicTensor<T>& x) { return unary("sqrt", UnaryOp::sqrt, x); }
template <typename T> BasicTensor<T> rsqrt(const BasicTensor<T>& x) { return unary("rsqrt", UnaryOp::rsqrt, x); }
template <typename T> BasicTensor<T> abs(const BasicTensor<T>& x) { return unary("abs", UnaryOp::abs, x); }
template <typename T> BasicTensor<T> sigmoid(const BasicTensor<T>& x) { return unary("sigmoid", UnaryOp::sigmoid, x); }
template <typename T> BasicTensor<T> tanh(const BasicTensor<T>& x) { return unary("tanh", UnaryOp::tanh, x); }
template <typename T> BasicTensor<T> silu(const BasicTensor<T>& x) { return unary("silu", UnaryOp::silu, x); }

template <typename T>
BasicTensor<T> gelu(const BasicTensor<T>& x, const std::string& approximate) {
    if (approximate == "none") return unary("gelu", UnaryOp::gelu, x);
    if (approximate == "tanh") return unary("gelu", UnaryOp::gelu_tanh, x);
    throw std::invalid_argument("approximate argument must be either none or tanh.");
}

template <typename T>
BasicTensor<T> softplus(const BasicTensor<T>& x, double beta, double threshold) {
    return unary("softplus", UnaryOp::softplus, x, UnaryParams{beta, threshold});
}

template <typename T>
BasicTensor<T> leaky_relu(const BasicTensor<T>& x, double negative_slope) {
    return unary("leaky_relu", UnaryOp::leaky_relu, x, UnaryParams{negative_slope});
}

template <typename T>
BasicTensor<T> elu(const BasicTensor<T>& x, double alpha) {
    return unary("elu", UnaryOp::elu, x, UnaryParams{alpha});
}

template <typename T>
BasicTensor<T> clamp(const BasicTensor<T>& x, std::optional<double> min, std::optional<double> max) {
    if (!min && !max) throw std::invalid_argument("At least one of 'min' or 'max' must not be None");
    return unary("clamp", UnaryOp::clamp, x,
                 UnaryParams{min.value_or(0.0), max.value_or(0.0), min.has_value(), max.has_value()});
}

#define TAPEGRAD_INSTANTIATE(T)                                                                          \
    template BasicTensor<T> exp(const BasicTensor<T>&);                                                 \
    template BasicTensor<T> log(const BasicTensor<T>&);                                                 \
    template BasicTensor<T> neg(const BasicTensor<T>&);                                                 \
    template BasicTensor<T> sqrt(const BasicTensor<T>&);                                                \
    template BasicTensor<T> rsqrt(const BasicTensor<T>&);                                               \
    template BasicTensor<T> abs(const BasicTensor<T>&);                                                 \
    template BasicTensor<T> sigmoid(const BasicTensor<T>&);                                             \
    template BasicTensor<T> tanh(const BasicTensor<T>&);                                                \
    template BasicTensor<T> silu(const BasicTensor<T>&);                                                \
    template BasicTensor<T> gelu(const BasicTensor<T>&, const std::string&);                            \
    template BasicTensor<T> softplus(const BasicTensor<T>&, double, double);                            \
    template BasicTensor<T> leaky_relu(const BasicTensor<T>&, double);                                  \
    template BasicTensor<T> elu(const BasicTensor<T>&, double);                                         \
    template BasicTensor<T> clamp(const BasicTensor<T>&, std::optional<double>, std::optional<double>);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
