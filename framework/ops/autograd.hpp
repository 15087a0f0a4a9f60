// How an op joins the tape — for tapegrad's own ops and for yours (examples/custom_layer):
// `record_op` appends the op's backward closure when a tape is active and an input requires
// grad. The closure receives the output's gradient and adds (+=) into the inputs' gradients
// (grad_data_for_accumulation(), or grad_buffer() to assign a fresh one; grad_buffer_or_none and
// record_affine_op fetch them for inputs that may not need one); the output's gradient is
// released as it is consumed, since nothing after it in the reverse walk needs it.
// It needs only tensor.hpp and tape.hpp, and is part of <tapegrad/tapegrad.hpp>.
#pragma once

#include <utility>

#include "framework/tape.hpp"
#include "framework/tensor.hpp"

namespace tapegrad {

// True when any defined tensor among the arguments requires grad.
template <typename T, typename... Ts>
bool any_requires_grad(const BasicTensor<T>& first, const Ts&... rest) {
    return (first.defined() && first.requires_grad()) || ((rest.defined() && rest.requires_grad()) || ...);
}

// The buffer a backward writes t's gradient into, as t.grad_buffer() (`accumulate` false when it
// was just allocated), or {nullptr, true} when t is undefined or does not require grad: kernels
// skip a null output, so an op's backward can fetch every input's buffer the same way.
template <typename T>
GradBuffer<T> grad_buffer_or_none(const BasicTensor<T>& t) {
    return t.defined() && t.requires_grad() ? t.grad_buffer() : GradBuffer<T>{nullptr, true};
}

// `backward(const T* dy)` is called at most once, with dy of out's shape.
template <typename T, typename Backward>
void record_op(const char* op, BasicTensor<T>& out, bool needs_grad, Backward&& backward) {
    Tape* tape = Tape::active();
    if (tape == nullptr || !needs_grad) return;
    detail::TensorAccess::mark_op_output(out);
    tape->record(op, out.id(), [out, bw = std::forward<Backward>(backward)]() mutable {
        const BasicTensor<T> dy = detail::TensorAccess::take_grad(out);
        if (dy.defined()) bw(dy.data());
    });
}

// What the backward of an op with an optional affine map (a normalisation's γ = weight and
// β = bias) reads and writes: x's gradient, for a kernel that covers every element
// (grad_buffer_or_none), and weight's and bias's, which the kernels add into (nullptr when
// undefined or not requiring grad); x's values and the weight's (nullptr without one).
template <typename T>
struct AffineGrads {
    GradBuffer<T> dx;
    T* dweight;
    T* dbias;
    const T* x;
    const T* weight;
};

// record_op for such an op: when the tape runs it, the buffers are fetched (x's, then weight's,
// then bias's) and `backward(const AffineGrads<T>&, const T* dy)` is called to fill them.
template <typename T, typename Backward>
void record_affine_op(const char* op, BasicTensor<T>& out, const BasicTensor<T>& x, const BasicTensor<T>& weight,
                      const BasicTensor<T>& bias, Backward&& backward) {
    record_op(op, out, any_requires_grad(x, weight, bias),
              [x, weight, bias, bw = std::forward<Backward>(backward)](const T* dy) mutable {
                  const auto accumulation = [](const BasicTensor<T>& t) {
                      return t.defined() && t.requires_grad() ? t.grad_data_for_accumulation() : nullptr;
                  };
                  const AffineGrads<T> g{grad_buffer_or_none(x), accumulation(weight), accumulation(bias), x.data(),
                                         weight.defined() ? weight.data() : nullptr};
                  bw(g, dy);
              });
}

}  // namespace tapegrad
