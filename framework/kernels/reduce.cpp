// Reductions along a block of dimensions; see reduce.hpp. Every kernel has the two paths of
// dim_blocks.hpp: contiguous rows (inner == 1) and column blocks (inner > 1). Sums of T are
// taken in double lanes, T converted in registers (simd::widen).
#include "framework/kernels/reduce.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "framework/core/parallel.hpp"
#include "framework/kernels/dim_blocks.hpp"
#include "framework/kernels/reductions.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

using simd::DoubleBatch, simd::kDoubleLanes, simd::widen, simd::narrow_store;
using dims::ColumnBuffers, dims::for_column_blocks, dims::for_rows, dims::sum_over_chunks;

// Rows of a column block taken together by column_sum and column_extreme: their values are
// combined in T lanes first, so the block's buffer is read and written once per 8 rows.
constexpr int64_t kRowGroup = 8;

// out[j] = v[j] (+ out[j] when accumulate), v in double, for j in [0, n).
template <typename T, typename V>
[[gnu::always_inline]] inline void put(T* out, int64_t j, const V& v, bool accumulate) {
    if constexpr (std::is_same_v<V, double>)
        out[j] = accumulate ? static_cast<T>(static_cast<double>(out[j]) + v) : static_cast<T>(v);
    else
        narrow_store(out + j, accumulate ? widen(out + j) + v : v);
}

// dst[j] = f(j) as double lanes over [begin, end), the batch then scalar tail; f takes a lane
// index and returns a DoubleBatch or, in the tail, a double through g.
template <typename T, typename Batch, typename Scalar>
[[gnu::always_inline]] inline void write_lanes(T* dst, int64_t begin, int64_t end, bool accumulate, Batch&& batch,
                                              Scalar&& scalar) {
    int64_t j = begin;
    for (; j + kDoubleLanes <= end; j += kDoubleLanes) put(dst, j, batch(j), accumulate);
    for (; j < end; ++j) put(dst, j, scalar(j), accumulate);
}

// dst[j] = f(j) (a double) one element at a time, over [begin, end): for the terms with an
// exp, taken from libm. xsimd's double exp holds more constants than AVX2's 16 registers
// leave beside a loop's own values, and GCC spilled them to the stack in the loop.
template <typename T, typename Scalar>
[[gnu::always_inline]] inline void write_each(T* dst, int64_t begin, int64_t end, bool accumulate, Scalar&& scalar) {
    for (int64_t j = begin; j < end; ++j) put(dst, j, scalar(j), accumulate);
}

// --- extremes in T lanes ----------------------------------------------------------------------

// The kept one of a and a new v: v when it beats a or is NaN, so that a NaN, once in, stays
// (nothing beats it and it is never replaced).
template <bool IsMax, typename V>
[[gnu::always_inline]] inline V pick(const V& a, const V& v) {
    if constexpr (std::is_floating_point_v<V>)
        return ((IsMax ? v > a : v < a) || v != v) ? v : a;
    else
        return xsimd::select((IsMax ? v > a : v < a) | (v != v), v, a);
}

template <bool IsMax, typename T>
T row_extreme(const T* x, int64_t n) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    T m = x[0];
    int64_t i = 0;
    if (n >= 2 * lanes) {
        B a0 = B::load_unaligned(x), a1 = B::load_unaligned(x + lanes);
        for (i = 2 * lanes; i + 2 * lanes <= n; i += 2 * lanes) {
            a0 = pick<IsMax>(a0, B::load_unaligned(x + i));
            a1 = pick<IsMax>(a1, B::load_unaligned(x + i + lanes));
        }
        alignas(64) T lane[B::size];  // once per row, outside the loop
        pick<IsMax>(a0, a1).store_aligned(lane);
        m = lane[0];
        for (int64_t l = 1; l < lanes; ++l) m = pick<IsMax>(m, lane[l]);
    }
    for (; i < n; ++i) m = pick<IsMax>(m, x[i]);
    return m;
}

template <bool IsMax, typename T>
T extreme_over_chunks(const T* x, int64_t n, bool parallel) {
    return dims::over_chunks<T>(
        n, parallel, [&](int64_t b, int64_t e) { return row_extreme<IsMax>(x + b, e - b); },
        [](T a, T v) { return pick<IsMax>(a, v); });
}

// m[0, w) = extreme over the R rows (stride `inner`) of the block at x: groups of 8 rows
// combined in registers, then into m.
template <bool IsMax, typename T>
void column_extreme(T* m, const T* x, int64_t R, int64_t inner, int64_t w) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    std::copy(x, x + w, m);
    int64_t r = 1;
    for (; r + kRowGroup <= R; r += kRowGroup) {
        const T* x0 = x + r * inner;
        int64_t j = 0;
        for (; j + lanes <= w; j += lanes) {
            const T* p = x0 + j;
            auto row = [&](int64_t k) { return B::load_unaligned(p + k * inner); };
            const B a = pick<IsMax>(pick<IsMax>(row(0), row(1)), pick<IsMax>(row(2), row(3)));
            const B b = pick<IsMax>(pick<IsMax>(row(4), row(5)), pick<IsMax>(row(6), row(7)));
            pick<IsMax>(B::load_unaligned(m + j), pick<IsMax>(a, b)).store_unaligned(m + j);
        }
        for (; j < w; ++j)
            for (int64_t k = 0; k < kRowGroup; ++k) m[j] = pick<IsMax>(m[j], x0[k * inner + j]);
    }
    for (; r < R; ++r) {
        const T* xr = x + r * inner;
        int64_t j = 0;
        for (; j + lanes <= w; j += lanes)
            pick<IsMax>(B::load_unaligned(m + j), B::load_unaligned(xr + j)).store_unaligned(m + j);
        for (; j < w; ++j) m[j] = pick<IsMax>(m[j], xr[j]);
    }
}

// Number of i in [0, n) with x[i] == m: counted in T lanes (exact below 2^24 per lane for
// float, far beyond a chunk), returned as double.
template <typename T>
double count_equal(const T* x, int64_t n, T m) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    const B mb(m), one(T(1)), zero(T(0));
    B c(T(0));
    int64_t i = 0;
    for (; i + lanes <= n; i += lanes) c += xsimd::select(B::load_unaligned(x + i) == mb, one, zero);
    double s = static_cast<double>(xsimd::hadd(c));
    for (; i < n; ++i) s += x[i] == m ? 1.0 : 0.0;
    return s;
}

// dx[i] = x[i] == m ? g : 0 (added when accumulate), for i in [0, n).
template <typename T>
void distribute_equal(T* dx, const T* x, int64_t n, T m, T g, bool accumulate) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    const B mb(m), gb(g), zero(T(0));
    int64_t i = 0;
    if (accumulate)
        for (; i + lanes <= n; i += lanes)
            (B::load_unaligned(dx + i) + xsimd::select(B::load_unaligned(x + i) == mb, gb, zero))
                .store_unaligned(dx + i);
    else
        for (; i + lanes <= n; i += lanes)
            xsimd::select(B::load_unaligned(x + i) == mb, gb, zero).store_unaligned(dx + i);
    for (; i < n; ++i) {
        const T v = x[i] == m ? g : T(0);
        dx[i] = accumulate ? dx[i] + v : v;
    }
}

// dst[i] = v (added when accumulate), for i in [0, n).
template <typename T>
void fill(T* dst, int64_t n, T v, bool accumulate) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    const B vb(v);
    int64_t i = 0;
    if (accumulate)
        for (; i + lanes <= n; i += lanes) (B::load_unaligned(dst + i) + vb).store_unaligned(dst + i);
    else
        for (; i + lanes <= n; i += lanes) vb.store_unaligned(dst + i);
    for (; i < n; ++i) dst[i] = accumulate ? dst[i] + v : v;
}

// dst[i] = src[i] (added when accumulate), for i in [0, n).
template <typename T>
void copy_row(T* dst, const T* src, int64_t n, bool accumulate) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    if (!accumulate) {
        std::copy(src, src + n, dst);
        return;
    }
    int64_t i = 0;
    for (; i + lanes <= n; i += lanes)
        (B::load_unaligned(dst + i) + B::load_unaligned(src + i)).store_unaligned(dst + i);
    for (; i < n; ++i) dst[i] += src[i];
}

// acc[0, w) = Σ_r x[r·inner + j] over R rows, in double. For float, each group of 8 rows is
// summed in float lanes (a pairwise tree of 3 adds, error ~3 ulp of the group's Σ|x|) and the
// group sums are added in double: a cascade, without a conversion per element.
inline void column_sum(double* acc, const float* x, int64_t R, int64_t inner, int64_t w) {
    using simd::FloatBatch, simd::kFloatLanes;
    std::fill(acc, acc + w, 0.0);
    int64_t r = 0;
    for (; r + kRowGroup <= R; r += kRowGroup) {
        const float* x0 = x + r * inner;
        int64_t j = 0;
        for (; j + kFloatLanes <= w; j += kFloatLanes) {
            const float* p = x0 + j;
            auto row = [&](int64_t k) { return FloatBatch::load_unaligned(p + k * inner); };
            const FloatBatch s = ((row(0) + row(1)) + (row(2) + row(3))) + ((row(4) + row(5)) + (row(6) + row(7)));
            DoubleBatch lo, hi;
            simd::widen_halves(s, lo, hi);
            (DoubleBatch::load_unaligned(acc + j) + lo).store_unaligned(acc + j);
            (DoubleBatch::load_unaligned(acc + j + kDoubleLanes) + hi).store_unaligned(acc + j + kDoubleLanes);
        }
        for (; j < w; ++j)
            for (int64_t k = 0; k < kRowGroup; ++k) acc[j] += static_cast<double>(x0[k * inner + j]);
    }
    for (; r < R; ++r) {
        const float* x0 = x + r * inner;
        int64_t j = 0;
        for (; j + kDoubleLanes <= w; j += kDoubleLanes)
            (DoubleBatch::load_unaligned(acc + j) + widen(x0 + j)).store_unaligned(acc + j);
        for (; j < w; ++j) acc[j] += static_cast<double>(x0[j]);
    }
}

inline void column_sum(double* acc, const double* x, int64_t R, int64_t inner, int64_t w) {
    std::fill(acc, acc + w, 0.0);
    for (int64_t r = 0; r < R; ++r) {
        const double* x0 = x + r * inner;
        int64_t j = 0;
        for (; j + kDoubleLanes <= w; j += kDoubleLanes)
            (DoubleBatch::load_unaligned(acc + j) + DoubleBatch::load_unaligned(x0 + j)).store_unaligned(acc + j);
        for (; j < w; ++j) acc[j] += x0[j];
    }
}

// The shift of a logsumexp: the maximum, or 0 when it is infinite (PyTorch's rule).
inline double lse_shift(double m) { return std::isinf(m) ? 0.0 : m; }

template <bool IsMax, typename T>
void extreme_forward(T* y, const T* x, int64_t outer, int64_t R, int64_t inner) {
    if (inner == 1) {
        for_rows(outer, R, [&](int64_t o, bool within) { y[o] = extreme_over_chunks<IsMax>(x + o * R, R, within); });
        return;
    }
    for_column_blocks<T>(outer, inner, outer * R * inner, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>&) {
        column_extreme<IsMax>(y + o * inner + k0, x + o * R * inner + k0, R, inner, w);
    });
}

template <bool IsMax, typename T>
void arg_extreme(T* values, int64_t* index, const T* x, int64_t outer, int64_t R, int64_t inner) {
    auto matches = [](T v, T m) { return v == m || (m != m && v != v); };
    if (inner == 1) {
        for_rows(outer, R, [&](int64_t o, bool within) {
            const T* xr = x + o * R;
            const T m = extreme_over_chunks<IsMax>(xr, R, within);
            int64_t r = 0;
            while (r + 1 < R && !matches(xr[r], m)) ++r;
            index[o] = r;
            if (values) values[o] = m;
        });
        return;
    }
    for_column_blocks<T>(outer, inner, outer * R * inner, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>& buf) {
        const T* xb = x + o * R * inner + k0;
        T* m = buf.t.data();
        column_extreme<IsMax>(m, xb, R, inner, w);
        int64_t* idx = index + o * inner + k0;
        std::fill(idx, idx + w, int64_t{-1});
        int64_t left = w;
        for (int64_t r = 0; r < R && left > 0; ++r)
            for (int64_t j = 0; j < w; ++j)
                if (idx[j] < 0 && matches(xb[r * inner + j], m[j])) idx[j] = r, --left;
        if (values) std::copy(m, m + w, values + o * inner + k0);
    });
}

}  // namespace

template <typename T>
void sum_dim_forward(T* y, const T* x, int64_t outer, int64_t R, int64_t inner, double scale) {
    if (inner == 1) {
        for_rows(outer, R, [&](int64_t o, bool within) {
            const T* xr = x + o * R;
            y[o] = static_cast<T>(
                scale * sum_over_chunks(R, within, [&](int64_t b, int64_t e) { return sum_in_blocks(xr + b, e - b); }));
        });
        return;
    }
    const DoubleBatch sb(scale);
    for_column_blocks<T>(outer, inner, outer * R * inner, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>& buf) {
        double* acc = buf.a.data();
        column_sum(acc, x + o * R * inner + k0, R, inner, w);
        write_lanes(
            y + o * inner + k0, 0, w, false, [=](int64_t j) { return DoubleBatch::load_unaligned(acc + j) * sb; },
            [=](int64_t j) { return acc[j] * scale; });
    });
}

// y = scale · Σ_r x  ⇒  dx[o, r, k] = scale · dy[o, k]
template <typename T>
void sum_dim_backward(T* dx, const T* dy, int64_t outer, int64_t R, int64_t inner, double scale, bool accumulate) {
    if (inner == 1) {
        for_rows(outer, R, [&](int64_t o, bool within) {
            const T g = static_cast<T>(scale * static_cast<double>(dy[o]));
            T* dr = dx + o * R;
            for_ranges(R, within, [&](int64_t b, int64_t e) { fill(dr + b, e - b, g, accumulate); });
        });
        return;
    }
    for_column_blocks<T>(outer, inner, outer * R * inner, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>& buf) {
        T* g = buf.t.data();
        const T* dyo = dy + o * inner + k0;
        // scale · dy in double lanes, converted in registers (GCC's own vectorisation of the
        // plain loop moved the upper half of each float vector through the stack under SSE2).
        const DoubleBatch s(scale);
        int64_t j = 0;
        for (; j + 2 * kDoubleLanes <= w; j += 2 * kDoubleLanes) {
            DoubleBatch lo, hi;
            simd::widen_pair(dyo + j, lo, hi);
            narrow_store(g + j, lo * s);
            narrow_store(g + j + kDoubleLanes, hi * s);
        }
        for (; j < w; ++j) g[j] = static_cast<T>(scale * static_cast<double>(dyo[j]));
        T* d = dx + o * R * inner + k0;
        for (int64_t r = 0; r < R; ++r) copy_row(d + r * inner, g, w, accumulate);
    });
}

template <typename T>
void variance_dim_forward(T* y, double* mean, const T* x, int64_t outer, int64_t R, int64_t inner, double correction,
                          bool take_sqrt) {
    const double dof = std::max(0.0, static_cast<double>(R) - correction);
    auto finish = [&](double m2) {
        const double v = m2 / dof;
        return take_sqrt ? std::sqrt(v) : v;
    };
    if (inner == 1) {
        for_rows(outer, R, [&](int64_t o, bool within) {
            const T* xr = x + o * R;
            const double mu =
                sum_over_chunks(R, within, [&](int64_t b, int64_t e) { return sum_in_blocks(xr + b, e - b); }) /
                static_cast<double>(R);
            const double m2 = sum_over_chunks(
                R, within, [&](int64_t b, int64_t e) { return sum_squared_deviation(xr + b, e - b, mu); });
            mean[o] = mu;
            y[o] = static_cast<T>(finish(m2));
        });
        return;
    }
    for_column_blocks<T>(outer, inner, outer * R * inner, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>& buf) {
        const T* xb = x + o * R * inner + k0;
        double* mu = mean + o * inner + k0;
        double* m2 = buf.b.data();
        double* dev = buf.a.data();  // Σ (x − mu): the first pass's rounding, taken out below
        column_sum(mu, xb, R, inner, w);
        for (int64_t j = 0; j < w; ++j) mu[j] /= static_cast<double>(R);
        std::fill(m2, m2 + w, 0.0);
        std::fill(dev, dev + w, 0.0);
        for (int64_t r = 0; r < R; ++r) {
            const T* xr = xb + r * inner;
            int64_t j = 0;
            for (; j + kDoubleLanes <= w; j += kDoubleLanes) {
                const DoubleBatch d = widen(xr + j) - DoubleBatch::load_unaligned(mu + j);
                xsimd::fma(d, d, DoubleBatch::load_unaligned(m2 + j)).store_unaligned(m2 + j);
                (DoubleBatch::load_unaligned(dev + j) + d).store_unaligned(dev + j);
            }
            for (; j < w; ++j) {
                const double d = static_cast<double>(xr[j]) - mu[j];
                m2[j] += d * d;
                dev[j] += d;
            }
        }
        // The corrected two-pass algorithm: with mu off the mean by δ = Σ(x − mu)/R,
        // Σ (x − mean)² = Σ (x − mu)² − R·δ², and the mean is mu + δ.
        for (int64_t j = 0; j < w; ++j) {
            const double delta = dev[j] / static_cast<double>(R);
            mu[j] += delta;
            y[o * inner + k0 + j] = static_cast<T>(finish(std::max(0.0, m2[j] - dev[j] * delta)));
        }
    });
}

// var = Σ (x − μ)² / (R − c): ∂var/∂x_i = 2 (x_i − μ) / (R − c) (the μ terms sum to zero:
// Σ_j 2 (x_j − μ) · ∂μ/∂x_i = 0). std = √var: ∂std/∂x_i = ∂var/∂x_i / (2 std) = (x_i − μ) /
// ((R − c) std). So dx = c[o, k] · (x − μ) with c from dy and y.
template <typename T>
void variance_dim_backward(T* dx, const T* dy, const T* y, const double* mean, const T* x, int64_t outer, int64_t R,
                           int64_t inner, double correction, bool is_std, bool accumulate) {
    const double dof = static_cast<double>(R) - correction;
    auto coefficient = [&](int64_t i) {
        const double g = static_cast<double>(dy[i]);
        if (!is_std) return 2.0 * g / dof;
        return y[i] == T(0) ? 0.0 : g / (dof * static_cast<double>(y[i]));
    };
    if (inner == 1) {
        for_rows(outer, R, [&](int64_t o, bool within) {
            const double c = coefficient(o), mu = mean[o];
            const DoubleBatch cb(c), mb(mu);
            const T* xr = x + o * R;
            T* dr = dx + o * R;
            for_ranges(R, within, [&](int64_t b, int64_t e) {
                write_lanes(dr, b, e, accumulate, [=](int64_t j) { return cb * (widen(xr + j) - mb); },
                            [=](int64_t j) { return c * (static_cast<double>(xr[j]) - mu); });
            });
        });
        return;
    }
    for_column_blocks<T>(outer, inner, outer * R * inner, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>& buf) {
        double* c = buf.a.data();
        for (int64_t j = 0; j < w; ++j) c[j] = coefficient(o * inner + k0 + j);
        const double* mu = mean + o * inner + k0;
        for (int64_t r = 0; r < R; ++r) {
            const T* xr = x + (o * R + r) * inner + k0;
            T* dr = dx + (o * R + r) * inner + k0;
            write_lanes(
                dr, 0, w, accumulate,
                [=](int64_t j) {
                    return DoubleBatch::load_unaligned(c + j) * (widen(xr + j) - DoubleBatch::load_unaligned(mu + j));
                },
                [=](int64_t j) { return c[j] * (static_cast<double>(xr[j]) - mu[j]); });
        }
    });
}

template <typename T>
void extreme_dim_forward(T* y, const T* x, int64_t outer, int64_t R, int64_t inner, bool is_max) {
    if (is_max)
        extreme_forward<true>(y, x, outer, R, inner);
    else
        extreme_forward<false>(y, x, outer, R, inner);
}

// y = max_r x (or min): a subgradient that PyTorch's amax/amin (and max()/min() over the whole
// tensor) use: dy split evenly among the n elements equal to y, dx = dy / n there, 0 elsewhere.
template <typename T>
void extreme_dim_backward(T* dx, const T* dy, const T* x, const T* y, int64_t outer, int64_t R, int64_t inner,
                          bool accumulate) {
    if (inner == 1) {
        for_rows(outer, R, [&](int64_t o, bool within) {
            const T* xr = x + o * R;
            const T m = y[o];
            const double n =
                sum_over_chunks(R, within, [&](int64_t b, int64_t e) { return count_equal(xr + b, e - b, m); });
            const T g = static_cast<T>(static_cast<double>(dy[o]) / n);
            T* dr = dx + o * R;
            for_ranges(R, within,
                       [&](int64_t b, int64_t e) { distribute_equal(dr + b, xr + b, e - b, m, g, accumulate); });
        });
        return;
    }
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    for_column_blocks<T>(outer, inner, outer * R * inner, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>& buf) {
        const T* xb = x + o * R * inner + k0;
        const T* m = y + o * inner + k0;
        T* g = buf.t.data();  // first the counts, then dy / count
        const B one(T(1)), zero(T(0));
        std::fill(g, g + w, T(0));
        for (int64_t r = 0; r < R; ++r) {
            const T* xr = xb + r * inner;
            int64_t j = 0;
            for (; j + lanes <= w; j += lanes)
                (B::load_unaligned(g + j) +
                 xsimd::select(B::load_unaligned(xr + j) == B::load_unaligned(m + j), one, zero))
                    .store_unaligned(g + j);
            for (; j < w; ++j) g[j] += xr[j] == m[j] ? T(1) : T(0);
        }
        for (int64_t j = 0; j < w; ++j)
            g[j] = static_cast<T>(static_cast<double>(dy[o * inner + k0 + j]) / static_cast<double>(g[j]));
        for (int64_t r = 0; r < R; ++r) {
            const T* xr = xb + r * inner;
            T* dr = dx + (o * R + r) * inner + k0;
            int64_t j = 0;
            for (; j + lanes <= w; j += lanes) {
                B v = xsimd::select(B::load_unaligned(xr + j) == B::load_unaligned(m + j), B::load_unaligned(g + j),
                                    zero);
                if (accumulate) v += B::load_unaligned(dr + j);
                v.store_unaligned(dr + j);
            }
            for (; j < w; ++j) {
                const T v = xr[j] == m[j] ? g[j] : T(0);
                dr[j] = accumulate ? dr[j] + v : v;
            }
        }
    });
}

template <typename T>
void arg_extreme_dim(T* values, int64_t* index, const T* x, int64_t outer, int64_t R, int64_t inner, bool is_max) {
    if (is_max)
        arg_extreme<true>(values, index, x, outer, R, inner);
    else
        arg_extreme<false>(values, index, x, outer, R, inner);
}

// values = x[index]: the gradient goes to the selected element only.
template <typename T>
void index_dim_backward(T* dx, const T* dy, const int64_t* index, int64_t outer, int64_t R, int64_t inner) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < inner; ++k) dx[(o * R + index[o * inner + k]) * inner + k] += dy[o * inner + k];
}

template <typename T>
void logsumexp_dim_forward(T* y, const T* x, int64_t outer, int64_t R, int64_t inner) {
    if (inner == 1) {
        for_rows(outer, R, [&](int64_t o, bool within) {
            const T* xr = x + o * R;
            const double shift = R > 0 ? lse_shift(static_cast<double>(extreme_over_chunks<true>(xr, R, within))) : 0.0;
            const double s =
                sum_over_chunks(R, within, [&](int64_t b, int64_t e) { return sum_exp(xr + b, e - b, shift); });
            y[o] = static_cast<T>(shift + std::log(s));
        });
        return;
    }
    for_column_blocks<T>(outer, inner, outer * R * inner, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>& buf) {
        const T* xb = x + o * R * inner + k0;
        double* shift = buf.a.data();
        double* s = buf.b.data();
        if (R > 0) {
            column_extreme<true>(buf.t.data(), xb, R, inner, w);
            for (int64_t j = 0; j < w; ++j) shift[j] = lse_shift(static_cast<double>(buf.t[static_cast<size_t>(j)]));
        } else {
            std::fill(shift, shift + w, 0.0);
        }
        std::fill(s, s + w, 0.0);
        for (int64_t r = 0; r < R; ++r) {
            const T* xr = xb + r * inner;
            for (int64_t j = 0; j < w; ++j) s[j] += std::exp(static_cast<double>(xr[j]) - shift[j]);  // see write_each
        }
        for (int64_t j = 0; j < w; ++j) y[o * inner + k0 + j] = static_cast<T>(shift[j] + std::log(s[j]));
    });
}

// y = log Σ_r exp(x_r)  ⇒  ∂y/∂x_r = exp(x_r) / Σ exp = exp(x_r − y): dx = dy · exp(x − y).
template <typename T>
void logsumexp_dim_backward(T* dx, const T* dy, const T* x, const T* y, int64_t outer, int64_t R, int64_t inner,
                            bool accumulate) {
    if (inner == 1) {
        for_rows(outer, R, [&](int64_t o, bool within) {
            const double g = static_cast<double>(dy[o]), yo = static_cast<double>(y[o]);
            const T* xr = x + o * R;
            T* dr = dx + o * R;
            for_ranges(R, within, [&](int64_t b, int64_t e) {
                write_each(dr, b, e, accumulate,
                           [=](int64_t j) { return g * std::exp(static_cast<double>(xr[j]) - yo); });
            });
        });
        return;
    }
    for_column_blocks<T>(outer, inner, outer * R * inner, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>&) {
        const T* dyo = dy + o * inner + k0;
        const T* yo = y + o * inner + k0;
        for (int64_t r = 0; r < R; ++r) {
            const T* xr = x + (o * R + r) * inner + k0;
            T* dr = dx + (o * R + r) * inner + k0;
            write_each(dr, 0, w, accumulate, [=](int64_t j) {
                return static_cast<double>(dyo[j]) * std::exp(static_cast<double>(xr[j]) - static_cast<double>(yo[j]));
            });
        }
    });
}

template <typename T>
void strided_copy(T* y, const T* x, const int64_t* shape, const int64_t* strides, int64_t rank, bool accumulate) {
    if (rank == 0) {
        y[0] = accumulate ? y[0] + x[0] : x[0];
        return;
    }
    int64_t rows = 1;
    for (int64_t d = 0; d + 1 < rank; ++d) rows *= shape[d];
    const int64_t last = shape[rank - 1], step = strides[rank - 1];
    if (rows == 0 || last == 0) return;
    for_thread_ranges(
        rows, worth_parallel(Work::elements, rows * last, rows),
        [&](int64_t begin, int64_t end) {
            if (begin >= end) return;
            // The odometer of the outer dimensions at row `begin` (divisions once per thread),
            // then counted up row by row.
            std::vector<int64_t> at(static_cast<size_t>(rank), 0);
            int64_t offset = 0;
            for (int64_t d = rank - 2, rest = begin; d >= 0; --d) {
                at[static_cast<size_t>(d)] = rest % shape[d];
                rest /= shape[d];
                offset += at[static_cast<size_t>(d)] * strides[d];
            }
            for (int64_t row = begin; row < end; ++row) {
                T* yr = y + row * last;
                const T* xr = x + offset;
                if (accumulate)
                    for (int64_t j = 0; j < last; ++j) yr[j] += xr[j * step];
                else
                    for (int64_t j = 0; j < last; ++j) yr[j] = xr[j * step];
                for (int64_t d = rank - 2; d >= 0; --d) {
                    offset += strides[d];
                    if (++at[static_cast<size_t>(d)] < shape[d]) break;
                    offset -= strides[d] * shape[d];
                    at[static_cast<size_t>(d)] = 0;
                }
            }
        },
        [] {});
}

template <typename T>
void sum_dim_forward_reference(T* y, const T* x, int64_t outer, int64_t R, int64_t inner, double scale) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < inner; ++k) {
            long double s = 0.0L;
            for (int64_t r = 0; r < R; ++r) s += static_cast<long double>(x[(o * R + r) * inner + k]);
            y[o * inner + k] = static_cast<T>(static_cast<double>(s) * scale);
        }
}

template <typename T>
void variance_dim_forward_reference(T* y, const T* x, int64_t outer, int64_t R, int64_t inner, double correction) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < inner; ++k) {
            long double s = 0.0L, q = 0.0L;
            for (int64_t r = 0; r < R; ++r) s += static_cast<long double>(x[(o * R + r) * inner + k]);
            const long double mu = s / static_cast<long double>(R);
            for (int64_t r = 0; r < R; ++r) {
                const long double d = static_cast<long double>(x[(o * R + r) * inner + k]) - mu;
                q += d * d;
            }
            y[o * inner + k] =
                static_cast<T>(static_cast<double>(q) / std::max(0.0, static_cast<double>(R) - correction));
        }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                        \
    template void sum_dim_forward<T>(T*, const T*, int64_t, int64_t, int64_t, double);                                 \
    template void sum_dim_backward<T>(T*, const T*, int64_t, int64_t, int64_t, double, bool);                          \
    template void variance_dim_forward<T>(T*, double*, const T*, int64_t, int64_t, int64_t, double, bool);             \
    template void variance_dim_backward<T>(T*, const T*, const T*, const double*, const T*, int64_t, int64_t, int64_t, \
                                           double, bool, bool);                                                        \
    template void extreme_dim_forward<T>(T*, const T*, int64_t, int64_t, int64_t, bool);                               \
    template void extreme_dim_backward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, bool);          \
    template void arg_extreme_dim<T>(T*, int64_t*, const T*, int64_t, int64_t, int64_t, bool);                         \
    template void index_dim_backward<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t);                      \
    template void logsumexp_dim_forward<T>(T*, const T*, int64_t, int64_t, int64_t);                                   \
    template void logsumexp_dim_backward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, bool);        \
    template void strided_copy<T>(T*, const T*, const int64_t*, const int64_t*, int64_t, bool);                        \
    template void sum_dim_forward_reference<T>(T*, const T*, int64_t, int64_t, int64_t, double);                       \
    template void variance_dim_forward_reference<T>(T*, const T*, int64_t, int64_t, int64_t, double);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
