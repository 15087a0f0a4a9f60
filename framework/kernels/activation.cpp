// ReLU forward and backward; see activation.hpp. A batch loop and a scalar tail per thread,
// the comparison as a mask and a select (no branch per element).
#include "framework/kernels/activation.hpp"

#include <algorithm>

#include "framework/core/parallel.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

template <typename T>
void relu_range(T* y, const T* x, int64_t begin, int64_t end) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    const B zero(T(0));
    int64_t i = begin;
    for (; i + lanes <= end; i += lanes) {
        const B v = B::load_unaligned(x + i);
        xsimd::select(v > zero, v, zero).store_unaligned(y + i);
    }
    for (; i < end; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <typename T>
void relu_backward_range(T* dx, const T* dy, const T* x, int64_t begin, int64_t end, bool accumulate) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    const B zero(T(0));
    int64_t i = begin;
    if (accumulate) {
        for (; i + lanes <= end; i += lanes) {
            const B g = xsimd::select(B::load_unaligned(x + i) > zero, B::load_unaligned(dy + i), zero);
            (B::load_unaligned(dx + i) + g).store_unaligned(dx + i);
        }
    } else {
        for (; i + lanes <= end; i += lanes)
            xsimd::select(B::load_unaligned(x + i) > zero, B::load_unaligned(dy + i), zero).store_unaligned(dx + i);
    }
    for (; i < end; ++i) {
        const T g = x[i] > T(0) ? dy[i] : T(0);
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

}  // namespace

template <typename T>
void relu_forward(T* y, const T* x, int64_t n) {
    for_ranges(n, worth_parallel(Work::elements, n), [&](int64_t begin, int64_t end) { relu_range(y, x, begin, end); });
}

template <typename T>
void relu_backward(T* dx, const T* dy, const T* x, int64_t n, bool accumulate) {
    for_ranges(n, worth_parallel(Work::elements, n),
               [&](int64_t begin, int64_t end) { relu_backward_range(dx, dy, x, begin, end, accumulate); });
}

template <typename T>
void relu_forward_reference(T* y, const T* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <typename T>
void relu_backward_reference(T* dx, const T* dy, const T* x, int64_t n, bool accumulate) {
    for (int64_t i = 0; i < n; ++i) {
        const T g = x[i] > T(0) ? dy[i] : T(0);
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

#define TAPEGRAD_INSTANTIATE(T)                                                          \
    template void relu_forward<T>(T*, const T*, int64_t);                                \
    template void relu_backward<T>(T*, const T*, const T*, int64_t, bool);               \
    template void relu_forward_reference<T>(T*, const T*, int64_t);                      \
    template void relu_backward_reference<T>(T*, const T*, const T*, int64_t, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
