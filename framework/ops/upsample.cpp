// upsample_nearest2d; see upsample.hpp.
#include "framework/ops/upsample.hpp"

#include <stdexcept>
#include <string>

#include "framework/core/checked.hpp"
#include "framework/kernels/upsample.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

template <typename T>
BasicTensor<T> upsample_nearest2d(const BasicTensor<T>& x, int64_t scale) {
    if (x.dim() != 4)
        throw std::invalid_argument("upsample_nearest2d: expected a 4-D input (N, C, H, W), but got input of shape " +
                                    to_string(x.shape()));
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    auto what = [&] { return "upsample_nearest2d: input " + to_string(x.shape()) + " by " + std::to_string(scale); };
    const int64_t OH = checked_mul(H, scale, what), OW = checked_mul(W, scale, what);
    if (H <= 0 || W <= 0 || OH <= 0 || OW <= 0)
        throw std::invalid_argument("Input and output sizes should be greater than 0, but got input (H: " +
                                    std::to_string(H) + ", W: " + std::to_string(W) + ") output (H: " +
                                    std::to_string(OH) + ", W: " + std::to_string(OW) + ")");
    BasicTensor<T> out = empty<T>(Shape{N, C, OH, OW});
    kernels::upsample_nearest2d_forward(out.data(), x.data(), N * C, H, W, scale);
    // y[h·s + a, w·s + b] = x[h, w], so ∂L/∂x[h, w] = Σ_{a, b < s} dy[h·s + a, w·s + b].
    record_op("upsample_nearest2d", out, any_requires_grad(x), [x, N, C, H, W, scale](const T* dy) mutable {
        const GradBuffer<T> gx = x.grad_buffer();  // uninitialised when accumulate is false
        kernels::upsample_nearest2d_backward(gx.data, dy, N * C, H, W, scale, gx.accumulate);
    });
    return out;
}

template BasicTensor<float> upsample_nearest2d(const BasicTensor<float>&, int64_t);
template BasicTensor<double> upsample_nearest2d(const BasicTensor<double>&, int64_t);

}  // namespace tapegrad
