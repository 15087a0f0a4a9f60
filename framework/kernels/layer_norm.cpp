// Layer Normalization forward and backward; see layer_norm.hpp for shapes and contracts. In this
// file: the reference twins (the formulas, one element at a time), then the fast kernels.
//
// Numerics: as GroupNorm's, from the same shared pieces (reductions.hpp, normalize.hpp):
// two-pass statistics accumulated in double (mean, then the mean of squared deviations), never
// E[x²] − E[x]²; for double the mean is refined by the mean deviation from it and kept in two
// parts. For float the passes over a row already in cache (variance, normalising, the
// backward's sums and dx) run in float lanes, centred on the float nearest the mean; dγ and dβ
// are summed in double.
// Parallelism: over the rows (worth_parallel(Work::elements, rows·M)); the backward over
// blocks of rows fixed by the shape, whose dγ/dβ partials are added in block order, so the
// results are the same bits at any thread count.
// Memory traffic: y and dx of 4 MiB and more, in rows of whole cache lines, are written with
// streaming stores (memory.hpp), and each row's last pass fetches the next row, whose first
// pass would otherwise wait on memory. docs/speed.md, "LayerNorm and BatchNorm2d beside
// PyTorch", has the measurements.
// Not GroupNorm's slice pipeline (slice_pipeline.hpp), though a row is a slice of one row: the
// schedule differs where LayerNorm's shapes need it. Rows are short (768 elements), so the
// forward takes the statistics of a group of rows before normalising them, one row's chain of
// sums, square root and division overlapping the next one's; a row is never shared by the
// threads (its sums are one pass over the whole row); and γ and β are per element, so the
// backward's dγ and dβ are column sums over rows, kept per block of rows, which a pipeline
// of independent slices has no place for.
#include "framework/kernels/layer_norm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "framework/core/parallel.hpp"
#include "framework/kernels/memory.hpp"
#include "framework/kernels/norm_reference.hpp"
#include "framework/kernels/normalize.hpp"
#include "framework/kernels/reductions.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

// --- reference kernels: the formulas as written, one element at a time --------------------
// Row r is x[r·M, r·M + M); element i of a row uses γ[i] and β[i] (norm_reference.hpp has the
// one-slice forward and backward, shared with GroupNorm and BatchNorm).

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
        norm_backward_reference_slice(
            dx ? dx + base : nullptr, dg, dbt, dy + base, x + base, mean[row], rstd[row], gamma, M,
            [](int64_t i) { return i; }, accumulate_dx);
    }
    for (int64_t i = 0; i < M; ++i) {
        if (dgamma) dgamma[i] += static_cast<T>(dg[i]);
        if (dbeta) dbeta[i] += static_cast<T>(dbt[i]);
    }
}

// --- the fast kernels ---------------------------------------------------------------------

namespace {

// y_i = ((x_i − mu) − mu_lo)·r·γ_i + β_i: the per-element affine, which no per-row scale and
// shift can fuse. In double lanes, T converted in registers (simd::widen, narrow_store) and
// rounded once; the scalar tail is the same formula. (The double path: no streaming stores
// and no fetching ahead, as normalize.hpp's double passes.)
template <typename T>
void normalize_row(T* y, const T* x, const T* gamma, const T* beta, int64_t M, double mu, double mu_lo, double r,
                   Pass /*pass*/) {
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
        y[i] = static_cast<T>(
            std::fma(xhat, gamma ? static_cast<double>(gamma[i]) : 1.0, beta ? static_cast<double>(beta[i]) : 0.0));
    }
}

// For float, in float lanes (twice as many per register, no conversions), as normalize.hpp's
// scale_shift: centred on K = the float nearest mu, x − K is exact for x near K (Sterbenz), so
// large means cancel exactly; x̂ = (x − K)·r + c with c = (K − μ)·r rounded once, then
// y = x̂·γ + β. Each y is within a few ulp of the double result; the statistics, where float
// would lose digits, stay in double. γ and β are chosen once per row, not per element.
void normalize_row(float* y, const float* x, const float* gamma, const float* beta, int64_t M, double mu, double mu_lo,
                   double r, Pass pass) {
    using simd::FloatBatch, simd::kFloatLanes;
    const float k = static_cast<float>(mu), rf = static_cast<float>(r);
    const float c = static_cast<float>(((static_cast<double>(k) - mu) - mu_lo) * r);
    const FloatBatch kb(k), rb(rf), cb(c);
    const auto row = [&](auto affine, auto affine_scalar) {
        const auto step = [&](int64_t j) {
            memory::store(y + j, affine(j, xsimd::fma(FloatBatch::load_unaligned(x + j) - kb, rb, cb)), pass.stream);
        };
        int64_t i = 0;
        if (pass.ahead != 0) {
            for (; i + kFloatLanes <= M; i += kFloatLanes) {
                memory::prefetch(x + i + pass.ahead);
                step(i);
            }
        }
        for (; i + kFloatLanes <= M; i += kFloatLanes) step(i);
        for (; i < M; ++i) y[i] = affine_scalar(i, std::fma(x[i] - k, rf, c));
    };
    const auto load = [](const float* p, int64_t j) { return FloatBatch::load_unaligned(p + j); };
    if (gamma && beta)
        row([&](int64_t j, FloatBatch v) { return xsimd::fma(v, load(gamma, j), load(beta, j)); },
            [&](int64_t j, float v) { return std::fma(v, gamma[j], beta[j]); });
    else if (gamma)
        row([&](int64_t j, FloatBatch v) { return v * load(gamma, j); },
            [&](int64_t j, float v) { return v * gamma[j]; });
    else if (beta)
        row([&](int64_t j, FloatBatch v) { return v + load(beta, j); },
            [&](int64_t j, float v) { return v + beta[j]; });
    else
        row([](int64_t, FloatBatch v) { return v; }, [](int64_t, float v) { return v; });
}

// out_i = a_i·b_i over n elements, in T's own lanes: the backward's g = dy·γ, formed once per
// row (in cache) so that the shared reductions and dx pass of normalize.hpp, written for a
// per-row t1·dy, take g in dy's place.
template <typename T>
void product(T* out, const T* a, const T* b, int64_t n) {
    using Batch = xsimd::batch<T>;
    constexpr auto lanes = static_cast<int64_t>(Batch::size);
    int64_t i = 0;
    for (; i + lanes <= n; i += lanes)
        (Batch::load_unaligned(a + i) * Batch::load_unaligned(b + i)).store_unaligned(out + i);
    for (; i < n; ++i) out[i] = a[i] * b[i];
}

// The backward's two per-row passes from the shared headers, not inlined: inlined into the
// block loop, GCC 12 kept a float-lane accumulator of the sums on the stack under SSE2's 16
// vector registers (tests/no_stack_vectors.sh); one call per row costs nothing measurable.
template <typename T>
[[gnu::noinline]] void row_sums(double& s_g, double& s_g_xc, const T* g, const T* x, int64_t M, double mu) {
    sum_dy_and_dy_xc(s_g, s_g_xc, g, x, M, mu);
}

template <typename T>
[[gnu::noinline]] void row_dx(T* dx, const T* g, const T* x, int64_t M, double mu, double t1, double t2, double t3,
                              bool accumulate, Pass pass) {
    dx_terms(dx, g, x, M, mu, t1, t2, t3, accumulate, pass);
}

// acc_g[i] += dy_i·((x_i − mu)·r) and acc_b[i] += dy_i for each of R consecutive rows (M
// elements each, from dy and x; their statistics from mean and rstd), in row order: the same
// operations, in the same order, as R one-row updates, but the (M) double partials are loaded
// and stored once for the R rows instead of once per row (a pass bound by those stores when
// R was 1). Either accumulator may be null. Not inlined: inlined into the block loop with
// Sapphire Rapids' tuning, GCC 12 kept an accumulator on the stack (tests/no_stack_vectors.sh).
template <int R, typename T>
[[gnu::noinline]] void accumulate_dgamma_dbeta(double* acc_g, double* acc_b, const T* dy, const T* x, int64_t M,
                                               const double* mean, const double* rstd) {
    using simd::DoubleBatch, simd::kDoubleLanes, simd::widen;
    int64_t i = 0;
    for (; i + kDoubleLanes <= M; i += kDoubleLanes) {
        DoubleBatch d[R];
        for (int r = 0; r < R; ++r) d[r] = widen(dy + r * M + i);
        if (acc_g) {
            DoubleBatch a = DoubleBatch::load_unaligned(acc_g + i);
            for (int r = 0; r < R; ++r)
                a = xsimd::fma(d[r], (widen(x + r * M + i) - DoubleBatch(mean[r])) * DoubleBatch(rstd[r]), a);
            a.store_unaligned(acc_g + i);
        }
        if (acc_b) {
            DoubleBatch b = DoubleBatch::load_unaligned(acc_b + i);
            for (int r = 0; r < R; ++r) b += d[r];
            b.store_unaligned(acc_b + i);
        }
    }
    for (; i < M; ++i) {
        for (int r = 0; r < R; ++r) {
            const double d = static_cast<double>(dy[r * M + i]);
            if (acc_g) acc_g[i] = std::fma(d, (static_cast<double>(x[r * M + i]) - mean[r]) * rstd[r], acc_g[i]);
            if (acc_b) acc_b[i] += d;
        }
    }
}

// Rows per update of the dγ/dβ partials: their dy and x (24 KB for rows of 768 floats) are
// still in L1 or L2 from the row's dx pass.
constexpr int64_t kRowsPerUpdate = 4;

// Rows per group in the forward: short rows go several at a time, first the statistics of all
// of them, then their normalising passes, so that one row's chain of dependent steps (sums,
// horizontal adds, square root, division) overlaps the next row's instead of waiting on it.
constexpr int64_t kGroupElements = 512;
constexpr int64_t kMaxGroupRows = 8;

}  // namespace

template <typename T>
void layer_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta, int64_t rows,
                        int64_t M, double eps) {
    constexpr bool refine_mean = !std::is_same_v<T, float>;
    const double inv_m = M > 0 ? 1.0 / static_cast<double>(M) : 0.0;
    const bool stream = memory::use_streaming_stores(y, rows * M, M);
    const int64_t group = std::clamp<int64_t>(kGroupElements / std::max<int64_t>(M, 1), 1, kMaxGroupRows);
    const int64_t groups = (rows + group - 1) / group;
    for_range(groups, worth_parallel(Work::elements, rows * M, groups), [&](int64_t gi) {
        const int64_t first = gi * group, n = std::min(group, rows - first);
        double mu[kMaxGroupRows], mu_lo[kMaxGroupRows], var[kMaxGroupRows];
        for (int64_t j = 0; j < n; ++j) {
            const T* xr = x + (first + j) * M;
            mu[j] = sum(xr, M) * inv_m;
            // For double, the mean refined by the mean deviation from it, kept as a second part
            // (group_norm.cpp explains the numbers); float's double mean needs no refinement.
            mu_lo[j] = refine_mean ? sum_deviation(xr, M, mu[j]) * inv_m : 0.0;
            // Σ (x − μ)² = Σ (x − mu)² − M·mu_lo², since Σ (x − μ) = 0.
            var[j] = std::max(0.0, sum_squared_deviation(xr, M, mu[j]) * inv_m - mu_lo[j] * mu_lo[j]);
        }
        for (int64_t j = 0; j < n; ++j) {
            mean[first + j] = mu[j] + mu_lo[j];
            rstd[first + j] = 1.0 / std::sqrt(var[j] + eps);
        }
        // While these rows are in cache, the next group's are fetched (its mean pass reads them from memory).
        for (int64_t j = 0; j < n; ++j) {
            const int64_t row = first + j;
            normalize_row(y + row * M, x + row * M, gamma, beta, M, mu[j], mu_lo[j], rstd[row],
                          Pass{stream, row + group < rows ? group * M : 0});
        }
    }, [stream] {
        if (stream) memory::stream_fence();
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
constexpr int64_t kMaxPartialElements = int64_t{1}
                                        << 15;  // per partial array: 256 KiB of double (larger ones cost page faults:
                                                // 32x12544 backward 2.0 ms at 2^18, 0.8 ms here)

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
    const bool stream = dx != nullptr && !accumulate_dx && memory::use_streaming_stores(dx, rows * M, M);
    for_range(K, worth_parallel(Work::elements, rows * M, K), [&](int64_t k) {
        double* acc_g = dgamma ? part_g.data() + k * M : nullptr;
        double* acc_b = dbeta ? part_b.data() + k * M : nullptr;
        // g = dy·γ of the current row (dy itself without γ).
        std::vector<T> g_row(dx != nullptr && gamma != nullptr ? static_cast<size_t>(M) : 0);
        const int64_t end = (k + 1) * rows / K;
        for (int64_t first = k * rows / K; first < end; first += kRowsPerUpdate) {
            const int64_t n = std::min(kRowsPerUpdate, end - first);
            for (int64_t row = first; row < first + n && dx != nullptr; ++row) {
                const double mu = mean[row], r = rstd[row];
                const T* xr = x + row * M;
                const T* g = dy + row * M;
                if (gamma != nullptr) {
                    product(g_row.data(), g, gamma, M);
                    g = g_row.data();
                }
                double sum_g = 0.0, sum_g_xc = 0.0;  // Σ g and Σ g·(x − μ)
                row_sums(sum_g, sum_g_xc, g, xr, M, mu);
                const double term2 = -r * r * r * sum_g_xc * inv_m;  // −r·mean(g·x̂)·r, with Σg·x̂ = r·Σg·(x − μ)
                const double term3 = -r * sum_g * inv_m;
                // While this row is in cache, the next row of this block is fetched.
                row_dx(dx + row * M, g, xr, M, mu, r, term2, term3, accumulate_dx, Pass{stream, row + 1 < end ? M : 0});
            }
            if (acc_g == nullptr && acc_b == nullptr) continue;
            if (n == kRowsPerUpdate)
                accumulate_dgamma_dbeta<kRowsPerUpdate>(acc_g, acc_b, dy + first * M, x + first * M, M, mean + first,
                                                        rstd + first);
            else
                for (int64_t row = first; row < first + n; ++row)
                    accumulate_dgamma_dbeta<1>(acc_g, acc_b, dy + row * M, x + row * M, M, mean + row, rstd + row);
        }
    }, [stream] {
        if (stream) memory::stream_fence();
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
