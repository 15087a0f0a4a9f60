// Element-wise math kernels on raw memory: one function each way for the unary ops of
// framework/ops/math (exp, log, sqrt, sigmoid, gelu, clamp, ...), each op a SIMD batch loop
// with a scalar tail of the same formula, in parallel over the threads when the tensor is large.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

enum class UnaryOp {
    exp,
    log,
    neg,
    sqrt,
    rsqrt,
    abs,
    sigmoid,
    tanh,
    silu,
    gelu,
    gelu_tanh,
    softplus,
    leaky_relu,
    elu,
    clamp
};

// The ops' numbers: softplus (a = beta, b = threshold), leaky_relu (a = negative_slope), elu
// (a = alpha), clamp (a = min when has_min, b = max when has_max).
struct UnaryParams {
    double a = 0.0, b = 0.0;
    bool has_min = false, has_max = false;
};

// y[i] = f(x[i]) for n elements (y may be x).
template <typename T>
void unary_forward(T* y, const T* x, int64_t n, UnaryOp op, const UnaryParams& params);

// dx[i] (+)= dy[i] · f'(x[i]), where the derivative may read the forward's y[i] = f(x[i]):
// assigned unless `accumulate`.
template <typename T>
void unary_backward(T* dx, const T* dy, const T* x, const T* y, int64_t n, UnaryOp op, const UnaryParams& params,
                    bool accumulate);

}  // namespace tapegrad::kernels
