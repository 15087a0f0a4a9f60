// Layer Normalization forward and backward; see layer_norm.hpp for shapes and contracts.
//
// Numerics: as GroupNorm's, from the same shared pieces (reductions.hpp): two-pass statistics
// accumulated in double (mean, then the mean of squared deviations), never E[x²] − E[x]²; for
// double the mean is refined by the mean deviation from it and kept in two parts.
// Parallelism: over the rows (worth_parallel(Work::elements, rows·M)); the backward over
// blocks of rows fixed by the shape, whose dγ/dβ partials are added in block order, so the
// results are the same bits at any thread count.
#include "framework/kernels/layer_norm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "framework/kernels/norm_reference.hpp"
#include "framework/kernels/parallel.hpp"
#include "framework/kernels/reductions.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

// y_i = ((x_i − mu) − mu_lo)·r·γ_i + β_i: the per-element affine, which no per-row scale and
// shift can fuse. In double lanes, T converted in registers (simd::widen, narrow_store) and
// rounded once; the scalar tail is the same formula.
template <typename T>
void normalize_row(T* y, const T* x, const T* gamma, const T* beta, int64_t M, double mu, double mu_lo, double r) {
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen, simd::narrow_store;
    const DoubleBatch m(mu), m_lo(mu_lo), rb(r), one(1.0), zero(0.0);
    int64_t i = 0;
    for (; i + kDoubleLanes <= M; i += kDoubleLanes) {
        const DoubleBatch xhat = ((widen(x + i) - m) - m_lo) * rb;
        const DoubleBatch g = gamma ? widen(gamma + i) : one;
        const DoubleBatch b = beta ? widen(beta + i) : zero;
        narrow_store(y + i, xsimd::fma(xhat, g, b));
    }
    for (; i < M; ++i) {
        const double xhat = ((static_cast<double>(x[i]) - mu) - mu_lo) * r;
        y[i] = static_cast<T>(std::fma(xhat, gamma ? static_cast<double>(gamma[i]) : 1.0, beta ? static_cast<double>(beta[i]) : 0.0));
    }
}

// Σ g and Σ g·(x − mu) over a row, g = dy·γ (γ null: 1), in double lanes. This and the two
// other per-row passes of the backward are not inlined: inlined into the block loop with
// Sapphire Rapids' tuning, GCC 12 kept an accumulator of the float-lane sums on the stack
// (tests/no_stack_vectors.sh found it); one call per row costs nothing measurable.
template <typename T>
[[gnu::noinline]] void sum_g_and_g_xc(double& s_g, double& s_g_xc, const T* dy, const T* x, const T* gamma, int64_t M, double mu) {
    if (gamma == nullptr) return sum_dy_and_dy_xc(s_g, s_g_xc, dy, x, M, mu);
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;
    const DoubleBatch m(mu);
    DoubleBatch a(0.0), b(0.0);
    int64_t i = 0;
    for (; i + kDoubleLanes <= M; i += kDoubleLanes) {
        const DoubleBatch g = widen(dy + i) * widen(gamma + i);
        a += g;
        b = xsimd::fma(g, widen(x + i) - m, b);
    }
    s_g = xsimd::hadd(a);
    s_g_xc = xsimd::hadd(b);
    for (; i < M; ++i) {
        const double g = static_cast<double>(dy[i]) * static_cast<double>(gamma[i]);
        s_g += g;
        s_g_xc += g * (static_cast<double>(x[i]) - mu);
    }
}

// dx_i (+)= r·g_i + term2·(x_i − mu) + term3, in double lanes, rounded once.
template <typename T>
[[gnu::noinline]] void dx_row(T* dx, const T* dy, const T* x, const T* gamma, int64_t M, double mu, double r, double term2, double term3,
            bool accumulate) {
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen, simd::narrow_store;
    const DoubleBatch m(mu), rb(r), t2(term2), t3(term3);
    int64_t i = 0;
    for (; i + kDoubleLanes <= M; i += kDoubleLanes) {
        const DoubleBatch g = gamma ? widen(dy + i) * widen(gamma + i) : widen(dy + i);
        DoubleBatch v = xsimd::fma(rb, g, xsimd::fma(t2, widen(x + i) - m, t3));
        if (accumulate) v += widen(dx + i);
        narrow_store(dx + i, v);
    }
    for (; i < M; ++i) {
        const double g = static_cast<double>(dy[i]) * (gamma ? static_cast<double>(gamma[i]) : 1.0);
        double v = std::fma(r, g, std::fma(term2, static_cast<double>(x[i]) - mu, term3));
        if (accumulate) v += static_cast<double>(dx[i]);
        dx[i] = static_cast<T>(v);
    }
}

// acc_g[i] += dy_i·((x_i − mu)·r) and acc_b[i] += dy_i over i in [begin, end) of one row;
// either accumulator may be null.
template <typename T>
[[gnu::noinline]] void accumulate_dgamma_dbeta(double* acc_g, double* acc_b, const T* dy, const T* x, int64_t begin, int64_t end, double mu,
                             double r) {
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;
    const DoubleBatch m(mu), rb(r);
    int64_t i = begin;
    for (; i + kDoubleLanes <= end; i += kDoubleLanes) {
        const DoubleBatch d = widen(dy + i);
        if (acc_g) xsimd::fma(d, (widen(x + i) - m) * rb, DoubleBatch::load_unaligned(acc_g + i)).store_unaligned(acc_g + i);
        if (acc_b) (DoubleBatch::load_unaligned(acc_b + i) + d).store_unaligned(acc_b + i);
    }
    for (; i < end; ++i) {
        const double d = static_cast<double>(dy[i]);
        if (acc_g) acc_g[i] = std::fma(d, (static_cast<double>(x[i]) - mu) * r, acc_g[i]);
        if (acc_b) acc_b[i] += d;
    }
}

}  // namespace

template <typename T>
void layer_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta, int64_t rows,
                        int64_t M, double eps) {
    constexpr bool refine_mean = !std::is_same_v<T, float>;
    const double inv_m = M > 0 ? 1.0 / static_cast<double>(M) : 0.0;
    for_range(rows, worth_parallel(Work::elements, rows * M), [&](int64_t row) {
        const T* xr = x + row * M;
        const double mu = sum(xr, M) * inv_m;
        // For double, the mean refined by the mean deviation from it, kept as a second part
        // (group_norm.cpp explains the numbers); float's double mean needs no refinement.
        const double mu_lo = refine_mean ? sum_deviation(xr, M, mu) * inv_m : 0.0;
        // Σ (x − μ)² = Σ (x − mu)² − M·mu_lo², since Σ (x − μ) = 0.
        const double var = std::max(0.0, sum_squared_deviation(xr, M, mu) * inv_m - mu_lo * mu_lo);
        const double r = 1.0 / std::sqrt(var + eps);
        mean[row] = mu + mu_lo;
        rstd[row] = r;
        normalize_row(y + row * M, xr, gamma, beta, M, mu, mu_lo, r);
    });
}

// Backward, per row of M elements, with x̂ = (x − μ)·r and g_i = dy_i·γ_i:
//
//   y_i = x̂_i·γ_i + β_i,   x̂_i = (x_i − μ)·r,   r = (σ² + ε)^(−1/2),   μ = mean(x),  σ² = mean((x − μ)²)
//   ∂x̂_i/∂x_j = r·(δ_ij − 1/M − x̂_i·x̂_j/M)        (using ∂μ/∂x_j = 1/M, ∂r/∂x_j = −r³·(x_j − μ)/M)
//   dx_j = Σ_i g_i·∂x̂_i/∂x_j = r·(g_j − mean(g) − x̂_j·mean(g·x̂))
//   dγ_i = Σ_rows dy_i·x̂_i,   dβ_i = Σ_rows dy_i           (accumulated with +=)
//
// Per row: Σg and Σg·(x − μ) in one pass, then dx_i = r·g_i − r·mean(g) − r³·(x_i − μ)·mean(g·(x − μ)),
// and, while the row is in cache, its dy·x̂ and dy added into dγ, dβ partials.
// The partials: the rows fall into K contiguous blocks, K chosen from the shape alone (never
// from the thread count), each block summing its rows in order into its own (M) partial; the
// threads take whole blocks, and the partials are added in block order at the end (split over
// the elements). So dγ and dβ are the same bits at any thread count.
namespace {

constexpr int64_t kMaxBlocks = 16;
constexpr int64_t kMaxPartialElements = int64_t{1} << 15;  // per partial array: 256 KiB of double (larger ones cost page faults: 32x12544 backward 2.0 ms at 2^18, 0.8 ms here)

int64_t block_count(int64_t rows, int64_t M) {
    if (rows * M < kMinParallelElements) return std::min<int64_t>(rows, 1);
    return std::max<int64_t>(1, std::min({rows, kMaxBlocks, kMaxPartialElements / std::max<int64_t>(M, 1)}));
}

}  // namespace

template <typename T>
void layer_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean, const double* rstd,
                         const T* gamma, int64_t rows, int64_t M, bool accumulate_dx) {
    if (rows == 0 || M == 0 || (dx == nullptr && dgamma == nullptr && dbeta == nullptr)) return;
    const int64_t K = block_count(rows, M);
    const size_t partial = static_cast<size_t>(K * M);
    std::vector<double> part_g(dgamma ? partial : 0), part_b(dbeta ? partial : 0);
    const double inv_m = 1.0 / static_cast<double>(M);
    for_range(K, worth_parallel(Work::elements, rows * M, K), [&](int64_t k) {
        double* acc_g = dgamma ? part_g.data() + k * M : nullptr;
        double* acc_b = dbeta ? part_b.data() + k * M : nullptr;
        for (int64_t row = k * rows / K; row < (k + 1) * rows / K; ++row) {
            const double mu = mean[row], r = rstd[row];
            const T* xr = x + row * M;
            const T* dyr = dy + row * M;
            if (dx != nullptr) {
                double sum_g = 0.0, sum_g_xc = 0.0;  // Σ g and Σ g·(x − μ)
                sum_g_and_g_xc(sum_g, sum_g_xc, dyr, xr, gamma, M, mu);
                const double term2 = -r * r * r * sum_g_xc * inv_m;  // −r·mean(g·x̂)·r, with Σg·x̂ = r·Σg·(x − μ)
                const double term3 = -r * sum_g * inv_m;
                dx_row(dx + row * M, dyr, xr, gamma, M, mu, r, term2, term3, accumulate_dx);
            }
            if (acc_g || acc_b) accumulate_dgamma_dbeta(acc_g, acc_b, dyr, xr, 0, M, mu, r);
        }
    });
    if (dgamma == nullptr && dbeta == nullptr) return;
    for_ranges(M, K > 1 && worth_parallel(Work::elements, K * M), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            double sg = 0.0, sb = 0.0;
            for (int64_t k = 0; k < K; ++k) {
                if (dgamma) sg += part_g[static_cast<size_t>(k * M + i)];
                if (dbeta) sb += part_b[static_cast<size_t>(k * M + i)];
            }
            if (dgamma) dgamma[i] += static_cast<T>(sg);
            if (dbeta) dbeta[i] += static_cast<T>(sb);
        }
    });
}

// --- reference kernels: the formulas as written, one element at a time --------------------

template <typename T>
void layer_norm_forward_reference(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta,
                                  int64_t rows, int64_t M, double eps) {
    for (int64_t row = 0; row < rows; ++row)
        norm_forward_reference_slice(y + row * M, mean[row], rstd[row], x + row * M, gamma, beta, M, eps,
                                     [](int64_t i) { return i; });
}

template <typename T>
void layer_norm_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean,
                                   const double* rstd, const T* gamma, int64_t rows, int64_t M, bool accumulate_dx) {
    std::vector<double> dg(static_cast<size_t>(M)), dbt(static_cast<size_t>(M));
    for (int64_t row = 0; row < rows; ++row) {
        const int64_t base = row * M;
        norm_backward_reference_slice(dx ? dx + base : nullptr, dg, dbt, dy + base, x + base, mean[row], rstd[row], gamma, M,
                                      [](int64_t i) { return i; }, accumulate_dx);
    }
    for (int64_t i = 0; i < M; ++i) {
        if (dgamma) dgamma[i] += static_cast<T>(dg[i]);
        if (dbeta) dbeta[i] += static_cast<T>(dbt[i]);
    }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                      \
    template void layer_norm_forward<T>(T*, double*, double*, const T*, const T*, const T*, int64_t, int64_t,       \
                                        double);                                                                     \
    template void layer_norm_backward<T>(T*, T*, T*, const T*, const T*, const double*, const double*, const T*,   \
                                         int64_t, int64_t, bool);                                                    \
    template void layer_norm_forward_reference<T>(T*, double*, double*, const T*, const T*, const T*, int64_t,      \
                                                  int64_t, double);                                                  \
    template void layer_norm_backward_reference<T>(T*, T*, T*, const T*, const T*, const double*, const double*,   \
                                                   const T*, int64_t, int64_t, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
