// Tape: the Wengert list of recorded ops. While a Tape lives, ops on its thread whose inputs
// require grad append a record; backward walks the records in reverse (execution order is
// already topological) and each record's closure adds into its inputs' gradients.
#pragma once

#ifdef TAPEGRAD_BUILDING_KERNELS
#error "framework/kernels/ knows floats and sizes only: it must not include framework/tape.hpp (docs/architecture.md)"
#endif

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "framework/tensor.hpp"

namespace tapegrad {

class Tape {
  public:
    // Becomes the active tape of this thread (a tape made while another is active shadows it
    // until it is destroyed; tapes must be destroyed in reverse order of creation).
    Tape();
    ~Tape();
    Tape(const Tape&) = delete;
    Tape& operator=(const Tape&) = delete;

    // The tape recording on this thread, or nullptr: ops record only when there is one.
    static Tape* active();

    // Backpropagates from a one-element `loss` (seed gradient 1).
    template <typename T> void backward(const BasicTensor<T>& loss);
    // Backpropagates from `out` with the seed gradient `seed` (same shape as out).
    // Both accumulate (+=) into every tensor that requires grad, then release the records;
    // the gradients of intermediate (non-leaf) tensors are released as soon as they are used.
    template <typename T> void backward(const BasicTensor<T>& out, const BasicTensor<T>& seed);

    // Gradient-ready hooks: `hook` runs once during this tape's backward, right after the
    // record whose backward gives `t` its gradient, so that work on a finished gradient (a
    // distributed reduction) can start while backward continues with earlier records. This
    // assumes what a module's parameters satisfy: `t` is read by one recorded op, so its first
    // gradient write in the reverse walk is also its last; a second write by another record
    // throws std::logic_error naming that op (the hook would have seen an unfinished
    // gradient). `t` must have no gradient when backward starts (zero_grad() first), and a
    // tensor that receives none (an unused parameter) gets its hook at the end of backward,
    // with t.grad() undefined. Hooks run on this thread, in the order gradients finish; an
    // exception from one ends backward like one from a record. Register before backward.
    template <typename T> void on_grad_ready(const BasicTensor<T>& t, std::function<void()> hook);

    // Number of records held (0 after backward).
    size_t size() const { return records_.size(); }

    // Called by ops: `output` is the id() of the tensor the op produced, `backward` reads
    // that tensor's gradient and accumulates into the op's inputs.
    void record(const char* op, const void* output, std::function<void()> backward);

  private:
    struct Record {
        const char* op;
        const void* output;
        std::function<void()> backward;
    };
    // A tensor watched by on_grad_ready, its type erased to the three calls the walk needs.
    struct Watch {
        std::function<bool()> has_grad;
        std::function<void()> hide_grad;     // keeps the gradient aside so a second write shows
        std::function<void()> restore_grad;  // puts it back (undefined if it never had one)
        std::function<void()> hook;
        bool fired = false;
    };
    template <typename T> void run_backward(const BasicTensor<T>& out, const BasicTensor<T>& seed);
    void check_watches(const char* op);

    std::vector<Record> records_;
    std::vector<Watch> watches_;
    Tape* previous_ = nullptr;
    bool consumed_ = false;
};

}  // namespace tapegrad
