// How an op joins the tape — for tapegrad's own ops and for yours (examples/custom_layer):
// `record_op` appends the op's backward closure when a tape is active and an input requires
// grad. The closure receives the output's gradient and adds (+=) into the inputs' gradients
// (grad_data_for_accumulation(), or grad_buffer() to assign a fresh one); the output's
// gradient is released as it is consumed, since nothing after it in the reverse walk needs it.
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

}  // namespace tapegrad
