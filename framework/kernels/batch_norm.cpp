// Batch Normalization kernels; see batch_norm.hpp.
//
// A channel's values are N rows of `inner` elements, C·inner apart, so the kernels go over
// memory in one of two ways:
//   planes  (inner >= kMinPlane, BatchNorm2d's images): one channel at a time, its rows in
//           turn, with the shared row passes of reductions.hpp and normalize.hpp; the threads
//           take whole channels. The first pass reads the channel from memory, the next ones
//           find it in cache (a channel of 32×56×56 floats is 400 KB).
//   columns (shorter rows, BatchNorm1d's (N, C) features): a pass goes down the N rows of
//           C·inner elements at once, keeping one double accumulator per position of a row,
//           which the channel sums then add up; the threads take ranges of positions.
// Statistics are two-pass in double (a sum for the mean, then the deviations from it), never
// E[x²] − E[x]²; for double data the mean is refined by the mean deviation, as GroupNorm's is.
#include "framework/kernels/batch_norm.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>
#include <vector>

#include "framework/core/parallel.hpp"
#include "framework/kernels/memory.hpp"
#include "framework/kernels/norm_reference.hpp"
#include "framework/kernels/normalize.hpp"
#include "framework/kernels/reductions.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

using simd::DoubleBatch, simd::kDoubleLanes, simd::widen, simd::narrow_store;

// Rows shorter than this go the columns way: a row pass has per-call costs that rows of a
// few elements do not repay, and a column pass is vectorised across channels instead.
constexpr int64_t kMinPlane = 16;

// Before the scalar tail of a loop in double lanes: fewer than kDoubleLanes elements are left,
// said to GCC, which otherwise vectorises the tail too, and under SSE2 widened its floats to
// doubles through the stack (tests/no_stack_vectors.sh).
inline void short_tail(int64_t left) {
    if (left >= kDoubleLanes) __builtin_unreachable();
}

// The statistics of one channel: μ = mu + mu_lo (mu_lo is 0 for float; see channel_stats),
// and the biased variance.
struct Stats {
    double mu, mu_lo, var;
};

// Planes: channel c's rows start at x + n·stride, for n < N.
template <typename T>
Stats channel_stats(const T* xc, int64_t N, int64_t stride, int64_t inner) {
    const double inv_m = 1.0 / static_cast<double>(N * inner);
    double s = 0.0;
    for (int64_t n = 0; n < N; ++n) s += sum(xc + n * stride, inner);
    const double mu = s * inv_m;
    if constexpr (std::is_same_v<T, float>) {
        // In float lanes from K, the float nearest mu: Σ (x − mu)² = Σ (x − K)² − M·(mu − K)²
        // over the whole channel (Σ (x − mu) = 0 over the channel, not over each row). The
        // mean of float data needs no refinement: it is a double already.
        const float k = static_cast<float>(mu);
        double q = 0.0;
        for (int64_t n = 0; n < N; ++n) q += sum_squared_from(xc + n * stride, inner, k);
        const double offset = mu - static_cast<double>(k);
        return {mu, 0.0, std::max(0.0, q * inv_m - offset * offset)};
    } else {
        // For double, the first sum's rounding (a few ulp of Σx) can be a visible part of a
        // small std under a large mean; mu_lo, the mean deviation from mu, makes it exact to
        // rounding, and Σ (x − μ)² = Σ (x − mu)² − M·mu_lo².
        double d = 0.0, q = 0.0;
        for (int64_t n = 0; n < N; ++n) d += sum_deviation(xc + n * stride, inner, mu);
        const double mu_lo = d * inv_m;
        for (int64_t n = 0; n < N; ++n) q += sum_squared_deviation(xc + n * stride, inner, mu);
        return {mu, mu_lo, std::max(0.0, q * inv_m - mu_lo * mu_lo)};
    }
}

// The planes' per-row passes, not inlined: inlined into the channel loop, with its own
// constants live, GCC 12 kept the float dx pass's constants on the stack under SSE2's 16
// vector registers (tests/no_stack_vectors.sh), as layer_norm.cpp's row passes did.
template <typename T>
[[gnu::noinline]] void scale_shift_plane(T* y, const T* x, int64_t n, double mu, double scale, double shift,
                                         bool stream, double mu_lo) {
    scale_shift(y, x, n, mu, scale, shift, Pass{stream, 0}, mu_lo);
}

template <typename T>
[[gnu::noinline]] void dx_terms_plane(T* dx, const T* dy, const T* x, int64_t n, double mu, double t1, double t2,
                                      double t3, bool accumulate, bool stream) {
    dx_terms(dx, dy, x, n, mu, t1, t2, t3, accumulate, Pass{stream, 0});
}

// A fence after this thread's streaming stores, when there were any.
auto fence_if(bool streamed) {
    return [streamed] {
        if (streamed) memory::stream_fence();
    };
}

// γ or β as C doubles (`absent` where the pointer is null), converted in registers: the
// per-channel loops then see doubles only. (GCC 12 vectorises a loop that converts float to
// double by element through the stack under SSE2: tests/no_stack_vectors.sh.)
template <typename T>
std::vector<double> as_doubles(const T* v, int64_t C, double absent) {
    std::vector<double> out(static_cast<size_t>(C), absent);
    if (!v) return out;
    int64_t c = 0;
    for (; c + kDoubleLanes <= C; c += kDoubleLanes) widen(v + c).store_unaligned(out.data() + c);
    short_tail(C - c);
    for (; c < C; ++c) out[c] = static_cast<double>(v[c]);
    return out;
}

// Σ dy and Σ dy·(x − mu) over one row of a plane, not inlined (as the row passes below):
// inlined into the channel loop, GCC 12 kept a float accumulator on the stack under SSE2.
template <typename T>
[[gnu::noinline]] void dy_sums_plane(double& s_dy, double& s_dy_xc, const T* dy, const T* x, int64_t n, double mu) {
    sum_dy_and_dy_xc(s_dy, s_dy_xc, dy, x, n, mu);
}

// --- columns: passes down the rows, one accumulator per position of a row ------------------
// Positions [b, e) of a row of L = C·inner elements; `per` holds one double per position
// (a channel's value repeated over its inner positions).

// step(j, v...) over [b, e) with each input's kDoubleLanes values at j widened to a
// DoubleBatch: two batches per step while it can (widen_pair: one full-width float load,
// converted in registers), then one; scalar(j) for the last few elements.
template <typename Step, typename Scalar, typename... In>
void in_double_lanes(int64_t b, int64_t e, Step&& step, Scalar&& scalar, const In*... in) {
    struct Pair {
        DoubleBatch lo, hi;
    };
    auto pair_at = [](const auto* p) {
        Pair q;
        simd::widen_pair(p, q.lo, q.hi);
        return q;
    };
    int64_t j = b;
    for (; j + 2 * kDoubleLanes <= e; j += 2 * kDoubleLanes) {
        const std::tuple<decltype(pair_at(in))...> pairs{pair_at(in + j)...};
        std::apply([&](const auto&... p) { step(j, p.lo...); }, pairs);
        std::apply([&](const auto&... p) { step(j + kDoubleLanes, p.hi...); }, pairs);
    }
    // At most one batch is left: an `if`, not a loop, which GCC 12 would vectorise again,
    // merging two iterations' half loads.
    if (j + kDoubleLanes <= e) {
        step(j, widen(in + j)...);
        j += kDoubleLanes;
    }
    // Fewer than kDoubleLanes elements are left: a loop of that constant bound, which GCC
    // unrolls; a loop to e it vectorised too, and under SSE2 moved floats to doubles through
    // the stack (tests/no_stack_vectors.sh).
    for (int64_t k = 0; k + 1 < kDoubleLanes; ++k)
        if (j + k < e) scalar(j + k);
}

DoubleBatch at(const double* p, int64_t j) { return DoubleBatch::load_unaligned(p + j); }

// acc[j] += v[j]
template <typename T>
void add_row(double* acc, const T* v, int64_t b, int64_t e) {
    in_double_lanes(
        b, e, [&](int64_t j, DoubleBatch x) { (at(acc, j) + x).store_unaligned(acc + j); },
        [&](int64_t j) { acc[j] += static_cast<double>(v[j]); }, v);
}

// d = v[j] − mu[j]: dev[j] += d, sq[j] += d²
template <typename T>
void add_row_deviations(double* dev, double* sq, const T* v, const double* mu, int64_t b, int64_t e) {
    in_double_lanes(
        b, e,
        [&](int64_t j, DoubleBatch x) {
            const DoubleBatch d = x - at(mu, j);
            (at(dev, j) + d).store_unaligned(dev + j);
            xsimd::fma(d, d, at(sq, j)).store_unaligned(sq + j);
        },
        [&](int64_t j) {
            const double d = static_cast<double>(v[j]) - mu[j];
            dev[j] += d;
            sq[j] += d * d;
        },
        v);
}

// s_dy[j] += dy[j], s_dy_xc[j] += dy[j]·(x[j] − mu[j])
template <typename T>
void add_row_dy(double* s_dy, double* s_dy_xc, const T* dy, const T* x, const double* mu, int64_t b, int64_t e) {
    in_double_lanes(
        b, e,
        [&](int64_t j, DoubleBatch g, DoubleBatch xv) {
            (at(s_dy, j) + g).store_unaligned(s_dy + j);
            xsimd::fma(g, xv - at(mu, j), at(s_dy_xc, j)).store_unaligned(s_dy_xc + j);
        },
        [&](int64_t j) {
            s_dy[j] += static_cast<double>(dy[j]);
            s_dy_xc[j] += static_cast<double>(dy[j]) * (static_cast<double>(x[j]) - mu[j]);
        },
        dy, x);
}

// y[j] = (x[j] − mu[j])·scale[j] + shift[j]
template <typename T>
void scale_shift_row(T* y, const T* x, const double* mu, const double* scale, const double* shift, int64_t b,
                     int64_t e) {
    in_double_lanes(
        b, e,
        [&](int64_t j, DoubleBatch xv) { narrow_store(y + j, xsimd::fma(xv - at(mu, j), at(scale, j), at(shift, j))); },
        [&](int64_t j) { y[j] = static_cast<T>((static_cast<double>(x[j]) - mu[j]) * scale[j] + shift[j]); }, x);
}

// dx[j] (+)= t1[j]·dy[j] + t2[j]·(x[j] − mu[j]) + t3[j]
template <typename T>
void dx_terms_row(T* dx, const T* dy, const T* x, const double* mu, const double* t1, const double* t2,
                  const double* t3, int64_t b, int64_t e, bool accumulate) {
    auto value = [&](int64_t j, DoubleBatch g, DoubleBatch xv) {
        return xsimd::fma(at(t1, j), g, xsimd::fma(at(t2, j), xv - at(mu, j), at(t3, j)));
    };
    auto scalar = [&](int64_t j) {
        const double v = t1[j] * static_cast<double>(dy[j]) + t2[j] * (static_cast<double>(x[j]) - mu[j]) + t3[j];
        dx[j] = static_cast<T>(accumulate ? static_cast<double>(dx[j]) + v : v);
    };
    if (accumulate)
        in_double_lanes(
            b, e,
            [&](int64_t j, DoubleBatch g, DoubleBatch xv, DoubleBatch d) { narrow_store(dx + j, value(j, g, xv) + d); },
            scalar, dy, x, static_cast<const T*>(dx));
    else
        in_double_lanes(
            b, e, [&](int64_t j, DoubleBatch g, DoubleBatch xv) { narrow_store(dx + j, value(j, g, xv)); }, scalar, dy,
            x);
}

// The channels' sums of per-position accumulators: out[c] = Σ_i acc[c·inner + i].
std::vector<double> channel_sums(const std::vector<double>& acc, int64_t C, int64_t inner) {
    std::vector<double> out(static_cast<size_t>(C), 0.0);
    for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < inner; ++i) out[c] += acc[c * inner + i];
    return out;
}

// A per-channel value repeated over the channel's positions of a row.
std::vector<double> per_position(int64_t C, int64_t inner, auto&& value_of) {
    std::vector<double> out(static_cast<size_t>(C * inner));
    for (int64_t c = 0; c < C; ++c) std::fill_n(out.begin() + c * inner, inner, value_of(c));
    return out;
}

// f(b, e) for ranges of a row's L positions (one per thread when parallel).
template <typename F>
void over_positions(int64_t L, bool parallel, F&& f) {
    for_ranges(L, parallel, std::forward<F>(f));
}

template <typename T>
void forward_columns(T* y, double* mean, double* var, double* rstd, const T* x, const T* gamma, const T* beta,
                     int64_t N, int64_t C, int64_t inner, double eps, bool parallel) {
    const int64_t L = C * inner;
    const double inv_m = 1.0 / static_cast<double>(N * inner);
    std::vector<double> acc(static_cast<size_t>(L), 0.0);
    over_positions(L, parallel, [&](int64_t b, int64_t e) {
        for (int64_t n = 0; n < N; ++n) add_row(acc.data(), x + n * L, b, e);
    });
    const std::vector<double> s = channel_sums(acc, C, inner);
    const std::vector<double> mu = per_position(C, inner, [&](int64_t c) { return s[c] * inv_m; });
    std::vector<double> dev(static_cast<size_t>(L), 0.0);
    std::fill(acc.begin(), acc.end(), 0.0);
    over_positions(L, parallel, [&](int64_t b, int64_t e) {
        for (int64_t n = 0; n < N; ++n) add_row_deviations(dev.data(), acc.data(), x + n * L, mu.data(), b, e);
    });
    const std::vector<double> d = channel_sums(dev, C, inner), q = channel_sums(acc, C, inner);
    std::vector<double> mu_lo(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
        mu_lo[c] = d[c] * inv_m;
        mean[c] = s[c] * inv_m + mu_lo[c];
        var[c] = std::max(0.0, q[c] * inv_m - mu_lo[c] * mu_lo[c]);
        rstd[c] = 1.0 / std::sqrt(var[c] + eps);
    }
    // y = ((x − mu) − mu_lo)·scale + shift = (x − mu)·scale + (shift − mu_lo·scale)
    const std::vector<double> g = as_doubles(gamma, C, 1.0), bt = as_doubles(beta, C, 0.0);
    const std::vector<double> scale = per_position(C, inner, [&](int64_t c) { return rstd[c] * g[c]; });
    const std::vector<double> shift =
        per_position(C, inner, [&](int64_t c) { return bt[c] - mu_lo[c] * rstd[c] * g[c]; });
    over_positions(L, parallel, [&](int64_t b, int64_t e) {
        for (int64_t n = 0; n < N; ++n)
            scale_shift_row(y + n * L, x + n * L, mu.data(), scale.data(), shift.data(), b, e);
    });
}

}  // namespace

template <typename T>
void batch_norm_forward(T* y, double* mean, double* var, double* rstd, const T* x, const T* gamma, const T* beta,
                        int64_t N, int64_t C, int64_t inner, double eps) {
    const int64_t total = N * C * inner;
    if (N * inner == 0) {  // no values: the statistics of an empty set, as PyTorch's (NaN mean)
        std::fill_n(mean, C, std::nan(""));
        std::fill_n(var, C, std::nan(""));
        std::fill_n(rstd, C, std::nan(""));
        return;
    }
    if (inner < kMinPlane) {
        forward_columns(y, mean, var, rstd, x, gamma, beta, N, C, inner, eps,
                        worth_parallel(Work::elements, total, C * inner / 16));
        return;
    }
    const int64_t stride = C * inner;
    const bool stream = memory::use_streaming_stores(y, total, inner);
    const std::vector<double> g = as_doubles(gamma, C, 1.0), bt = as_doubles(beta, C, 0.0);
    for_range(
        C, worth_parallel(Work::elements, total, C),
        [&](int64_t c) {
            const Stats st = channel_stats(x + c * inner, N, stride, inner);
            const double r = 1.0 / std::sqrt(st.var + eps);
            mean[c] = st.mu + st.mu_lo;
            var[c] = st.var;
            rstd[c] = r;
            // γ and β fused into one scale and shift: y = ((x − mu) − mu_lo)·scale + shift.
            const double scale = r * g[c], shift = bt[c];
            for (int64_t n = 0; n < N; ++n) {
                const int64_t off = n * stride + c * inner;
                scale_shift_plane(y + off, x + off, inner, st.mu, scale, shift, stream, st.mu_lo);
            }
        },
        fence_if(stream));
}

template <typename T>
void batch_norm_forward_eval(T* y, const T* x, const double* mean, const double* rstd, const T* gamma, const T* beta,
                             int64_t N, int64_t C, int64_t inner) {
    const int64_t total = N * C * inner, L = C * inner;
    if (total == 0) return;
    const std::vector<double> g = as_doubles(gamma, C, 1.0), bt = as_doubles(beta, C, 0.0);
    if (inner < kMinPlane) {
        const std::vector<double> mu = per_position(C, inner, [&](int64_t c) { return mean[c]; });
        const std::vector<double> scale = per_position(C, inner, [&](int64_t c) { return rstd[c] * g[c]; });
        const std::vector<double> shift = per_position(C, inner, [&](int64_t c) { return bt[c]; });
        over_positions(L, worth_parallel(Work::elements, total, L / 16), [&](int64_t b, int64_t e) {
            for (int64_t n = 0; n < N; ++n)
                scale_shift_row(y + n * L, x + n * L, mu.data(), scale.data(), shift.data(), b, e);
        });
        return;
    }
    const bool stream = memory::use_streaming_stores(y, total, inner);
    // Row by row (n, c) in memory order: every row is independent here.
    for_range(
        N * C, worth_parallel(Work::elements, total, N * C),
        [&](int64_t nc) {
            const int64_t c = nc % C;
            scale_shift_plane(y + nc * inner, x + nc * inner, inner, mean[c], rstd[c] * g[c], bt[c], stream, 0.0);
        },
        fence_if(stream));
}

// Backward, per channel c of M = N·inner values, with x̂ = (x − μ)·r and g = dy·γ[c].
//
// Batch statistics (training): μ and r depend on x, exactly as in any normalisation over a
// set of M values (group_norm.cpp has the steps):
//   dx_j = r·(g_j − mean(g) − x̂_j·mean(g·x̂))
//   dγ[c] = Σ dy·x̂ = r·Σ dy·(x − μ),   dβ[c] = Σ dy
// With γ constant over the channel, mean(g) = γ·Σdy/M and mean(g·x̂) = γ·r·Σ dy·(x − μ)/M, so
//   dx_j = (γ·r)·dy_j + (−γ·r³·Σ dy·(x − μ)/M)·(x_j − μ) + (−γ·r·Σdy/M)
//          term 1        term 2                              term 3
// Given statistics (evaluation with the running ones): μ and r are constants, y is the affine
// map x·(γ·r) + (β − μ·γ·r), and dx_j = (γ·r)·dy_j: term 1 alone. dγ and dβ are as above,
// with the given μ and r.
// One pass gives each channel's two sums, a second writes dx; a channel's dγ and dβ are
// written by the one thread that owns it, so the results do not depend on the thread count.
template <typename T>
void batch_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean, const double* rstd,
                         const T* gamma, int64_t N, int64_t C, int64_t inner, bool batch_stats, bool accumulate_dx) {
    const int64_t total = N * C * inner, L = C * inner;
    const double inv_m = N * inner > 0 ? 1.0 / static_cast<double>(N * inner) : 0.0;
    const std::vector<double> g = as_doubles(gamma, C, 1.0);
    // The three terms of channel c from its two sums.
    auto terms = [&](int64_t c, double s_dy, double s_dy_xc, double& t1, double& t2, double& t3) {
        const double r = rstd[c], gr = r * g[c];
        t1 = gr;
        t2 = batch_stats ? -gr * r * r * s_dy_xc * inv_m : 0.0;
        t3 = batch_stats ? -gr * s_dy * inv_m : 0.0;
    };
    auto write_params = [&](int64_t c, double s_dy, double s_dy_xc) {
        if (dgamma) dgamma[c] += static_cast<T>(rstd[c] * s_dy_xc);
        if (dbeta) dbeta[c] += static_cast<T>(s_dy);
    };
    // No values: dγ and dβ are sums over an empty set, 0, so nothing is added (as PyTorch). Not
    // write_params with zero sums: rstd is NaN here on purpose (the statistics of an empty set), and
    // NaN·0 would turn dγ, and then γ after one optimizer step, into NaN.
    if (total == 0) return;
    if (inner < kMinPlane) {
        const bool parallel = worth_parallel(Work::elements, total, L / 16);
        const std::vector<double> mu = per_position(C, inner, [&](int64_t c) { return mean[c]; });
        std::vector<double> a(static_cast<size_t>(L), 0.0), b(static_cast<size_t>(L), 0.0);
        over_positions(L, parallel, [&](int64_t lo, int64_t hi) {
            for (int64_t n = 0; n < N; ++n) add_row_dy(a.data(), b.data(), dy + n * L, x + n * L, mu.data(), lo, hi);
        });
        const std::vector<double> s_dy = channel_sums(a, C, inner), s_dy_xc = channel_sums(b, C, inner);
        for (int64_t c = 0; c < C; ++c) write_params(c, s_dy[c], s_dy_xc[c]);
        if (dx == nullptr) return;
        std::vector<double> t1(static_cast<size_t>(C)), t2(t1.size()), t3(t1.size());
        for (int64_t c = 0; c < C; ++c) terms(c, s_dy[c], s_dy_xc[c], t1[c], t2[c], t3[c]);
        const std::vector<double> p1 = per_position(C, inner, [&](int64_t c) { return t1[c]; });
        const std::vector<double> p2 = per_position(C, inner, [&](int64_t c) { return t2[c]; });
        const std::vector<double> p3 = per_position(C, inner, [&](int64_t c) { return t3[c]; });
        over_positions(L, parallel, [&](int64_t lo, int64_t hi) {
            for (int64_t n = 0; n < N; ++n)
                dx_terms_row(dx + n * L, dy + n * L, x + n * L, mu.data(), p1.data(), p2.data(), p3.data(), lo, hi,
                             accumulate_dx);
        });
        return;
    }
    const bool stream = dx != nullptr && !accumulate_dx && memory::use_streaming_stores(dx, total, inner);
    for_range(
        C, worth_parallel(Work::elements, total, C),
        [&](int64_t c) {
            const double mu = mean[c];
            double s_dy = 0.0, s_dy_xc = 0.0;
            for (int64_t n = 0; n < N; ++n) {
                const int64_t off = n * L + c * inner;
                double a, b;
                dy_sums_plane(a, b, dy + off, x + off, inner, mu);
                s_dy += a;
                s_dy_xc += b;
            }
            write_params(c, s_dy, s_dy_xc);
            if (dx == nullptr) return;
            double t1, t2, t3;
            terms(c, s_dy, s_dy_xc, t1, t2, t3);
            for (int64_t n = 0; n < N; ++n) {
                const int64_t off = n * L + c * inner;
                dx_terms_plane(dx + off, dy + off, x + off, inner, mu, t1, t2, t3, accumulate_dx, stream);
            }
        },
        fence_if(stream));
}

// running = (1 − momentum)·running + momentum·batch, var with n/(n − 1): in double lanes, T
// converted in registers (a plain loop is vectorised by GCC with SSE2's float -> double
// widening through the stack).
template <typename T>
void batch_norm_update_running_stats(T* running_mean, T* running_var, const double* mean, const double* var, int64_t C,
                                     double momentum, int64_t n) {
    const double keep = 1.0 - momentum, take = momentum, unbias = static_cast<double>(n) / static_cast<double>(n - 1);
    const DoubleBatch k(keep), t(take), tu(take * unbias);
    int64_t c = 0;
    for (; c + kDoubleLanes <= C; c += kDoubleLanes) {
        narrow_store(running_mean + c,
                     xsimd::fma(k, widen(running_mean + c), t * DoubleBatch::load_unaligned(mean + c)));
        narrow_store(running_var + c, xsimd::fma(k, widen(running_var + c), tu * DoubleBatch::load_unaligned(var + c)));
    }
    short_tail(C - c);
    for (; c < C; ++c) {
        running_mean[c] = static_cast<T>(std::fma(keep, static_cast<double>(running_mean[c]), take * mean[c]));
        running_var[c] = static_cast<T>(std::fma(keep, static_cast<double>(running_var[c]), take * unbias * var[c]));
    }
}

template <typename T>
void batch_norm_update_running_stats_grouped(T* running_mean, T* running_var, const double* mean, const double* var,
                                             int64_t groups, int64_t C, double momentum, int64_t n) {
    if (groups <= 0) return;
    if (groups == 1) {  // the same bits as a plain batch's update
        batch_norm_update_running_stats(running_mean, running_var, mean, var, C, momentum, n);
        return;
    }
    // Since every group has the same n, the average of the unbiased variances is the average of
    // the biased ones times n/(n − 1), which the update applies.
    std::vector<double> m(mean, mean + C), v(var, var + C);
    for (int64_t g = 1; g < groups; ++g)
        for (int64_t c = 0; c < C; ++c) {
            m[c] += mean[g * C + c];
            v[c] += var[g * C + c];
        }
    const double inv = 1.0 / static_cast<double>(groups);
    for (int64_t c = 0; c < C; ++c) {
        m[c] *= inv;
        v[c] *= inv;
    }
    batch_norm_update_running_stats(running_mean, running_var, m.data(), v.data(), C, momentum, n);
}

template <typename T>
void batch_norm_running_stats(double* mean, double* rstd, const T* running_mean, const T* running_var, int64_t C,
                              double eps) {
    const DoubleBatch e(eps), one(1.0);
    in_double_lanes(
        0, C,
        [&](int64_t c, DoubleBatch m, DoubleBatch v) {
            m.store_unaligned(mean + c);
            (one / xsimd::sqrt(v + e)).store_unaligned(rstd + c);
        },
        [&](int64_t c) {
            mean[c] = static_cast<double>(running_mean[c]);
            rstd[c] = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
        },
        running_mean, running_var);
}

template <typename T>
void instance_norm_update_running_stats(T* running_mean, T* running_var, const double* mean, const double* rstd,
                                        int64_t N, int64_t C, int64_t inner, double eps, double momentum) {
    if (N == 0) return;
    const double inv_n = 1.0 / static_cast<double>(N);
    std::vector<double> m(static_cast<size_t>(C), 0.0), v(static_cast<size_t>(C), 0.0);
    const DoubleBatch in(inv_n), e(eps), one(1.0);
    for (int64_t n = 0; n < N; ++n) {
        const double* mn = mean + n * C;
        const double* rn = rstd + n * C;
        in_double_lanes(
            0, C,
            [&](int64_t c, DoubleBatch mu, DoubleBatch r) {
                xsimd::fma(mu, in, at(m.data(), c)).store_unaligned(m.data() + c);
                xsimd::fma(one / (r * r) - e, in, at(v.data(), c)).store_unaligned(v.data() + c);
            },
            [&](int64_t c) {
                m[c] = std::fma(mn[c], inv_n, m[c]);
                v[c] = std::fma(1.0 / (rn[c] * rn[c]) - eps, inv_n, v[c]);
            },
            mn, rn);
    }
    batch_norm_update_running_stats(running_mean, running_var, m.data(), v.data(), C, momentum, inner);
}

// --- reference kernels: the formulas as written, one element at a time --------------------
// A channel's values gathered into one contiguous slice, then the shared reference slice.

namespace {

double gamma_of(const auto* gamma, int64_t c) { return gamma ? static_cast<double>(gamma[c]) : 1.0; }
double beta_of(const auto* beta, int64_t c) { return beta ? static_cast<double>(beta[c]) : 0.0; }

template <typename T>
std::vector<T> gather_channel(const T* v, int64_t c, int64_t N, int64_t C, int64_t inner) {
    std::vector<T> out(static_cast<size_t>(N * inner));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < inner; ++i) out[n * inner + i] = v[(n * C + c) * inner + i];
    return out;
}

template <typename T>
void scatter_channel(T* v, const std::vector<T>& from, int64_t c, int64_t N, int64_t C, int64_t inner) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < inner; ++i) v[(n * C + c) * inner + i] = from[n * inner + i];
}

}  // namespace

template <typename T>
void batch_norm_forward_reference(T* y, double* mean, double* var, double* rstd, const T* x, const T* gamma,
                                  const T* beta, int64_t N, int64_t C, int64_t inner, double eps) {
    const int64_t M = N * inner;
    for (int64_t c = 0; c < C; ++c) {
        const std::vector<T> xs = gather_channel(x, c, N, C, inner);
        std::vector<T> ys(xs.size());
        norm_forward_reference_slice(ys.data(), mean[c], rstd[c], xs.data(), gamma, beta, M, eps,
                                     [c](int64_t) { return c; });
        double v = 0.0;
        for (const T xi : xs) v += (static_cast<double>(xi) - mean[c]) * (static_cast<double>(xi) - mean[c]);
        var[c] = v / static_cast<double>(M);
        scatter_channel(y, ys, c, N, C, inner);
    }
}

template <typename T>
void batch_norm_forward_eval_reference(T* y, const T* x, const double* mean, const double* rstd, const T* gamma,
                                       const T* beta, int64_t N, int64_t C, int64_t inner) {
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < inner; ++i) {
                const int64_t k = (n * C + c) * inner + i;
                const double xhat = (static_cast<double>(x[k]) - mean[c]) * rstd[c];
                y[k] = static_cast<T>(xhat * gamma_of(gamma, c) + beta_of(beta, c));
            }
}

template <typename T>
void batch_norm_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean,
                                   const double* rstd, const T* gamma, int64_t N, int64_t C, int64_t inner,
                                   bool batch_stats, bool accumulate_dx) {
    std::vector<double> dg(static_cast<size_t>(C)), db(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
        const std::vector<T> xs = gather_channel(x, c, N, C, inner), dys = gather_channel(dy, c, N, C, inner);
        std::vector<T> dxs = dx && accumulate_dx ? gather_channel(dx, c, N, C, inner) : std::vector<T>(xs.size());
        if (batch_stats) {
            norm_backward_reference_slice(
                dx ? dxs.data() : nullptr, dg, db, dys.data(), xs.data(), mean[c], rstd[c], gamma, N * inner,
                [c](int64_t) { return c; }, accumulate_dx);
        } else {
            for (size_t i = 0; i < xs.size(); ++i) {
                const double g = static_cast<double>(dys[i]);
                dg[c] += g * (static_cast<double>(xs[i]) - mean[c]) * rstd[c];
                db[c] += g;
                const T v = static_cast<T>(g * gamma_of(gamma, c) * rstd[c]);
                dxs[i] = accumulate_dx ? static_cast<T>(dxs[i] + v) : v;
            }
        }
        if (dx) scatter_channel(dx, dxs, c, N, C, inner);
    }
    for (int64_t c = 0; c < C; ++c) {
        if (dgamma) dgamma[c] += static_cast<T>(dg[c]);
        if (dbeta) dbeta[c] += static_cast<T>(db[c]);
    }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                        \
    template void batch_norm_forward<T>(T*, double*, double*, double*, const T*, const T*, const T*, int64_t, int64_t, \
                                        int64_t, double);                                                              \
    template void batch_norm_forward_eval<T>(T*, const T*, const double*, const double*, const T*, const T*, int64_t,  \
                                             int64_t, int64_t);                                                        \
    template void batch_norm_backward<T>(T*, T*, T*, const T*, const T*, const double*, const double*, const T*,       \
                                         int64_t, int64_t, int64_t, bool, bool);                                       \
    template void batch_norm_update_running_stats<T>(T*, T*, const double*, const double*, int64_t, double, int64_t);  \
    template void batch_norm_update_running_stats_grouped<T>(T*, T*, const double*, const double*, int64_t, int64_t,   \
                                                             double, int64_t);                                         \
    template void batch_norm_running_stats<T>(double*, double*, const T*, const T*, int64_t, double);                  \
    template void instance_norm_update_running_stats<T>(T*, T*, const double*, const double*, int64_t, int64_t,        \
                                                        int64_t, double, double);                                      \
    template void batch_norm_forward_reference<T>(T*, double*, double*, double*, const T*, const T*, const T*,         \
                                                  int64_t, int64_t, int64_t, double);                                  \
    template void batch_norm_forward_eval_reference<T>(T*, const T*, const double*, const double*, const T*, const T*, \
                                                       int64_t, int64_t, int64_t);                                     \
    template void batch_norm_backward_reference<T>(T*, T*, T*, const T*, const T*, const double*, const double*,       \
                                                   const T*, int64_t, int64_t, int64_t, bool, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
