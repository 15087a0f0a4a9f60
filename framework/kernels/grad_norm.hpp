// The pieces of clipping gradients by their norm (optim/clip_grad.hpp) over raw memory: a
// tensor's Σ|x|^p and max |x| in double, and scaling in place. Serial: they run once per step
// over the gradients, and a serial sum's order does not depend on the thread count. Each has a
// scalar reference twin.
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

// Σ |x[i]|^p in double, for p > 0 (p = 2 without pow). NaN if an x[i] is.
template <typename T>
double norm_power_sum(const T* x, int64_t n, double p);

// max |x[i]|, 0 for n = 0; NaN if an x[i] is (as PyTorch's abs().max()).
template <typename T>
double max_abs(const T* x, int64_t n);

// x[i] = x[i]·factor.
template <typename T>
void scale_in_place(T* x, int64_t n, T factor);

template <typename T>
double norm_power_sum_reference(const T* x, int64_t n, double p);
template <typename T>
double max_abs_reference(const T* x, int64_t n);
template <typename T>
void scale_in_place_reference(T* x, int64_t n, T factor);

}  // namespace tapegrad::kernels
