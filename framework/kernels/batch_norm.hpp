// Batch Normalization kernels on raw, contiguous, row-major memory — no autograd knowledge.
// Shapes: x, y, dy, dx are (N, C, inner) with inner = the product of the trailing extents
// (1 for BatchNorm1d's (N, C) input); gamma, beta, dgamma, dbeta are (C) and may be null
// (affine = false); the statistics mean, var and rstd are (C), in double whatever T is.
// Channel c's M = N·inner values lie in N rows of `inner` elements, C·inner apart.
//
// Each kernel has a plain scalar `_reference` twin, written for obviousness rather than
// speed; the tests hold the fast kernels to it.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// Training (batch statistics): per channel the mean and the biased variance over its M
// values, rstd = 1/sqrt(var + eps), and y = (x − mean)·rstd·γ[c] + β[c]. Writes y, mean, var
// (for the running statistics) and rstd (for the backward).
template <typename T>
void batch_norm_forward(T* y, double* mean, double* var, double* rstd, const T* x, const T* gamma, const T* beta,
                        int64_t N, int64_t C, int64_t inner, double eps);

// Given statistics (evaluation with the running ones): y = (x − mean[c])·rstd[c]·γ[c] + β[c].
template <typename T>
void batch_norm_forward_eval(T* y, const T* x, const double* mean, const double* rstd, const T* gamma, const T* beta,
                             int64_t N, int64_t C, int64_t inner);

// Backward. With batch_stats, of batch_norm_forward (mean and rstd are the batch's, and
// depend on x); without, of batch_norm_forward_eval (a per-channel affine map in x). Adds into
// dgamma and dbeta; into dx as well when accumulate_dx, else assigns dx (which may then hold
// garbage on entry). Any of the three may be null to skip it. The results are the same bits
// at any thread count.
template <typename T>
void batch_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean, const double* rstd,
                         const T* gamma, int64_t N, int64_t C, int64_t inner, bool batch_stats,
                         bool accumulate_dx = true);

// The running statistics after a training batch of n values per channel (n >= 2):
//   running_mean = (1 − momentum)·running_mean + momentum·mean
//   running_var  = (1 − momentum)·running_var  + momentum·var·n/(n − 1)   (unbiased)
template <typename T>
void batch_norm_update_running_stats(T* running_mean, T* running_var, const double* mean, const double* var, int64_t C,
                                     double momentum, int64_t n);

// The same update after a step of `groups` virtual batches (ghost batches) of n values per
// channel each, whose statistics mean and var are (groups, C): ONE update with their averages,
// the mean and the (unbiased) variance each averaged over the groups in order. As the update is
// linear in the batch's statistics, this is also the average of the running statistics that
// `groups` replicas, each updating with one group, would hold. groups == 1 is
// batch_norm_update_running_stats itself; groups == 0 changes nothing.
template <typename T>
void batch_norm_update_running_stats_grouped(T* running_mean, T* running_var, const double* mean, const double* var,
                                             int64_t groups, int64_t C, double momentum, int64_t n);

// The statistics evaluation normalises with, in double: mean = running_mean and
// rstd = 1/sqrt(running_var + eps), per channel.
template <typename T>
void batch_norm_running_stats(double* mean, double* rstd, const T* running_mean, const T* running_var, int64_t C,
                              double eps);

// InstanceNorm's update of the running statistics, from the per-instance (N, C) mean and rstd
// that group_norm_forward saved with one group per channel: the batch's contribution is the
// instances' means and biased variances (1/rstd² − eps) averaged over n, and the update is
// batch_norm_update_running_stats's with n = inner, the values per instance (as PyTorch
// averages the updates of its per-instance running statistics).
template <typename T>
void instance_norm_update_running_stats(T* running_mean, T* running_var, const double* mean, const double* rstd,
                                        int64_t N, int64_t C, int64_t inner, double eps, double momentum);

template <typename T>
void batch_norm_forward_reference(T* y, double* mean, double* var, double* rstd, const T* x, const T* gamma,
                                  const T* beta, int64_t N, int64_t C, int64_t inner, double eps);

template <typename T>
void batch_norm_forward_eval_reference(T* y, const T* x, const double* mean, const double* rstd, const T* gamma,
                                       const T* beta, int64_t N, int64_t C, int64_t inner);

template <typename T>
void batch_norm_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean,
                                   const double* rstd, const T* gamma, int64_t N, int64_t C, int64_t inner,
                                   bool batch_stats, bool accumulate_dx = true);

}  // namespace tapegrad::kernels
