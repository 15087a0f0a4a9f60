// Loss kernels on raw memory: the pointwise regression losses (MSE, L1, smooth L1, Huber),
// binary cross-entropy (on probabilities and on logits), and the per-position terms of the
// negative log-likelihood / cross-entropy over (N, C, S) log-probabilities. Arithmetic is in
// double whatever T is (except the float cross-entropy backward's exp, in float lanes), and sums
// come back as double. The vectorised pointwise kernels have `_reference` twins, the formulas
// one element at a time, for tests; the others are scalar loops over exp and log.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// --- pointwise regression losses, of d = x − t ------------------------------------------------
//   mse        d²                                          ∂/∂d: 2d
//   l1         |d|                                         ∂/∂d: sign(d) (0 at 0, as PyTorch)
//   smooth_l1  |d| < β ? d²/(2β) : |d| − β/2   (param β > 0) ∂/∂d: |d| < β ? d/β : sign(d)
//   huber      |d| ≤ δ ? d²/2   : δ(|d| − δ/2) (param δ > 0) ∂/∂d: |d| ≤ δ ? d : δ·sign(d)
enum class PointwiseLoss { mse, l1, smooth_l1, huber };

// out[i] = loss(x[i] − t[i]) for i in [0, n).
template <typename T>
void pointwise_loss_forward(T* out, const T* x, const T* t, int64_t n, PointwiseLoss kind, double param);

// Σ_i loss(x[i] − t[i]), in double; the same bits for any thread count.
template <typename T>
double pointwise_loss_sum(const T* x, const T* t, int64_t n, PointwiseLoss kind, double param);

// With g_i = dy[i]·scale (or scale alone when dy is null, a reduced loss's gradient):
// dx[i] (+)= g_i·loss'(d_i) and dt[i] (+)= −g_i·loss'(d_i); dx or dt may be null (not wanted),
// and each is assigned unless its `accumulate` flag is set.
template <typename T>
void pointwise_loss_backward(T* dx, T* dt, const T* dy, double scale, const T* x, const T* t, int64_t n,
                             PointwiseLoss kind, double param, bool accumulate_dx, bool accumulate_dt);

template <typename T>
void pointwise_loss_forward_reference(T* out, const T* x, const T* t, int64_t n, PointwiseLoss kind, double param);
template <typename T>
void pointwise_loss_backward_reference(T* dx, T* dt, const T* dy, double scale, const T* x, const T* t, int64_t n,
                                       PointwiseLoss kind, double param, bool accumulate_dx, bool accumulate_dt);

// --- binary cross-entropy ---------------------------------------------------------------------
// On probabilities p: out[i] = −w[i]·(t·max(log p, −100) + (1 − t)·max(log(1 − p), −100)),
// PyTorch's clamp of the logs at −100. w may be null (all ones).
template <typename T>
void binary_cross_entropy_forward(T* out, const T* p, const T* t, const T* w, int64_t n);

// With g_i as for pointwise_loss_backward:
//   dp[i] (+)= g_i·w[i]·(p − t) / max(p(1 − p), 1e-12)   (PyTorch's guard against p ∈ {0, 1})
//   dt[i] (+)= g_i·w[i]·(log(1 − p) − log p)
// dp or dt may be null; w may be null.
template <typename T>
void binary_cross_entropy_backward(T* dp, T* dt, const T* dy, double scale, const T* p, const T* t, const T* w,
                                   int64_t n, bool accumulate_dp, bool accumulate_dt);

// On logits x, with pos_weight q (null: 1) and w (null: 1), l = 1 + (q − 1)·t and
// softplus(−x) = log1p(exp(−|x|)) + max(−x, 0) (exact and finite for any |x|):
//   out[i] = w·((1 − t)·x + l·softplus(−x))
template <typename T>
void binary_cross_entropy_with_logits_forward(T* out, const T* x, const T* t, const T* w, const T* q, int64_t n);

//   dx[i] (+)= g_i·w·(l·σ(x) − q·t)
//   dt[i] (+)= g_i·w·((q − 1)·softplus(−x) − x)
template <typename T>
void binary_cross_entropy_with_logits_backward(T* dx, T* dt, const T* dy, double scale, const T* x, const T* t,
                                               const T* w, const T* q, int64_t n, bool accumulate_dx,
                                               bool accumulate_dt);

// --- negative log-likelihood over (N, C, S) log-probabilities ----------------------------------
// Position i = (n, s), i = n·S + s, class c at logp[(n·C + c)·S + s]; weight (C) may be null.
// For each position whose target is not ignore_index (targets are checked by the caller):
//   wt[i] = w[t_i],  nll[i] = −w[t_i]·logp[n, t_i, s],  smooth[i] = −Σ_c w[c]·logp[n, c, s];
// all three are 0 at an ignored position. smooth may be null (no label smoothing).
template <typename T>
void nll_terms(double* nll, double* smooth, double* wt, const T* logp, const int64_t* target, const T* weight,
               int64_t N, int64_t C, int64_t S, int64_t ignore_index);

// out[i] = keep·nll[i] + spread·smooth[i] for i in [0, M) (smooth null: 0): the per-position
// loss of a label-smoothed cross-entropy.
template <typename T>
void combine_class_terms(T* out, const double* nll, const double* smooth, double keep, double spread, int64_t M);

// The backward of L = Σ_i g_i·(a·nll[i] + b·smooth[i]), g_i = dy[i] (dy null: 1), for
// nll_loss: dlogp[n, t_i, s] += −g_i·a·w[t_i] at each position i not ignored, every other
// entry left as it is.
template <typename T>
void nll_backward(T* dlogp, const T* dy, double a, const int64_t* target, const T* weight, int64_t N, int64_t C,
                  int64_t S, int64_t ignore_index);

// y (N, C, S) = log_softmax over C of x (N, C, S): y = x − logsumexp_c(x), in double.
template <typename T>
void log_softmax_channels(T* y, const T* x, int64_t N, int64_t C, int64_t S);

// The same for cross_entropy, through the log-softmax: with a_i = g_i·a, b_i = g_i·b and
// p = exp(logp) (for float rows, S = 1, from a float-lane exp accurate to ~1e-7 relative),
//   dx[n, c, s] (+)= −a_i·w[t]·[c = t] − b_i·w[c] + p[c]·(a_i·w[t] + b_i·Σ_k w[k])
// (weight null: w ≡ 1, Σ_k w[k] = C); ignored positions get 0.
template <typename T>
void cross_entropy_backward(T* dx, const T* logp, const T* dy, double a, double b, const int64_t* target,
                            const T* weight, int64_t N, int64_t C, int64_t S, int64_t ignore_index, bool accumulate);

// --- cross-entropy with probability targets q (N, C, S) --------------------------------------------
// With q̃ = keep·q + spread (label smoothing) and weight w (null: 1):
//   loss[i] = −Σ_c w[c]·q̃[n, c, s]·logp[n, c, s]
template <typename T>
void soft_cross_entropy_terms(double* loss, const T* logp, const T* q, const T* weight, int64_t N, int64_t C, int64_t S,
                              double keep, double spread);

// With g_i = dy[i]·scale (dy null: scale) and p = exp(logp):
//   dx[n, c, s] (+)= g_i·(p[c]·Σ_k w[k]·q̃[k] − w[c]·q̃[c])
//   dq[n, c, s] (+)= −g_i·keep·w[c]·logp[c]
// dx or dq may be null.
template <typename T>
void soft_cross_entropy_backward(T* dx, T* dq, const T* dy, double scale, const T* logp, const T* q, const T* weight,
                                 int64_t N, int64_t C, int64_t S, double keep, double spread, bool accumulate_dx,
                                 bool accumulate_dq);

}  // namespace tapegrad::kernels
