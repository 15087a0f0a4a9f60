// Adam / AdamW update; see adam.hpp. One element function, written once for a batch and for
// a scalar, serves the batch loop and the scalar tail; the per-step choices (amsgrad, Adam's
// weight decay) are template parameters, so the inner loop has no branch.
#include "framework/kernels/adam.hpp"

#include <algorithm>
#include <cmath>

#include "framework/core/parallel.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

// The step's scalars in T, computed in double first as PyTorch computes them in Python.
template <typename T>
struct Coefficients {
    T sign, decay_factor, weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
        neg_step_size;

    explicit Coefficients(const AdamStep& s) {
        // step is a float32 tensor in PyTorch 1.13, read back with .item(): exact below 2^24.
        const double step = static_cast<double>(static_cast<float>(s.step));
        const double bias_correction1 = 1.0 - std::pow(s.beta1, step);
        const double bias_correction2 = 1.0 - std::pow(s.beta2, step);
        sign = s.maximize ? T(-1) : T(1);
        // AdamW multiplies by 1 − lr·λ; for Adam the factor is 1, which changes no value.
        decay_factor = s.decoupled ? static_cast<T>(1.0 - s.lr * s.weight_decay) : T(1);
        weight_decay = static_cast<T>(s.weight_decay);
        beta1 = static_cast<T>(s.beta1);
        one_minus_beta1 = static_cast<T>(1.0 - s.beta1);
        beta2 = static_cast<T>(s.beta2);
        one_minus_beta2 = static_cast<T>(1.0 - s.beta2);
        bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
        eps = static_cast<T>(s.eps);
        neg_step_size = static_cast<T>(-(s.lr / bias_correction1));
    }
};

// torch.maximum's: NaN when b is (a NaN max follows from a NaN v, which stays NaN).
template <typename T>
inline T maximum(T a, T b) {
    return a >= b ? a : b;
}
template <typename T>
inline xsimd::batch<T> maximum(const xsimd::batch<T>& a, const xsimd::batch<T>& b) {
    return xsimd::select(a >= b, a, b);
}

// One element (V = T) or one batch of them (V = xsimd::batch<T>), the operations in PyTorch's
// order; K holds the coefficients as V.
template <bool Amsgrad, bool L2, typename V, typename K>
inline void adam_element(V& p, V& m, V& v, V& v_max, V g, const K& k) {
    using std::sqrt, xsimd::sqrt;
    g = g * k.sign;
    p = p * k.decay_factor;
    if constexpr (L2) g = g + k.weight_decay * p;
    m = m * k.beta1;
    m = m + k.one_minus_beta1 * g;
    v = v * k.beta2;
    v = v + k.one_minus_beta2 * g * g;
    V second = v;
    if constexpr (Amsgrad) {
        v_max = maximum(v_max, v);
        second = v_max;
    }
    const V denom = sqrt(second) / k.bias_correction2_sqrt + k.eps;
    p = p + k.neg_step_size * m / denom;
}

template <typename T>
struct BatchCoefficients {
    using B = xsimd::batch<T>;
    B sign, decay_factor, weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
        neg_step_size;
    explicit BatchCoefficients(const Coefficients<T>& c)
        : sign(c.sign), decay_factor(c.decay_factor), weight_decay(c.weight_decay), beta1(c.beta1),
          one_minus_beta1(c.one_minus_beta1), beta2(c.beta2), one_minus_beta2(c.one_minus_beta2),
          bias_correction2_sqrt(c.bias_correction2_sqrt), eps(c.eps), neg_step_size(c.neg_step_size) {}
};

template <typename T, bool Amsgrad, bool L2>
void adam_range(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t begin, int64_t end,
                const Coefficients<T>& c) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    const BatchCoefficients<T> bc(c);
    int64_t i = begin;
    for (; i + lanes <= end; i += lanes) {
        B p = B::load_unaligned(param + i), m = B::load_unaligned(exp_avg + i), v = B::load_unaligned(exp_avg_sq + i);
        B v_max = Amsgrad ? B::load_unaligned(max_exp_avg_sq + i) : B(T(0));
        adam_element<Amsgrad, L2>(p, m, v, v_max, B::load_unaligned(grad + i), bc);
        p.store_unaligned(param + i);
        m.store_unaligned(exp_avg + i);
        v.store_unaligned(exp_avg_sq + i);
        if constexpr (Amsgrad) v_max.store_unaligned(max_exp_avg_sq + i);
    }
    for (; i < end; ++i) {
        T v_max = Amsgrad ? max_exp_avg_sq[i] : T(0);
        adam_element<Amsgrad, L2>(param[i], exp_avg[i], exp_avg_sq[i], v_max, grad[i], c);
        if constexpr (Amsgrad) max_exp_avg_sq[i] = v_max;
    }
}

template <typename T, bool Amsgrad, bool L2>
void adam_all(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
              const Coefficients<T>& c) {
    for_ranges(n, worth_parallel(Work::elements, n), [&](int64_t begin, int64_t end) {
        adam_range<T, Amsgrad, L2>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, begin, end, c);
    });
}

}  // namespace

template <typename T>
void adam_update(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n, const AdamStep& s) {
    const Coefficients<T> c(s);
    const bool l2 = !s.decoupled && s.weight_decay != 0.0;  // PyTorch skips the add for λ = 0
    if (s.amsgrad)
        l2 ? adam_all<T, true, true>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, c)
           : adam_all<T, true, false>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, c);
    else
        l2 ? adam_all<T, false, true>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, c)
           : adam_all<T, false, false>(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, c);
}

template <typename T>
void adam_update_reference(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
                           const AdamStep& s) {
    const Coefficients<T> c(s);
    for (int64_t i = 0; i < n; ++i) {
        const T g = grad[i] * c.sign;
        T d = g;
        param[i] = param[i] * c.decay_factor;
        if (!s.decoupled && s.weight_decay != 0.0) d = g + c.weight_decay * param[i];
        exp_avg[i] = exp_avg[i] * c.beta1;
        exp_avg[i] = exp_avg[i] + c.one_minus_beta1 * d;
        exp_avg_sq[i] = exp_avg_sq[i] * c.beta2;
        exp_avg_sq[i] = exp_avg_sq[i] + c.one_minus_beta2 * d * d;
        T second = exp_avg_sq[i];
        if (s.amsgrad) {
            max_exp_avg_sq[i] = maximum(max_exp_avg_sq[i], exp_avg_sq[i]);
            second = max_exp_avg_sq[i];
        }
        const T denom = std::sqrt(second) / c.bias_correction2_sqrt + c.eps;
        param[i] = param[i] + c.neg_step_size * exp_avg[i] / denom;
    }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                              \
    template void adam_update<T>(T*, T*, T*, T*, const T*, int64_t, const AdamStep&);                      \
    template void adam_update_reference<T>(T*, T*, T*, T*, const T*, int64_t, const AdamStep&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
