// Group Normalization forward and backward; see group_norm.hpp for shapes and contracts.
//
// Numerics: statistics are two-pass (mean, then the mean of squared deviations) and
// accumulated in double for float and double inputs alike, so an input with mean 1e4 and
// std 1e-2 in float32 loses nothing to cancellation; E[x²] − E[x]² is never used. The
// per-element passes that write y and dx run in float lanes for float, centred so that
// what cancels exactly in double cancels exactly in float (reductions.hpp, normalize.hpp).
// Parallelism: over the N·G independent (sample, group) slices, each a (C/G, inner) block;
// each slice is read twice for its statistics and once more to normalise, while it is still
// in cache. With fewer slices than threads, the threads split each slice instead
// (parallel.hpp, choose_slice_partition).
// Memory traffic: large float outputs whose channels are whole cache lines are written with
// streaming stores (memory.hpp), and the per-element passes fetch the next slice ahead.
#include "framework/kernels/group_norm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "framework/kernels/memory.hpp"
#include "framework/kernels/norm_reference.hpp"
#include "framework/kernels/normalize.hpp"
#include "framework/kernels/parallel.hpp"
#include "framework/kernels/reductions.hpp"

namespace tapegrad::kernels {

namespace {

// Whether the per-element passes fetch the next slice ahead (Pass::ahead): whenever the
// threads take whole slices, whatever the size. Measured both ways (bench_group_norm, 1
// thread, forward): on a 2-core Intel Xeon (Emerald Rapids, 260 MB L3) fetching ahead is
// 3-15% faster on every bench shape, cached ones included (8x256x28x28 0.55-0.61 -> 0.54-0.56 ms,
// 64x32x28x28 0.53-0.60 -> 0.49-0.50 ms); on the 2-core AMD EPYC it was ~10% faster on
// 32x64x56x56 but 5-10% slower on tensors that stay in its 32 MB L3, and was limited to
// 16 MiB and more there. One rule for every CPU: on, since the loss on AMD was the smaller.
// bench/README.md has the measurements.
bool use_prefetch(SlicePartition partition) { return partition != SlicePartition::within_slice; }

// A fence after this thread's streaming stores, when there were any.
auto fence_if(bool streamed) {
    return [streamed] {
        if (streamed) memory::stream_fence();
    };
}

}  // namespace

template <typename T>
void group_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta, int64_t N,
                        int64_t C, int64_t inner, int64_t G, double eps) {
    const int64_t D = C / G;          // channels per group
    const int64_t M = D * inner;      // elements per (n, g) slice
    const SlicePartition partition = choose_slice_partition(N * G, M);
    const bool split = partition == SlicePartition::within_slice;
    const bool stream = memory::use_streaming_stores(y, N * G * M, inner);
    const bool fetch_ahead = use_prefetch(partition);
    constexpr bool refine_mean = !std::is_same_v<T, float>;
    for_range(N * G, partition == SlicePartition::over_slices, [&](int64_t ng) {
        const int64_t g = ng % G;
        const T* xs = x + ng * M;     // (D, inner)
        T* ys = y + ng * M;
        // Σ over the slice of f(begin, length) for its chunks.
        auto slice_sum = [&](auto&& f) {
            return sum_range(chunk_count(M), split, [&](int64_t k) { return f(k * kChunk, std::min(kChunk, M - k * kChunk)); });
        };
        const double inv_m = M > 0 ? 1.0 / static_cast<double>(M) : 0.0;
        const double mu = slice_sum([&](int64_t b, int64_t n) { return sum(xs + b, n); }) * inv_m;
        // For double, the mean refined by the mean deviation from it, kept as a second part:
        // the first sum's rounding (a few ulp of Σx) is 2e-10 of the std for mean 1e4, std 1e-2,
        // and the refined mean is exact to rounding. Float needs no refinement: its mean is
        // already a double, far more precise than float data (and one more pass would cost).
        const double mu_lo =
            refine_mean ? slice_sum([&](int64_t b, int64_t n) { return sum_deviation(xs + b, n, mu); }) * inv_m : 0.0;
        // Σ (x − μ)² = Σ (x − mu)² − M·mu_lo², since Σ (x − μ) = 0.
        const double var = std::max(
            0.0, slice_sum([&](int64_t b, int64_t n) { return sum_squared_deviation(xs + b, n, mu); }) * inv_m - mu_lo * mu_lo);
        const double r = 1.0 / std::sqrt(var + eps);
        mean[ng] = mu + mu_lo;
        rstd[ng] = r;
        // γ and β fused into one scale and shift per channel: y = x·scale + shift.
        const Pass pass{stream, fetch_ahead && ng + 1 < N * G ? M : 0};
        for_each_chunk(D, inner, split, [&](const Chunk& ch) {
            const int64_t c = g * D + ch.row;
            const double scale = r * (gamma ? static_cast<double>(gamma[c]) : 1.0);
            const double shift = beta ? static_cast<double>(beta[c]) : 0.0;
            scale_shift(ys + ch.begin, xs + ch.begin, ch.length, mu, scale, shift, pass, mu_lo);
        }, fence_if(split && stream));  // the outer loop fences when the slices are not split
    }, fence_if(stream));
}

// Backward, per (n, g) slice of M = D·inner elements, with x̂ = (x − μ)·r and g = dy·γ[c]:
//
//   y = x̂·γ + β,   x̂_i = (x_i − μ)·r,   r = (σ² + ε)^(−1/2),   μ = mean(x),  σ² = mean((x − μ)²)
//   ∂x̂_i/∂x_j = r·(δ_ij − 1/M − x̂_i·x̂_j/M)        (using ∂μ/∂x_j = 1/M, ∂r/∂x_j = −r³·(x_j − μ)/M)
//   dx_j = Σ_i g_i·∂x̂_i/∂x_j = r·(g_j − mean(g) − x̂_j·mean(g·x̂))
//   dγ[c] = Σ_{n, i∈c} dy·x̂,   dβ[c] = Σ_{n, i∈c} dy
//
// First: two reductions per channel, ds[c] = Σ dy·(x − μ) and db[c] = Σ dy; from them the
// group sums Σg = Σ_c γ_c·db[c] and Σg·x̂ = r·Σ_c γ_c·ds[c]. Then dx in one pass as
//   dx_i = (r·γ_c)·dy_i + (−r²·mean(g·x̂))·(x_i − μ) + (−r·mean(g))
//          term 1          term 2                         term 3
// dγ and dβ need sums over n as well; slices write per-(n, c) partials that are reduced
// over n afterwards, so the parallel loop has no shared accumulators.
template <typename T>
void group_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean, const double* rstd,
                         const T* gamma, int64_t N, int64_t C, int64_t inner, int64_t G, bool accumulate_dx) {
    const int64_t D = C / G;
    const int64_t M = D * inner;
    std::vector<double> ds(static_cast<size_t>(N * C)), db(static_cast<size_t>(N * C));  // (N, C)
    const bool stream = dx != nullptr && !accumulate_dx && memory::use_streaming_stores(dx, N * G * M, inner);
    const SlicePartition partition = choose_slice_partition(N * G, M);
    const bool split = partition == SlicePartition::within_slice;
    const bool fetch_ahead = use_prefetch(partition);
    const int64_t chunks_per_slice = D * chunk_count(inner);
    // Per-chunk partial sums when threads share a slice (slices then run one at a time).
    std::vector<double> part_dy(split ? static_cast<size_t>(chunks_per_slice) : 0), part_dy_xc(part_dy.size());
    for_range(N * G, partition == SlicePartition::over_slices, [&](int64_t ng) {
        const int64_t n = ng / G, g = ng % G;
        const double mu = mean[ng], r = rstd[ng];
        const T* xs = x + ng * M;
        const T* dys = dy + ng * M;
        double* ds_n = ds.data() + n * C + g * D;  // this group's channels
        double* db_n = db.data() + n * C + g * D;
        if (split) {
            for_range(chunks_per_slice, true, [&](int64_t dk) {
                const Chunk ch = chunk_of(dk, inner);
                sum_dy_and_dy_xc(part_dy[dk], part_dy_xc[dk], dys + ch.begin, xs + ch.begin, ch.length, mu);
            });
            std::fill(db_n, db_n + D, 0.0);
            std::fill(ds_n, ds_n + D, 0.0);
            for (int64_t dk = 0; dk < chunks_per_slice; ++dk) {
                db_n[chunk_of(dk, inner).row] += part_dy[dk];
                ds_n[chunk_of(dk, inner).row] += part_dy_xc[dk];
            }
        } else {
            for (int64_t d = 0; d < D; ++d) sum_dy_and_dy_xc(db_n[d], ds_n[d], dys + d * inner, xs + d * inner, inner, mu);
        }
        double sum_g = 0.0, sum_g_xc = 0.0;  // Σ g and Σ g·(x − μ)
        for (int64_t d = 0; d < D; ++d) {
            const double gc = gamma ? static_cast<double>(gamma[g * D + d]) : 1.0;
            sum_g += gc * db_n[d];
            sum_g_xc += gc * ds_n[d];
        }
        if (dx == nullptr || M == 0) return;
        const double inv_m = 1.0 / static_cast<double>(M);
        const double term2 = -r * r * r * sum_g_xc * inv_m;  // −r²·mean(g·x̂), with Σg·x̂ = r·Σg·(x − μ)
        const double term3 = -r * sum_g * inv_m;
        const Pass pass{stream, fetch_ahead && ng + 1 < N * G ? M : 0};
        for_each_chunk(D, inner, split, [&](const Chunk& ch) {
            const double term1 = r * (gamma ? static_cast<double>(gamma[g * D + ch.row]) : 1.0);
            dx_terms(dx + ng * M + ch.begin, dys + ch.begin, xs + ch.begin, ch.length, mu, term1, term2, term3, accumulate_dx,
                     pass);
        }, fence_if(split && stream));
    }, fence_if(stream));
    // dγ[c] = Σ_n r_{n,g(c)}·ds[n, c],  dβ[c] = Σ_n db[n, c]
    // summed into row n = 0 (scaled by its r, then the other samples' rows added in order), so
    // that the loops run along contiguous rows.
    if (N == 0 || (dgamma == nullptr && dbeta == nullptr)) return;
    for (int64_t n = 0; n < N; ++n) {
        const double* ds_n = ds.data() + n * C;
        const double* db_n = db.data() + n * C;
        for (int64_t g = 0; g < G; ++g) {
            const double r = rstd[n * G + g];
            double* dsg = ds.data() + g * D;
            double* dbg = db.data() + g * D;
            if (n == 0) {
                for (int64_t d = 0; d < D; ++d) dsg[d] *= r;
            } else {
                for (int64_t d = 0; d < D; ++d) {
                    dsg[d] += r * ds_n[g * D + d];
                    dbg[d] += db_n[g * D + d];
                }
            }
        }
    }
    for (int64_t c = 0; c < C; ++c) {
        if (dgamma) dgamma[c] += static_cast<T>(ds[static_cast<size_t>(c)]);
        if (dbeta) dbeta[c] += static_cast<T>(db[static_cast<size_t>(c)]);
    }
}

// --- reference kernels: the formulas as written, one element at a time --------------------

template <typename T>
void group_norm_forward_reference(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta,
                                  int64_t N, int64_t C, int64_t inner, int64_t G, double eps) {
    const int64_t D = C / G, M = D * inner;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < G; ++g) {
            const int64_t ng = n * G + g;
            norm_forward_reference_slice(y + ng * M, mean[ng], rstd[ng], x + ng * M, gamma, beta, M, eps,
                                         [&](int64_t i) { return g * D + i / inner; });
        }
}

template <typename T>
void group_norm_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean,
                                   const double* rstd, const T* gamma, int64_t N, int64_t C, int64_t inner, int64_t G,
                                   bool accumulate_dx) {
    const int64_t D = C / G, M = D * inner;
    std::vector<double> dg(static_cast<size_t>(C)), dbt(static_cast<size_t>(C));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < G; ++g) {
            const int64_t ng = n * G + g, base = ng * M;
            norm_backward_reference_slice(dx ? dx + base : nullptr, dg, dbt, dy + base, x + base, mean[ng], rstd[ng], gamma,
                                          M, [&](int64_t i) { return g * D + i / inner; }, accumulate_dx);
        }
    for (int64_t c = 0; c < C; ++c) {
        if (dgamma) dgamma[c] += static_cast<T>(dg[c]);
        if (dbeta) dbeta[c] += static_cast<T>(dbt[c]);
    }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                      \
    template void group_norm_forward<T>(T*, double*, double*, const T*, const T*, const T*, int64_t, int64_t,       \
                                        int64_t, int64_t, double);                                                   \
    template void group_norm_backward<T>(T*, T*, T*, const T*, const T*, const double*, const double*, const T*,   \
                                         int64_t, int64_t, int64_t, int64_t, bool);                                  \
    template void group_norm_forward_reference<T>(T*, double*, double*, const T*, const T*, const T*, int64_t,      \
                                                  int64_t, int64_t, int64_t, double);                                \
    template void group_norm_backward_reference<T>(T*, T*, T*, const T*, const T*, const double*, const double*,   \
                                                   const T*, int64_t, int64_t, int64_t, int64_t, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
