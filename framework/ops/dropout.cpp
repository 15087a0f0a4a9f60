// dropout; see dropout.hpp. The mask is saved as the per-element factor (0 or 1/(1 − p)).
// Drawing is sequential so the mask depends only on the generator's state, not on threads.
#include "framework/ops/dropout.hpp"

#include <memory>
#include <stdexcept>
#include <vector>

#include "framework/generator.hpp"
#include "framework/allocator.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

template <typename T>
BasicTensor<T> dropout(const BasicTensor<T>& x, double p, bool training, Generator* gen) {
    if (!(p >= 0.0 && p < 1.0))
        throw std::invalid_argument("dropout: expected probability p in [0, 1), but got p=" + std::to_string(p) +
                                    " for input of shape " + to_string(x.shape()));
    if (!training || p == 0.0) return x;
    Generator& g = gen ? *gen : default_generator();
    const int64_t n = x.numel();
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    auto mask = std::make_shared<ScratchBuffer<T>>(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) (*mask)[static_cast<size_t>(i)] = g.uniform() >= p ? scale : T(0);
    BasicTensor<T> y = empty<T>(x.shape());
    const T* xs = x.data();
    T* ys = y.data();
    const T* ms = mask->data();
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) ys[i] = xs[i] * ms[i];
    // y = x·m:  dx = dy·m
    record_op("dropout", y, any_requires_grad(x), [x, mask, n](const T* dy) mutable {
        const GradBuffer<T> dx = x.grad_buffer();  // uninitialised when accumulate is false
        const T* ms = mask->data();
        if (dx.accumulate) {
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) dx.data[i] += dy[i] * ms[i];
        } else {
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) dx.data[i] = dy[i] * ms[i];
        }
    });
    return y;
}

template BasicTensor<float> dropout(const BasicTensor<float>&, double, bool, Generator*);
template BasicTensor<double> dropout(const BasicTensor<double>&, double, bool, Generator*);

}  // namespace tapegrad
