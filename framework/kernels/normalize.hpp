// The per-element passes of a normalisation, shared by the norm kernels: the forward's
//   y[i] = (x[i] − mu)·scale + shift
// (γ and β fused into one scale and shift per channel), and the backward's
//   dx[i] (+)= t1·dy[i] + t2·(x[i] − mu) + t3
// in which every normalisation's input gradient can be written per (slice, channel)
// (group_norm.cpp derives GroupNorm's t1, t2, t3). The generic versions run in double lanes,
// T converted on load in a register and rounded once on store; the float ones in float lanes,
// centred so that what cancels exactly in double cancels exactly in float.
#pragma once

#include <cmath>
#include <cstdint>

#include "framework/kernels/memory.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

// How a per-element pass goes over memory. `stream`: write with streaming stores
// (memory::use_streaming_stores). `ahead`: when not 0, fetch the inputs `ahead` elements on
// into the cache while working, one line per batch: the same place in the next slice, whose
// first pass would otherwise wait on memory while this pass, working in cache, leaves memory
// idle. The float passes use both (dx_terms only when it assigns dx); the double ones neither.
struct Pass {
    bool stream = false;
    int64_t ahead = 0;
};

// y[i] = (x[i] − μ)·scale + shift, with μ = mu + mu_lo given as two parts: mu near the mean
// (x − mu is then exact for x near it, by Sterbenz) and mu_lo the small rest, so that a mean
// that is not a double (1e4 + 1e-13) still centres x exactly: ((x − mu) − mu_lo).
template <typename T>
void scale_shift(T* y, const T* x, int64_t n, double mu, double scale, double shift, Pass /*pass*/, double mu_lo) {
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;
    const DoubleBatch m(mu), lo(mu_lo), a(scale), b(shift);
    int64_t i = 0;
    for (; i + kDoubleLanes <= n; i += kDoubleLanes) xsimd::fma((widen(x + i) - m) - lo, a, b).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = static_cast<T>(((static_cast<double>(x[i]) - mu) - mu_lo) * scale + shift);
}

// For float, in float lanes centred on K = the float nearest mu, so that nothing large
// cancels: x − K is exact for x near K (Sterbenz), and the shift absorbs (K − mu)·scale in
// double. Each y is then within about 1 ulp of the double result, against 0.5 ulp for the
// double path: the statistics, which is where float loses digits, stay in double. mu_lo goes
// into the shift with the rest (0 from GroupNorm's float path, whose mean is one double).
inline void scale_shift(float* y, const float* x, int64_t n, double mu, double scale, double shift, Pass pass,
                        double mu_lo) {
    using simd::FloatBatch, simd::kFloatLanes;
    const float k = static_cast<float>(mu);
    const float a = static_cast<float>(scale);
    const float b = static_cast<float>(shift + ((static_cast<double>(k) - mu) - mu_lo) * scale);
    const FloatBatch kb(k), ab(a), bb(b);
    auto step = [&](int64_t j) {
        memory::store(y + j, xsimd::fma(FloatBatch::load_unaligned(x + j) - kb, ab, bb), pass.stream);
    };
    int64_t i = 0;
    if (pass.ahead != 0) {
        for (; i + kFloatLanes <= n; i += kFloatLanes) {
            memory::prefetch(x + i + pass.ahead);
            step(i);
        }
    }
    for (; i + kFloatLanes <= n; i += kFloatLanes) step(i);
    for (; i < n; ++i) y[i] = std::fma(x[i] - k, a, b);
}

// dx[i] (+)= t1·dy[i] + t2·(x[i] − mu) + t3
template <typename T>
void dx_terms(T* dx, const T* dy, const T* x, int64_t n, double mu, double t1, double t2, double t3, bool accumulate,
              Pass /*pass*/) {
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;
    const DoubleBatch m(mu), b1(t1), b2(t2), b3(t3);
    int64_t i = 0;
    if (accumulate) {
        for (; i + kDoubleLanes <= n; i += kDoubleLanes)
            (xsimd::fma(b1, widen(dy + i), xsimd::fma(b2, widen(x + i) - m, b3)) + widen(dx + i)).store_unaligned(dx + i);
    } else {
        for (; i + kDoubleLanes <= n; i += kDoubleLanes)
            xsimd::fma(b1, widen(dy + i), xsimd::fma(b2, widen(x + i) - m, b3)).store_unaligned(dx + i);
    }
    for (; i < n; ++i) {
        const double v = t1 * static_cast<double>(dy[i]) + t2 * (static_cast<double>(x[i]) - mu) + t3;
        dx[i] = static_cast<T>(accumulate ? static_cast<double>(dx[i]) + v : v);
    }
}

// dx for float, in float lanes. Written as t1·(dy − m) + t2·(x − K) + c with m = −t3/t1 (the
// dy at which the first and third terms cancel) and K the float nearest mu: where the exact
// dx is 0 because the terms cancel (a group of one element; dy constant over a group), both
// differences are 0 in float too, instead of the difference of two rounded products of size
// rstd·dy. Elsewhere each dx is within a few ulp of the double result.
inline void dx_terms(float* dx, const float* dy, const float* x, int64_t n, double mu, double t1, double t2, double t3,
                     bool accumulate, Pass pass) {
    using simd::FloatBatch, simd::kFloatLanes;
    const float k = static_cast<float>(mu);
    const float m = static_cast<float>(t1 != 0.0 ? -t3 / t1 : 0.0);
    const double rest = t3 + t1 * static_cast<double>(m) + t2 * (static_cast<double>(k) - mu);
    const float a = static_cast<float>(t1), b = static_cast<float>(t2), c = static_cast<float>(rest);
    const FloatBatch kb(k), mb(m), ab(a), bb(b), cb(c);
    auto value = [&](int64_t j) {
        return xsimd::fma(ab, FloatBatch::load_unaligned(dy + j) - mb, xsimd::fma(bb, FloatBatch::load_unaligned(x + j) - kb, cb));
    };
    int64_t i = 0;
    if (accumulate) {
        for (; i + kFloatLanes <= n; i += kFloatLanes) (value(i) + FloatBatch::load_unaligned(dx + i)).store_unaligned(dx + i);
    } else {
        if (pass.ahead != 0) {
            for (; i + kFloatLanes <= n; i += kFloatLanes) {
                memory::prefetch(x + i + pass.ahead);
                memory::prefetch(dy + i + pass.ahead);
                memory::store(dx + i, value(i), pass.stream);
            }
        }
        for (; i + kFloatLanes <= n; i += kFloatLanes) memory::store(dx + i, value(i), pass.stream);
    }
    for (; i < n; ++i) {
        const float v = std::fma(a, dy[i] - m, std::fma(b, x[i] - k, c));
        dx[i] = accumulate ? dx[i] + v : v;
    }
}

}  // namespace tapegrad::kernels
