// Group Normalization forward and backward; see group_norm.hpp for shapes and contracts.
// In this file: the reference twins (the formulas, one element at a time), then the per-slice
// math of the fast kernels (a slice's statistics, its normalising pass, its backward), which
// they hand to the slice pipeline (slice_pipeline.hpp: the threads, the pipelining of one
// slice's statistics into the pass over the slice before, fetching ahead, fences).
//
// Numerics: the mean is summed in double for float and double inputs alike, and the variance
// is the mean of squared deviations from a point near the mean, never E[x²] − E[x]², so an
// input with mean 1e4 and std 1e-2 in float32 loses nothing to cancellation. The per-element
// passes that write y and dx run in float lanes for float, centred so that what cancels
// exactly in double cancels exactly in float (reductions.hpp, normalize.hpp). Results are the
// same bits at any thread count.
#include "framework/kernels/group_norm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "framework/kernels/memory.hpp"
#include "framework/kernels/norm_reference.hpp"
#include "framework/kernels/normalize.hpp"
#include "framework/kernels/reductions.hpp"
#include "framework/kernels/slice_pipeline.hpp"

namespace tapegrad::kernels {

// --- reference kernels: the formulas as written, one element at a time --------------------
// Slice (n, g) is the M = D·inner elements of channels g·D .. g·D + D − 1 of sample n, D = C / G;
// element i of it uses the affine parameters of channel g·D + i / inner (norm_reference.hpp has
// the one-slice forward and backward, shared with LayerNorm and BatchNorm).

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
            norm_backward_reference_slice(
                dx ? dx + base : nullptr, dg, dbt, dy + base, x + base, mean[ng], rstd[ng], gamma, M,
                [&](int64_t i) { return g * D + i / inner; }, accumulate_dx);
        }
    for (int64_t c = 0; c < C; ++c) {
        if (dgamma) dgamma[c] += static_cast<T>(dg[c]);
        if (dbeta) dbeta[c] += static_cast<T>(dbt[c]);
    }
}

// --- the fast kernels' per-slice math ------------------------------------------------------
namespace {

// A slice's mean (mean + mean_lo: two parts for double, see below) and biased variance.
struct SliceMoments {
    double mean = 0.0, mean_lo = 0.0, var = 0.0;
};

// Double: two passes in double lanes, the mean and then Σ (x − mean)², plus a third that refines
// the mean: the first sum's rounding (a few ulp of Σx) is 2e-10 of the std for mean 1e4, std
// 1e-2, and the mean refined by the mean deviation from it (kept as a second part, mean_lo) is
// exact to rounding. Σ (x − μ)² = Σ (x − mean)² − M·mean_lo², since Σ (x − μ) = 0.
SliceMoments slice_moments(const double* xs, const Slice& s) {
    if (s.size == 0) return {};
    const double inv_m = 1.0 / static_cast<double>(s.size);
    const double mu = s.sum<double>([&](int64_t b, int64_t n) { return sum(xs + b, n); }) * inv_m;
    const double mu_lo = s.sum<double>([&](int64_t b, int64_t n) { return sum_deviation(xs + b, n, mu); }) * inv_m;
    const double var =
        s.sum<double>([&](int64_t b, int64_t n) { return sum_squared_deviation(xs + b, n, mu); }) * inv_m;
    return {mu, mu_lo, std::max(0.0, var - mu_lo * mu_lo)};
}

// Float: Σx in double lanes, so the mean is exact to double rounding, and Σ (x − k)² in float
// lanes about k, the float nearest the mean of the slice's first (up to) 16 elements, both in
// one pass (moments, normalize.hpp). Then var = Σ(x − k)²/M − (mean − k)², which cancels
// (mean − k)²/var of the variance's digits: when that is more than 1 (k further than a standard
// deviation from the mean: a first channel far from its group's mean), the squared deviations
// are summed again about the float nearest the mean (sum_squared_deviation, from cache), which
// leaves nothing to cancel.
float first_moment_pivot(const float* xs, int64_t M) {
    const int64_t n = std::min<int64_t>(M, 16);
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(xs[i]);
    return static_cast<float>(s / static_cast<double>(n));
}

SliceMoments finish_moments(const Moments& m, float k, const float* xs, const Slice& s) {
    const double inv_m = 1.0 / static_cast<double>(s.size);
    const double mu = m.sum * inv_m, dk = mu - static_cast<double>(k);
    double var = m.sum_sq_from_k * inv_m - dk * dk;
    if (!(dk * dk <= var))  // also when NaN: recomputed, NaN again
        var = s.sum<double>([&](int64_t b, int64_t n) { return sum_squared_deviation(xs + b, n, mu); }) * inv_m;
    return {mu, 0.0, std::max(0.0, var)};
}

// The forward, float: y = (x − μ)·r·γ[c] + β[c], γ and β fused into one scale and shift per
// channel (FloatScaleShift). Its pass can take the next slice's moments (scale_shift_and_moments).
struct ForwardFloat {
    float* y;
    double *mean, *rstd;
    const float *x, *gamma, *beta;
    int64_t G, D;
    double eps;

    static constexpr bool kFused = true;
    struct Statistics {
        float k;  // the pivot
        Moments sums;
    };
    struct Coefficients {
        int64_t begin;
        std::vector<FloatScaleShift> rows;  // one per channel of the slice
    };

    Statistics start(const Slice& s) const { return {first_moment_pivot(x + s.begin(), s.size), Moments{}}; }

    Statistics statistics(const Slice& s) const {
        const float* xs = x + s.begin();
        const float k = first_moment_pivot(xs, s.size);
        auto piece = [&](int64_t b, int64_t n) { return moments(xs + b, n, k); };
        return {k, s.by_rows ? s.sum_rows<Moments>(piece) : s.sum<Moments>(piece)};
    }

    bool prepare(const Slice& s, const Statistics& st, Coefficients& co) const {
        const SliceMoments m = finish_moments(st.sums, st.k, x + s.begin(), s);
        const double r = 1.0 / std::sqrt(m.var + eps);
        mean[s.index] = m.mean;
        rstd[s.index] = r;
        co.begin = s.begin();
        // Sized once per thread, then assigned: bounds in locals, no call in the loop (a possible
        // reallocation made GCC reload G and divide again for every channel).
        const int64_t first_channel = s.index % G * D, channels = D;
        if (co.rows.size() != static_cast<size_t>(channels)) co.rows.assign(channels, FloatScaleShift(0.0, 0.0, 0.0));
        for (int64_t d = 0; d < channels; ++d) {
            const int64_t c = first_channel + d;
            co.rows[static_cast<size_t>(d)] = FloatScaleShift(m.mean, r * (gamma ? static_cast<double>(gamma[c]) : 1.0),
                                                              beta ? static_cast<double>(beta[c]) : 0.0);
        }
        return true;
    }

    [[gnu::always_inline]] void normalise(const Coefficients& co, const Chunk& ch, Pass pass) const {
        const int64_t at = co.begin + ch.begin;
        scale_shift(y + at, x + at, ch.length, co.rows[static_cast<size_t>(ch.row)], pass);
    }

    [[gnu::always_inline]] void normalise_and_next(const Coefficients& co, const Chunk& ch, Pass pass,
                                                   const Slice& next, Statistics& st) const {
        const int64_t at = co.begin + ch.begin;
        st.sums += scale_shift_and_moments(y + at, x + at, co.rows[static_cast<size_t>(ch.row)], pass.stream,
                                           x + next.begin() + ch.begin, ch.length, st.k);
    }
};

// The forward, double: y = ((x − mean) − mean_lo)·(r·γ[c]) + β[c], in double lanes.
struct ForwardDouble {
    double* y;
    double *mean, *rstd;
    const double *x, *gamma, *beta;
    int64_t G, D;
    double eps;

    static constexpr bool kFused = false;
    using Statistics = SliceMoments;
    struct Coefficients {
        int64_t begin, first_channel;
        SliceMoments m;
        double r;
    };

    Statistics statistics(const Slice& s) const { return slice_moments(x + s.begin(), s); }

    bool prepare(const Slice& s, const Statistics& m, Coefficients& co) const {
        const double r = 1.0 / std::sqrt(m.var + eps);
        mean[s.index] = m.mean + m.mean_lo;
        rstd[s.index] = r;
        co = {s.begin(), s.index % G * D, m, r};
        return true;
    }

    [[gnu::always_inline]] void normalise(const Coefficients& co, const Chunk& ch, Pass pass) const {
        const int64_t c = co.first_channel + ch.row, at = co.begin + ch.begin;
        const double scale = co.r * (gamma ? gamma[c] : 1.0), shift = beta ? beta[c] : 0.0;
        scale_shift(y + at, x + at, ch.length, co.m.mean, scale, shift, pass, co.m.mean_lo);
    }
};

// The backward, per slice of M = D·inner elements, with x̂ = (x − μ)·r and g = dy·γ[c]:
//
//   y = x̂·γ + β,   x̂_i = (x_i − μ)·r,   r = (σ² + ε)^(−1/2),   μ = mean(x),  σ² = mean((x − μ)²)
//   ∂x̂_i/∂x_j = r·(δ_ij − 1/M − x̂_i·x̂_j/M)        (using ∂μ/∂x_j = 1/M, ∂r/∂x_j = −r³·(x_j − μ)/M)
//   dx_j = Σ_i g_i·∂x̂_i/∂x_j = r·(g_j − mean(g) − x̂_j·mean(g·x̂))
//   dγ[c] = Σ_{n, i∈c} dy·x̂,   dβ[c] = Σ_{n, i∈c} dy
//
// The slice's statistics: two sums per channel, ds[c] = Σ dy·(x − μ) and db[c] = Σ dy (each over
// its row's pieces, in order); from them the group sums Σg = Σ_c γ_c·db[c] and
// Σg·x̂ = r·Σ_c γ_c·ds[c]. Then dx in one pass as
//   dx_i = (r·γ_c)·dy_i + (−r²·mean(g·x̂))·(x_i − μ) + (−r·mean(g))
//          term 1          term 2                         term 3
// dγ and dβ need sums over n as well; slices write per-(n, c) sums that are reduced over n
// afterwards (group_norm_backward), so the slices share no accumulators. For float the pass can
// take the next slice's sums (dx_terms_and_sums).
struct DySums {
    double dy = 0.0, dy_xc = 0.0;  // Σ dy and Σ dy·(x − μ)
};

template <typename T>
struct Backward {
    T* dx;            // may be null: then only the sums, for dγ and dβ
    double *ds, *db;  // (N, C): slice ng's channels at [ng·D, ng·D + D)
    const T *dy, *x;
    const double *mean, *rstd;
    const T* gamma;
    int64_t G, D, inner;
    bool accumulate;

    static constexpr bool kFused = std::is_same_v<T, float>;
    struct Statistics {};  // the sums are kept in ds and db
    struct Coefficients {
        int64_t begin, first_channel;
        double mu, r, term2, term3;
    };

    // A piece's sums into its channel's: the row's first piece assigns, the others add in order.
    void add(int64_t ng, const Chunk& ch, const DySums& p) const {
        const bool first = ch.begin == ch.row * inner;
        double& b = db[ng * D + ch.row];
        double& s = ds[ng * D + ch.row];
        b = first ? p.dy : b + p.dy;
        s = first ? p.dy_xc : s + p.dy_xc;
    }

    Statistics start(const Slice&) const { return {}; }

    // A piece's sums, alone.
    static DySums piece_sums(const T* dy, const T* x, int64_t n, double mu) {
        double s_dy, s_dy_xc;
        sum_dy_and_dy_xc(s_dy, s_dy_xc, dy, x, n, mu);
#if defined(__x86_64__) || defined(__i386__)
        // Two scalars, then the pair: stored side by side (the threads' parts of a shared slice),
        // the two sums' tails were paired in one vector by GCC 12, the product left unfused,
        // and a slice's sums differed in the last bits from the same sums taken by one thread.
        asm("" : "+x"(s_dy), "+x"(s_dy_xc));
#endif
        return {s_dy, s_dy_xc};
    }

    Statistics statistics(const Slice& s) const {
        const int64_t at = s.begin();
        const double mu = mean[s.index];
        s.fold_rows([&](const Chunk& ch) { return piece_sums(dy + at + ch.begin, x + at + ch.begin, ch.length, mu); },
                    [&](const Chunk& ch, const DySums& p) { add(s.index, ch, p); });
        return {};
    }

    bool prepare(const Slice& s, const Statistics&, Coefficients& co) const {
        if (dx == nullptr || s.size == 0) return false;
        const int64_t first_channel = s.index % G * D;
        double sum_g = 0.0, sum_g_xc = 0.0;  // Σ g and Σ g·(x − μ)
        for (int64_t d = 0; d < D; ++d) {
            const double gc = gamma ? static_cast<double>(gamma[first_channel + d]) : 1.0;
            sum_g += gc * db[s.index * D + d];
            sum_g_xc += gc * ds[s.index * D + d];
        }
        const double r = rstd[s.index], inv_m = 1.0 / static_cast<double>(s.size);
        // term 2 = −r²·mean(g·x̂), with Σg·x̂ = r·Σg·(x − μ); term 3 = −r·mean(g)
        co = {s.begin(), first_channel, mean[s.index], r, -r * r * r * sum_g_xc * inv_m, -r * sum_g * inv_m};
        return true;
    }

    double term1(const Coefficients& co, int64_t row) const {
        return co.r * (gamma ? static_cast<double>(gamma[co.first_channel + row]) : 1.0);
    }

    [[gnu::always_inline]] void normalise(const Coefficients& co, const Chunk& ch, Pass pass) const {
        const int64_t at = co.begin + ch.begin;
        dx_terms(dx + at, dy + at, x + at, ch.length, co.mu, term1(co, ch.row), co.term2, co.term3, accumulate, pass);
    }

    [[gnu::always_inline]] void normalise_and_next(const Coefficients& co, const Chunk& ch, Pass pass,
                                                   const Slice& next, Statistics&) const {
        const int64_t at = co.begin + ch.begin, next_at = next.begin() + ch.begin;
        DySums p;
        dx_terms_and_sums(dx + at, dy + at, x + at, ch.length,
                          FloatDxTerms(co.mu, term1(co, ch.row), co.term2, co.term3), accumulate, pass.stream, p.dy,
                          p.dy_xc, dy + next_at, x + next_at, mean[next.index]);
        add(next.index, ch, p);
    }
};

}  // namespace

// --- the fast kernels: the per-slice math handed to the slice pipeline --------------------

template <typename T>
void group_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta, int64_t N,
                        int64_t C, int64_t inner, int64_t G, double eps) {
    const int64_t D = C / G, M = D * inner, slices = N * G;
    if constexpr (std::is_same_v<T, float>) {
        if (M == 0) {
            std::fill(mean, mean + slices, 0.0);
            std::fill(rstd, rstd + slices, 1.0 / std::sqrt(eps));
            return;
        }
        const bool stream = memory::use_streaming_stores(y, slices * M, inner);
        run_slice_pipeline(slices, D, inner, stream, ForwardFloat{y, mean, rstd, x, gamma, beta, G, D, eps});
    } else {
        run_slice_pipeline(slices, D, inner, false, ForwardDouble{y, mean, rstd, x, gamma, beta, G, D, eps});
    }
}

template <typename T>
void group_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean, const double* rstd,
                         const T* gamma, int64_t N, int64_t C, int64_t inner, int64_t G, bool accumulate_dx) {
    const int64_t D = C / G, slices = N * G;
    std::vector<double> ds(static_cast<size_t>(N * C)), db(static_cast<size_t>(N * C));  // (N, C)
    const bool stream = dx != nullptr && !accumulate_dx && memory::use_streaming_stores(dx, slices * D * inner, inner);
    run_slice_pipeline(slices, D, inner, stream,
                       Backward<T>{dx, ds.data(), db.data(), dy, x, mean, rstd, gamma, G, D, inner, accumulate_dx});
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
