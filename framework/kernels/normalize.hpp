// The per-element passes of a normalisation, shared by the norm kernels: the forward's
//   y[i] = (x[i] − mu)·scale + shift
// (γ and β fused into one scale and shift per channel), and the backward's
//   dx[i] (+)= t1·dy[i] + t2·(x[i] − mu) + t3
// in which every normalisation's input gradient can be written per (slice, channel)
// (group_norm.cpp derives GroupNorm's t1, t2, t3). The generic versions run in double lanes,
// T converted on load in a register and rounded once on store; the float ones in float lanes,
// centred so that what cancels exactly in double cancels exactly in float.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "framework/kernels/memory.hpp"
#include "framework/kernels/reductions.hpp"
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
struct FloatScaleShift {
    float k, a, b;  // y = (x − k)·a + b
    FloatScaleShift(double mu, double scale, double shift, double mu_lo = 0.0)
        : k(static_cast<float>(mu)),
          a(static_cast<float>(scale)),
          b(static_cast<float>(shift + ((static_cast<double>(k) - mu) - mu_lo) * scale)) {}
    simd::FloatBatch operator()(const simd::FloatBatch& x) const {
        return xsimd::fma(x - simd::FloatBatch(k), simd::FloatBatch(a), simd::FloatBatch(b));
    }
    float operator()(float x) const { return std::fma(x - k, a, b); }
};

// y[i] = f(x[i]) for i in [0, n), with streaming stores when `stream`.
inline void scale_shift(float* y, const float* x, int64_t n, const FloatScaleShift& f, bool stream) {
    using simd::FloatBatch, simd::kFloatLanes;
    int64_t i = 0;
    for (; i + kFloatLanes <= n; i += kFloatLanes) memory::store(y + i, f(FloatBatch::load_unaligned(x + i)), stream);
    for (; i < n; ++i) y[i] = f(x[i]);
}

// The same, fetching `pass.ahead` elements on when not 0.
inline void scale_shift(float* y, const float* x, int64_t n, const FloatScaleShift& f, Pass pass) {
    using simd::FloatBatch, simd::kFloatLanes;
    int64_t i = 0;
    if (pass.ahead != 0) {
        for (; i + kFloatLanes <= n; i += kFloatLanes) {
            memory::prefetch(x + i + pass.ahead);
            memory::store(y + i, f(FloatBatch::load_unaligned(x + i)), pass.stream);
        }
    }
    scale_shift(y + i, x + i, n - i, f, pass.stream);
}

// The same from mu (+ mu_lo), scale and shift.
inline void scale_shift(float* y, const float* x, int64_t n, double mu, double scale, double shift, Pass pass,
                        double mu_lo) {
    scale_shift(y, x, n, FloatScaleShift(mu, scale, shift, mu_lo), pass);
}

// --- a slice's statistics, alone or while the slice before it is normalised ---------------
// Σ x and Σ (x − k)² over a piece of a slice, in double: k is a float near the slice's mean,
// so the second sum leaves little to cancel (var = Σ(x − k)²/M − (mean − k)²; the caller
// checks how much).
struct Moments {
    double sum = 0.0, sum_sq_from_k = 0.0;
    Moments& operator+=(const Moments& o) {
        sum += o.sum;
#if defined(__x86_64__) || defined(__i386__)
        // Two scalars, not a pair: in a loop of these adds (the parts of a slice, in order)
        // GCC 12 made the two one vector and kept it on the stack.
        asm("" : "+x"(sum));
#endif
        sum_sq_from_k += o.sum_sq_from_k;
        return *this;
    }
};

// Moments of v[0, n) about k: Σ x in double lanes (float converted in registers, so the mean
// is exact to double rounding), Σ (x − k)² in float lanes in blocks of kMomentBlock elements,
// two accumulators (chains of 8 adds), each block's sum added in double. `extra(j)` runs for
// each batch v[j, j + kFloatLanes), inside the loop: the work of another pass to interleave.
constexpr int64_t kMomentBlock = 256;

template <typename Extra>
[[gnu::always_inline]] inline Moments moments_pass(const float* v, int64_t n, float k, Extra&& extra) {
    using simd::DoubleBatch, simd::FloatBatch, simd::kFloatLanes;
    const FloatBatch kb(k);
    DoubleBatch s_lo(0.0), s_hi(0.0), q_total(0.0);
    auto step = [&](int64_t j, FloatBatch& q) {
        extra(j);
        const FloatBatch x = FloatBatch::load_unaligned(v + j);
        DoubleBatch lo, hi;
        simd::widen_halves(x, lo, hi);
        s_lo += lo;
        s_hi += hi;
        const FloatBatch d = x - kb;
        q = xsimd::fma(d, d, q);
    };
    int64_t i = 0;
    while (i + kFloatLanes <= n) {
        const int64_t block_end = std::min(n, i + kMomentBlock);
        FloatBatch q0(0.0f), q1(0.0f);
        for (; i + 2 * kFloatLanes <= block_end; i += 2 * kFloatLanes) {
            step(i, q0);
            step(i + kFloatLanes, q1);
        }
        if (i + kFloatLanes <= block_end) {
            step(i, q0);
            i += kFloatLanes;
        }
        DoubleBatch lo, hi;
        simd::widen_halves(q0 + q1, lo, hi);
        q_total += lo + hi;
    }
    // The tail, one sum per loop: in one loop GCC 12 paired the two in a vector kept on the stack.
    double sum = xsimd::hadd(s_lo + s_hi), sum_sq = xsimd::hadd(q_total);
    for (int64_t j = i; j < n; ++j) sum += static_cast<double>(v[j]);
    for (int64_t j = i; j < n; ++j) {
        const double d = static_cast<double>(v[j]) - static_cast<double>(k);
        sum_sq += d * d;
    }
    return {sum, sum_sq};
}

// The moments of v[0, n) about k, alone.
[[gnu::noinline]] inline Moments moments(const float* v, int64_t n, float k) {
    return moments_pass(v, n, k, [](int64_t) {});
}

// y[i] = f(x[i]) for i in [0, n), with streaming stores when `stream`, and the moments of
// next[0, n) about k (the same bits as `moments`), in one loop: one batch of y per batch of
// next. In GroupNorm's forward, x is a slice in cache and next the same place in the next
// slice, still in memory: one loop keeps the loads and the stores busy, and the moments'
// conversions run in the shadow of the stores, where two passes in turn left each waiting for
// the other.
[[gnu::noinline]] inline Moments scale_shift_and_moments(float* y, const float* x, const FloatScaleShift& f,
                                                         bool stream, const float* next, int64_t n, float k) {
    using simd::FloatBatch, simd::kFloatLanes;
    const FloatBatch fk(f.k), fa(f.a), fb(f.b);
    const Moments m = moments_pass(next, n, k, [&](int64_t j) {
        memory::store(y + j, xsimd::fma(FloatBatch::load_unaligned(x + j) - fk, fa, fb), stream);
    });
    for (int64_t j = n / kFloatLanes * kFloatLanes; j < n; ++j) y[j] = f(x[j]);
    return m;
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
            (xsimd::fma(b1, widen(dy + i), xsimd::fma(b2, widen(x + i) - m, b3)) + widen(dx + i))
                .store_unaligned(dx + i);
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
struct FloatDxTerms {
    float k, m, a, b, c;  // dx = a·(dy − m) + b·(x − k) + c
    FloatDxTerms(double mu, double t1, double t2, double t3)
        : k(static_cast<float>(mu)), m(static_cast<float>(t1 != 0.0 ? -t3 / t1 : 0.0)), a(static_cast<float>(t1)),
          b(static_cast<float>(t2)),
          c(static_cast<float>(t3 + t1 * static_cast<double>(m) + t2 * (static_cast<double>(k) - mu))) {}
    float operator()(float dy, float x) const { return std::fma(a, dy - m, std::fma(b, x - k, c)); }
};

// dx[j, j + kFloatLanes) (+)= f(dy, x) there, with the terms' batches given (kb, mb, ab, bb, cb).
struct FloatDxBatches {
    simd::FloatBatch k, m, a, b, c;
    explicit FloatDxBatches(const FloatDxTerms& f) : k(f.k), m(f.m), a(f.a), b(f.b), c(f.c) {}
    void operator()(float* dx, const float* dy, const float* x, int64_t j, bool accumulate, bool stream) const {
        using simd::FloatBatch;
        const FloatBatch v = xsimd::fma(a, FloatBatch::load_unaligned(dy + j) - m,
                                        xsimd::fma(b, FloatBatch::load_unaligned(x + j) - k, c));
        if (accumulate)
            (v + FloatBatch::load_unaligned(dx + j)).store_unaligned(dx + j);
        else
            memory::store(dx + j, v, stream);
    }
};

inline void dx_terms(float* dx, const float* dy, const float* x, int64_t n, double mu, double t1, double t2, double t3,
                     bool accumulate, Pass pass) {
    using simd::kFloatLanes;
    const FloatDxTerms f(mu, t1, t2, t3);
    const FloatDxBatches batch(f);
    int64_t i = 0;
    if (accumulate) {
        for (; i + kFloatLanes <= n; i += kFloatLanes) batch(dx, dy, x, i, true, false);
    } else {
        if (pass.ahead != 0) {
            for (; i + kFloatLanes <= n; i += kFloatLanes) {
                memory::prefetch(x + i + pass.ahead);
                memory::prefetch(dy + i + pass.ahead);
                batch(dx, dy, x, i, false, pass.stream);
            }
        }
        for (; i + kFloatLanes <= n; i += kFloatLanes) batch(dx, dy, x, i, false, pass.stream);
    }
    for (; i < n; ++i) dx[i] = accumulate ? dx[i] + f(dy[i], x[i]) : f(dy[i], x[i]);
}

// dx[i] (+)= f(dy[i], x[i]) for i in [0, n), and the backward's two sums of the next slice at
// the same place (next_dy, next_x, its mean next_mu: s_dy, s_dy_xc as sum_dy_and_dy_xc gives
// them, the same bits), in one loop: one batch of dx per batch of the sums. As in the forward
// (scale_shift_and_moments): this slice is in cache, the next one in memory, and one loop
// keeps the loads and the stores busy where two passes in turn left each waiting.
[[gnu::noinline]] inline void dx_terms_and_sums(float* dx, const float* dy, const float* x, int64_t n,
                                                const FloatDxTerms& f, bool accumulate, bool stream, double& s_dy,
                                                double& s_dy_xc, const float* next_dy, const float* next_x,
                                                double next_mu) {
    using simd::kFloatLanes;
    const FloatDxBatches batch(f);
    double a = 0.0, b = 0.0;  // locals, not the references: the loop must not store through them
    dy_sums_pass(a, b, next_dy, next_x, n, next_mu, [&](int64_t j) { batch(dx, dy, x, j, accumulate, stream); });
    s_dy = a;
    s_dy_xc = b;
    for (int64_t i = n / kFloatLanes * kFloatLanes; i < n; ++i)
        dx[i] = accumulate ? dx[i] + f(dy[i], x[i]) : f(dy[i], x[i]);
}

}  // namespace tapegrad::kernels
