// Element-wise ops and their backward; see elementwise.hpp.
//
// Every binary op is evaluated as out[i] = f(a[ia], b[ib]) over the index space
// (outer, C, inner) of the larger operand, where a broadcast operand is indexed by its
// channel c alone (C = 1 for a scalar). Its gradient is the per-channel sum of
// dy · ∂f/∂operand, accumulated in double.
#include "framework/ops/elementwise.hpp"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "framework/kernels/activation.hpp"
#include "framework/kernels/reductions.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

struct Broadcast {
    Shape out_shape;
    int64_t outer = 1, channels = 1, inner = 1;
    bool a_full = true, b_full = true;
};

template <typename T>
bool is_scalar_like(const BasicTensor<T>& t) {
    return t.numel() == 1 && t.dim() <= 1;
}

template <typename T>
bool is_channel_vector_for(const BasicTensor<T>& v, const BasicTensor<T>& full) {
    return v.dim() == 1 && full.dim() >= 2 && v.size(0) == full.size(1);
}

template <typename T>
Broadcast resolve(const char* op, const BasicTensor<T>& a, const BasicTensor<T>& b) {
    Broadcast r;
    if (a.shape() == b.shape()) {
        r.out_shape = a.shape();
        r.channels = a.numel();
        return r;
    }
    const bool b_broadcast = is_scalar_like(b) || is_channel_vector_for(b, a);
    const bool a_broadcast = !b_broadcast && (is_scalar_like(a) || is_channel_vector_for(a, b));
    if (!a_broadcast && !b_broadcast)
        throw std::invalid_argument(std::string(op) + ": cannot broadcast shapes " + to_string(a.shape()) + " and " +
                                    to_string(b.shape()) +
                                    "; expected equal shapes, a one-element tensor, or a (C) vector with (N, C, *)");
    const BasicTensor<T>& full = b_broadcast ? a : b;
    const BasicTensor<T>& vec = b_broadcast ? b : a;
    r.out_shape = full.shape();
    r.a_full = b_broadcast;
    r.b_full = !b_broadcast;
    if (is_scalar_like(vec)) {
        r.inner = full.numel();
    } else {
        r.outer = full.size(0);
        r.channels = full.size(1);
        r.inner = full.numel() / std::max<int64_t>(1, r.outer * r.channels);
    }
    return r;
}

// f(x, y), ∂f/∂x and ∂f/∂y for each binary op.
struct AddFn {
    static constexpr const char* name = "add";
    template <typename T> static T f(T x, T y) { return x + y; }
    template <typename T> static T dx(T, T) { return T(1); }
    template <typename T> static T dy(T, T) { return T(1); }
};
struct SubFn {
    static constexpr const char* name = "sub";
    template <typename T> static T f(T x, T y) { return x - y; }
    template <typename T> static T dx(T, T) { return T(1); }
    template <typename T> static T dy(T, T) { return T(-1); }
};
struct MulFn {
    static constexpr const char* name = "mul";
    template <typename T> static T f(T x, T y) { return x * y; }
    template <typename T> static T dx(T, T y) { return y; }
    template <typename T> static T dy(T x, T) { return x; }
};
struct DivFn {
    static constexpr const char* name = "div";
    template <typename T> static T f(T x, T y) { return x / y; }
    template <typename T> static T dx(T, T y) { return T(1) / y; }
    template <typename T> static T dy(T x, T y) { return -x / (y * y); }
};

// Calls body(i, ia, ib) over the broadcast index space.
template <typename Body>
void for_each_index(const Broadcast& r, Body&& body) {
    int64_t i = 0;
    for (int64_t o = 0; o < r.outer; ++o)
        for (int64_t c = 0; c < r.channels; ++c)
            for (int64_t k = 0; k < r.inner; ++k, ++i) body(i, r.a_full ? i : c, r.b_full ? i : c);
}

// Adds into `grad` (of a full or broadcast operand) the terms dy[i] * d(a[ia], b[ib]).
template <typename T, typename D>
void accumulate_operand_grad(const Broadcast& r, bool full, T* grad, const T* dy, const T* a, const T* b, D&& d) {
    if (full) {
        for_each_index(r, [&](int64_t i, int64_t ia, int64_t ib) { grad[i] += dy[i] * d(a[ia], b[ib]); });
        return;
    }
    // The broadcast operand's gradient: per channel, the terms in T, summed in double. Each run
    // of `inner` terms (one channel of one outer index) is formed in a row buffer and summed by
    // kernels::sum, which widens in registers.
    std::vector<double> sums(static_cast<size_t>(r.channels), 0.0);
    std::vector<T> terms(static_cast<size_t>(r.inner));
    int64_t i = 0;
    for (int64_t o = 0; o < r.outer; ++o)
        for (int64_t c = 0; c < r.channels; ++c, i += r.inner) {
            for (int64_t k = 0; k < r.inner; ++k) {
                const int64_t ia = r.a_full ? i + k : c, ib = r.b_full ? i + k : c;
                terms[static_cast<size_t>(k)] = dy[i + k] * d(a[ia], b[ib]);
            }
            sums[static_cast<size_t>(c)] += kernels::sum(terms.data(), r.inner);
        }
    for (int64_t c = 0; c < r.channels; ++c) grad[c] += static_cast<T>(sums[static_cast<size_t>(c)]);
}

template <typename Fn, typename T>
BasicTensor<T> binary(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    const Broadcast r = resolve(Fn::name, a, b);
    BasicTensor<T> out = empty<T>(r.out_shape);
    const T* pa = a.data();
    const T* pb = b.data();
    T* po = out.data();
    for_each_index(r, [&](int64_t i, int64_t ia, int64_t ib) { po[i] = Fn::f(pa[ia], pb[ib]); });

    record_op(Fn::name, out, any_requires_grad(a, b), [a, b, r](const T* dy) mutable {
        if (a.requires_grad())
            accumulate_operand_grad(r, r.a_full, a.grad_data_for_accumulation(), dy, a.data(), b.data(),
                                    [](T x, T y) { return Fn::dx(x, y); });
        if (b.requires_grad())
            accumulate_operand_grad(r, r.b_full, b.grad_data_for_accumulation(), dy, a.data(), b.data(),
                                    [](T x, T y) { return Fn::dy(x, y); });
    });
    return out;
}

// Unary op: out = f(x); the gradient factor may use x and out.
template <typename T, typename F, typename D>
BasicTensor<T> unary(const char* name, const BasicTensor<T>& x, F f, D d) {
    BasicTensor<T> out = empty<T>(x.shape());
    const T* px = x.data();
    T* po = out.data();
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) po[i] = f(px[i]);
    record_op(name, out, any_requires_grad(x), [x, out_values = out, d, n](const T* dy) mutable {
        const GradBuffer<T> gx = x.grad_buffer();  // uninitialised when accumulate is false
        const T* xv = x.data();
        const T* yv = out_values.data();
        if (gx.accumulate)
            for (int64_t i = 0; i < n; ++i) gx.data[i] += dy[i] * d(xv[i], yv[i]);
        else
            for (int64_t i = 0; i < n; ++i) gx.data[i] = dy[i] * d(xv[i], yv[i]);
    });
    return out;
}

}  // namespace

template <typename T> BasicTensor<T> add(const BasicTensor<T>& a, const BasicTensor<T>& b) { return binary<AddFn>(a, b); }
template <typename T> BasicTensor<T> sub(const BasicTensor<T>& a, const BasicTensor<T>& b) { return binary<SubFn>(a, b); }
template <typename T> BasicTensor<T> mul(const BasicTensor<T>& a, const BasicTensor<T>& b) { return binary<MulFn>(a, b); }
template <typename T> BasicTensor<T> div(const BasicTensor<T>& a, const BasicTensor<T>& b) { return binary<DivFn>(a, b); }

template <typename T>
BasicTensor<T> relu(const BasicTensor<T>& x) {
    BasicTensor<T> out = empty<T>(x.shape());
    kernels::relu_forward(out.data(), x.data(), x.numel());
    record_op("relu", out, any_requires_grad(x), [x](const T* dy) mutable {
        const GradBuffer<T> dx = x.grad_buffer();
        kernels::relu_backward(dx.data, dy, x.data(), x.numel(), dx.accumulate);
    });
    return out;
}

template <typename T>
BasicTensor<T> exp(const BasicTensor<T>& x) {
    return unary("exp", x, [](T v) { return std::exp(v); }, [](T, T y) { return y; });
}

template <typename T>
BasicTensor<T> log(const BasicTensor<T>& x) {
    return unary("log", x, [](T v) { return std::log(v); }, [](T v, T) { return T(1) / v; });
}

template <typename T>
BasicTensor<T> neg(const BasicTensor<T>& x) {
    return unary("neg", x, [](T v) { return -v; }, [](T, T) { return T(-1); });
}

template <typename T>
BasicTensor<T> scalar_tensor(T value) {
    return full<T>(Shape{}, value);
}

#define TAPEGRAD_INSTANTIATE(T)                                                      \
    template BasicTensor<T> add(const BasicTensor<T>&, const BasicTensor<T>&);      \
    template BasicTensor<T> sub(const BasicTensor<T>&, const BasicTensor<T>&);      \
    template BasicTensor<T> mul(const BasicTensor<T>&, const BasicTensor<T>&);      \
    template BasicTensor<T> div(const BasicTensor<T>&, const BasicTensor<T>&);      \
    template BasicTensor<T> relu(const BasicTensor<T>&);                            \
    template BasicTensor<T> exp(const BasicTensor<T>&);                             \
    template BasicTensor<T> log(const BasicTensor<T>&);                             \
    template BasicTensor<T> neg(const BasicTensor<T>&);                             \
    template BasicTensor<T> scalar_tensor(T);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
