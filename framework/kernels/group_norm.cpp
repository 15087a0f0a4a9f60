// Group Normalization forward and backward; see group_norm.hpp for shapes and contracts.
//
// Numerics: the mean is summed in double for float and double inputs alike, and the variance
// is the mean of squared deviations from a point near the mean, never E[x²] − E[x]²: for
// double, two passes (the mean, then the deviations from it); for float, one pass that sums
// Σx in double and Σ(x − k)² in float lanes about k, a float near the mean, checked for
// cancellation and summed again about the mean when k was too far (group_norm_forward_float).
// So an input with mean 1e4 and std 1e-2 in float32 loses nothing to cancellation. The
// per-element passes that write y and dx run in float lanes for float, centred so that what
// cancels exactly in double cancels exactly in float (reductions.hpp, normalize.hpp).
// Parallelism: over the N·G independent (sample, group) slices, each a (C/G, inner) block.
// With fewer slices than threads, the threads split each slice instead (parallel.hpp,
// choose_slice_partition). Results are the same bits at any thread count.
// Memory traffic: large float outputs whose channels are whole cache lines are written with
// streaming stores (memory.hpp). Each pass over a slice that needs sums over it first reads it
// from memory once for the sums, then again from cache: the float forward and backward take
// the sums of the next slice in the loop that writes this one's y or dx (rows of 512 and
// more), or fetch the next slice ahead while writing (shorter rows).
#include "framework/kernels/group_norm.hpp"

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

namespace tapegrad::kernels {

namespace {

// Whether the per-element passes fetch the next slice ahead (Pass::ahead): whenever the
// threads take whole slices, whatever the size. Measured both ways (bench_group_norm, 1
// thread, forward): on a 2-core Intel Xeon (Emerald Rapids, 260 MB L3) fetching ahead is
// 3-15% faster on every bench shape, cached ones included (8x256x28x28 0.55-0.61 -> 0.54-0.56 ms,
// 64x32x28x28 0.53-0.60 -> 0.49-0.50 ms); on the 2-core AMD EPYC it was ~10% faster on
// 32x64x56x56 but 5-10% slower on tensors that stay in its 32 MB L3, and was limited to
// 16 MiB and more there. One rule for every CPU: on, since the loss on AMD was the smaller.
// docs/speed.md (findings 12 and 19) has the measurements.
bool use_prefetch(SlicePartition partition) { return partition != SlicePartition::within_slice; }

// A fence after this thread's streaming stores, when there were any.
auto fence_if(bool streamed) {
    return [streamed] {
        if (streamed) memory::stream_fence();
    };
}

// A slice's mean (mean + mean_lo: two parts for double, see below) and biased variance.
struct SliceMoments {
    double mean = 0.0, mean_lo = 0.0, var = 0.0;
};

// Σ over the slice of f(begin, length) for its chunks of kChunk elements, added in chunk order
// (on the threads when `split`), so that the sums are the same at any thread count.
template <typename R, typename F>
R sum_over_chunks(int64_t M, bool split, F&& f) {
    return sum_in_order<R>(chunk_count(M), split, [&](int64_t k) { return f(k * kChunk, std::min(kChunk, M - k * kChunk)); });
}

// Double: two passes in double lanes, the mean and then Σ (x − mean)², plus a third that refines
// the mean: the first sum's rounding (a few ulp of Σx) is 2e-10 of the std for mean 1e4, std
// 1e-2, and the mean refined by the mean deviation from it (kept as a second part, mean_lo) is
// exact to rounding. Σ (x − μ)² = Σ (x − mean)² − M·mean_lo², since Σ (x − μ) = 0.
SliceMoments slice_moments(const double* xs, int64_t M, bool split) {
    if (M == 0) return {};
    const double inv_m = 1.0 / static_cast<double>(M);
    auto slice_sum = [&](auto&& f) { return sum_over_chunks<double>(M, split, f); };
    const double mu = slice_sum([&](int64_t b, int64_t n) { return sum(xs + b, n); }) * inv_m;
    const double mu_lo = slice_sum([&](int64_t b, int64_t n) { return sum_deviation(xs + b, n, mu); }) * inv_m;
    const double var = slice_sum([&](int64_t b, int64_t n) { return sum_squared_deviation(xs + b, n, mu); }) * inv_m;
    return {mu, mu_lo, std::max(0.0, var - mu_lo * mu_lo)};
}

void group_norm_forward_double(double* y, double* mean, double* rstd, const double* x, const double* gamma,
                               const double* beta, int64_t N, int64_t C, int64_t inner, int64_t G, double eps) {
    const int64_t D = C / G, M = D * inner;
    const SlicePartition partition = choose_slice_partition(N * G, M);
    const bool split = partition == SlicePartition::within_slice;
    for_range(N * G, partition == SlicePartition::over_slices, [&](int64_t ng) {
        const int64_t g = ng % G;
        const SliceMoments m = slice_moments(x + ng * M, M, split);
        const double r = 1.0 / std::sqrt(m.var + eps);
        mean[ng] = m.mean + m.mean_lo;
        rstd[ng] = r;
        for_each_chunk(D, inner, split, [&](const Chunk& ch) {
            const int64_t c = g * D + ch.row;
            const double scale = r * (gamma ? static_cast<double>(gamma[c]) : 1.0);
            const double shift = beta ? static_cast<double>(beta[c]) : 0.0;
            scale_shift(y + ng * M + ch.begin, x + ng * M + ch.begin, ch.length, m.mean, scale, shift, Pass{}, m.mean_lo);
        }, [] {});
    }, [] {});
}

// Float. Each slice's statistics come from its moments (normalize.hpp): Σx in double lanes, so
// the mean is exact to double rounding, and Σ (x − k)² in float lanes about k, the float nearest
// the mean of the slice's first (up to) 16 elements. Then var = Σ(x − k)²/M − (mean − k)², which
// cancels (mean − k)²/var of the variance's digits: when that is more than 1 (k further than a
// standard deviation from the mean: a first channel far from its group's mean), the squared
// deviations are summed again about the float nearest the mean (sum_squared_deviation, from
// cache), which leaves nothing to cancel. E[x²] − E[x]² is never used.
//
// Memory: the threads take whole slices, each a contiguous range of them. A thread's first
// slice has its moments summed alone (moments). With rows of kMinPipelinedRow elements or more,
// every later slice's are summed in the normalising pass of the slice before, row by row
// (scale_shift_and_moments): that pass reads its slice from cache and writes y while the next
// slice is read from memory, one loop where two passes alternated, each leaving memory idle
// while the other computed; 17-35% faster on the bench shapes with such rows. With shorter rows
// (49 and 196 elements in the bench) the per-row calls cost more than that gains, so the next
// slice is fetched ahead during the normalising pass and its moments summed after, over the
// slice's chunks (docs/speed.md, finding 23). Either way the moments are summed over the
// same pieces in the same order, so a slice's statistics, and y, do not depend on which thread
// took it. With fewer slices than threads, the threads share each slice's chunks instead
// (moments, then scale_shift, in parallel).
float first_moment_pivot(const float* xs, int64_t M) {
    const int64_t n = std::min<int64_t>(M, 16);
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(xs[i]);
    return static_cast<float>(s / static_cast<double>(n));
}

// Rows from which the float forward normalises a slice and sums the next one's moments in one
// loop (measured: rows of 784 and more gain, 196 and 49 lose).
constexpr int64_t kMinPipelinedRow = 512;

SliceMoments finish_moments(const Moments& m, float k, const float* xs, int64_t M, bool split) {
    const double inv_m = 1.0 / static_cast<double>(M);
    const double mu = m.sum * inv_m, dk = mu - static_cast<double>(k);
    double var = m.sum_sq_from_k * inv_m - dk * dk;
    if (!(dk * dk <= var))  // also when NaN: recomputed, NaN again
        var = sum_over_chunks<double>(M, split, [&](int64_t b, int64_t n) { return sum_squared_deviation(xs + b, n, mu); }) * inv_m;
    return {mu, 0.0, std::max(0.0, var)};
}

void group_norm_forward_float(float* y, double* mean, double* rstd, const float* x, const float* gamma, const float* beta,
                              int64_t N, int64_t C, int64_t inner, int64_t G, double eps) {
    const int64_t D = C / G, M = D * inner, slices = N * G;
    if (M == 0) {
        std::fill(mean, mean + slices, 0.0);
        std::fill(rstd, rstd + slices, 1.0 / std::sqrt(eps));
        return;
    }
    const SlicePartition partition = choose_slice_partition(slices, M);
    const bool split = partition == SlicePartition::within_slice;
    const bool stream = memory::use_streaming_stores(y, slices * M, inner);
    // How a slice's moments are summed: over the pieces of its rows (chunk_of) when the rows are
    // long enough to be normalised and summed in one loop (scale_shift_and_moments, per row),
    // else over the whole slice's chunks of kChunk elements (per-row calls cost more than
    // they gain on rows of 49 or 196: measured, docs/speed.md finding 23). By shape, not by
    // thread count, and the same pieces in order whichever way they are computed.
    const bool by_rows = inner >= kMinPipelinedRow;
    const bool pipelined = by_rows && !split;
    auto moments_alone = [&](int64_t ng, float k) {
        const float* xs = x + ng * M;
        if (by_rows)
            return sum_in_order<Moments>(D * chunk_count(inner), split, [&](int64_t dk) {
                const Chunk ch = chunk_of(dk, inner);
                return moments(xs + ch.begin, ch.length, k);
            });
        return sum_over_chunks<Moments>(M, split, [&](int64_t b, int64_t n) { return moments(xs + b, n, k); });
    };
    for_thread_ranges(slices, partition == SlicePartition::over_slices, [&](int64_t begin, int64_t end) {
        if (begin == end) return;
        std::vector<FloatScaleShift> rows(static_cast<size_t>(D), FloatScaleShift(0.0, 0.0, 0.0));  // the slice's channels
        float k = first_moment_pivot(x + begin * M, M);
        Moments sums = moments_alone(begin, k);
        for (int64_t ng = begin; ng < end; ++ng) {
            const int64_t g = ng % G;
            const float* xs = x + ng * M;
            float* ys = y + ng * M;
            const SliceMoments m = finish_moments(sums, k, xs, M, split);
            const double r = 1.0 / std::sqrt(m.var + eps);
            mean[ng] = m.mean;
            rstd[ng] = r;
            for (int64_t d = 0; d < D; ++d) {  // γ and β fused into one scale and shift per channel
                const int64_t c = g * D + d;
                rows[static_cast<size_t>(d)] =
                    FloatScaleShift(m.mean, r * (gamma ? static_cast<double>(gamma[c]) : 1.0), beta ? static_cast<double>(beta[c]) : 0.0);
            }
            const bool has_next = ng + 1 < end;
            const float k_next = has_next ? first_moment_pivot(xs + M, M) : 0.0f;
            if (has_next && pipelined) {
                Moments next;
                for_each_chunk_in_order(D, inner, [&](const Chunk& ch) {
                    next += scale_shift_and_moments(ys + ch.begin, xs + ch.begin, rows[static_cast<size_t>(ch.row)], stream,
                                                    xs + M + ch.begin, ch.length, k_next);
                });
                sums = next;
            } else {
                // Fetching the next slice ahead while this one is normalised (use_prefetch).
                const int64_t ahead = has_next && use_prefetch(partition) ? M : 0;
                for_each_chunk(D, inner, split, [&](const Chunk& ch) {
                    scale_shift(ys + ch.begin, xs + ch.begin, ch.length, rows[static_cast<size_t>(ch.row)], Pass{stream, ahead});
                }, fence_if(split && stream));  // the outer loop fences when the slices are not split
                if (has_next) sums = moments_alone(ng + 1, k_next);
            }
            k = k_next;
        }
    }, fence_if(stream));
}

}  // namespace

template <typename T>
void group_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta, int64_t N,
                        int64_t C, int64_t inner, int64_t G, double eps) {
    if constexpr (std::is_same_v<T, float>)
        group_norm_forward_float(y, mean, rstd, x, gamma, beta, N, C, inner, G, eps);
    else
        group_norm_forward_double(y, mean, rstd, x, gamma, beta, N, C, inner, G, eps);
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
    // With rows of kMinPipelinedRow and more (float), each slice's two sums are summed in the dx
    // pass of the slice before, row by row (dx_terms_and_sums), as the forward does; a thread's
    // first slice, and every slice of shorter rows, has them summed alone, row by row with the
    // same arithmetic, so the bits do not depend on the thread count.
    const bool pipelined = std::is_same_v<T, float> && dx != nullptr && !split && inner >= kMinPipelinedRow;
    // Σ dy and Σ dy·(x − μ) per channel of slice ng, into db and ds: each row's sums over its
    // chunks of kChunk elements, added in chunk order, whether the threads share the slice or not
    // (summed over whole rows when they did not, rows of more than kChunk differed in the last bits).
    auto add_chunk_sums = [&](double* db_n, double* ds_n, const Chunk& ch, double s_dy, double s_dy_xc) {
        const bool first = ch.begin == ch.row * inner;  // the row's first chunk
        db_n[ch.row] = first ? s_dy : db_n[ch.row] + s_dy;
        ds_n[ch.row] = first ? s_dy_xc : ds_n[ch.row] + s_dy_xc;
    };
    auto slice_sums = [&](int64_t ng) {
        const int64_t n = ng / G, g = ng % G;
        const double mu = mean[ng];
        const T* xs = x + ng * M;
        const T* dys = dy + ng * M;
        double* ds_n = ds.data() + n * C + g * D;  // this group's channels
        double* db_n = db.data() + n * C + g * D;
        if (split) {
            for_range(chunks_per_slice, true, [&](int64_t dk) {
                const Chunk ch = chunk_of(dk, inner);
                sum_dy_and_dy_xc(part_dy[dk], part_dy_xc[dk], dys + ch.begin, xs + ch.begin, ch.length, mu);
            });
            for (int64_t dk = 0; dk < chunks_per_slice; ++dk)
                add_chunk_sums(db_n, ds_n, chunk_of(dk, inner), part_dy[dk], part_dy_xc[dk]);
        } else {
            for_each_chunk_in_order(D, inner, [&](const Chunk& ch) {
                double s_dy = 0.0, s_dy_xc = 0.0;
                sum_dy_and_dy_xc(s_dy, s_dy_xc, dys + ch.begin, xs + ch.begin, ch.length, mu);
                add_chunk_sums(db_n, ds_n, ch, s_dy, s_dy_xc);
            });
        }
    };
    for_thread_ranges(N * G, partition == SlicePartition::over_slices, [&](int64_t begin, int64_t end) {
        bool summed = false;  // whether slice ng's sums were taken in the dx pass of the slice before
        for (int64_t ng = begin; ng < end; ++ng) {
            if (!summed) slice_sums(ng);
            summed = false;
            const int64_t n = ng / G, g = ng % G;
            const double mu = mean[ng], r = rstd[ng];
            const T* xs = x + ng * M;
            const T* dys = dy + ng * M;
            const double* ds_n = ds.data() + n * C + g * D;
            const double* db_n = db.data() + n * C + g * D;
            double sum_g = 0.0, sum_g_xc = 0.0;  // Σ g and Σ g·(x − μ)
            for (int64_t d = 0; d < D; ++d) {
                const double gc = gamma ? static_cast<double>(gamma[g * D + d]) : 1.0;
                sum_g += gc * db_n[d];
                sum_g_xc += gc * ds_n[d];
            }
            if (dx == nullptr || M == 0) continue;
            const double inv_m = 1.0 / static_cast<double>(M);
            const double term2 = -r * r * r * sum_g_xc * inv_m;  // −r²·mean(g·x̂), with Σg·x̂ = r·Σg·(x − μ)
            const double term3 = -r * sum_g * inv_m;
            auto term1 = [&](int64_t d) { return r * (gamma ? static_cast<double>(gamma[g * D + d]) : 1.0); };
            const bool has_next = ng + 1 < end;
            if constexpr (std::is_same_v<T, float>) {
                if (pipelined && has_next) {
                    const int64_t n1 = (ng + 1) / G, g1 = (ng + 1) % G;
                    double* ds_next = ds.data() + n1 * C + g1 * D;
                    double* db_next = db.data() + n1 * C + g1 * D;
                    for_each_chunk_in_order(D, inner, [&](const Chunk& ch) {
                        const int64_t at = ch.begin;
                        double s_dy = 0.0, s_dy_xc = 0.0;
                        dx_terms_and_sums(dx + ng * M + at, dys + at, xs + at, ch.length,
                                          FloatDxTerms(mu, term1(ch.row), term2, term3), accumulate_dx, stream, s_dy,
                                          s_dy_xc, dys + M + at, xs + M + at, mean[ng + 1]);
                        add_chunk_sums(db_next, ds_next, ch, s_dy, s_dy_xc);
                    });
                    summed = true;
                    continue;
                }
            }
            const Pass pass{stream, fetch_ahead && has_next ? M : 0};
            for_each_chunk(D, inner, split, [&](const Chunk& ch) {
                dx_terms(dx + ng * M + ch.begin, dys + ch.begin, xs + ch.begin, ch.length, mu, term1(ch.row), term2, term3,
                         accumulate_dx, pass);
            }, fence_if(split && stream));
        }
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
