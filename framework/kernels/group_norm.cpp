// Group Normalization forward and backward; see group_norm.hpp for shapes and contracts.
//
// Numerics: statistics are two-pass (mean, then the mean of squared deviations) and
// accumulated in double for float and double inputs alike, so an input with mean 1e4 and
// std 1e-2 in float32 loses nothing to cancellation; E[x²] − E[x]² is never used. The
// per-element arithmetic is also done in double and rounded once to T at the store.
// Parallelism: OpenMP over the N·G independent (sample, group) slices; each slice is read
// twice for its statistics and once more to normalise, while it is still in cache.
#include "framework/kernels/group_norm.hpp"

#include <cmath>
#include <vector>

namespace tapegrad::kernels {

namespace {

// Σ v[i] in double. The omp simd reduction lets the compiler keep one partial sum per SIMD
// lane (a reassociation that -O3 alone may not do), which also shortens the rounding chains.
template <typename T>
double sum(const T* v, int64_t n) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(v[i]);
    return s;
}

// Σ (v[i] − shift)² in double.
template <typename T>
double sum_squared_deviation(const T* v, int64_t n, double shift) {
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(v[i]) - shift;
        s += d * d;
    }
    return s;
}

}  // namespace

template <typename T>
void group_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta, int64_t N,
                        int64_t C, int64_t inner, int64_t G, double eps) {
    const int64_t D = C / G;          // channels per group
    const int64_t M = D * inner;      // elements per (n, g) slice
#pragma omp parallel for schedule(static)
    for (int64_t ng = 0; ng < N * G; ++ng) {
        const int64_t g = ng % G;
        const T* xs = x + ng * M;     // (D, inner)
        T* ys = y + ng * M;
        const double mu = M > 0 ? sum(xs, M) / static_cast<double>(M) : 0.0;
        const double var = M > 0 ? sum_squared_deviation(xs, M, mu) / static_cast<double>(M) : 0.0;
        const double r = 1.0 / std::sqrt(var + eps);
        mean[ng] = mu;
        rstd[ng] = r;
        // γ and β fused into one scale and shift per channel: y = x·scale + shift.
        for (int64_t d = 0; d < D; ++d) {
            const int64_t c = g * D + d;
            const double scale = r * (gamma ? static_cast<double>(gamma[c]) : 1.0);
            const double shift = (beta ? static_cast<double>(beta[c]) : 0.0) - mu * scale;
            const T* xc = xs + d * inner;
            T* yc = ys + d * inner;
#pragma omp simd
            for (int64_t k = 0; k < inner; ++k) yc[k] = static_cast<T>(static_cast<double>(xc[k]) * scale + shift);
        }
    }
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
#pragma omp parallel for schedule(static)
    for (int64_t ng = 0; ng < N * G; ++ng) {
        const int64_t n = ng / G, g = ng % G;
        const double mu = mean[ng], r = rstd[ng];
        const T* xs = x + ng * M;
        const T* dys = dy + ng * M;
        double sum_g = 0.0, sum_g_xc = 0.0;  // Σ g and Σ g·(x − μ)
        for (int64_t d = 0; d < D; ++d) {
            const int64_t c = g * D + d;
            const T* xc = xs + d * inner;
            const T* dyc = dys + d * inner;
            double s_dy = 0.0, s_dy_xc = 0.0;
#pragma omp simd reduction(+ : s_dy, s_dy_xc)
            for (int64_t k = 0; k < inner; ++k) {
                const double dyk = static_cast<double>(dyc[k]);
                s_dy += dyk;
                s_dy_xc += dyk * (static_cast<double>(xc[k]) - mu);
            }
            ds[static_cast<size_t>(n * C + c)] = s_dy_xc;
            db[static_cast<size_t>(n * C + c)] = s_dy;
            const double gc = gamma ? static_cast<double>(gamma[c]) : 1.0;
            sum_g += gc * s_dy;
            sum_g_xc += gc * s_dy_xc;
        }
        if (dx == nullptr || M == 0) continue;
        const double inv_m = 1.0 / static_cast<double>(M);
        const double term2 = -r * r * r * sum_g_xc * inv_m;  // −r²·mean(g·x̂), with Σg·x̂ = r·Σg·(x − μ)
        const double term3 = -r * sum_g * inv_m;
        for (int64_t d = 0; d < D; ++d) {
            const int64_t c = g * D + d;
            const double term1 = r * (gamma ? static_cast<double>(gamma[c]) : 1.0);
            const T* xc = xs + d * inner;
            const T* dyc = dys + d * inner;
            T* dxc = dx + ng * M + d * inner;
            if (accumulate_dx) {
#pragma omp simd
                for (int64_t k = 0; k < inner; ++k)
                    dxc[k] += static_cast<T>(term1 * static_cast<double>(dyc[k]) + term2 * (static_cast<double>(xc[k]) - mu) + term3);
            } else {
#pragma omp simd
                for (int64_t k = 0; k < inner; ++k)
                    dxc[k] = static_cast<T>(term1 * static_cast<double>(dyc[k]) + term2 * (static_cast<double>(xc[k]) - mu) + term3);
            }
        }
    }
    // dγ[c] = Σ_n r_{n,g(c)}·ds[n, c],  dβ[c] = Σ_n db[n, c]
    for (int64_t c = 0; c < C; ++c) {
        double sg = 0.0, sb = 0.0;
        for (int64_t n = 0; n < N; ++n) {
            sg += rstd[n * G + c / D] * ds[static_cast<size_t>(n * C + c)];
            sb += db[static_cast<size_t>(n * C + c)];
        }
        if (dgamma) dgamma[c] += static_cast<T>(sg);
        if (dbeta) dbeta[c] += static_cast<T>(sb);
    }
}

// --- reference kernels: the formulas as written, one element at a time --------------------

template <typename T>
void group_norm_forward_reference(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta,
                                  int64_t N, int64_t C, int64_t inner, int64_t G, double eps) {
    const int64_t D = C / G, M = D * inner;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < G; ++g) {
            const int64_t base = (n * G + g) * M;
            double s = 0.0;
            for (int64_t i = 0; i < M; ++i) s += static_cast<double>(x[base + i]);
            const double mu = s / static_cast<double>(M);
            double v = 0.0;
            for (int64_t i = 0; i < M; ++i) v += (static_cast<double>(x[base + i]) - mu) * (static_cast<double>(x[base + i]) - mu);
            const double r = 1.0 / std::sqrt(v / static_cast<double>(M) + eps);
            mean[n * G + g] = mu;
            rstd[n * G + g] = r;
            for (int64_t i = 0; i < M; ++i) {
                const int64_t c = g * D + i / inner;
                const double xhat = (static_cast<double>(x[base + i]) - mu) * r;
                y[base + i] = static_cast<T>(xhat * (gamma ? static_cast<double>(gamma[c]) : 1.0) +
                                             (beta ? static_cast<double>(beta[c]) : 0.0));
            }
        }
}

template <typename T>
void group_norm_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean,
                                   const double* rstd, const T* gamma, int64_t N, int64_t C, int64_t inner, int64_t G,
                                   bool accumulate_dx) {
    const int64_t D = C / G, M = D * inner;
    std::vector<double> dg(static_cast<size_t>(C)), dbt(static_cast<size_t>(C));
    std::vector<double> xhat(static_cast<size_t>(M)), gv(static_cast<size_t>(M));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < G; ++g) {
            const int64_t ng = n * G + g, base = ng * M;
            const double mu = mean[ng], r = rstd[ng];
            double mean_g = 0.0, mean_gx = 0.0;
            for (int64_t i = 0; i < M; ++i) {
                const int64_t c = g * D + i / inner;
                xhat[i] = (static_cast<double>(x[base + i]) - mu) * r;
                gv[i] = static_cast<double>(dy[base + i]) * (gamma ? static_cast<double>(gamma[c]) : 1.0);
                mean_g += gv[i] / static_cast<double>(M);
                mean_gx += gv[i] * xhat[i] / static_cast<double>(M);
                dg[c] += static_cast<double>(dy[base + i]) * xhat[i];
                dbt[c] += static_cast<double>(dy[base + i]);
            }
            if (dx)
                for (int64_t i = 0; i < M; ++i) {
                    const T v = static_cast<T>(r * (gv[i] - mean_g - xhat[i] * mean_gx));
                    dx[base + i] = accumulate_dx ? dx[base + i] + v : v;
                }
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
