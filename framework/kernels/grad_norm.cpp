// Gradient norms and scaling; see grad_norm.hpp. The 2-norm's sum in double lanes (T
// widened in a register, reductions.hpp's sum_of_deviations from 0), so a float gradient's
// norm is as exact as a double one's; the maximum in T lanes with a NaN flag beside it.
#include "framework/kernels/grad_norm.hpp"

#include <algorithm>
#include <cmath>

#include "framework/kernels/reductions.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

template <typename T>
double norm_power_sum(const T* x, int64_t n, double p) {
    // d is a double batch in the loop and a double in the tail.
    if (p == 2.0) return sum_of_deviations(x, n, 0.0, [](const auto& d, const auto& acc) { return acc + d * d; });
    // Other orders are rare (clip_grad_norm_ is mostly used with 2 and inf), and xsimd's
    // inlined pow needs more registers than there are (it spills in the loop): one pow call
    // per element instead.
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += std::pow(std::abs(static_cast<double>(x[i])), p);
    return s;
}

template <typename T>
double max_abs(const T* x, int64_t n) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    B m(T(0));
    auto nan = B(T(0)) != B(T(0));  // all false
    int64_t i = 0;
    for (; i + lanes <= n; i += lanes) {
        const B v = B::load_unaligned(x + i);
        nan = nan | xsimd::isnan(v);
        m = xsimd::max(m, xsimd::abs(v));
    }
    alignas(64) T lane_max[B::size];  // once per tensor: xsimd 8.1 has no horizontal max
    m.store_aligned(lane_max);
    T result = *std::max_element(lane_max, lane_max + B::size);
    bool any_nan = xsimd::any(nan);
    for (; i < n; ++i) {
        any_nan = any_nan || std::isnan(x[i]);
        result = std::abs(x[i]) > result ? std::abs(x[i]) : result;
    }
    return any_nan ? NAN : static_cast<double>(result);
}

template <typename T>
void scale_in_place(T* x, int64_t n, T factor) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    const B f(factor);
    int64_t i = 0;
    for (; i + lanes <= n; i += lanes) (B::load_unaligned(x + i) * f).store_unaligned(x + i);
    for (; i < n; ++i) x[i] = x[i] * factor;
}

template <typename T>
double norm_power_sum_reference(const T* x, int64_t n, double p) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += std::pow(std::abs(static_cast<double>(x[i])), p);
    return s;
}

template <typename T>
double max_abs_reference(const T* x, int64_t n) {
    double m = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        if (std::isnan(x[i])) return NAN;
        m = std::max(m, std::abs(static_cast<double>(x[i])));
    }
    return m;
}

template <typename T>
void scale_in_place_reference(T* x, int64_t n, T factor) {
    for (int64_t i = 0; i < n; ++i) x[i] = x[i] * factor;
}

#define TAPEGRAD_INSTANTIATE(T)                                                  \
    template double norm_power_sum<T>(const T*, int64_t, double);                \
    template double max_abs<T>(const T*, int64_t);                               \
    template void scale_in_place<T>(T*, int64_t, T);                             \
    template double norm_power_sum_reference<T>(const T*, int64_t, double);      \
    template double max_abs_reference<T>(const T*, int64_t);                     \
    template void scale_in_place_reference<T>(T*, int64_t, T);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
