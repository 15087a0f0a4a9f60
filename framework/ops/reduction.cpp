// sum and mean; see reduction.hpp.
#include "framework/ops/reduction.hpp"

#include <limits>

#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

template <typename T>
BasicTensor<T> scaled_sum(const char* name, const BasicTensor<T>& x, double scale) {
    double total = 0.0;
    for (T v : x.values()) total += static_cast<double>(v);
    BasicTensor<T> out(Shape{});
    out.data()[0] = static_cast<T>(total * scale);
    // d(scale · Σx)/dx_i = scale
    record_op(name, out, any_requires_grad(x), [x, scale](const T* dy) mutable {
        const T g = static_cast<T>(static_cast<double>(dy[0]) * scale);
        T* gx = x.grad_data_for_accumulation();
        for (int64_t i = 0, n = x.numel(); i < n; ++i) gx[i] += g;
    });
    return out;
}

}  // namespace

template <typename T>
BasicTensor<T> sum(const BasicTensor<T>& x) {
    return scaled_sum("sum", x, 1.0);
}

template <typename T>
BasicTensor<T> mean(const BasicTensor<T>& x) {
    const double scale = x.numel() > 0 ? 1.0 / static_cast<double>(x.numel()) : std::numeric_limits<double>::quiet_NaN();
    return scaled_sum("mean", x, scale);
}

template BasicTensor<float> sum(const BasicTensor<float>&);
template BasicTensor<double> sum(const BasicTensor<double>&);
template BasicTensor<float> mean(const BasicTensor<float>&);
template BasicTensor<double> mean(const BasicTensor<double>&);

}  // namespace tapegrad
