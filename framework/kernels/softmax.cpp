// softmax and log_softmax kernels; see softmax.hpp. The (outer, C, inner) kernels take the
// two paths of dim_blocks.hpp: rows (inner == 1) on the threads, or column blocks.
#include "framework/kernels/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "framework/core/parallel.hpp"
#include "framework/kernels/dim_blocks.hpp"
#include "framework/kernels/reductions.hpp"
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

using simd::DoubleBatch, simd::kDoubleLanes, simd::widen, simd::narrow_store;
using dims::ColumnBuffers, dims::for_column_blocks;

// The maximum of x[0, n), NaN if any is NaN (then so is every output, as PyTorch).
template <typename T>
T row_max(const T* x, int64_t n) {
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < n; ++j) m = (x[j] > m || x[j] != x[j]) ? x[j] : m;
    return m;
}

// out[j] = v (added to out[j] when accumulate), from double lanes or a double.
template <typename T>
[[gnu::always_inline]] inline void put(T* out, int64_t j, const DoubleBatch& v, bool accumulate) {
    narrow_store(out + j, accumulate ? widen(out + j) + v : v);
}
template <typename T>
[[gnu::always_inline]] inline void put(T* out, int64_t j, double v, bool accumulate) {
    out[j] = accumulate ? static_cast<T>(static_cast<double>(out[j]) + v) : static_cast<T>(v);
}

// out[j] = f(j) over [0, n): double lanes, then a scalar tail.
template <typename T, typename Batch, typename Scalar>
[[gnu::always_inline]] inline void write_lanes(T* out, int64_t n, bool accumulate, Batch&& batch, Scalar&& scalar) {
    int64_t j = 0;
    for (; j + kDoubleLanes <= n; j += kDoubleLanes) put(out, j, batch(j), accumulate);
    for (; j < n; ++j) put(out, j, scalar(j), accumulate);
}

// out[j] = f(j) (a double) one element at a time: for the terms with an exp, taken from libm.
// xsimd's double exp holds more constants than AVX2's 16 registers leave beside a loop's own
// values, and GCC spilled them to the stack in the loop.
template <typename T, typename Scalar>
[[gnu::always_inline]] inline void write_each(T* out, int64_t n, bool accumulate, Scalar&& scalar) {
    for (int64_t j = 0; j < n; ++j) put(out, j, scalar(j), accumulate);
}

// m[0, w) (double) = the maxima of the C rows (stride inner) of a column block, s[0, w) =
// Σ_c exp(x − m).
template <typename T>
void column_max_and_sum_exp(double* m, double* s, const T* x, int64_t C, int64_t inner, int64_t w) {
    std::fill(m, m + w, -std::numeric_limits<double>::infinity());
    for (int64_t c = 0; c < C; ++c) {
        const T* xr = x + c * inner;
        for (int64_t j = 0; j < w; ++j) {
            const double v = static_cast<double>(xr[j]);
            m[j] = (v > m[j] || v != v) ? v : m[j];
        }
    }
    std::fill(s, s + w, 0.0);
    for (int64_t c = 0; c < C; ++c) {
        const T* xr = x + c * inner;
        for (int64_t j = 0; j < w; ++j) s[j] += std::exp(static_cast<double>(xr[j]) - m[j]);  // see write_each
    }
}

template <bool Log, typename T>
void softmax_any(T* y, const T* x, int64_t outer, int64_t C, int64_t inner) {
    const int64_t work = outer * C * inner;
    if (inner == 1) {
        for_range(outer, worth_parallel(Work::elements, work, outer), [&](int64_t o) {
            const T* xr = x + o * C;
            T* yr = y + o * C;
            const double m = static_cast<double>(row_max(xr, C));
            const double s = sum_exp(xr, C, m);
            if constexpr (Log) {
                const double lse = m + std::log(s);
                const DoubleBatch lb(lse);
                write_lanes(yr, C, false, [=](int64_t j) { return widen(xr + j) - lb; },
                            [=](int64_t j) { return static_cast<double>(xr[j]) - lse; });
            } else {
                const double r = 1.0 / s;
                write_each(yr, C, false, [=](int64_t j) { return std::exp(static_cast<double>(xr[j]) - m) * r; });
            }
        });
        return;
    }
    for_column_blocks<T>(outer, inner, work, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>& buf) {
        const T* xb = x + o * C * inner + k0;
        double* m = buf.a.data();
        double* s = buf.b.data();
        column_max_and_sum_exp(m, s, xb, C, inner, w);
        if constexpr (Log)
            for (int64_t j = 0; j < w; ++j) m[j] += std::log(s[j]);  // m becomes the logsumexp
        else
            for (int64_t j = 0; j < w; ++j) s[j] = 1.0 / s[j];
        for (int64_t c = 0; c < C; ++c) {
            const T* xr = xb + c * inner;
            T* yr = y + (o * C + c) * inner + k0;
            if constexpr (Log)
                write_lanes(yr, w, false, [=](int64_t j) { return widen(xr + j) - DoubleBatch::load_unaligned(m + j); },
                            [=](int64_t j) { return static_cast<double>(xr[j]) - m[j]; });
            else
                write_each(yr, w, false, [=](int64_t j) { return std::exp(static_cast<double>(xr[j]) - m[j]) * s[j]; });
        }
    });
}

// Σ_j a[j]·b[j] over [0, n), in double lanes.
template <typename T>
double dot(const T* a, const T* b, int64_t n) {
    DoubleBatch acc(0.0);
    int64_t j = 0;
    for (; j + kDoubleLanes <= n; j += kDoubleLanes) acc = xsimd::fma(widen(a + j), widen(b + j), acc);
    double s = xsimd::hadd(acc);
    for (; j < n; ++j) s += static_cast<double>(a[j]) * static_cast<double>(b[j]);
    return s;
}

// softmax: y_j = e_j / Σ e, ∂y_j/∂x_i = y_j (δ_ij − y_i)  ⇒  dx_i = Σ_j dy_j y_j (δ_ij − y_i)
//   = y_i (dy_i − Σ_j dy_j y_j).
// log_softmax: y_j = x_j − lse, ∂y_j/∂x_i = δ_ij − softmax_i  ⇒  dx_i = dy_i − exp(y_i) Σ_j dy_j.
template <bool Log, typename T>
void softmax_any_backward(T* dx, const T* dy, const T* y, int64_t outer, int64_t C, int64_t inner, bool accumulate) {
    const int64_t work = outer * C * inner;
    if (inner == 1) {
        for_range(outer, worth_parallel(Work::elements, work, outer), [&](int64_t o) {
            const T* dyr = dy + o * C;
            const T* yr = y + o * C;
            T* dr = dx + o * C;
            if constexpr (Log) {
                const double s = sum(dyr, C);
                write_each(dr, C, accumulate, [=](int64_t j) {
                    return static_cast<double>(dyr[j]) - std::exp(static_cast<double>(yr[j])) * s;
                });
            } else {
                const double s = dot(dyr, yr, C);
                const DoubleBatch sb(s);
                write_lanes(dr, C, accumulate, [=](int64_t j) { return widen(yr + j) * (widen(dyr + j) - sb); },
                            [=](int64_t j) { return static_cast<double>(yr[j]) * (static_cast<double>(dyr[j]) - s); });
            }
        });
        return;
    }
    for_column_blocks<T>(outer, inner, work, [&](int64_t o, int64_t k0, int64_t w, ColumnBuffers<T>& buf) {
        const int64_t base = o * C * inner + k0;
        double* s = buf.a.data();
        std::fill(s, s + w, 0.0);
        for (int64_t c = 0; c < C; ++c) {
            const T* dyr = dy + base + c * inner;
            const T* yr = y + base + c * inner;
            int64_t j = 0;
            if constexpr (Log) {
                for (; j + kDoubleLanes <= w; j += kDoubleLanes)
                    (DoubleBatch::load_unaligned(s + j) + widen(dyr + j)).store_unaligned(s + j);
                for (; j < w; ++j) s[j] += static_cast<double>(dyr[j]);
            } else {
                for (; j + kDoubleLanes <= w; j += kDoubleLanes)
                    xsimd::fma(widen(dyr + j), widen(yr + j), DoubleBatch::load_unaligned(s + j))
                        .store_unaligned(s + j);
                for (; j < w; ++j) s[j] += static_cast<double>(dyr[j]) * static_cast<double>(yr[j]);
            }
        }
        for (int64_t c = 0; c < C; ++c) {
            const T* dyr = dy + base + c * inner;
            const T* yr = y + base + c * inner;
            T* dr = dx + base + c * inner;
            if constexpr (Log)
                write_each(dr, w, accumulate, [=](int64_t j) {
                    return static_cast<double>(dyr[j]) - std::exp(static_cast<double>(yr[j])) * s[j];
                });
            else
                write_lanes(
                    dr, w, accumulate,
                    [=](int64_t j) { return widen(yr + j) * (widen(dyr + j) - DoubleBatch::load_unaligned(s + j)); },
                    [=](int64_t j) { return static_cast<double>(yr[j]) * (static_cast<double>(dyr[j]) - s[j]); });
        }
    });
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
        for (; j + kDoubleLanes <= C; j += kDoubleLanes)
            simd::narrow_store(yr + j, simd::widen(xr + j) - DoubleBatch(lse));
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

template <typename T>
void softmax_forward(T* y, const T* x, int64_t outer, int64_t C, int64_t inner) {
    softmax_any<false>(y, x, outer, C, inner);
}

template <typename T>
void log_softmax_forward(T* y, const T* x, int64_t outer, int64_t C, int64_t inner) {
    softmax_any<true>(y, x, outer, C, inner);
}

template <typename T>
void softmax_backward(T* dx, const T* dy, const T* y, int64_t outer, int64_t C, int64_t inner, bool accumulate) {
    softmax_any_backward<false>(dx, dy, y, outer, C, inner, accumulate);
}

template <typename T>
void log_softmax_backward(T* dx, const T* dy, const T* y, int64_t outer, int64_t C, int64_t inner, bool accumulate) {
    softmax_any_backward<true>(dx, dy, y, outer, C, inner, accumulate);
}

template <typename T>
void softmax_forward_reference(T* y, const T* x, int64_t outer, int64_t C, int64_t inner, bool log) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < inner; ++k) {
            const T* xs = x + o * C * inner + k;
            double m = -std::numeric_limits<double>::infinity();
            for (int64_t c = 0; c < C; ++c) m = std::max(m, static_cast<double>(xs[c * inner]));
            double s = 0.0;
            for (int64_t c = 0; c < C; ++c) s += std::exp(static_cast<double>(xs[c * inner]) - m);
            for (int64_t c = 0; c < C; ++c) {
                const double d = static_cast<double>(xs[c * inner]) - m;
                y[(o * C + c) * inner + k] = static_cast<T>(log ? d - std::log(s) : std::exp(d) / s);
            }
        }
}

#define TAPEGRAD_INSTANTIATE(T)                                                   \
    template void log_softmax_forward<T>(T*, const T*, int64_t, int64_t);          \
    template void log_softmax_backward<T>(T*, const T*, const T*, int64_t, int64_t); \
    template void log_softmax_forward_reference<T>(T*, const T*, int64_t, int64_t); \
    template void softmax_forward<T>(T*, const T*, int64_t, int64_t, int64_t);     \
    template void log_softmax_forward<T>(T*, const T*, int64_t, int64_t, int64_t); \
    template void softmax_backward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, bool); \
    template void log_softmax_backward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, bool); \
    template void softmax_forward_reference<T>(T*, const T*, int64_t, int64_t, int64_t, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
