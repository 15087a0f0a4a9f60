// Broadcast binary ops, comparisons, where and sum_to_size; see elementwise.hpp. Shapes are
// checked first, then the output is allocated and filled by kernels/broadcast over the plan of
// the broadcast, then the backward is recorded.
//
// Backward of out = f(a, b) broadcast to the output's shape: each output element adds
// dy · ∂f/∂a to the element of a it read, so da = sum_to_shape(dy · ∂f/∂a, shape of a), the
// terms summed over the dims along which a was stretched (likewise db). For add and sub the
// terms are ±dy, summed directly; for mul they are dy·b, and when b has the output's shape
// the product is formed inside the sum (no output-sized temporary); when a has the output's
// shape the terms are its gradient as they are, written by the broadcast mul kernel.
#include "framework/ops/elementwise.hpp"

#include <stdexcept>
#include <string>

#include "framework/kernels/activation.hpp"
#include "framework/kernels/broadcast.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

using kernels::BinaryOp;
using kernels::BroadcastPlan;

// PyTorch's infer_size: right-aligned, size-1 (or missing) dims take the other's extent.
Shape broadcast_shapes(const Shape& a, const Shape& b) {
    const size_t n = std::max(a.size(), b.size());
    Shape out(n);
    for (size_t i = n; i-- > 0;) {
        const size_t offset = n - 1 - i;
        const int64_t size_a = offset < a.size() ? a[a.size() - 1 - offset] : 1;
        const int64_t size_b = offset < b.size() ? b[b.size() - 1 - offset] : 1;
        if (size_a != size_b && size_a != 1 && size_b != 1)
            throw std::invalid_argument("The size of tensor a (" + std::to_string(size_a) +
                                        ") must match the size of tensor b (" + std::to_string(size_b) +
                                        ") at non-singleton dimension " + std::to_string(i));
        out[i] = size_a == 1 ? size_b : size_a;
    }
    return out;
}

BroadcastPlan plan_of(const Shape& out, std::initializer_list<std::span<const int64_t>> inputs) {
    return kernels::plan_broadcast(out, std::span<const std::span<const int64_t>>(inputs.begin(), inputs.size()));
}

// x.grad (+)= scale · Σ terms (· factor) summed from the output's shape down to x's.
template <typename T>
void sum_into_grad(const BasicTensor<T>& x, const T* terms, const T* factor, const Shape& out_shape, double scale) {
    const GradBuffer<T> g = x.grad_buffer();
    kernels::sum_to_shape(g.data, terms, factor, out_shape, x.shape(), scale, g.accumulate);
}

// The gradient of operand t of out = t·other: Σ dy·other down to t's shape.
template <typename T>
void mul_grad(const BasicTensor<T>& t, const BasicTensor<T>& other, const T* dy, const Shape& out_shape) {
    if (other.shape() == out_shape) return sum_into_grad(t, dy, other.data(), out_shape, 1.0);
    const BroadcastPlan plan = plan_of(out_shape, {out_shape, other.shape()});
    if (t.shape() == out_shape) {
        const GradBuffer<T> g = t.grad_buffer();
        kernels::binary_forward(g.data, dy, other.data(), plan, BinaryOp::mul, g.accumulate);
        return;
    }
    BasicTensor<T> terms = empty<T>(out_shape);
    kernels::binary_forward(terms.data(), dy, other.data(), plan, BinaryOp::mul, false);
    sum_into_grad(t, terms.data(), static_cast<const T*>(nullptr), out_shape, 1.0);
}

template <typename T>
void binary_backward(BinaryOp op, const BasicTensor<T>& a, const BasicTensor<T>& b, const Shape& out_shape,
                     const BroadcastPlan& plan, const T* dy) {
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    const T* none = nullptr;
    if (op == BinaryOp::add || op == BinaryOp::sub) {
        if (need_a) sum_into_grad(a, dy, none, out_shape, 1.0);
        if (need_b) sum_into_grad(b, dy, none, out_shape, op == BinaryOp::sub ? -1.0 : 1.0);
        return;
    }
    if (op == BinaryOp::mul) {
        if (need_a) mul_grad(a, b, dy, out_shape);
        if (need_b) mul_grad(b, a, dy, out_shape);
        return;
    }
    BasicTensor<T> da, db;
    if (need_a) da = empty<T>(out_shape);
    if (need_b) db = empty<T>(out_shape);
    kernels::binary_backward_terms(need_a ? da.data() : nullptr, need_b ? db.data() : nullptr, dy, a.data(), b.data(),
                                   plan, op);
    if (need_a) sum_into_grad(a, da.data(), none, out_shape, 1.0);
    if (need_b) sum_into_grad(b, db.data(), none, out_shape, 1.0);
}

template <typename T>
BasicTensor<T> binary(BinaryOp op, const char* name, const BasicTensor<T>& a, const BasicTensor<T>& b) {
    Shape out_shape = broadcast_shapes(a.shape(), b.shape());
    BasicTensor<T> out = empty<T>(out_shape);
    BroadcastPlan plan = plan_of(out_shape, {a.shape(), b.shape()});
    kernels::binary_forward(out.data(), a.data(), b.data(), plan, op, false);
    record_op(name, out, any_requires_grad(a, b),
              [a, b, op, out_shape = std::move(out_shape), plan = std::move(plan)](const T* dy) {
                  binary_backward(op, a, b, out_shape, plan, dy);
              });
    return out;
}

template <typename T>
BasicTensor<T> compare(BinaryOp op, const BasicTensor<T>& a, const BasicTensor<T>& b) {
    const Shape out_shape = broadcast_shapes(a.shape(), b.shape());
    BasicTensor<T> out = empty<T>(out_shape);
    kernels::binary_forward(out.data(), a.data(), b.data(), plan_of(out_shape, {a.shape(), b.shape()}), op, false);
    return out;
}

// The gradient of where's operand t: dy where the mask selects t (op where_true or
// where_false), 0 elsewhere, summed down to t's shape.
template <typename T>
void where_grad(const BasicTensor<T>& t, const BasicTensor<T>& mask, BinaryOp op, const T* dy, const Shape& out_shape) {
    const BroadcastPlan plan = plan_of(out_shape, {out_shape, mask.shape()});
    if (t.shape() == out_shape) {
        const GradBuffer<T> g = t.grad_buffer();
        if (!g.accumulate) {
            kernels::binary_forward(g.data, dy, mask.data(), plan, op, false);
            return;
        }
    }
    BasicTensor<T> terms = empty<T>(out_shape);
    kernels::binary_forward(terms.data(), dy, mask.data(), plan, op, false);
    sum_into_grad(t, terms.data(), static_cast<const T*>(nullptr), out_shape, 1.0);
}

}  // namespace

template <typename T>
BasicTensor<T> add(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary(BinaryOp::add, "add", a, b);
}
template <typename T>
BasicTensor<T> sub(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary(BinaryOp::sub, "sub", a, b);
}
template <typename T>
BasicTensor<T> mul(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary(BinaryOp::mul, "mul", a, b);
}
template <typename T>
BasicTensor<T> div(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary(BinaryOp::div, "div", a, b);
}
template <typename T>
BasicTensor<T> pow(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary(BinaryOp::pow, "pow", a, b);
}
template <typename T>
BasicTensor<T> pow(const BasicTensor<T>& x, std::type_identity_t<T> exponent) {
    return pow(x, scalar_tensor<T>(exponent));
}
template <typename T>
BasicTensor<T> pow(std::type_identity_t<T> base, const BasicTensor<T>& x) {
    return pow(scalar_tensor<T>(base), x);
}
template <typename T>
BasicTensor<T> maximum(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary(BinaryOp::maximum, "maximum", a, b);
}
template <typename T>
BasicTensor<T> minimum(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return binary(BinaryOp::minimum, "minimum", a, b);
}

template <typename T>
BasicTensor<T> eq(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return compare(BinaryOp::eq, a, b);
}
template <typename T>
BasicTensor<T> ne(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return compare(BinaryOp::ne, a, b);
}
template <typename T>
BasicTensor<T> lt(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return compare(BinaryOp::lt, a, b);
}
template <typename T>
BasicTensor<T> le(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return compare(BinaryOp::le, a, b);
}
template <typename T>
BasicTensor<T> gt(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return compare(BinaryOp::gt, a, b);
}
template <typename T>
BasicTensor<T> ge(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return compare(BinaryOp::ge, a, b);
}

// Backward of out = mask ? a : b: da = Σ (mask ? dy : 0), db = Σ (mask ? 0 : dy), each summed
// down to its operand's shape.
template <typename T>
BasicTensor<T> where(const BasicTensor<T>& mask, const BasicTensor<T>& a, const BasicTensor<T>& b) {
    Shape out_shape = broadcast_shapes(broadcast_shapes(mask.shape(), a.shape()), b.shape());
    BasicTensor<T> out = empty<T>(out_shape);
    kernels::where_forward(out.data(), mask.data(), a.data(), b.data(),
                           plan_of(out_shape, {mask.shape(), a.shape(), b.shape()}));
    record_op("where", out, any_requires_grad(a, b), [mask, a, b, out_shape = std::move(out_shape)](const T* dy) {
        if (a.requires_grad()) where_grad(a, mask, BinaryOp::where_true, dy, out_shape);
        if (b.requires_grad()) where_grad(b, mask, BinaryOp::where_false, dy, out_shape);
    });
    return out;
}

// Backward of y = sum_to_size(x): every x element fed the y element it was summed into, so
// dx = dy broadcast back to x's shape.
template <typename T>
BasicTensor<T> sum_to_size(const BasicTensor<T>& x, const Shape& shape) {
    const Shape& in = x.shape();
    bool expandable = shape.size() <= in.size();
    for (size_t i = 0; expandable && i < shape.size(); ++i) {
        const int64_t s = shape[shape.size() - 1 - i], t = in[in.size() - 1 - i];
        expandable = s == t || s == 1;
    }
    if (!expandable)
        throw std::invalid_argument("size {" + to_string(shape) + "} is not expandable to size {" + to_string(in) +
                                    "}.");
    BasicTensor<T> out = empty<T>(shape);
    kernels::sum_to_shape(out.data(), x.data(), static_cast<const T*>(nullptr), in, shape, 1.0, false);
    record_op("sum_to_size", out, any_requires_grad(x), [x, shape](const T* dy) {
        const GradBuffer<T> g = x.grad_buffer();
        const T zero = T(0);
        kernels::binary_forward(g.data, dy, &zero, plan_of(x.shape(), {shape, Shape{}}), BinaryOp::add, g.accumulate);
    });
    return out;
}

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
BasicTensor<T> scalar_tensor(T value) {
    return full<T>(Shape{}, value);
}

#define TAPEGRAD_INSTANTIATE(T)                                                                      \
    template BasicTensor<T> add(const BasicTensor<T>&, const BasicTensor<T>&);                      \
    template BasicTensor<T> sub(const BasicTensor<T>&, const BasicTensor<T>&);                      \
    template BasicTensor<T> mul(const BasicTensor<T>&, const BasicTensor<T>&);                      \
    template BasicTensor<T> div(const BasicTensor<T>&, const BasicTensor<T>&);                      \
    template BasicTensor<T> pow(const BasicTensor<T>&, const BasicTensor<T>&);                      \
    template BasicTensor<T> pow(const BasicTensor<T>&, std::type_identity_t<T>);                    \
    template BasicTensor<T> pow(std::type_identity_t<T>, const BasicTensor<T>&);                    \
    template BasicTensor<T> maximum(const BasicTensor<T>&, const BasicTensor<T>&);                  \
    template BasicTensor<T> minimum(const BasicTensor<T>&, const BasicTensor<T>&);                  \
    template BasicTensor<T> eq(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> ne(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> lt(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> le(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> gt(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> ge(const BasicTensor<T>&, const BasicTensor<T>&);                       \
    template BasicTensor<T> where(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&); \
    template BasicTensor<T> sum_to_size(const BasicTensor<T>&, const Shape&);                       \
    template BasicTensor<T> relu(const BasicTensor<T>&);                                            \
    template BasicTensor<T> scalar_tensor(T);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
