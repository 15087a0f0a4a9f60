// log_softmax kernels; see softmax.hpp.
#include "framework/kernels/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

// logsumexp of one row, in double. The maximum is taken in T: the same value, converted once.
template <typename T>
double log_sum_exp(const T* x, int64_t C) {
    T row_max = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < C; ++j) row_max = std::max(row_max, x[j]);
    const double max = static_cast<double>(row_max);
    double s = 0.0;
    for (int64_t j = 0; j < C; ++j) s += std::exp(static_cast<double>(x[j]) - max);
    return max + std::log(s);
}

}  // namespace

template <typename T>
void log_softmax_forward(T* y, const T* x, int64_t N, int64_t C) {
    using simd::DoubleBatch, simd::kDoubleLanes;
    for (int64_t n = 0; n < N; ++n) {
        const T* xr = x + n * C;
        T* yr = y + n * C;
        const double lse = log_sum_exp(xr, C);
        // In double lanes, converted in registers: GCC 12's own SSE2 vector code for this loop
        // moved the upper halves through the stack.
        int64_t j = 0;
        for (; j + kDoubleLanes <= C; j += kDoubleLanes) simd::narrow_store(yr + j, simd::widen(xr + j) - DoubleBatch(lse));
        for (; j < C; ++j) yr[j] = static_cast<T>(static_cast<double>(xr[j]) - lse);
    }
}

template <typename T>
void log_softmax_backward(T* dx, const T* dy, const T* y, int64_t N, int64_t C) {
    for (int64_t n = 0; n < N; ++n) {
        const T* dyr = dy + n * C;
        const T* yr = y + n * C;
        double s = 0.0;
        for (int64_t j = 0; j < C; ++j) s += static_cast<double>(dyr[j]);
        for (int64_t j = 0; j < C; ++j)
            dx[n * C + j] += static_cast<T>(static_cast<double>(dyr[j]) - std::exp(static_cast<double>(yr[j])) * s);
    }
}

template <typename T>
void log_softmax_forward_reference(T* y, const T* x, int64_t N, int64_t C) {
    for (int64_t n = 0; n < N; ++n) {
        const double lse = log_sum_exp(x + n * C, C);
        for (int64_t j = 0; j < C; ++j) y[n * C + j] = static_cast<T>(static_cast<double>(x[n * C + j]) - lse);
    }
}

#define TAPEGRAD_INSTANTIATE(T)                                                   \
    template void log_softmax_forward<T>(T*, const T*, int64_t, int64_t);          \
    template void log_softmax_backward<T>(T*, const T*, const T*, int64_t, int64_t); \
    template void log_softmax_forward_reference<T>(T*, const T*, int64_t, int64_t);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
