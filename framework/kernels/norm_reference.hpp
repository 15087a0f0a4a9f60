// The reference twins' shared steps: one slice of a normalisation's forward and backward, the formula as
// written, one element at a time in double (what the fast backward kernels are tested
// against). With x̂ = (x − μ)·r and g = dy·γ[param_of(i)] over the slice's M elements:
//   dx_i (+)= r·(g_i − mean(g) − x̂_i·mean(g·x̂)),  dγ[p] += Σ dy·x̂,  dβ[p] += Σ dy
// where p = param_of(i) is the affine parameter element i uses (its channel for GroupNorm,
// i itself for LayerNorm). dg and db (one double per parameter) collect the parameter sums.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace tapegrad::kernels {

// Forward of one slice of M elements: mean and biased variance in double, then
// y_i = x̂_i·γ[p] + β[p] with p = param_of(i); mean and rstd are returned through mu and r.
template <typename T, typename ParamOf>
void norm_forward_reference_slice(T* y, double& mu, double& r, const T* x, const T* gamma, const T* beta, int64_t M,
                                  double eps, ParamOf param_of) {
    double s = 0.0;
    for (int64_t i = 0; i < M; ++i) s += static_cast<double>(x[i]);
    mu = s / static_cast<double>(M);
    double v = 0.0;
    for (int64_t i = 0; i < M; ++i) v += (static_cast<double>(x[i]) - mu) * (static_cast<double>(x[i]) - mu);
    r = 1.0 / std::sqrt(v / static_cast<double>(M) + eps);
    for (int64_t i = 0; i < M; ++i) {
        const int64_t p = param_of(i);
        const double xhat = (static_cast<double>(x[i]) - mu) * r;
        y[i] = static_cast<T>(xhat * (gamma ? static_cast<double>(gamma[p]) : 1.0) +
                              (beta ? static_cast<double>(beta[p]) : 0.0));
    }
}

template <typename T, typename ParamOf>
void norm_backward_reference_slice(T* dx, std::vector<double>& dg, std::vector<double>& db, const T* dy, const T* x,
                                   double mu, double r, const T* gamma, int64_t M, ParamOf param_of,
                                   bool accumulate_dx) {
    std::vector<double> xhat(static_cast<size_t>(M)), gv(static_cast<size_t>(M));
    double mean_g = 0.0, mean_gx = 0.0;
    for (int64_t i = 0; i < M; ++i) {
        const int64_t p = param_of(i);
        xhat[i] = (static_cast<double>(x[i]) - mu) * r;
        gv[i] = static_cast<double>(dy[i]) * (gamma ? static_cast<double>(gamma[p]) : 1.0);
        mean_g += gv[i] / static_cast<double>(M);
        mean_gx += gv[i] * xhat[i] / static_cast<double>(M);
        dg[p] += static_cast<double>(dy[i]) * xhat[i];
        db[p] += static_cast<double>(dy[i]);
    }
    if (dx)
        for (int64_t i = 0; i < M; ++i) {
            const T v = static_cast<T>(r * (gv[i] - mean_g - xhat[i] * mean_gx));
            dx[i] = accumulate_dx ? static_cast<T>(dx[i] + v) : v;
        }
}

}  // namespace tapegrad::kernels
