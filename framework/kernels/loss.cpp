// Loss kernels; see loss.hpp. The pointwise losses run in double lanes (T converted in
// registers), one formula per loss chosen once per call, never per element; the float
// cross-entropy backward's exp runs in float lanes; the rest are scalar loops (their cost is in
// exp and log, over N·S positions or N·C·S log-probabilities).
#include "framework/kernels/loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "framework/core/parallel.hpp"
#include "framework/kernels/simd.hpp"
#include "framework/kernels/softmax.hpp"

namespace tapegrad::kernels {

namespace {

using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;

// The few operations the formulas need, on a double or a batch of them, so that one formula
// serves the batch loop and the scalar tail.
inline double abs_of(double v) { return std::abs(v); }
inline DoubleBatch abs_of(const DoubleBatch& v) { return xsimd::abs(v); }
inline double choose(bool c, double a, double b) { return c ? a : b; }
inline DoubleBatch choose(const DoubleBatch::batch_bool_type& c, const DoubleBatch& a, const DoubleBatch& b) {
    return xsimd::select(c, a, b);
}
// sign(d): −1, 0 or 1.
template <typename V>
V sign_of(const V& d) {
    return choose(d > V(0.0), V(1.0), V(0.0)) - choose(d < V(0.0), V(1.0), V(0.0));
}

template <PointwiseLoss K> struct Formula;
template <> struct Formula<PointwiseLoss::mse> {
    template <typename V> static V value(const V& d, double) { return d * d; }
    template <typename V> static V slope(const V& d, double) { return V(2.0) * d; }
};
template <> struct Formula<PointwiseLoss::l1> {
    template <typename V> static V value(const V& d, double) { return abs_of(d); }
    template <typename V> static V slope(const V& d, double) { return sign_of(d); }
};
template <> struct Formula<PointwiseLoss::smooth_l1> {
    template <typename V> static V value(const V& d, double beta) {
        const V a = abs_of(d);
        return choose(a < V(beta), V(0.5) * d * d / V(beta), a - V(0.5 * beta));
    }
    template <typename V> static V slope(const V& d, double beta) {
        return choose(abs_of(d) < V(beta), d / V(beta), sign_of(d));
    }
};
template <> struct Formula<PointwiseLoss::huber> {
    template <typename V> static V value(const V& d, double delta) {
        const V a = abs_of(d);
        return choose(a < V(delta), V(0.5) * d * d, V(delta) * (a - V(0.5 * delta)));
    }
    template <typename V> static V slope(const V& d, double delta) {
        return choose(abs_of(d) <= V(delta), d, V(delta) * sign_of(d));
    }
};

// f(Formula<kind>{}): the switch on the loss, once per call.
template <typename F>
decltype(auto) with_formula(PointwiseLoss kind, F&& f) {
    switch (kind) {
        case PointwiseLoss::mse: return f(Formula<PointwiseLoss::mse>{});
        case PointwiseLoss::l1: return f(Formula<PointwiseLoss::l1>{});
        case PointwiseLoss::smooth_l1: return f(Formula<PointwiseLoss::smooth_l1>{});
        case PointwiseLoss::huber: break;
    }
    return f(Formula<PointwiseLoss::huber>{});
}

// p[0, kDoubleLanes) (+)= v, converted in registers.
template <typename T>
inline void store_grad(T* p, DoubleBatch v, bool accumulate) {
    if (accumulate) v += widen(p);
    simd::narrow_store(p, v);
}
template <typename T>
inline void store_grad(T* p, double v, bool accumulate) {
    *p = static_cast<T>(accumulate ? static_cast<double>(*p) + v : v);
}

template <typename Fm, typename T>
void forward_range(T* out, const T* x, const T* t, int64_t begin, int64_t end, double param) {
    int64_t i = begin;
    for (; i + kDoubleLanes <= end; i += kDoubleLanes)
        simd::narrow_store(out + i, Fm::value(widen(x + i) - widen(t + i), param));
    for (; i < end; ++i)
        out[i] = static_cast<T>(Fm::value(static_cast<double>(x[i]) - static_cast<double>(t[i]), param));
}

// Σ loss over [begin, end): two accumulators hide the add latency.
template <typename Fm, typename T>
double sum_range(const T* x, const T* t, int64_t begin, int64_t end, double param) {
    DoubleBatch a0(0.0), a1(0.0);
    int64_t i = begin;
    for (; i + 2 * kDoubleLanes <= end; i += 2 * kDoubleLanes) {
        a0 += Fm::value(widen(x + i) - widen(t + i), param);
        a1 += Fm::value(widen(x + i + kDoubleLanes) - widen(t + i + kDoubleLanes), param);
    }
    for (; i + kDoubleLanes <= end; i += kDoubleLanes) a0 += Fm::value(widen(x + i) - widen(t + i), param);
    double s = xsimd::hadd(a0 + a1);
    for (; i < end; ++i) s += Fm::value(static_cast<double>(x[i]) - static_cast<double>(t[i]), param);
    return s;
}

template <typename Fm, typename T>
void backward_range(T* dx, T* dt, const T* dy, double scale, const T* x, const T* t, int64_t begin, int64_t end,
                    double param, bool accumulate_dx, bool accumulate_dt) {
    const DoubleBatch sb(scale);
    int64_t i = begin;
    for (; i + kDoubleLanes <= end; i += kDoubleLanes) {
        const DoubleBatch g = dy != nullptr ? widen(dy + i) * sb : sb;
        const DoubleBatch s = g * Fm::slope(widen(x + i) - widen(t + i), param);
        if (dx != nullptr) store_grad(dx + i, s, accumulate_dx);
        if (dt != nullptr) store_grad(dt + i, -s, accumulate_dt);
    }
    for (; i < end; ++i) {
        const double g = dy != nullptr ? static_cast<double>(dy[i]) * scale : scale;
        const double s = g * Fm::slope(static_cast<double>(x[i]) - static_cast<double>(t[i]), param);
        if (dx != nullptr) store_grad(dx + i, s, accumulate_dx);
        if (dt != nullptr) store_grad(dt + i, -s, accumulate_dt);
    }
}

// A reduced loss is summed in chunks of this many elements, the chunk sums added in order:
// the same bits whether the chunks ran on one thread or several.
constexpr int64_t kSumChunk = 8192;

inline bool elementwise_parallel(int64_t n) { return worth_parallel(Work::elements, n); }

// PyTorch's BCE: logs clamped at −100, so p ∈ {0, 1} gives a finite loss.
inline double clamped_log(double v) { return std::max(std::log(v), -100.0); }

inline double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
    const double e = std::exp(x);
    return e / (1.0 + e);
}
// softplus(−x) = log(1 + exp(−x)), without overflow for large |x|.
inline double softplus_neg(double x) { return std::log1p(std::exp(-std::abs(x))) + std::max(-x, 0.0); }

// v as a double the vectoriser cannot see through: keeps a scalar tail scalar, where GCC 12
// would otherwise vectorise it into SSE2 code that converts float halves through the stack.
inline double opaque(double v) {
#if defined(__x86_64__) || defined(__i386__)
    asm("" : "+x"(v));
#endif
    return v;
}

template <typename T>
inline double at_or_one(const T* w, int64_t i) {
    return w != nullptr ? static_cast<double>(w[i]) : 1.0;
}

}  // namespace

template <typename T>
void pointwise_loss_forward(T* out, const T* x, const T* t, int64_t n, PointwiseLoss kind, double param) {
    with_formula(kind, [&](auto fm) {
        using Fm = decltype(fm);
        for_ranges(n, elementwise_parallel(n),
                   [&](int64_t b, int64_t e) { forward_range<Fm>(out, x, t, b, e, param); });
    });
}

template <typename T>
double pointwise_loss_sum(const T* x, const T* t, int64_t n, PointwiseLoss kind, double param) {
    return with_formula(kind, [&](auto fm) {
        using Fm = decltype(fm);
        const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
        return sum_in_order<double>(chunks, worth_parallel(Work::elements, n, chunks), [&](int64_t k) {
            return sum_range<Fm>(x, t, k * kSumChunk, std::min(n, (k + 1) * kSumChunk), param);
        });
    });
}

template <typename T>
void pointwise_loss_backward(T* dx, T* dt, const T* dy, double scale, const T* x, const T* t, int64_t n,
                             PointwiseLoss kind, double param, bool accumulate_dx, bool accumulate_dt) {
    with_formula(kind, [&](auto fm) {
        using Fm = decltype(fm);
        for_ranges(n, elementwise_parallel(n), [&](int64_t b, int64_t e) {
            backward_range<Fm>(dx, dt, dy, scale, x, t, b, e, param, accumulate_dx, accumulate_dt);
        });
    });
}

template <typename T>
void pointwise_loss_forward_reference(T* out, const T* x, const T* t, int64_t n, PointwiseLoss kind, double param) {
    for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(x[i]) - static_cast<double>(t[i]), a = std::abs(d);
        double v = 0.0;
        switch (kind) {
            case PointwiseLoss::mse: v = d * d; break;
            case PointwiseLoss::l1: v = a; break;
            case PointwiseLoss::smooth_l1: v = a < param ? 0.5 * d * d / param : a - 0.5 * param; break;
            case PointwiseLoss::huber: v = a < param ? 0.5 * d * d : param * (a - 0.5 * param); break;
        }
        out[i] = static_cast<T>(v);
    }
}

template <typename T>
void pointwise_loss_backward_reference(T* dx, T* dt, const T* dy, double scale, const T* x, const T* t, int64_t n,
                                       PointwiseLoss kind, double param, bool accumulate_dx, bool accumulate_dt) {
    for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(x[i]) - static_cast<double>(t[i]), a = std::abs(d);
        const double sign = d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0;
        double slope = 0.0;
        switch (kind) {
            case PointwiseLoss::mse: slope = 2.0 * d; break;
            case PointwiseLoss::l1: slope = sign; break;
            case PointwiseLoss::smooth_l1: slope = a < param ? d / param : sign; break;
            case PointwiseLoss::huber: slope = a <= param ? d : param * sign; break;
        }
        const double s = (dy != nullptr ? static_cast<double>(dy[i]) * scale : scale) * slope;
        if (dx != nullptr) store_grad(dx + i, s, accumulate_dx);
        if (dt != nullptr) store_grad(dt + i, -s, accumulate_dt);
    }
}

template <typename T>
void binary_cross_entropy_forward(T* out, const T* p, const T* t, const T* w, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const double pv = static_cast<double>(p[i]), tv = static_cast<double>(t[i]);
        out[i] = static_cast<T>(-at_or_one(w, i) * (tv * clamped_log(pv) + (1.0 - tv) * clamped_log(1.0 - pv)));
    }
}

template <typename T>
void binary_cross_entropy_backward(T* dp, T* dt, const T* dy, double scale, const T* p, const T* t, const T* w,
                                   int64_t n, bool accumulate_dp, bool accumulate_dt) {
    for (int64_t i = 0; i < n; ++i) {
        const double pv = static_cast<double>(p[i]), tv = static_cast<double>(t[i]);
        const double g = (dy != nullptr ? static_cast<double>(dy[i]) * scale : scale) * at_or_one(w, i);
        if (dp != nullptr) store_grad(dp + i, g * (pv - tv) / std::max(pv * (1.0 - pv), 1e-12), accumulate_dp);
        if (dt != nullptr) store_grad(dt + i, g * (std::log1p(-pv) - std::log(pv)), accumulate_dt);
    }
}

template <typename T>
void binary_cross_entropy_with_logits_forward(T* out, const T* x, const T* t, const T* w, const T* q, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const double xv = static_cast<double>(x[i]), tv = static_cast<double>(t[i]);
        const double l = 1.0 + (at_or_one(q, i) - 1.0) * tv;
        out[i] = static_cast<T>(at_or_one(w, i) * ((1.0 - tv) * xv + l * softplus_neg(xv)));
    }
}

template <typename T>
void binary_cross_entropy_with_logits_backward(T* dx, T* dt, const T* dy, double scale, const T* x, const T* t,
                                               const T* w, const T* q, int64_t n, bool accumulate_dx,
                                               bool accumulate_dt) {
    for (int64_t i = 0; i < n; ++i) {
        const double xv = static_cast<double>(x[i]), tv = static_cast<double>(t[i]), qv = at_or_one(q, i);
        const double g = (dy != nullptr ? static_cast<double>(dy[i]) * scale : scale) * at_or_one(w, i);
        if (dx != nullptr) store_grad(dx + i, g * ((1.0 + (qv - 1.0) * tv) * sigmoid(xv) - qv * tv), accumulate_dx);
        if (dt != nullptr) store_grad(dt + i, g * ((qv - 1.0) * softplus_neg(xv) - xv), accumulate_dt);
    }
}

template <typename T>
void nll_terms(double* nll, double* smooth, double* wt, const T* logp, const int64_t* target, const T* weight,
               int64_t N, int64_t C, int64_t S, int64_t ignore_index) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
            const int64_t i = n * S + s, t = target[i];
            if (t == ignore_index) {
                nll[i] = 0.0;
                wt[i] = 0.0;
                if (smooth != nullptr) smooth[i] = 0.0;
                continue;
            }
            const T* lp = logp + n * C * S + s;  // class c at lp[c·S]
            wt[i] = at_or_one(weight, t);
            nll[i] = -wt[i] * static_cast<double>(lp[t * S]);
            if (smooth != nullptr) {
                double acc = 0.0;
                for (int64_t c = 0; c < C; ++c) acc += at_or_one(weight, c) * static_cast<double>(lp[c * S]);
                smooth[i] = -acc;
            }
        }
}

template <typename T>
void nll_backward(T* dlogp, const T* dy, double a, const int64_t* target, const T* weight, int64_t N, int64_t C,
                  int64_t S, int64_t ignore_index) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
            const int64_t i = n * S + s, t = target[i];
            if (t == ignore_index) continue;
            const double ai = dy != nullptr ? static_cast<double>(dy[i]) * a : a;
            T& g = dlogp[(n * C + t) * S + s];
            g = static_cast<T>(static_cast<double>(g) - ai * at_or_one(weight, t));
        }
}

template <typename T>
void combine_class_terms(T* out, const double* nll, const double* smooth, double keep, double spread, int64_t M) {
    const DoubleBatch k(keep), sp(spread);
    int64_t i = 0;
    if (smooth == nullptr) {
        for (; i + kDoubleLanes <= M; i += kDoubleLanes)
            simd::narrow_store(out + i, k * DoubleBatch::load_unaligned(nll + i));
        for (; i < M; ++i) out[i] = static_cast<T>(keep * nll[i]);
        return;
    }
    for (; i + kDoubleLanes <= M; i += kDoubleLanes)
        simd::narrow_store(out + i,
                           k * DoubleBatch::load_unaligned(nll + i) + sp * DoubleBatch::load_unaligned(smooth + i));
    for (; i < M; ++i) out[i] = static_cast<T>(keep * nll[i] + spread * smooth[i]);
}

template <typename T>
void log_softmax_channels(T* y, const T* x, int64_t N, int64_t C, int64_t S) {
    if (S == 1) return log_softmax_forward(y, x, N, C);
    // Spatial: the C values of a position are S apart, so each sample goes over its (C, S)
    // block row by row, keeping S running maxima and sums: contiguous loops over s, in double
    // lanes converted in registers.
    for_range(N, worth_parallel(Work::elements, N * C * S, N), [&](int64_t n) {
        const T* xn = x + n * C * S;
        T* yn = y + n * C * S;
        std::vector<double> mx(static_cast<size_t>(S), -std::numeric_limits<double>::infinity());
        std::vector<double> lse(static_cast<size_t>(S), 0.0);  // Σ exp, then logsumexp
        double* m = mx.data();
        double* l = lse.data();
        for (int64_t c = 0; c < C; ++c) {
            const T* row = xn + c * S;
            int64_t s = 0;
            for (; s + kDoubleLanes <= S; s += kDoubleLanes)
                xsimd::max(DoubleBatch::load_unaligned(m + s), widen(row + s)).store_unaligned(m + s);
            for (; s < S; ++s) m[s] = std::max(m[s], opaque(static_cast<double>(row[s])));
        }
        // std::exp one value at a time: xsimd's exp in double lanes converts to int64 through
        // the stack below AVX-512.
        for (int64_t c = 0; c < C; ++c) {
            const T* row = xn + c * S;
            for (int64_t s = 0; s < S; ++s) l[s] += std::exp(static_cast<double>(row[s]) - m[s]);
        }
        for (int64_t s = 0; s < S; ++s) l[s] = m[s] + std::log(l[s]);
        for (int64_t c = 0; c < C; ++c) {
            const T* row = xn + c * S;
            T* out = yn + c * S;
            int64_t s = 0;
            for (; s + kDoubleLanes <= S; s += kDoubleLanes)
                simd::narrow_store(out + s, widen(row + s) - DoubleBatch::load_unaligned(l + s));
            for (; s < S; ++s) out[s] = static_cast<T>(opaque(static_cast<double>(row[s])) - l[s]);
        }
    });
}

// exp(x) for float lanes of x <= 0 (log-probabilities), Cephes' expf: x = n·ln 2 + r with n the
// integer nearest x·log2 e and |r| <= ln 2 / 2 (ln 2 split in two, so that n·ln 2 is exact), then
// exp(r) from a degree-6 polynomial (relative error ~1e-7) times 2^n built in the exponent bits.
// x is clamped at −87.3 (n = −126, the smallest normal power of two): below it the result is
// 1.2e-38 instead of smaller, an absolute error no probability feels. Written out instead of
// xsimd::exp: xsimd's float exp kept a constant on the stack under AVX2's 16 vector registers
// (its exp2 too), and its double exp converts to int64 through the stack below AVX-512; all
// constants here are float, and the bias 127 is added before the conversion to int.
inline simd::FloatBatch exp_nonpositive(simd::FloatBatch x) {
    using simd::FloatBatch;
    x = xsimd::max(x, FloatBatch(-87.3365447505f));
    const FloatBatch n = xsimd::nearbyint(x * FloatBatch(1.44269504088896341f));
    FloatBatch r = xsimd::fnma(n, FloatBatch(0.693359375f), x);
    r = xsimd::fnma(n, FloatBatch(-2.12194440e-4f), r);
    FloatBatch p = xsimd::fma(FloatBatch(1.9875691500e-4f), r, FloatBatch(1.3981999507e-3f));
    p = xsimd::fma(p, r, FloatBatch(8.3334519073e-3f));
    p = xsimd::fma(p, r, FloatBatch(4.1665795894e-2f));
    p = xsimd::fma(p, r, FloatBatch(1.6666665459e-1f));
    p = xsimd::fma(p, r, FloatBatch(5.0000001201e-1f));
    p = xsimd::fma(p, r * r, r) + FloatBatch(1.0f);
    const auto bits = xsimd::to_int(n + FloatBatch(127.0f)) << 23;  // 2^n: biased exponent, no mantissa
    return p * xsimd::bitwise_cast<FloatBatch>(bits);
}

// y[c] = exp(x[c]) for x <= 0, in float lanes. Not inlined: the loop on its own has the vector
// registers to itself.
[[gnu::noinline]] void exp_row(float* y, const float* x, int64_t n) {
    using simd::FloatBatch, simd::kFloatLanes;
    int64_t c = 0;
    for (; c + kFloatLanes <= n; c += kFloatLanes)
        exp_nonpositive(FloatBatch::load_unaligned(x + c)).store_unaligned(y + c);
    for (; c < n; ++c) y[c] = std::exp(x[c]);
}

// One fresh row (S = 1, not accumulating) of the float cross-entropy backward: g = p·coef − b·w
// with p = exp(lp) in float (the exp is the backward's cost: a float exp is about half a double's).
void cross_entropy_row(float* g, const float* lp, const float* weight, int64_t C, float coef, float b) {
    using simd::FloatBatch, simd::kFloatLanes;
    exp_row(g, lp, C);
    const FloatBatch cb(coef), bb(b);
    int64_t c = 0;
    if (weight != nullptr) {
        for (; c + kFloatLanes <= C; c += kFloatLanes)
            xsimd::fms(FloatBatch::load_unaligned(g + c), cb, bb * FloatBatch::load_unaligned(weight + c))
                .store_unaligned(g + c);
        for (; c < C; ++c) g[c] = g[c] * coef - b * weight[c];
    } else {
        for (; c + kFloatLanes <= C; c += kFloatLanes)
            xsimd::fms(FloatBatch::load_unaligned(g + c), cb, bb).store_unaligned(g + c);
        for (; c < C; ++c) g[c] = g[c] * coef - b;
    }
}

template <typename T>
void cross_entropy_backward(T* dx, const T* logp, const T* dy, double a, double b, const int64_t* target,
                            const T* weight, int64_t N, int64_t C, int64_t S, int64_t ignore_index, bool accumulate) {
    double weight_sum = static_cast<double>(C);
    if (weight != nullptr) {
        weight_sum = 0.0;
        for (int64_t c = 0; c < C; ++c) weight_sum += static_cast<double>(weight[c]);
    }
    for_range(N, worth_parallel(Work::elements, N * C * S, N), [&](int64_t n) {
        for (int64_t s = 0; s < S; ++s) {
            const int64_t i = n * S + s, t = target[i];
            T* g = dx + n * C * S + s;  // class c at g[c·S]
            const T* lp = logp + n * C * S + s;
            if (t == ignore_index) {
                if (!accumulate)
                    for (int64_t c = 0; c < C; ++c) g[c * S] = T(0);
                continue;
            }
            const double gi = dy != nullptr ? static_cast<double>(dy[i]) : 1.0;
            const double ai = gi * a, bi = gi * b, wt = at_or_one(weight, t);
            const double coef = ai * wt + bi * weight_sum;
            if constexpr (std::is_same_v<T, float>) {
                if (S == 1 && !accumulate) {
                    cross_entropy_row(g, lp, weight, C, static_cast<float>(coef), static_cast<float>(bi));
                    g[t] = static_cast<T>(static_cast<double>(g[t]) - ai * wt);
                    continue;
                }
            }
            for (int64_t c = 0; c < C; ++c)
                store_grad(g + c * S, std::exp(static_cast<double>(lp[c * S])) * coef - bi * at_or_one(weight, c),
                           accumulate);
            // The one-hot term, at the target's class only (no comparison in the loop above).
            g[t * S] = static_cast<T>(static_cast<double>(g[t * S]) - ai * wt);
        }
    });
}

template <typename T>
void soft_cross_entropy_terms(double* loss, const T* logp, const T* q, const T* weight, int64_t N, int64_t C, int64_t S,
                              double keep, double spread) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
            const T* lp = logp + n * C * S + s;  // class c at lp[c·S]
            const T* qp = q + n * C * S + s;
            double acc = 0.0;
            for (int64_t c = 0; c < C; ++c)
                acc += at_or_one(weight, c) * (keep * static_cast<double>(qp[c * S]) + spread) *
                       static_cast<double>(lp[c * S]);
            loss[n * S + s] = -acc;
        }
}

template <typename T>
void soft_cross_entropy_backward(T* dx, T* dq, const T* dy, double scale, const T* logp, const T* q, const T* weight,
                                 int64_t N, int64_t C, int64_t S, double keep, double spread, bool accumulate_dx,
                                 bool accumulate_dq) {
    for_range(N, worth_parallel(Work::elements, N * C * S, N), [&](int64_t n) {
        for (int64_t s = 0; s < S; ++s) {
            const int64_t base = n * C * S + s;  // class c at base + c·S
            const double g = dy != nullptr ? static_cast<double>(dy[n * S + s]) * scale : scale;
            double wq_sum = 0.0;  // Σ_k w[k]·q̃[k]
            for (int64_t c = 0; c < C; ++c)
                wq_sum += at_or_one(weight, c) * (keep * static_cast<double>(q[base + c * S]) + spread);
            for (int64_t c = 0; c < C; ++c) {
                const int64_t j = base + c * S;
                const double w = at_or_one(weight, c), lp = static_cast<double>(logp[j]);
                if (dx != nullptr)
                    store_grad(dx + j, g * (std::exp(lp) * wq_sum - w * (keep * static_cast<double>(q[j]) + spread)),
                               accumulate_dx);
                if (dq != nullptr) store_grad(dq + j, -g * keep * w * lp, accumulate_dq);
            }
        }
    });
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                       \
    template void pointwise_loss_forward<T>(T*, const T*, const T*, int64_t, PointwiseLoss, double);                 \
    template double pointwise_loss_sum<T>(const T*, const T*, int64_t, PointwiseLoss, double);                       \
    template void pointwise_loss_backward<T>(T*, T*, const T*, double, const T*, const T*, int64_t, PointwiseLoss,   \
                                             double, bool, bool);                                                     \
    template void pointwise_loss_forward_reference<T>(T*, const T*, const T*, int64_t, PointwiseLoss, double);       \
    template void pointwise_loss_backward_reference<T>(T*, T*, const T*, double, const T*, const T*, int64_t,        \
                                                       PointwiseLoss, double, bool, bool);                            \
    template void binary_cross_entropy_forward<T>(T*, const T*, const T*, const T*, int64_t);                        \
    template void binary_cross_entropy_backward<T>(T*, T*, const T*, double, const T*, const T*, const T*, int64_t,  \
                                                   bool, bool);                                                       \
    template void binary_cross_entropy_with_logits_forward<T>(T*, const T*, const T*, const T*, const T*, int64_t);  \
    template void binary_cross_entropy_with_logits_backward<T>(T*, T*, const T*, double, const T*, const T*,         \
                                                               const T*, const T*, int64_t, bool, bool);              \
    template void nll_terms<T>(double*, double*, double*, const T*, const int64_t*, const T*, int64_t, int64_t,      \
                               int64_t, int64_t);                                                                     \
    template void nll_backward<T>(T*, const T*, double, const int64_t*, const T*, int64_t, int64_t, int64_t, int64_t); \
    template void combine_class_terms<T>(T*, const double*, const double*, double, double, int64_t);                \
    template void soft_cross_entropy_terms<T>(double*, const T*, const T*, const T*, int64_t, int64_t, int64_t,      \
                                              double, double);                                                        \
    template void soft_cross_entropy_backward<T>(T*, T*, const T*, double, const T*, const T*, const T*, int64_t,     \
                                                 int64_t, int64_t, double, double, bool, bool);                       \
    template void log_softmax_channels<T>(T*, const T*, int64_t, int64_t, int64_t);                                  \
    template void cross_entropy_backward<T>(T*, const T*, const T*, double, double, const int64_t*, const T*,        \
                                            int64_t, int64_t, int64_t, int64_t, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
