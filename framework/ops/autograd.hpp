// How an op joins the tape — for tapegrad's own ops and for yours (examples/custom_layer):
// `record_op` appends the op's backward closure when a tape is active and an input requires
// grad. The closure receives the output's gradient and adds (+=) into the inputs' gradients
// (grad_data_for_accumulation(), or grad_buffer() to assign a fresh one); the output's
// gradient is released as it is consumed, since nothing after it in the reverse walk needs it.
// Include it in .cpp files: it brings in xtensor.
#pragma once

#include <utility>

#include "framework/tape.hpp"
#include "framework/tensor_xt.hpp"

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
    TensorImpl<T>& impl = out.impl();
    impl.requires_grad = true;
    impl.is_leaf = false;
    tape->record(op, out.id(), [out, bw = std::forward<Backward>(backward)]() mutable {
        std::shared_ptr<TensorImpl<T>> dy = std::move(out.impl().grad);
        if (dy) bw(static_cast<const T*>(dy->values.data()));
    });
}

}  // namespace tapegrad
