// matmul and linear; see linalg.hpp. Backward passes write into the gradient buffers with
// beta = 1 when they accumulate, so GEMM does the accumulation, and beta = 0 into a fresh
// (uninitialised) gradient, which then needs no zero-fill.
#include "framework/ops/linalg.hpp"

#include <stdexcept>

#include "framework/kernels/gemm.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {
// GEMM's beta for a gradient buffer: add into it, or overwrite a fresh one.
template <typename T>
T beta_for(const GradBuffer<T>& g) {
    return g.accumulate ? T(1) : T(0);
}
}  // namespace

template <typename T>
BasicTensor<T> matmul(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(0))
        throw std::invalid_argument("matmul: expected 2-D tensors (M, K) and (K, N), but got " + to_string(a.shape()) +
                                    " and " + to_string(b.shape()));
    const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
    BasicTensor<T> out = empty<T>(Shape{M, N});
    kernels::gemm<T>(false, false, M, N, K, T(1), a.data(), b.data(), T(0), out.data());
    // C = A·B:  dA = dC·Bᵀ (M, K),  dB = Aᵀ·dC (K, N)
    record_op("matmul", out, any_requires_grad(a, b), [a, b, M, N, K](const T* dC) mutable {
        if (a.requires_grad()) {
            const GradBuffer<T> da = a.grad_buffer();
            kernels::gemm<T>(false, true, M, K, N, T(1), dC, b.data(), beta_for(da), da.data);
        }
        if (b.requires_grad()) {
            const GradBuffer<T> db = b.grad_buffer();
            kernels::gemm<T>(true, false, K, N, M, T(1), a.data(), dC, beta_for(db), db.data);
        }
    });
    return out;
}

template <typename T>
BasicTensor<T> linear(const BasicTensor<T>& x, const BasicTensor<T>& weight, const BasicTensor<T>& bias) {
    if (x.dim() != 2 || weight.dim() != 2 || x.size(1) != weight.size(1))
        throw std::invalid_argument("linear: expected input (N, in) and weight (out, in), but got input " +
                                    to_string(x.shape()) + " and weight " + to_string(weight.shape()));
    const int64_t N = x.size(0), in = x.size(1), out_features = weight.size(0);
    if (bias.defined() && bias.shape() != Shape{out_features})
        throw std::invalid_argument("linear: expected bias of shape " + to_string(Shape{out_features}) + ", but got " +
                                    to_string(bias.shape()));
    BasicTensor<T> out = empty<T>(Shape{N, out_features});
    T* y = out.data();
    if (bias.defined())
        for (int64_t n = 0; n < N; ++n)
            for (int64_t o = 0; o < out_features; ++o) y[n * out_features + o] = bias.data()[o];
    kernels::gemm<T>(false, true, N, out_features, in, T(1), x.data(), weight.data(), bias.defined() ? T(1) : T(0), y);

    // y = x·Wᵀ + b:  dx = dy·W (N, in),  dW = dyᵀ·x (out, in),  db = Σ_n dy
    const bool needs_grad = any_requires_grad(x, weight, bias);
    record_op("linear", out, needs_grad, [x, weight, bias, N, in, out_features](const T* dy) mutable {
        if (x.requires_grad()) {
            const GradBuffer<T> dx = x.grad_buffer();
            kernels::gemm<T>(false, false, N, in, out_features, T(1), dy, weight.data(), beta_for(dx), dx.data);
        }
        if (weight.requires_grad()) {
            const GradBuffer<T> dw = weight.grad_buffer();
            kernels::gemm<T>(true, false, out_features, in, N, T(1), dy, x.data(), beta_for(dw), dw.data);
        }
        if (bias.defined() && bias.requires_grad()) {
            T* db = bias.grad_data_for_accumulation();
            for (int64_t o = 0; o < out_features; ++o) {
                double s = 0.0;
                for (int64_t n = 0; n < N; ++n) s += static_cast<double>(dy[n * out_features + o]);
                db[o] += static_cast<T>(s);
            }
        }
    });
    return out;
}

template BasicTensor<float> matmul(const BasicTensor<float>&, const BasicTensor<float>&);
template BasicTensor<double> matmul(const BasicTensor<double>&, const BasicTensor<double>&);
template BasicTensor<float> linear(const BasicTensor<float>&, const BasicTensor<float>&, const BasicTensor<float>&);
template BasicTensor<double> linear(const BasicTensor<double>&, const BasicTensor<double>&, const BasicTensor<double>&);

}  // namespace tapegrad
