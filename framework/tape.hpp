// Tape: the Wengert list of recorded ops. While a Tape lives, ops on its thread whose inputs
// require grad append a record; backward walks the records in reverse (execution order is
// already topological) and each record's closure adds into its inputs' gradients.
#pragma once

#ifdef TAPEGRAD_BUILDING_KERNELS
#error "framework/kernels/ knows floats and sizes only: it must not include framework/tape.hpp (design.md, 'Layers of the code')"
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
    template <typename T> void run_backward(const BasicTensor<T>& out, const BasicTensor<T>& seed);

    std::vector<Record> records_;
    Tape* previous_ = nullptr;
    bool consumed_ = false;
};

}  // namespace tapegrad
