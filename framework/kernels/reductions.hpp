// The SIMD reductions the kernels share: a slice's sum, its sum of squared deviations (the
// float-lane variance), and the two sums of a normalisation's backward. All return double.
//
// Numerics. Sums of T are accumulated in double lanes, T converted in a register
// (simd::widen). The float overloads of the passes over data already in cache run in float
// lanes instead (twice as many per register, no conversions), centred on K = the float
// nearest mu: x − K is exact for x near K (Sterbenz), so large means cancel exactly and
// nothing else does. Their sums are taken in float over blocks of kBlock elements, the block
// sums in double. Inline: the kernels call them per row (49 elements on 7×7 planes).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

// Σ v[i], in double. Four accumulators hide the latency of the adds (with one, the loop waits
// on each add and cannot keep up with memory).
template <typename T>
double sum(const T* v, int64_t n) {
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;
    DoubleBatch a0(0.0), a1(0.0), a2(0.0), a3(0.0);
    int64_t i = 0;
    for (; i + 4 * kDoubleLanes <= n; i += 4 * kDoubleLanes) {
        a0 += widen(v + i);
        a1 += widen(v + i + kDoubleLanes);
        a2 += widen(v + i + 2 * kDoubleLanes);
        a3 += widen(v + i + 3 * kDoubleLanes);
    }
    for (; i + kDoubleLanes <= n; i += kDoubleLanes) a0 += widen(v + i);
    double s = xsimd::hadd((a0 + a1) + (a2 + a3));
    for (; i < n; ++i) s += static_cast<double>(v[i]);
    return s;
}

// Σ exp(v[i] − shift), in double (softmax, logsumexp): shift the maximum, so that no term
// overflows. The exp is libm's, one element at a time: xsimd's double exp needs more constants
// than AVX2's 16 registers hold beside the loop's own, and GCC spilled them to the stack.
template <typename T>
double sum_exp(const T* v, int64_t n, double shift) {
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(v[i]) - shift);
    return total;
}

// Σ step(v[i] − shift) in double lanes, two accumulators: step(d, acc) adds one deviation's
// term (a batch in the loop, a double in the tail).
template <typename T, typename Step>
double sum_of_deviations(const T* v, int64_t n, double shift, Step step) {
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;
    const DoubleBatch m(shift);
    DoubleBatch a0(0.0), a1(0.0);
    int64_t i = 0;
    for (; i + 2 * kDoubleLanes <= n; i += 2 * kDoubleLanes) {
        a0 = step(widen(v + i) - m, a0);
        a1 = step(widen(v + i + kDoubleLanes) - m, a1);
    }
    for (; i + kDoubleLanes <= n; i += kDoubleLanes) a0 = step(widen(v + i) - m, a0);
    double s = xsimd::hadd(a0 + a1);
    for (; i < n; ++i) s = step(static_cast<double>(v[i]) - shift, s);
    return s;
}

// Σ (v[i] − shift), in double lanes: with shift a first estimate of the mean, the correction
// that makes the mean exact to rounding (the deviations are small, so their sum loses
// nothing to the size of the values).
template <typename T>
double sum_deviation(const T* v, int64_t n, double shift) {
    return sum_of_deviations(v, n, shift, [](const auto& d, const auto& acc) { return acc + d; });
}

// Σ (v[i] − shift)², in double lanes (fused multiply-adds in the lanes, d·d + acc in the tail).
template <typename T>
double sum_squared_deviation(const T* v, int64_t n, double shift) {
    return sum_of_deviations(v, n, shift, [](const auto& d, const auto& acc) {
        if constexpr (std::is_same_v<std::decay_t<decltype(d)>, double>)
            return acc + d * d;
        else
            return xsimd::fma(d, d, acc);
    });
}

// Blocks of the float-lane sums: each block is summed in float lanes and the block sums in
// double. A multiple of the lane count, so only a pass's last block has a tail.
constexpr int64_t kBlock = 512;

// Σ v[i], in double, for the passes that stream data from memory: for float, the terms are
// added in float lanes over blocks of kBlock (each lane adds kBlock / 32 or fewer terms, under
// AVX2 16, of similar size), and each block's lanes are converted and added in double lanes;
// no conversion per element, which under AVX2 cost more than the memory traffic. The error is
// that of 16-term float sums, ~1e-8 of Σ|v| (tests/test_reductions.cpp holds it to a long
// double reference). For double, sum().
inline double sum_in_blocks(const float* v, int64_t n) {
    using simd::DoubleBatch, simd::FloatBatch, simd::kFloatLanes;
    DoubleBatch total(0.0);
    int64_t i = 0;
    while (i + kFloatLanes <= n) {
        const int64_t block_end = std::min(n, i + kBlock);
        FloatBatch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
        for (; i + 4 * kFloatLanes <= block_end; i += 4 * kFloatLanes) {
            a0 += FloatBatch::load_unaligned(v + i);
            a1 += FloatBatch::load_unaligned(v + i + kFloatLanes);
            a2 += FloatBatch::load_unaligned(v + i + 2 * kFloatLanes);
            a3 += FloatBatch::load_unaligned(v + i + 3 * kFloatLanes);
        }
        for (; i + kFloatLanes <= block_end; i += kFloatLanes) a0 += FloatBatch::load_unaligned(v + i);
        DoubleBatch lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3;
        simd::widen_halves(a0, lo0, hi0);
        simd::widen_halves(a1, lo1, hi1);
        simd::widen_halves(a2, lo2, hi2);
        simd::widen_halves(a3, lo3, hi3);
        total += ((lo0 + hi0) + (lo1 + hi1)) + ((lo2 + hi2) + (lo3 + hi3));
    }
    double s = xsimd::hadd(total);
    for (; i < n; ++i) s += static_cast<double>(v[i]);
    return s;
}
inline double sum_in_blocks(const double* v, int64_t n) { return sum(v, n); }

// Σ (v[i] − k)² for float, in double: squares summed in float lanes over blocks of 512
// (positive terms, so each block's relative error stays below ~1e-6), blocks summed in double.
// The data is in cache by now, so the loop is bound by the fma latency: four accumulators.
// Not inlined: inlined into a slice loop with 16 vector registers (AVX2), GCC 12 kept two
// accumulators on the stack.
[[gnu::noinline]] inline double sum_squared_from(const float* v, int64_t n, float k) {
    using simd::FloatBatch, simd::kFloatLanes;
    const FloatBatch kb(k);
    double total = 0.0;
    int64_t i = 0;
    while (i + kFloatLanes <= n) {
        const int64_t block_end = std::min(n, i + kBlock);
        FloatBatch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
        for (; i + 4 * kFloatLanes <= block_end; i += 4 * kFloatLanes) {
            const FloatBatch d0 = FloatBatch::load_unaligned(v + i) - kb;
            const FloatBatch d1 = FloatBatch::load_unaligned(v + i + kFloatLanes) - kb;
            const FloatBatch d2 = FloatBatch::load_unaligned(v + i + 2 * kFloatLanes) - kb;
            const FloatBatch d3 = FloatBatch::load_unaligned(v + i + 3 * kFloatLanes) - kb;
            a0 = xsimd::fma(d0, d0, a0);
            a1 = xsimd::fma(d1, d1, a1);
            a2 = xsimd::fma(d2, d2, a2);
            a3 = xsimd::fma(d3, d3, a3);
        }
        for (; i + kFloatLanes <= block_end; i += kFloatLanes) {
            const FloatBatch d = FloatBatch::load_unaligned(v + i) - kb;
            a0 = xsimd::fma(d, d, a0);
        }
        total += static_cast<double>(xsimd::hadd((a0 + a1) + (a2 + a3)));
    }
    for (; i < n; ++i) total += (static_cast<double>(v[i]) - k) * (static_cast<double>(v[i]) - k);
    return total;
}

// Σ (v[i] − mu)² for float, with mu the slice's own mean: Σ (v − K)² from K = the float
// nearest mu (sum_squared_from), and Σ (v − mu)² = Σ (v − K)² − n·(mu − K)² exactly, since
// Σ (v − mu) = 0. (A kernel whose mean is over several slices, as BatchNorm's channel is over
// the batch, sums sum_squared_from over them and subtracts once.)
inline double sum_squared_deviation(const float* v, int64_t n, double mu) {
    const float k = static_cast<float>(mu);
    const double offset = mu - static_cast<double>(k);
    return std::max(0.0, sum_squared_from(v, n, k) - static_cast<double>(n) * offset * offset);
}

// The two sums of a normalisation's backward over n elements: s_dy = Σ dy[i] and
// s_dy_xc = Σ dy[i]·(x[i] − mu), in double lanes.
template <typename T>
void sum_dy_and_dy_xc(double& s_dy, double& s_dy_xc, const T* dy, const T* x, int64_t n, double mu) {
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;
    const DoubleBatch m(mu);
    DoubleBatch a(0.0), b(0.0);
    int64_t i = 0;
    for (; i + kDoubleLanes <= n; i += kDoubleLanes) {
        const DoubleBatch d = widen(dy + i);
        a += d;
        b = xsimd::fma(d, widen(x + i) - m, b);
    }
    s_dy = xsimd::hadd(a);
    s_dy_xc = xsimd::hadd(b);
    for (; i < n; ++i) {
        s_dy += static_cast<double>(dy[i]);
        s_dy_xc += static_cast<double>(dy[i]) * (static_cast<double>(x[i]) - mu);
    }
}

// The same for float: in float lanes over blocks of 512, centred on K (the float nearest mu),
// blocks summed in double; Σ dy·(x − mu) = Σ dy·(x − K) + (K − mu)·Σ dy. Two accumulators per
// sum hide the add and fma latencies. `extra(j)` runs once for each batch [j, j + kFloatLanes)
// of the vector part, inside the loop: the work of another pass to interleave with this one
// (normalize.hpp, dx_terms_and_sums).
template <typename Extra>
[[gnu::always_inline]] inline void dy_sums_pass(double& s_dy, double& s_dy_xc, const float* dy, const float* x,
                                                int64_t n, double mu, Extra&& extra) {
    using simd::FloatBatch, simd::kFloatLanes;
    const float k = static_cast<float>(mu);
    const FloatBatch kb(k);
    double a = 0.0, b = 0.0;
    int64_t i = 0;
    while (i + kFloatLanes <= n) {
        const int64_t block_end = std::min(n, i + kBlock);
        FloatBatch pa0(0.0f), pa1(0.0f), pb0(0.0f), pb1(0.0f);
        for (; i + 2 * kFloatLanes <= block_end; i += 2 * kFloatLanes) {
            extra(i);
            extra(i + kFloatLanes);
            const FloatBatch d0 = FloatBatch::load_unaligned(dy + i);
            const FloatBatch d1 = FloatBatch::load_unaligned(dy + i + kFloatLanes);
            pa0 += d0;
            pa1 += d1;
            pb0 = xsimd::fma(d0, FloatBatch::load_unaligned(x + i) - kb, pb0);
            pb1 = xsimd::fma(d1, FloatBatch::load_unaligned(x + i + kFloatLanes) - kb, pb1);
        }
        for (; i + kFloatLanes <= block_end; i += kFloatLanes) {
            extra(i);
            const FloatBatch d = FloatBatch::load_unaligned(dy + i);
            pa0 += d;
            pb0 = xsimd::fma(d, FloatBatch::load_unaligned(x + i) - kb, pb0);
        }
        a += static_cast<double>(xsimd::hadd(pa0 + pa1));
        b += static_cast<double>(xsimd::hadd(pb0 + pb1));
    }
    for (; i < n; ++i) {
        a += static_cast<double>(dy[i]);
        b += static_cast<double>(dy[i]) * (static_cast<double>(x[i]) - k);
    }
    s_dy = a;
    s_dy_xc = b + (static_cast<double>(k) - mu) * a;
}

inline void sum_dy_and_dy_xc(double& s_dy, double& s_dy_xc, const float* dy, const float* x, int64_t n, double mu) {
    dy_sums_pass(s_dy, s_dy_xc, dy, x, n, mu, [](int64_t) {});
}

}  // namespace tapegrad::kernels
