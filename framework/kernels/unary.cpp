// Element-wise math kernels; see unary.hpp. Each op is a functor whose f (forward) and df
// (dy · derivative) are written once for an xsimd batch and a scalar alike, so the batch
// loop and the scalar tail compute the same formula. The formulas are PyTorch's CPU ones.
#include "framework/kernels/unary.hpp"

#include <cmath>
#include <limits>

#include "framework/core/parallel.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

template <typename T>
T pick(bool c, T a, T b) {
    return c ? a : b;
}
template <typename T, typename A>
xsimd::batch<T, A> pick(const xsimd::batch_bool<T, A>& c, const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b) {
    return xsimd::select(c, a, b);
}

// e^x, e^x − 1, tanh x and ln x of a batch, out of line. Inlined into an op's loop (sigmoid,
// silu, softplus; ln alone under some -march tunings), xsimd's versions have GCC hoist more
// constants than there are vector registers and spill them to the stack, a stack load on every
// batch; called, they load their constants from read-only data where they use them. Passed
// and returned by value: in a vector register.
template <typename T>
[[gnu::noinline]] xsimd::batch<T> exp_batch(xsimd::batch<T> x) {
    return xsimd::exp(x);
}
template <typename T>
[[gnu::noinline]] xsimd::batch<T> expm1_batch(xsimd::batch<T> x) {
    return xsimd::expm1(x);
}
template <typename T>
[[gnu::noinline]] xsimd::batch<T> tanh_batch(xsimd::batch<T> x) {
    return xsimd::tanh(x);
}
template <typename T>
[[gnu::noinline]] xsimd::batch<T> log_batch(xsimd::batch<T> x) {
    return xsimd::log(x);
}
// The scalar tail: the C library's.
inline float exp_batch(float x) { return std::exp(x); }
inline double exp_batch(double x) { return std::exp(x); }
inline float expm1_batch(float x) { return std::expm1(x); }
inline double expm1_batch(double x) { return std::expm1(x); }
inline float tanh_batch(float x) { return std::tanh(x); }
inline double tanh_batch(double x) { return std::tanh(x); }
inline float log_batch(float x) { return std::log(x); }
inline double log_batch(double x) { return std::log(x); }

template <typename T> struct Exp {
    template <typename V> V f(V x) const { return exp_batch(x); }
    template <typename V> V df(V g, V, V y) const { return g * y; }
};
template <typename T> struct Log {
    template <typename V> V f(V x) const { return log_batch(x); }
    template <typename V> V df(V g, V x, V) const { return g / x; }
};
template <typename T> struct Neg {
    template <typename V> V f(V x) const { return -x; }
    template <typename V> V df(V g, V, V) const { return -g; }
};
// d√x = 1 / (2√x): inf at 0, as PyTorch.
template <typename T> struct Sqrt {
    template <typename V> V f(V x) const { return xsimd::sqrt(x); }
    template <typename V> V df(V g, V, V y) const { return g / (V(T(2)) * y); }
};
// A true division, not the 12-bit hardware estimate (xsimd::rsqrt). d(x^−½) = −½·x^−3/2 = −½·y³.
template <typename T> struct Rsqrt {
    template <typename V> V f(V x) const { return V(T(1)) / xsimd::sqrt(x); }
    template <typename V> V df(V g, V, V y) const { return V(T(-0.5)) * g * (y * y * y); }
};
// d|x| = sgn(x), with sgn(0) = 0 as PyTorch.
template <typename T> struct Abs {
    template <typename V> V f(V x) const { return xsimd::abs(x); }
    template <typename V> V df(V g, V x, V) const {
        return pick(x > V(T(0)), g, pick(x < V(T(0)), -g, V(T(0))));
    }
};
// σ(x) = 1 / (1 + e^−x): for x → −∞, e^−x = inf and σ = 0; for x → +∞, σ = 1; never NaN.
// dσ = σ·(1 − σ).
template <typename T> struct Sigmoid {
    template <typename V> V f(V x) const { return V(T(1)) / (V(T(1)) + exp_batch(-x)); }
    template <typename V> V df(V g, V, V y) const { return g * (V(T(1)) - y) * y; }
};
// d tanh = 1 − tanh².
template <typename T> struct Tanh {
    template <typename V> V f(V x) const { return tanh_batch(x); }
    template <typename V> V df(V g, V, V y) const { return g * (V(T(1)) - y * y); }
};
// silu(x) = x·σ(x); d silu = σ·(1 + x·(1 − σ)).
template <typename T> struct Silu {
    template <typename V> V f(V x) const { return x / (V(T(1)) + exp_batch(-x)); }
    template <typename V> V df(V g, V x, V) const {
        const V s = V(T(1)) / (V(T(1)) + exp_batch(-x));
        return g * s * (V(T(1)) + x * (V(T(1)) - s));
    }
};
// gelu(x) = x·Φ(x), Φ(x) = ½(1 + erf(x/√2)); d gelu = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π).
template <typename T> struct Gelu {
    template <typename V> V f(V x) const { return x * V(T(0.5)) * (V(T(1)) + xsimd::erf(x * V(T(M_SQRT1_2)))); }
    template <typename V> V df(V g, V x, V) const {
        const V cdf = V(T(0.5)) * (V(T(1)) + xsimd::erf(x * V(T(M_SQRT1_2))));
        const V pdf = exp_batch(V(T(-0.5)) * x * x) * V(T(M_2_SQRTPI * M_SQRT1_2 * 0.5));
        return g * (cdf + x * pdf);
    }
};
// The tanh approximation: ½x(1 + tanh(u)), u = β(x + κx³), β = √(2/π), κ = 0.044715;
// d = ½(1 + tanh u) + ½x·(1 − tanh² u)·β(1 + 3κx²).
template <typename T> struct GeluTanh {
    static constexpr T beta = T(M_SQRT2 * M_2_SQRTPI * 0.5), kappa = T(0.044715);
    template <typename V> V f(V x) const {
        const V inner = V(beta) * (x + V(kappa) * x * x * x);
        return V(T(0.5)) * x * (V(T(1)) + tanh_batch(inner));
    }
    template <typename V> V df(V g, V x, V) const {
        const V x_sq = x * x;
        const V t = tanh_batch(V(beta) * (x + V(kappa) * x_sq * x));
        const V left = V(T(0.5)) * x, right = V(T(1)) + t;
        const V right_derivative = left * (V(T(1)) - t * t) * (V(beta) * (V(T(1)) + V(T(3)) * V(kappa) * x_sq));
        return g * (V(T(0.5)) * right + right_derivative);
    }
};
// softplus(x) = log(1 + e^(βx))/β, and x itself where βx > threshold (no overflow);
// d = e^(βx)/(e^(βx) + 1), and 1 above the threshold.
template <typename T> struct Softplus {
    T beta, threshold;
    template <typename V> V f(V x) const {
        const V bx = x * V(beta);
        return pick(bx > V(threshold), x, xsimd::log1p(exp_batch(bx)) / V(beta));
    }
    template <typename V> V df(V g, V x, V) const {
        const V bx = x * V(beta), z = exp_batch(bx);
        return pick(bx > V(threshold), g, g * z / (z + V(T(1))));
    }
};
template <typename T> struct LeakyRelu {
    T slope;
    template <typename V> V f(V x) const { return pick(x > V(T(0)), x, x * V(slope)); }
    template <typename V> V df(V g, V x, V) const { return pick(x > V(T(0)), g, g * V(slope)); }
};
// elu(x) = x for x > 0, α(e^x − 1) otherwise; d = 1, or α·e^x (at 0 too, as PyTorch).
template <typename T> struct Elu {
    T alpha;
    template <typename V> V f(V x) const { return pick(x > V(T(0)), x, V(alpha) * expm1_batch(x)); }
    template <typename V> V df(V g, V x, V) const { return pick(x > V(T(0)), g, g * V(alpha) * exp_batch(x)); }
};
// min(max(x, lo), hi), NaN kept; an absent bound is ∓inf. The gradient passes where
// lo <= x <= hi (bounds included), as PyTorch's clamp_backward.
template <typename T> struct Clamp {
    T lo, hi;
    template <typename V> V f(V x) const {
        const V v = pick(x < V(lo), V(lo), x);
        return pick(v > V(hi), V(hi), v);
    }
    template <typename V> V df(V g, V x, V) const { return pick((x >= V(lo)) & (x <= V(hi)), g, V(T(0))); }
};

template <typename T, typename F>
decltype(auto) with_unary(UnaryOp op, const UnaryParams& p, F&& f) {
    constexpr T inf = std::numeric_limits<T>::infinity();
    switch (op) {
        case UnaryOp::exp: return f(Exp<T>{});
        case UnaryOp::log: return f(Log<T>{});
        case UnaryOp::neg: return f(Neg<T>{});
        case UnaryOp::sqrt: return f(Sqrt<T>{});
        case UnaryOp::rsqrt: return f(Rsqrt<T>{});
        case UnaryOp::abs: return f(Abs<T>{});
        case UnaryOp::sigmoid: return f(Sigmoid<T>{});
        case UnaryOp::tanh: return f(Tanh<T>{});
        case UnaryOp::silu: return f(Silu<T>{});
        case UnaryOp::gelu: return f(Gelu<T>{});
        case UnaryOp::gelu_tanh: return f(GeluTanh<T>{});
        case UnaryOp::softplus: return f(Softplus<T>{static_cast<T>(p.a), static_cast<T>(p.b)});
        case UnaryOp::leaky_relu: return f(LeakyRelu<T>{static_cast<T>(p.a)});
        case UnaryOp::elu: return f(Elu<T>{static_cast<T>(p.a)});
        case UnaryOp::clamp:
            return f(Clamp<T>{p.has_min ? static_cast<T>(p.a) : -inf, p.has_max ? static_cast<T>(p.b) : inf});
    }
    return f(Neg<T>{});
}

template <typename T, typename F>
void forward_range(T* y, const T* x, int64_t begin, int64_t end, const F& fn) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    int64_t i = begin;
    for (; i + lanes <= end; i += lanes) fn.f(B::load_unaligned(x + i)).store_unaligned(y + i);
    for (; i < end; ++i) y[i] = fn.f(x[i]);
}

template <bool Accumulate, typename T, typename F>
void backward_range(T* dx, const T* dy, const T* x, const T* y, int64_t begin, int64_t end, const F& fn) {
    using B = xsimd::batch<T>;
    constexpr int64_t lanes = static_cast<int64_t>(B::size);
    int64_t i = begin;
    for (; i + lanes <= end; i += lanes) {
        B g = fn.df(B::load_unaligned(dy + i), B::load_unaligned(x + i), B::load_unaligned(y + i));
        if constexpr (Accumulate) g += B::load_unaligned(dx + i);
        g.store_unaligned(dx + i);
    }
    for (; i < end; ++i) {
        const T g = fn.df(dy[i], x[i], y[i]);
        dx[i] = Accumulate ? dx[i] + g : g;
    }
}

}  // namespace

template <typename T>
void unary_forward(T* y, const T* x, int64_t n, UnaryOp op, const UnaryParams& params) {
    with_unary<T>(op, params, [&](const auto& fn) {
        for_ranges(n, worth_parallel(Work::elements, n),
                   [&](int64_t begin, int64_t end) { forward_range(y, x, begin, end, fn); });
    });
}

template <typename T>
void unary_backward(T* dx, const T* dy, const T* x, const T* y, int64_t n, UnaryOp op, const UnaryParams& params,
                    bool accumulate) {
    with_unary<T>(op, params, [&](const auto& fn) {
        for_ranges(n, worth_parallel(Work::elements, n), [&](int64_t begin, int64_t end) {
            if (accumulate)
                backward_range<true>(dx, dy, x, y, begin, end, fn);
            else
                backward_range<false>(dx, dy, x, y, begin, end, fn);
        });
    });
}

#define TAPEGRAD_INSTANTIATE(T)                                                                         \
    template void unary_forward<T>(T*, const T*, int64_t, UnaryOp, const UnaryParams&);                 \
    template void unary_backward<T>(T*, const T*, const T*, const T*, int64_t, UnaryOp, const UnaryParams&, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
